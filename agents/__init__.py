"""Update rules as agents: gradient transformations (Optax style, in torch) that act in games.

Each rule maps a player's gradient and parameters to the change of its parameters, on flat
tensors of shape (..., P) so that many games can run in lockstep.
"""

from agents import lr_schedules, transforms
from agents.averaging import averaged
from agents.lr_schedules import with_schedule
from agents.registry import available, make, register
from agents.rules import SGD, Adam, AdamW, Momentum, Nesterov, RMSprop, UpdateRule

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "Momentum",
    "Nesterov",
    "RMSprop",
    "UpdateRule",
    "available",
    "averaged",
    "lr_schedules",
    "make",
    "register",
    "transforms",
    "with_schedule",
]
