"""Update rules as agents: gradient transformations (Optax style, in torch) that act in games.

Each rule maps a player's gradient and parameters to the change of its parameters, on flat
tensors of shape (..., P) so that many games can run in lockstep.
"""

from agents import lr_schedules, transforms
from agents.averaging import averaged
from agents.game_aware import CGD, SGA, Consensus, Extragradient, PastExtragradient
from agents.joint import JointRule
from agents.lr_schedules import with_schedule
from agents.projection import clipped
from agents.registry import available, make, register
from agents.torch_optim import from_torch
from agents.rules import SGD, Adam, AdamW, Momentum, Nesterov, OptimisticAdam, OptimisticSGD, RMSprop, UpdateRule

__all__ = [
    "CGD",
    "SGA",
    "SGD",
    "Adam",
    "AdamW",
    "Consensus",
    "Extragradient",
    "JointRule",
    "Momentum",
    "Nesterov",
    "OptimisticAdam",
    "OptimisticSGD",
    "PastExtragradient",
    "RMSprop",
    "UpdateRule",
    "available",
    "averaged",
    "clipped",
    "from_torch",
    "lr_schedules",
    "make",
    "register",
    "transforms",
    "with_schedule",
]
