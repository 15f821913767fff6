"""The turn-based game (PettingZoo AEC): one player moves per step, in the schedule's order."""

from __future__ import annotations

from typing import Any

import numpy as np

import torch
from pettingzoo import AECEnv

from minimax.core.match import Match
from minimax.core.players import PLAYERS
from minimax.core.schedules import Schedule
from minimax.envs.base import RENDER_FPS, RENDER_MODES, GameView, check_action


def faithful_in_parallel(schedule: Schedule) -> bool:
    """Whether a Parallel view of this turn order plays the same game: simultaneous, one move per player per cycle.

    Under an alternating schedule the second mover sees the first's move; a parallel step hides it.
    """
    return schedule.simultaneous and all(schedule.turns_of(p) == 1 for p in PLAYERS)


class GameAECEnv(GameView, AECEnv):
    """A GAN as a turn-based two-player game.

    The schedule decides who moves: ``"alternating:k=5"`` is Algorithm 1 with five
    discriminator turns per generator turn; each turn sees a fresh minibatch and
    the state the previous turn left. Under ``"simultaneous"`` both players observe
    the same state and minibatch and their moves are applied together once the
    second has moved. Observations, actions, rewards and divergence handling are
    described in :mod:`minimax.envs.base`. ``max_steps`` counts moves (env steps).

    The env's PettingZoo state (``agent_selection``, ``rewards``, ``terminations``, ``infos``,
    ...) is read off its :class:`minimax.core.match.Match`, so it stays true whoever plays
    the match (``env.step``, or ``minimax.train``).
    """

    #: ``is_parallelizable`` is set per env: PettingZoo's ``aec_to_parallel`` steps every agent once per parallel step
    #: on the same state, which is this game only under a simultaneous schedule of one move per player per cycle.
    metadata = {"name": "minimax_game_v0", "render_modes": RENDER_MODES, "render_fps": RENDER_FPS, "is_parallelizable": False}
    kind = "aec"
    CONFIG = (*GameView.CONFIG, "schedule", "metadata")
    STATE = {**GameView.STATE, "_dead_steps": "view"}

    def __init__(
        self,
        game: Any,
        schedule: str | Schedule = "alternating",
        max_steps: int | None = None,
        nonfinite_check_every: int = 1,
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        self._setup_render(render_mode)
        match = Match(game, schedule)
        self.schedule = match.schedules[0]
        self.metadata = {**type(self).metadata, "is_parallelizable": faithful_in_parallel(self.schedule)}
        turns = self.schedule.turns_per_iteration
        if self.schedule.simultaneous and max_steps is not None and max_steps % turns:
            raise ValueError(
                f"max_steps must be a multiple of {turns} under a simultaneous schedule "
                f"(moves of a cycle are applied together), got {max_steps}"
            )
        self._setup(match, max_steps, nonfinite_check_every)
        self._dead_steps = False  # an agent of the ended game has made its final (None) step

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        self._reseed(seed)
        self.agents = list(PLAYERS)
        self._dead_steps = False

    # ------------------------------------------------------------------ PettingZoo's state, read off the match

    @property
    def agent_selection(self) -> str:
        if self._dead_steps and self.agents:
            return self.agents[0]
        waiting = self.match.waiting()
        if self.agents and waiting[0] not in self.agents:
            return self.agents[0]
        return waiting[0]

    @property
    def rewards(self) -> dict[str, torch.Tensor]:
        """The last step's rewards: minus the mover's loss, 0 for the other player."""
        last = None if self._dead_steps else self.match.last_player
        return {a: self.match.last_rewards[a][0] if a == last else self._zero for a in self.agents}

    @property
    def _cumulative_rewards(self) -> dict[str, torch.Tensor]:
        """Each agent's reward since it last acted: its own move's (the other player's moves pay it 0)."""
        return {a: self.match.last_rewards[a][0] for a in self.agents}

    @property
    def terminations(self) -> dict[str, bool]:
        diverged = self.reason is not None
        return {a: diverged for a in self.agents}

    @property
    def truncations(self) -> dict[str, bool]:
        truncated = self.reason is None and self.truncated
        return {a: truncated for a in self.agents}

    @property
    def infos(self) -> dict[str, dict[str, Any]]:
        return {a: self.info(a) for a in self.agents}

    def info(self, agent: str) -> dict[str, Any]:
        """Diagnostics of ``agent``'s latest move (device tensors, no host sync); a half-batch turn has no ``value``
        and only one of ``d_real``/``d_fake``."""
        zero_sum = self.game.zero_sum[0]
        last = self.match.last_infos[agent]
        if not last:
            info: dict[str, Any] = {"step": 0, "zero_sum": zero_sum}
        else:
            info = {"step": _first(last["move"]), "loss": last["loss"][0],
                    **{k: last[k][0] for k in ("d_real", "d_fake", "value") if last[k] is not None},
                    "grad_norm": last["grad_norm"][0], "zero_sum": zero_sum}  # fmt: skip
        if self.reason is not None:
            info["termination_reason"] = self.reason
        return info

    # ------------------------------------------------------------------ the game

    def last(self, observe: bool = True):
        self._require_reset()
        return super().last(observe)

    def observe(self, agent: str) -> dict[str, torch.Tensor] | None:
        """``agent``'s loss and gradient on the current turn's minibatch, and its parameters."""
        if agent not in self.possible_agents:
            raise ValueError(f"unknown agent {agent!r}; expected one of {self.possible_agents}")
        self._require_reset()
        e = self.match.observe(agent)
        return {
            "loss": e.losses[agent][0],
            "gradient": e.gradients[agent][0],
            "parameters": self.game.parameters(agent)[0],
            "step": self.match.move_count[0].to(torch.float32),
        }

    def step(self, action: torch.Tensor | None) -> None:
        if not self.agents:
            self._require_reset()
            why = f" ({self.reason})" if self.reason else ""
            raise RuntimeError(f"the game is over{why}; call reset() before step()")
        agent = self.agent_selection
        if self.over:
            self._dead_step(agent, action)
            return
        if action is None:
            raise ValueError(f"action for {agent} is None, but the game is not over for it: expected a tensor of shape "
                             f"({self.game.size(agent)},) (None is the action of an agent whose game has ended)")  # fmt: skip
        self.play(agent, check_action(self.game, agent, action, (self.game.size(agent),)))

    def play(self, agent: str, action: torch.Tensor) -> None:
        """One move of ``agent`` (the player to move) with an action already checked: what ``step`` does after
        its checks, and what :func:`minimax.train` calls."""
        self.match.submit(agent, action.unsqueeze(0))
        self._after_step()

    def _dead_step(self, agent: str, action: Any) -> None:
        """PettingZoo's final step of an agent whose game has ended: the action must be None; the agent leaves."""
        if action is not None:
            raise ValueError(f"the game is over for {agent}: the only valid action is None, got {type(action).__name__}")
        self.agents.remove(agent)
        self._dead_steps = True

    def _view_state(self) -> dict[str, Any]:
        return {**super()._view_state(), "dead_steps": self._dead_steps}

    def _check_view_state(self, view: dict[str, Any]) -> None:
        if not isinstance(view.get("dead_steps"), bool):
            raise ValueError(f"env state: dead_steps must be True or False, got {view.get('dead_steps')!r}")

    def _load_view_state(self, view: dict[str, Any]) -> None:
        self._dead_steps = view["dead_steps"]

    def field(self) -> None:
        """Refused: the joint field is for simultaneous moves (the Parallel env)."""
        raise TypeError(
            "the joint vector field (what extragradient, consensus, SGA and CGD need) is defined for simultaneous "
            "moves: use the Parallel env, pettingzoo.make('parallel', ...); the AEC env moves one player at a time"
        )


def _first(moves: "int | np.ndarray") -> int:
    """Game 0's move count, from the match's info (an int when every game made every move)."""
    return int(moves) if isinstance(moves, int) else int(moves[0])
