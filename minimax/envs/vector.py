"""N games in lockstep: a vector env over :class:`minimax.vector_game.VectorGame`.

Conventions: Gymnasium's vector envs (``num_envs``, ``reset(seed=[...])`` returning
``(observations, infos)``, ``step`` returning five batched results, ``single_*`` and batched
spaces) with PettingZoo Parallel's per-agent dicts, since there are two players.

Time runs in *ticks*. In each tick every game makes the turn its own schedule says: game i
with ``alternating:k=5`` runs six ticks per iteration (five discriminator turns, then the
generator), a game with ``alternating:k=1`` two ticks and then waits; a simultaneous game
moves both players in the first tick. An iteration is the longest cycle
(``ticks_per_iteration``), so games with different schedules stay aligned on iterations.
Observations carry a ``"moving"`` mask ``(N,)``: a player's action is applied only where it
moves, and an update rule should keep its state only there (:func:`minimax.vector_training.train_vector`
does both).

Observations per player (device tensors, nothing copied to the host): ``"loss"`` (N,),
``"gradient"`` (N, P) (zeros where the player does not move), ``"parameters"`` (N, P), the
live buffer, ``"moving"`` (N,) bool. Rewards are minus the mover's loss (0 elsewhere).
Like the parameters, the gradient is a buffer the env reuses: it is valid until the next
``step`` (copy it to keep it), and an agent may overwrite it (``rule.update_`` does).

Divergence is per game: a move with a non-finite loss or a non-finite entry terminates that
game (``terminations[player][i]`` True), as it terminates a lone env: the move is applied, and
from then on the game is frozen (no more moves); ``infos`` says at which iteration and whose
move (``diverged_at``, ``diverged_player``: -1 while alive; player 0 is the discriminator).
The other games go on, untouched: games share no computation that could carry a NaN across.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium.utils import seeding
from gymnasium.vector.utils import batch_space

from minimax.envs.base import observation_space
from minimax.utils.checks import check_int
from minimax.core.schedules import BOTH, DISCRIMINATOR, GENERATOR, PARTS, PLAYERS, Schedule, make_schedule
from minimax.vector_game import VectorBatch, VectorEvaluation, VectorGame


@dataclass(frozen=True)
class Tick:
    """What happens in one tick: which games draw which part, and who moves where."""

    draws: dict[str, tuple[int, ...]]  # part -> games drawing a minibatch of that part
    moves: dict[tuple[str, str], tuple[int, ...]]  # (player, part) -> games where player moves on that part
    moving: dict[str, np.ndarray]  # player -> (N,) bool


def plan_ticks(schedules: Sequence[Schedule]) -> list[Tick]:
    """The ticks of one iteration for games with the given schedules (one per game)."""
    n = len(schedules)
    length = max(1 if s.simultaneous else s.turns_per_iteration for s in schedules)
    ticks = []
    for j in range(length):
        draws: dict[str, list[int]] = {}
        moves: dict[tuple[str, str], list[int]] = {}
        moving = {p: np.zeros(n, dtype=bool) for p in PLAYERS}
        for i, s in enumerate(schedules):
            if s.simultaneous:
                turns = [(p, BOTH) for p in PLAYERS] if j == 0 else []
            elif j < s.turns_per_iteration:
                turns = [(s.agent_at(j), s.part_at(j))]
            else:
                turns = []
            if turns:
                draws.setdefault(turns[0][1], []).append(i)
            for player, part in turns:
                moves.setdefault((player, part), []).append(i)
                moving[player][i] = True
        ticks.append(Tick({k: tuple(v) for k, v in draws.items()}, {k: tuple(v) for k, v in moves.items()}, moving))
    return ticks


class VectorGameEnv:
    """N independent games of one task in lockstep, each with its own seed, schedule and loss family."""

    metadata = {"name": "minimax_vector_v0", "render_modes": [], "autoreset_mode": None}
    possible_agents: list[str] = list(PLAYERS)

    def __init__(
        self,
        game: VectorGame,
        schedule: str | Schedule | Sequence[str | Schedule] = "alternating",
        max_iterations: int | None = None,
    ) -> None:
        if not isinstance(game, VectorGame):
            raise TypeError(f"game must be a minimax.vector_game.VectorGame, got {game!r}")
        self.game = game
        self.num_envs = game.num_games
        specs = [schedule] * self.num_envs if isinstance(schedule, (str, Schedule)) else list(schedule)
        if len(specs) != self.num_envs:
            raise ValueError(f"schedule must be one schedule or one per game ({self.num_envs}), got {len(specs)}")
        self.schedules = [make_schedule(s) for s in specs]
        self.ticks = plan_ticks(self.schedules)
        self.ticks_per_iteration = len(self.ticks)
        self.max_iterations = None if max_iterations is None else check_int("max_iterations", max_iterations, minimum=1)
        device = game.device
        self._moving = [{p: torch.as_tensor(t.moving[p], device=device) for p in PLAYERS} for t in self.ticks]
        self.single_observation_spaces = {p: observation_space(game.size(p)) for p in PLAYERS}
        self.single_action_spaces = {
            p: gymnasium.spaces.Box(-np.inf, np.inf, shape=(game.size(p),), dtype=np.float32) for p in PLAYERS
        }
        self.observation_spaces = {p: batch_space(s, self.num_envs) for p, s in self.single_observation_spaces.items()}
        self.action_spaces = {p: batch_space(s, self.num_envs) for p, s in self.single_action_spaces.items()}
        self.agents: list[str] = []
        self._zeros = {p: torch.zeros(self.num_envs, game.size(p), device=device, dtype=game.dtype) for p in PLAYERS}

    def observation_space(self, agent: str) -> gymnasium.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gymnasium.Space:
        return self.action_spaces[agent]

    # ------------------------------------------------------------------------------ API

    def reset(
        self, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, dict[str, Any]]]:
        """Restart every game. ``seed``: one per game (game i then equals a lone env reset with
        ``seed[i]``), or one int from which N seeds are drawn, or None (fresh entropy)."""
        n = self.num_envs
        if seed is None or isinstance(seed, (int, np.integer)):
            root, _ = seeding.np_random(None if seed is None else int(seed))
            env_seeds = [int(s) for s in root.integers(0, 2**31 - 1, size=n)]
        else:
            env_seeds = [int(s) for s in seed]
            if len(env_seeds) != n:
                raise ValueError(f"reset needs one seed per game ({n}) or a single int, got {len(env_seeds)} seeds")
        # As GameEnvCore._reseed: the env's seed draws the game's seed.
        game_seeds = [int(seeding.np_random(s)[0].integers(0, 2**63 - 1)) for s in env_seeds]
        self.seeds = env_seeds
        self.game.reset(game_seeds)
        device = self.game.device
        self.agents = list(PLAYERS)
        self.iteration = 0
        self._tick = 0
        self.alive = torch.ones(n, dtype=torch.bool, device=device)
        self.diverged_at = torch.full((n,), -1, dtype=torch.int64, device=device)
        self.diverged_player = torch.full((n,), -1, dtype=torch.int64, device=device)
        self._iteration_t = torch.zeros((), dtype=torch.int64, device=device)
        self._observe()
        return self._observations(), self._infos()

    def step(self, actions: dict[str, torch.Tensor]) -> tuple[Any, Any, Any, Any, Any]:
        """Apply each moving player's actions ``(N, P)`` where it moves, then advance one tick."""
        if not self.agents:
            raise RuntimeError("call reset() before step(), and again once every game is over")
        tick = self._moving[self._tick]
        rewards = {}
        for p in PLAYERS:
            moving = tick[p]
            if not self.ticks[self._tick].moving[p].any():
                rewards[p] = torch.zeros(self.num_envs, device=self.game.device, dtype=self.game.dtype)
                continue
            if p not in actions:
                raise ValueError(f"{p} moves in this tick (games {np.flatnonzero(self.ticks[self._tick].moving[p]).tolist()}) but has no action")
            action = self._check_action(p, actions[p])
            params = self.game.params[p]
            loss = self._evaluation_loss[p]
            # Applied where the player moves and the game is alive (one fused multiply-add). A loss or a
            # move that is not finite ends that game (the sum of a vector is non-finite iff an entry is,
            # barring overflow: one pass, no host sync).
            move = moving & self.alive
            params.addcmul_(action, move.unsqueeze(-1).to(params.dtype))
            ok = torch.isfinite(loss) & torch.isfinite(action.sum(-1))
            bad = move & ~ok
            self.diverged_at = torch.where(bad & (self.diverged_at < 0), self._iteration_t, self.diverged_at)
            self.diverged_player = torch.where(bad & (self.diverged_player < 0), PLAYERS.index(p), self.diverged_player)
            self.alive = self.alive & ~bad
            rewards[p] = torch.where(moving, -loss, torch.zeros_like(loss))
        self._tick += 1
        if self._tick == self.ticks_per_iteration:
            self._tick = 0
            self.iteration += 1
            self._iteration_t = self._iteration_t + 1
        truncated = self.max_iterations is not None and self.iteration >= self.max_iterations
        if truncated:
            self.agents = []
        else:
            self._observe()
        terminations = {p: ~self.alive for p in PLAYERS}
        truncations = {p: torch.full((self.num_envs,), truncated, device=self.game.device) for p in PLAYERS}
        return self._observations(), rewards, terminations, truncations, self._infos()

    def close(self) -> None:
        """Nothing to release."""

    # ------------------------------------------------------------------------------ internals

    def _check_action(self, player: str, action: Any) -> torch.Tensor:
        shape = (self.num_envs, self.game.size(player))
        if not isinstance(action, torch.Tensor):
            raise TypeError(f"action for {player} must be a torch.Tensor of shape {shape}, got {type(action).__name__}")
        if tuple(action.shape) != shape:
            raise ValueError(f"action for {player} must have shape {shape} (games, parameters), got {tuple(action.shape)}")
        if action.dtype != self.game.dtype or action.device != self.game.device:
            raise TypeError(
                f"action for {player} must be {self.game.dtype} on {self.game.device}, got {action.dtype} on {action.device}"
            )
        return action

    def _observe(self) -> None:
        """Draw this tick's minibatches and evaluate every mover (one batched pass per group)."""
        tick = self.ticks[self._tick]
        batches: dict[str, VectorBatch] = {part: self.game.sample(games, part) for part, games in tick.draws.items()}
        self._evaluations: dict[str, list[tuple[tuple[int, ...], VectorEvaluation]]] = {p: [] for p in PLAYERS}
        # The discriminator first, as a lone simultaneous game evaluates it first.
        for player in PLAYERS:
            for part in PARTS:
                games = tick.moves.get((player, part))
                if not games:
                    continue
                batch = batches[part]
                drawn = tick.draws[part]
                if games != drawn:
                    rows = torch.tensor([drawn.index(i) for i in games], device=self.game.device)
                    batch = VectorBatch(batch.real[rows], batch.noise[rows], part)
                self._evaluations[player].append((games, self.game.evaluate(player, games, batch)))
        self._evaluation_loss = {p: self._gather(p, "loss") for p in PLAYERS}
        self._gradient = {p: self._gather(p, "gradient") for p in PLAYERS}

    def _gather(self, player: str, field: str) -> torch.Tensor:
        """One (N, ...) tensor of a field over the player's evaluation groups (zeros elsewhere)."""
        groups = self._evaluations[player]
        if len(groups) == 1 and len(groups[0][0]) == self.num_envs:
            return getattr(groups[0][1], field)
        if not groups:  # the player does not move in this tick: shared zeros, never written
            return self._zeros[player] if field == "gradient" else self._zeros[player][:, 0]
        out = self._zeros[player] if field == "gradient" else self._zeros[player][:, 0]
        out = torch.zeros_like(out)
        for games, evaluation in groups:
            out[torch.as_tensor(games, device=out.device)] = getattr(evaluation, field)
        return out

    def _observations(self) -> dict[str, dict[str, torch.Tensor]]:
        if not self.agents:
            return {p: {"parameters": self.game.params[p]} for p in PLAYERS}
        moving = self._moving[self._tick]
        return {
            p: {
                "loss": self._evaluation_loss[p],
                "gradient": self._gradient[p],
                "parameters": self.game.params[p],
                "moving": moving[p],
            }
            for p in PLAYERS
        }

    def _infos(self) -> dict[str, dict[str, Any]]:
        common = {"iteration": self.iteration, "tick": self._tick, "diverged_at": self.diverged_at,
                  "diverged_player": self.diverged_player}  # fmt: skip
        infos: dict[str, dict[str, Any]] = {p: dict(common) for p in PLAYERS}
        if self.agents:
            for p in PLAYERS:
                for name in ("d_real", "d_fake", "value"):
                    parts = [(g, getattr(e, name)) for g, e in self._evaluations[p] if getattr(e, name) is not None]
                    if len(parts) == 1 and len(parts[0][0]) == self.num_envs:
                        infos[p][name] = parts[0][1]
                    elif parts:
                        full = torch.full((self.num_envs,), float("nan"), device=self.game.device, dtype=self.game.dtype)
                        for games, v in parts:
                            full[torch.as_tensor(games, device=full.device)] = v
                        infos[p][name] = full
        return infos


__all__ = ["Tick", "VectorGameEnv", "plan_ticks"]
