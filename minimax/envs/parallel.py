"""Simultaneous gradient play (PettingZoo Parallel): both players move on the same state."""

from __future__ import annotations

from typing import Any

import torch
from pettingzoo import ParallelEnv

from minimax.envs.base import GameEnvCore
from minimax.core.field import JointField
from minimax.core.game import Evaluation, Game
from minimax.core.schedules import PLAYERS

Observations = dict[str, dict[str, torch.Tensor]]


class GameParallelEnv(GameEnvCore, ParallelEnv):
    """A GAN as a simultaneous two-player game.

    Each step both players have observed their loss and gradient on the same
    minibatch and state; both moves are applied together, then a fresh minibatch
    is drawn and evaluated for both (one forward/backward). ``max_steps`` counts
    joint moves. See :mod:`minimax.envs.base` for observations and rewards.
    """

    metadata = {"name": "minimax_game_parallel_v0", "render_modes": []}

    def __init__(
        self,
        game: Game,
        max_steps: int | None = None,
        nonfinite_check_every: int = 1,
        render_mode: None = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode must be None (no render modes yet), got {render_mode!r}")
        self.render_mode = render_mode
        self._setup(game, max_steps, nonfinite_check_every)
        self.agents: list[str] = []

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observations, dict[str, dict[str, Any]]]:
        self._reseed(seed)
        self.agents = list(PLAYERS)
        self._batch = self.game.sample()
        self._evaluation = self.game.evaluate(self._batch)
        infos = {a: {"step": 0, "zero_sum": self.game.loss.zero_sum} for a in self.agents}
        return self._observations(self._evaluation), infos

    def _observations(self, evaluation: Evaluation) -> Observations:
        return {a: self._observation(a, evaluation) for a in self.agents}

    def step(
        self, actions: dict[str, torch.Tensor]
    ) -> tuple[Observations, dict[str, torch.Tensor], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]]:
        self._require_live()
        if not isinstance(actions, dict) or set(actions) != set(self.agents):
            got = sorted(actions) if isinstance(actions, dict) else type(actions).__name__
            raise ValueError(f"actions must be a dict with one action for each of {self.agents}, got {got}")
        checked = {a: self._check_action(a, actions[a]) for a in self.agents}
        before = self._evaluation
        rewards, infos = {}, {}
        for agent, action in checked.items():
            self._watch_move(agent, before.losses[agent], action)
            rewards[agent] = -before.losses[agent]
            infos[agent] = self._info(agent, before)
        for agent, action in checked.items():
            self.game.parameters(agent).add_(action)
            self._watch_parameters(agent)
        self._count_move()
        self._batch = self.game.sample()
        self._evaluation = self.game.evaluate(self._batch)
        observations = self._observations(self._evaluation)

        reason = self._diverged(force=self._truncated())
        terminations = {a: reason is not None for a in self.agents}
        truncations = {a: reason is None and self._truncated() for a in self.agents}
        if reason is not None:
            self._game_over_reason = reason
            infos = {a: {**info, "termination_reason": reason} for a, info in infos.items()}
        if reason is not None or self._truncated():
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def field(self) -> JointField:
        """The joint vector field on the current state and minibatch (what game-aware rules need).

        Both players' gradients at other parameters (extragradient), and products with
        the game Jacobian (consensus, SGA, CGD): see :mod:`minimax.core.field`.
        """
        self._require_reset()
        return JointField(self.game, self._batch)

    def close(self) -> None:
        """Nothing to release; present so wrappers can always call it."""

    def render(self) -> None:
        """No render modes yet (figures come from the benchmarks)."""
        return None
