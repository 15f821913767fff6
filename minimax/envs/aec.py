"""The turn-based game (PettingZoo AEC): one player moves per step, in the schedule's order."""

from __future__ import annotations

from typing import Any

import torch
from pettingzoo import AECEnv

from minimax.envs.base import GameEnvCore
from minimax.core.game import Evaluation, Game, Minibatch
from minimax.core.schedules import PLAYERS, Schedule, make_schedule


class GameAECEnv(GameEnvCore, AECEnv):
    """A GAN as a turn-based two-player game.

    The schedule decides who moves: ``"alternating:k=5"`` is Algorithm 1 with five
    discriminator turns per generator turn; each turn sees a fresh minibatch and
    the state the previous turn left. Under ``"simultaneous"`` both players observe
    the same state and minibatch and their moves are applied together once the
    second has moved. Observations, actions, rewards and divergence handling are
    described in :mod:`minimax.envs.base`. ``max_steps`` counts moves (env steps).
    """

    metadata = {"name": "minimax_game_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(
        self,
        game: Game,
        schedule: str | Schedule = "alternating",
        max_steps: int | None = None,
        nonfinite_check_every: int = 1,
        render_mode: None = None,
    ) -> None:
        super().__init__()
        if render_mode is not None:
            raise ValueError(f"render_mode must be None (no render modes yet), got {render_mode!r}")
        self.render_mode = render_mode
        self.schedule = make_schedule(schedule)
        turns = self.schedule.turns_per_iteration
        if self.schedule.simultaneous and max_steps is not None and max_steps % turns:
            raise ValueError(
                f"max_steps must be a multiple of {turns} under a simultaneous schedule "
                f"(moves of a cycle are applied together), got {max_steps}"
            )
        self._setup(game, max_steps, nonfinite_check_every)
        self.agents: list[str] = []

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        self._reseed(seed)
        self.agents = list(PLAYERS)
        self.rewards = {a: self._zero for a in self.agents}
        self._cumulative_rewards = {a: self._zero for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {"step": 0, "zero_sum": self.game.loss.zero_sum} for a in self.agents}
        self._pending: dict[str, torch.Tensor] = {}
        self._skip_agent_selection = None
        self._new_turn(0)
        self.agent_selection = self.schedule.agent_at(0)

    def _new_turn(self, turn: int) -> None:
        """Draw turn number ``turn``'s minibatch; nothing is evaluated until someone looks."""
        self._batch: Minibatch = self.game.sample(part=self.schedule.part_at(turn))
        self._evaluations: dict[str, Evaluation] = {}

    def _evaluation(self, agent: str) -> Evaluation:
        if agent not in self._evaluations:
            # Only the mover's evaluation may advance BatchNorm statistics: looking changes nothing.
            moving = agent == self.agent_selection or self.schedule.simultaneous
            self._evaluations[agent] = self.game.evaluate(self._batch, (agent,), update_buffers=moving)
        return self._evaluations[agent]

    def last(self, observe: bool = True):
        self._require_reset()
        return super().last(observe)

    def observe(self, agent: str) -> dict[str, torch.Tensor] | None:
        """``agent``'s loss and gradient on the current turn's minibatch, and its parameters."""
        if agent not in self.possible_agents:
            raise ValueError(f"unknown agent {agent!r}; expected one of {self.possible_agents}")
        self._require_reset()
        return self._observation(agent, self._evaluation(agent))

    def step(self, action: torch.Tensor | None) -> None:
        if not self.agents:
            self._require_live()  # names why: never reset, or the game is over
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        if action is None:
            raise ValueError(f"action for {agent} is None, but the game is not over for it")
        action = self._check_action(agent, action)
        evaluation = self._evaluation(agent)
        loss = evaluation.losses[agent]
        self._watch_move(agent, loss, action)
        self.rewards = {a: self._zero for a in self.agents}
        self.rewards[agent] = -loss
        self._cumulative_rewards[agent] = self._zero
        self.infos[agent] = self._info(agent, evaluation)

        turn = self._moves
        if self.schedule.simultaneous:
            self._pending[agent] = action.clone()  # applied at the end of the cycle; the caller may reuse it
            if self.schedule.ends_cycle(turn):
                self._apply(self._pending)
                self._pending = {}
                self._new_turn(turn + 1)
        else:
            self._apply({agent: action})
            self._new_turn(turn + 1)
        self._count_move()
        self.agent_selection = self.schedule.agent_at(self._moves)
        self._end_if_over()
        for a, reward in self.rewards.items():
            self._cumulative_rewards[a] = self._cumulative_rewards[a] + reward

    def _apply(self, moves: dict[str, torch.Tensor]) -> None:
        for agent, action in moves.items():
            self.game.parameters(agent).add_(action)
            self._watch_parameters(agent)

    def _end_if_over(self) -> None:
        reason = self._diverged(force=self._truncated())
        if reason is not None:
            self._game_over_reason = reason
            for a in self.agents:
                self.terminations[a] = True
                self.infos[a] = {**self.infos[a], "termination_reason": reason}
        elif self._truncated():
            for a in self.agents:
                self.truncations[a] = True

    def field(self) -> None:
        """Refused: the joint field is for simultaneous moves (the Parallel env)."""
        raise TypeError(
            "the joint vector field (what extragradient, consensus, SGA and CGD need) is defined for simultaneous "
            "moves: use the Parallel env, pettingzoo.make('parallel', ...); the AEC env moves one player at a time"
        )

    def close(self) -> None:
        """Nothing to release; present so wrappers can always call it."""

    def render(self) -> None:
        """No render modes yet (figures come from the benchmarks)."""
        return None
