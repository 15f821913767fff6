"""Game-aware rules: one agent that moves both players from the joint vector field.

Single-player rules (``agents.make("adam")``) see only their own player's
observation. Rules such as extragradient, consensus optimisation, symplectic
gradient adjustment or competitive gradient descent need the *other* player's
gradient at other points, or products with the game Jacobian. They subclass
:class:`JointRule` and are called with both observations and the env's
:class:`minimax.core.field.JointField` for the current state and minibatch::

    env = pettingzoo.make("parallel", "minimax/DiracGAN-v0", view="torch")
    observations, _ = env.reset(seed=0)
    rule = agents.make("extragradient", lr=0.1)
    actions = rule.act(observations, env.field())
    env.step(actions)

``minimax.train(parallel_env, rule, ...)`` does this loop. The AEC env has no
joint field (one player moves at a time) and refuses with a clear error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

PLAYERS = ("discriminator", "generator")


class JointRule:
    """Moves both players at once; ``act(observations, field)`` returns ``{player: delta}``."""

    joint = True
    name = "joint"

    def reset(self) -> None:
        """Forget any state (a new run)."""

    def state_dict(self) -> dict[str, Any]:
        """What the rule carries from one step to the next (nothing, for a memoryless rule), for checkpoints."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, got {sorted(state)}")

    def act(self, observations: Mapping[str, Mapping[str, torch.Tensor]], field: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError
