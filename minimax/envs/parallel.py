"""Simultaneous gradient play (PettingZoo Parallel): both players move on the same state."""

from __future__ import annotations

from typing import Any

import numpy as np

import torch
from pettingzoo import ParallelEnv

from minimax.core.match import Match
from minimax.core.players import PLAYERS
from minimax.envs.base import RENDER_FPS, RENDER_MODES, GameView, check_action

Observations = dict[str, dict[str, torch.Tensor]]


class GameParallelEnv(GameView, ParallelEnv):
    """A GAN as a simultaneous two-player game.

    Each step both players have observed their loss and gradient on the same
    minibatch and state; both moves are applied together, then a fresh minibatch
    is drawn and evaluated for both (one forward/backward). ``max_steps`` counts
    joint moves. See :mod:`minimax.envs.base` for observations and rewards.
    """

    metadata = {"name": "minimax_game_parallel_v0", "render_modes": RENDER_MODES, "render_fps": RENDER_FPS}
    kind = "parallel"

    def __init__(
        self,
        game: Any,
        max_steps: int | None = None,
        nonfinite_check_every: int = 1,
        render_mode: str | None = None,
    ) -> None:
        self._setup_render(render_mode)
        self._setup(Match(game, "simultaneous", joint=True, moves_per_step=2), max_steps, nonfinite_check_every)

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observations, dict[str, dict[str, Any]]]:
        self._reseed(seed)
        self.agents = list(PLAYERS)
        zero_sum = self.game.zero_sum[0]
        return self.observations(), {a: {"step": 0, "zero_sum": zero_sum} for a in self.agents}

    def observation(self, agent: str) -> dict[str, torch.Tensor]:
        """``agent``'s observation on the current state and minibatch (evaluated once per step for both players)."""
        e = self.match.evaluation(agent)
        return {
            "loss": e.losses[agent][0],
            "gradient": e.gradients[agent][0],
            "parameters": self.game.parameters(agent)[0],
            "step": self.match.tick_count.to(torch.float32),
        }

    def observations(self) -> Observations:
        """Both players' observations on the current state and minibatch (what ``reset`` and ``step`` return)."""
        return {a: self.observation(a) for a in self.agents}

    def info(self, agent: str) -> dict[str, Any]:
        """Diagnostics of ``agent``'s latest move (device tensors, no host sync)."""
        last = self.match.last_infos[agent]
        info: dict[str, Any] = {"step": _first(last["move"]) // 2, "loss": last["loss"][0],
                                **{k: last[k][0] for k in ("d_real", "d_fake", "value") if last[k] is not None},
                                "grad_norm": last["grad_norm"][0], "zero_sum": self.game.zero_sum[0]}  # fmt: skip
        if self.reason is not None:
            info["termination_reason"] = self.reason
        return info

    def step(
        self, actions: dict[str, torch.Tensor]
    ) -> tuple[Observations, dict[str, torch.Tensor], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]]:
        if not self.agents:
            self._require_reset()
            why = f" ({self.reason})" if self.reason else ""
            raise RuntimeError(f"the game is over{why}; call reset() before step()")
        if not isinstance(actions, dict) or set(actions) != set(self.agents):
            got = sorted(actions) if isinstance(actions, dict) else type(actions).__name__
            raise ValueError(f"actions must be a dict with one action for each of {self.agents}, got {got}")
        checked = {a: check_action(self.game, a, actions[a], (self.game.size(a),)) for a in self.agents}
        self.play(checked)
        observations = self.observations()
        rewards = {a: self.match.last_rewards[a][0] for a in self.agents}
        infos = {a: self.info(a) for a in self.agents}
        diverged, truncated = self.reason is not None, self.truncated
        terminations = {a: diverged for a in self.agents}
        truncations = {a: not diverged and truncated for a in self.agents}
        if diverged or truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def play(self, actions: dict[str, torch.Tensor]) -> None:
        """Both players' moves, already checked: what ``step`` does after its checks, and what
        :func:`minimax.train` calls."""
        for agent in PLAYERS:
            self.match.submit(agent, actions[agent].unsqueeze(0))
        self._after_step()


def _first(moves: "int | np.ndarray") -> int:
    """Game 0's move count, from the match's info (an int when every game made every move)."""
    return int(moves) if isinstance(moves, int) else int(moves[0])
