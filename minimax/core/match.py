"""The turn logic of N games, written once: who moves in each tick, their evaluations, moves and divergence.

Time runs in *ticks*. In each tick every game makes the turn its own schedule says: a game
with ``alternating:k=5`` plays six ticks per iteration (five discriminator turns, then the
generator), a game with ``alternating:k=1`` two ticks and then waits; a simultaneous game
moves both players in the first tick, on the same state and minibatch. An iteration is the
longest cycle (``ticks_per_iteration``), so games with different schedules stay aligned on
iterations. A lone game is N = 1: its ticks are its turns.

A tick: its minibatches are drawn when it begins; a player's evaluation (loss and gradient on
the tick's minibatch) is made when someone asks for it; each moving player submits its action;
once every mover has, the actions are applied together, and the next tick begins. Rewards are
minus the mover's loss at the state and minibatch it acted on.

Divergence: a non-finite loss, action or resulting parameter is found on the device (no host
sync), per game, with the move and iteration of the first one. Each move only *watches* three
numbers per game (its loss, and a *witness* of its action and of its parameters: half the spread
between their largest and smallest entries, taken in float64, finite exactly when every entry is;
see :func:`finite_witness`) and adds
them into one float64 *health* number per game; the host reads that one number when a view
asks (:meth:`Match.read_divergence`), and only when it is non-finite are the watched numbers
decoded into which came first. A game whose divergence is read is over. The move that makes a
game non-finite is applied; later moves of a game already non-finite are not (it is frozen on
the device, from its health, even before the host reads it).

Every piece of state is in :meth:`Match.state_dict`, so a view, a checkpoint or an analysis can
save and restore it without reading private attributes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from minimax.core.game import Evaluation, Minibatch
from minimax.core.players import BOTH, PARTS, PLAYERS
from minimax.core.schedules import Schedule, make_schedule
from minimax.utils.checks import check_int

#: What a divergence flag says, by code: 1 + 2 * reason + player.
REASONS = ("non-finite loss", "non-finite action", "non-finite parameters")

# Watched values kept before they are folded on the device (a long interval between host reads).
_FOLD_AT = 192


def finite_witness(x: torch.Tensor, wide: torch.dtype = torch.float64) -> torch.Tensor:
    """(N,) ``wide`` numbers for ``x`` (N, P), each finite exactly when every entry of its row is finite.

    Half the spread, max/2 - min/2: two NaN-propagating float32 reductions (amax and amin, one
    read each) instead of a float64 sum (a 2x wider copy of the vector, then a read of it: 11x slower
    on a 1.5M-entry vector here). The halves keep it from overflowing even when ``wide`` is float32.
    A row without entries is finite (0).
    """
    if x.shape[-1] == 0:
        return torch.zeros(x.shape[:-1], dtype=wide, device=x.device)
    return x.amax(-1).to(wide) * 0.5 - x.amin(-1).to(wide) * 0.5


@dataclass(frozen=True)
class Tick:
    """What happens in one tick: which games draw which part, and who moves where.

    ``movers`` (the players that move in some game, in PLAYERS order), ``all_move`` (player ->
    whether it moves in every game) and ``simultaneous`` (both players move in every game, on
    full minibatches) are worked out once, when the ticks are planned.
    """

    draws: dict[str, tuple[int, ...]]  # part -> games drawing a minibatch of that part
    moves: dict[tuple[str, str], tuple[int, ...]]  # (player, part) -> games where player moves on that part
    moving: dict[str, np.ndarray]  # player -> (N,) bool
    movers: tuple[str, ...] = ()
    all_move: dict[str, bool] = field(default_factory=dict)
    simultaneous: bool = False

    def everyone(self, player: str) -> bool:
        """Whether ``player`` moves in every game this tick."""
        return self.all_move[player]


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
        movers = tuple(p for p in PLAYERS if moving[p].any())
        all_move = {p: bool(moving[p].all()) for p in PLAYERS}
        simultaneous = movers == PLAYERS and all(all_move.values()) and list(draws) == [BOTH]
        ticks.append(Tick({k: tuple(v) for k, v in draws.items()}, {k: tuple(v) for k, v in moves.items()}, moving,
                          movers, all_move, simultaneous))  # fmt: skip
    return ticks


def describe_divergence(code: int, step: int) -> str:
    """The reason a flag gives, as every view words it: ``non-finite action (discriminator) at step 7``."""
    return f"{REASONS[(code - 1) // 2]} ({PLAYERS[(code - 1) % 2]}) at step {step}"


class Match:
    """N games played tick by tick, each by its own schedule, over one :class:`minimax.core.game.Game`.

    ``joint=True`` evaluates both players in one forward/backward on a tick where both move in
    every game (simultaneous play: the Parallel env); otherwise each player is evaluated on
    its own (the AEC env, where each player looks when it is its turn).
    """

    # Attributes that are configuration (fixed at construction) and state (attribute -> its key in state_dict):
    # a test checks that these name every attribute, so that new state cannot be forgotten by checkpoints.
    CONFIG = ("schedules", "ticks", "joint", "moves_per_step", "_moving_masks", "_moves_per_iteration")
    STATE = {name: name for name in ("tick", "iteration", "ticks_done", "move_count", "tick_count", "over", "reasons",
                                     "applies_since_read", "batches", "evaluations", "observed", "pending",
                                     "last_rewards", "last_infos", "last_player")}  # fmt: skip
    # the game's own state is nested under "game"; the host's move counts are one "moves" list; a flag derived;
    # the watched numbers and the health are folded into the first-event codes before they are saved
    STATE.update({"_gate": "gate", "game": "game", "_moves_all": "moves", "_moves_some": "moves", "_any_over": "over",
                  "_bad_code": "bad_code", "_bad_move": "bad_move", "_watch": "bad_code", "_health": "bad_code",
                  "_not_over_mask": "over"})

    def __init__(self, game: Any, schedule: str | Schedule | Sequence[str | Schedule] = "alternating",
                 joint: bool = False, moves_per_step: int = 1) -> None:  # fmt: skip
        """``moves_per_step``: how many moves make the step that a divergence reason names (2 for the
        Parallel env, whose step is both players' joint move; 1 elsewhere)."""
        self.game = game
        self.moves_per_step = check_int("moves_per_step", moves_per_step, minimum=1)
        n = game.num_games
        specs = [schedule] * n if isinstance(schedule, (str, Schedule)) else list(schedule)
        if len(specs) != n:
            raise ValueError(f"schedule must be one schedule or one per game ({n}), got {len(specs)}")
        self.schedules = [make_schedule(s) for s in specs]
        self.ticks = plan_ticks(self.schedules)
        self.joint = bool(joint)
        device = game.device
        self._moving_masks = [{p: torch.as_tensor(t.moving[p], device=device) for p in PLAYERS} for t in self.ticks]
        per_iteration = [sum(t.moving[p][i] for t in self.ticks for p in PLAYERS) for i in range(n)]
        self._moves_per_iteration = torch.as_tensor(per_iteration, dtype=torch.int64, device=device)
        self._clear(n)

    # ---------------------------------------------------------------------------------- counters

    @property
    def num_games(self) -> int:
        return self.game.num_games

    @property
    def ticks_per_iteration(self) -> int:
        return len(self.ticks)

    @property
    def current(self) -> Tick:
        """The tick being played."""
        return self.ticks[self.tick]

    @property
    def started(self) -> bool:
        return bool(self.batches)

    def moving(self, player: str) -> torch.Tensor:
        """(N,) bool device mask: where ``player`` moves in this tick."""
        return self._moving_masks[self.tick][player]

    def waiting(self) -> tuple[str, ...]:
        """The movers of this tick that have not submitted yet, in order."""
        return tuple(p for p in self.current.movers if p not in self.pending)

    @property
    def bad_code(self) -> torch.Tensor:
        """(N,) int64 device: each game's first non-finite event (0 none; see :data:`REASONS`), read or not."""
        self._fold()
        return self._bad_code

    @property
    def bad_move(self) -> torch.Tensor:
        """(N,) int64 device: the move (counted from 0) of each game's first non-finite event."""
        self._fold()
        return self._bad_move

    @property
    def bad_iteration(self) -> torch.Tensor:
        """(N,) device: the iteration of each game's first non-finite move, -1 for a game without one."""
        return torch.where(self.bad_code > 0, self.bad_move // self._moves_per_iteration, -1)

    @property
    def alive(self) -> torch.Tensor:
        """(N,) bool device mask: the games with nothing non-finite so far (read or not)."""
        alive = self._bad_code == 0
        return alive if self._health is None else alive & torch.isfinite(self._health)

    def _clear(self, n: int) -> None:
        device = self.game.device
        self.tick = self.iteration = self.ticks_done = 0
        self._moves_all = 0  # moves made by every game (host) ...
        self._moves_some: np.ndarray | None = None  # ... and, once some games sat a tick out, their extra moves
        self.move_count = torch.zeros(n, dtype=torch.int64, device=device)  # its device twin, for observations
        self.tick_count = torch.zeros((), dtype=torch.int64, device=device)
        self._bad_code = torch.zeros(n, dtype=torch.int64, device=device)
        self._bad_move = torch.zeros(n, dtype=torch.int64, device=device)
        # watched since the last read: (code, value (N,), where it counts ((N,) bool or None: everywhere), move numbers)
        self._watch: list[tuple[int, torch.Tensor, torch.Tensor | None, int | np.ndarray]] = []
        self._health: torch.Tensor | None = None  # (N,) float64: the sum of the watched values since the last read
        self.over = np.zeros(n, dtype=bool)  # games whose flag the host has read
        self._any_over = False
        self._not_over_mask: torch.Tensor | None = None
        self.reasons: list[str | None] = [None] * n
        self.applies_since_read = 0
        self._gate: torch.Tensor | None = None  # the games alive when the tick began (taken when the host cannot tell)
        self.batches: dict[str, Minibatch] = {}
        self.evaluations: dict[str, Evaluation] = {}
        self.observed: dict[str, Evaluation] = {}
        self.pending: dict[str, torch.Tensor] = {}
        zero = torch.zeros(n, device=device, dtype=self.game.dtype)
        self.last_rewards = {p: zero for p in PLAYERS}  # each player's reward at its latest move
        self.last_infos: dict[str, dict[str, Any]] = {p: {} for p in PLAYERS}  # each player's latest move
        self.last_player: str | None = None

    # ---------------------------------------------------------------------------------- playing

    def reset(self, seeds: Sequence[int]) -> None:
        """Restart every game from its seed and draw the first tick's minibatches."""
        self.game.reset(seeds)
        self._clear(self.num_games)
        self._draw()

    def _draw(self) -> None:
        self.batches = {part: self.game.sample(part, games) for part, games in self.current.draws.items()}
        self.evaluations, self.observed = {}, {}

    def refresh(self) -> None:
        """Forget this tick's evaluations: the parameters were written from outside; looking again recomputes them."""
        self.evaluations, self.observed = {}, {}

    def evaluation(self, player: str) -> Evaluation:
        """``player``'s evaluation where it moves this tick: (N,)-shaped, zeros (NaN diagnostics) elsewhere.

        Computed once per tick (it advances BatchNorm statistics and the loss streams as a move does).
        """
        if player not in self.evaluations:
            tick = self.current
            if player not in tick.movers:
                raise ValueError(f"{player} does not move in this tick (movers: {list(tick.movers)})")
            if self.joint and tick.simultaneous:
                both = self.game.evaluate(self.batches[BOTH], PLAYERS)
                for p in PLAYERS:
                    self.evaluations[p] = _one_player(both, p)
            else:
                groups = [(part, tick.moves[(player, part)]) for part in PARTS if (player, part) in tick.moves]
                self.evaluations[player] = self._evaluate_groups(player, groups, update_buffers=True)
        return self.evaluations[player]

    def observe(self, player: str) -> Evaluation:
        """``player``'s evaluation on this tick's minibatches: the mover's (as :meth:`evaluation`), or,
        for a player not moving, one that changes nothing (buffers and loss streams are restored)."""
        if player in self.current.movers:
            return self.evaluation(player)
        if player not in self.observed:
            groups = [(part, games) for part, games in self.current.draws.items()]
            self.observed[player] = self._evaluate_groups(player, groups, update_buffers=False)
        return self.observed[player]

    def _evaluate_groups(self, player: str, groups: list[tuple[str, tuple[int, ...]]], update_buffers: bool) -> Evaluation:
        """Evaluate ``player`` on each (part, games) group and gather the results into (N,)-shaped tensors."""
        n = self.num_games
        if len(groups) == 1 and len(groups[0][1]) == n and len(self.current.draws) == 1:
            part, _ = groups[0]
            return self.game.evaluate(self.batches[part], (player,), update_buffers=update_buffers)
        game = self.game
        dtype, device = game.dtype, game.device
        loss = torch.zeros(n, device=device, dtype=dtype)
        norm = torch.zeros(n, device=device, dtype=dtype)
        gradient = torch.zeros(n, game.size(player), device=device, dtype=dtype)
        diagnostics = {k: torch.full((n,), float("nan"), device=device, dtype=dtype) for k in ("d_real", "d_fake", "value")}
        measured = set()
        for part, games in groups:
            batch = self.batches[part]
            drawn = self.current.draws[part]
            if games != drawn:  # the movers are a subset of the games that drew this part
                rows = torch.tensor([drawn.index(i) for i in games], device=device)
                batch = Minibatch(batch.real[rows], batch.noise[rows], part)
            e = game.evaluate(batch, (player,), games=games, update_buffers=update_buffers)
            at = torch.as_tensor(games, device=device)
            loss[at] = e.losses[player]
            norm[at] = e.grad_norms[player]
            gradient[at] = e.gradients[player]  # copied now: a batched network reuses its gradient buffer
            for k in diagnostics:
                value = getattr(e, k)
                if value is not None:
                    diagnostics[k][at] = value
                    measured.add(k)
        return Evaluation({player: loss}, {player: gradient}, {player: norm},
                          *(diagnostics[k] if k in measured else None for k in ("d_real", "d_fake", "value")))  # fmt: skip

    def observation(self, player: str) -> dict[str, torch.Tensor]:
        """``player``'s observation, (N,)-shaped: loss, gradient, live parameters, moves so far, moving mask."""
        e = self.observe(player)
        return {
            "loss": e.losses[player],
            "gradient": e.gradients[player],
            "parameters": self.game.parameters(player),
            "step": self.move_count.to(torch.float32),
            "moving": self.moving(player),
        }

    def submit(self, player: str, action: torch.Tensor) -> bool:
        """``player``'s action ``(N, P)`` for this tick (applied where it moves); True when the tick completed.

        The action is applied when the tick's last mover has submitted (kept until then: a
        copy, so the caller may reuse its tensor).
        """
        tick = self.current
        if player not in tick.movers:
            raise ValueError(f"{player} does not move in this tick (movers: {list(tick.movers)})")
        if player in self.pending:
            raise ValueError(f"{player} already moved in this tick; waiting for {list(self.waiting())}")
        moving, everyone = self._record(player, self.evaluation(player))
        self._watch_value(3 + PLAYERS.index(player), finite_witness(action, self._wide), moving, everyone)
        last = len(self.pending) + 1 == len(tick.movers)
        self.pending[player] = action if last else action.clone()
        if last:
            self._apply()
        self._count(player)
        if last:
            self._advance()
        return last

    def _record(self, player: str, e: Evaluation) -> tuple[torch.Tensor, bool]:
        """A move's reward, info and loss watch (what every move records before its action); (moving, everyone)."""
        tick = self.current
        moving = self.moving(player)
        everyone = tick.everyone(player)
        loss = e.losses[player]
        self.last_rewards[player] = -loss if everyone else torch.where(moving, -loss, torch.zeros_like(loss))
        self.last_infos[player] = {"loss": loss, "grad_norm": e.grad_norms[player], "d_real": e.d_real,
                                   "d_fake": e.d_fake, "value": e.value, "move": self._move_numbers(),
                                   "iteration": self.iteration, "moving": tick.moving[player],
                                   "everyone": everyone}  # fmt: skip
        self.last_player = player
        if self._gate is None and not self.pending and self.applies_since_read:
            self._gate = self.alive  # the host has not read the flags since the last move: the device knows who is alive
        self._watch_value(1 + PLAYERS.index(player), loss, moving, everyone)
        return moving, everyone

    def can_move_in_place(self, player: str) -> bool:
        """Whether :meth:`move_in_place` may make ``player``'s move now: it is this tick's only mover, it moves in
        every game, and the host knows every game alive (no move needs masking)."""
        tick = self.current
        return tick.movers == (player,) and not self.pending and self.move_mask(player) is None

    def move_in_place(self, player: str, move: Callable[[torch.Tensor, torch.Tensor], None]) -> None:
        """``player``'s move made by ``move(gradient, params)`` in place on its ``(N, P)`` parameters (a kernel that
        moves them itself: :meth:`agents.UpdateRule.move_`), recorded as :meth:`submit` records a move.

        Only where :meth:`can_move_in_place`. The change itself is never written, so the watch reads the new
        parameters alone: their first non-finite value is reported as a non-finite action (the parameters were
        finite before it; a sum of finite numbers overflowing would be reported the same way).
        """
        if not self.can_move_in_place(player):
            raise ValueError(f"{player} cannot move in place now: it must be the tick's only mover (movers: "
                             f"{list(self.current.movers)}), moving in every game, with every game known alive")  # fmt: skip
        e = self.evaluation(player)
        moving, everyone = self._record(player, e)
        params = self.game.parameters(player)
        with torch.no_grad():
            move(e.gradients[player], params)
        self._watch_value(3 + PLAYERS.index(player), finite_witness(params, self._wide), moving, everyone)
        self.applies_since_read += 1
        self._count(player)
        self._advance()

    @property
    def _wide(self) -> torch.dtype:
        """The dtype of the watched numbers: float64, float32 where the device lacks it."""
        return torch.float32 if self.game.device.type == "mps" else torch.float64

    def _watch_value(self, code: int, value: torch.Tensor, where: torch.Tensor, everyone: bool) -> None:
        """Watch ``value`` (N,) for the event ``code`` (device-side, no host sync): kept for decoding, added to the health.

        Only the games where the event counts enter the health: the movers, and never a game already over.
        """
        mask = None if everyone and not self._any_over else where if not self._any_over else where & self._not_over()
        self._watch.append((code, value, mask, self._move_numbers()))
        term = value if mask is None else torch.where(mask, value, 0)
        self._health = term.to(self._wide) if self._health is None else self._health + term
        if len(self._watch) >= _FOLD_AT:  # a long interval between reads: fold what was watched on the device
            self._fold()

    def _not_over(self) -> torch.Tensor:
        """(N,) bool device mask of the games not over (kept until a read ends one)."""
        if self._not_over_mask is None:
            self._not_over_mask = torch.as_tensor(~self.over, device=self.game.device)
        return self._not_over_mask

    def _fold(self) -> None:
        """Decode the watched values into each game's first non-finite event (on the device, no host sync)."""
        if not self._watch:
            return
        device = self.game.device
        values = torch.stack([v.to(self._wide) for _, v, _, _ in self._watch])  # (K, N)
        bad = ~torch.isfinite(values)
        if any(mask is not None for _, _, mask, _ in self._watch):
            everywhere = torch.ones(self.num_games, dtype=torch.bool, device=device)
            bad &= torch.stack([everywhere if mask is None else mask for _, _, mask, _ in self._watch])
        codes = torch.tensor([code for code, _, _, _ in self._watch], dtype=torch.int64, device=device)
        moves = torch.as_tensor(np.stack([np.broadcast_to(np.asarray(m, dtype=np.int64), (self.num_games,))
                                          for _, _, _, m in self._watch]), device=device)  # fmt: skip
        first = bad.to(torch.uint8).argmax(0, keepdim=True)  # the first bad entry of each game (0 when none)
        newly = (self._bad_code == 0) & bad.any(0)
        self._bad_code = torch.where(newly, codes[first[0]], self._bad_code)
        self._bad_move = torch.where(newly, moves.gather(0, first)[0], self._bad_move)
        self._watch, self._health = [], None

    def _count(self, player: str) -> None:
        """One more move of ``player`` in the games where it moves this tick (host count and device twin)."""
        tick = self.current
        if tick.everyone(player):
            self._moves_all += 1
            self.move_count += 1
        else:
            some = self._moves_some if self._moves_some is not None else np.zeros(self.num_games, dtype=np.int64)
            self._moves_some = some + tick.moving[player]
            self.move_count += self.moving(player)

    @property
    def moves(self) -> np.ndarray:
        """(N,) the moves each game has made (host)."""
        base = np.full(self.num_games, self._moves_all, dtype=np.int64)
        return base if self._moves_some is None else base + self._moves_some

    def _move_numbers(self) -> int | np.ndarray:
        """Each game's move count: one int when every game has made every move, else (N,)."""
        return self._moves_all if self._moves_some is None else self._moves_all + self._moves_some

    def _apply(self) -> None:
        """Add every mover's action to its parameters, where it moves, in the games that may still move."""
        tick = self.current
        # A plain add where the host knows every receiving game was alive when the tick began (it read the
        # flags after the last move); otherwise the games flagged before this tick stay frozen, on the device.
        with torch.no_grad():
            for player in tick.movers:
                params = self.game.parameters(player)
                action = self.pending[player]
                everyone = tick.everyone(player)
                mask = self.move_mask(player)
                if mask is None:
                    params.add_(action)
                else:
                    params.copy_(torch.where(mask.unsqueeze(-1), params + action, params))
                self._watch_value(5 + PLAYERS.index(player), finite_witness(params, self._wide), self.moving(player),
                                  everyone)  # fmt: skip
        self.pending = {}
        self.applies_since_read += 1

    def move_mask(self, player: str) -> torch.Tensor | None:
        """(N,) bool device mask of the games where ``player``'s move of this tick is applied, or None for all.

        None where the host knows every game was alive when the tick began (it read the watch after
        the last move) and ``player`` moves in all of them; otherwise the movers among the games not
        over, and (when the host has not read since the last move) not found non-finite on the device.
        """
        known = self.applies_since_read == 0
        if self.current.everyone(player) and known and not self._any_over:
            return None
        if not known and self._gate is None:
            self._gate = self.alive
        return self.moving(player) & (self._gate if not known else self._not_over())

    def commit(self, results: Mapping[str, Any]) -> None:
        """Record a tick whose moves were made outside the match (a compiled tick), as :meth:`submit` records them.

        ``results`` maps each mover to its loss, grad norm, diagnostics and the finite witnesses of its
        change and of its new parameters (:class:`minimax.training.compiled.MoveResult`); the
        parameters are already moved. Rewards, infos, the divergence watch and the move counts
        come out as the eager moves make them, in the same order.
        """
        tick = self.current
        if self.pending:
            raise ValueError(f"a tick with pending moves ({sorted(self.pending)}) cannot be committed from outside")
        for k, player in enumerate(tick.movers):
            r = results[player]
            moving, everyone = self.moving(player), tick.everyone(player)
            self.last_rewards[player] = -r.loss if everyone else torch.where(moving, -r.loss, torch.zeros_like(r.loss))
            self.last_infos[player] = {"loss": r.loss, "grad_norm": r.grad_norm, "d_real": r.d_real, "d_fake": r.d_fake,
                                       "value": r.value, "move": self._move_numbers(), "iteration": self.iteration,
                                       "moving": tick.moving[player], "everyone": everyone}  # fmt: skip
            self.last_player = player
            index = PLAYERS.index(player)
            self._watch_value(1 + index, r.loss, moving, everyone)
            self._watch_value(3 + index, r.action_witness, moving, everyone)
            if k == len(tick.movers) - 1:  # the moves are applied with the tick's last submission
                for p in tick.movers:
                    self._watch_value(5 + PLAYERS.index(p), results[p].params_witness, self.moving(p), tick.everyone(p))
                self.applies_since_read += 1
            self._count(player)
        self._advance()

    def _advance(self) -> None:
        """The next tick begins: its minibatches are drawn."""
        self.ticks_done += 1
        self.tick_count += 1
        self.tick += 1
        if self.tick == len(self.ticks):
            self.tick = 0
            self.iteration += 1
        self._gate = None
        self._draw()

    def read_divergence(self) -> list[int]:
        """Read the games' health (one host sync): the games newly found non-finite, now over."""
        self.applies_since_read = 0
        if self._health is not None:
            total = self._health if self.num_games == 1 else self._health.sum()
            if math.isfinite(total.item()):  # nothing non-finite since the last read: nothing to decode
                self._watch, self._health = [], None
                return []
        codes = self.bad_code.tolist()
        fresh = [i for i, code in enumerate(codes) if code and not self.over[i]]
        if fresh:
            moves = self.bad_move.tolist()
            for i in fresh:
                self.over[i] = True
                self.reasons[i] = describe_divergence(codes[i], moves[i] // self.moves_per_step)
            self._any_over = True
            self._not_over_mask = None
        return fresh

    def divergence(self) -> dict[str, np.ndarray]:
        """Per game (host copies): flag code (0 none), the move and the iteration of the first non-finite event."""
        return {"code": self.bad_code.cpu().numpy(), "move": self.bad_move.cpu().numpy(),
                "iteration": self.bad_iteration.cpu().numpy()}  # fmt: skip

    def field(self, squeeze: bool = False) -> Any:
        """The joint vector field of every game on this tick's minibatch (a simultaneous tick: both players move).

        ``squeeze``: one game's field on ``(P,)`` vectors (see :class:`minimax.core.field.JointField`)."""
        from minimax.core.field import JointField

        tick = self.current
        if not tick.simultaneous:
            raise TypeError(
                "the joint vector field (what extragradient, consensus, SGA and CGD need) is defined for "
                "simultaneous moves: use the Parallel env (pettingzoo.make('parallel', ...)) or a simultaneous "
                "schedule in every game"
            )
        return JointField(self.game, self.batches[BOTH], squeeze=squeeze)

    # ---------------------------------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        """The whole state of the match, the game's included (tensors copied, plain data otherwise)."""
        return {
            "game": self.game.state_dict(),
            "tick": self.tick, "iteration": self.iteration, "ticks_done": self.ticks_done,
            "moves": self.moves.tolist(), "move_count": self.move_count.clone(), "tick_count": self.tick_count.clone(),
            "bad_code": self.bad_code.clone(), "bad_move": self.bad_move.clone(),  # folded
            "over": self.over.tolist(), "reasons": list(self.reasons),
            "applies_since_read": self.applies_since_read,
            "gate": None if self._gate is None else self._gate.clone(),
            "batches": {part: {"real": b.real.clone(), "noise": b.noise.clone()} for part, b in self.batches.items()},
            "evaluations": {p: _evaluation_state(e) for p, e in self.evaluations.items()},
            "observed": {p: _evaluation_state(e) for p, e in self.observed.items()},
            "pending": {p: a.clone() for p, a in self.pending.items()},
            "last_rewards": {p: r.clone() for p, r in self.last_rewards.items()},
            "last_infos": {p: _info_state(i) for p, i in self.last_infos.items()},
            "last_player": self.last_player,
        }  # fmt: skip

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Put the match (and its game) in a saved state; everything is checked before anything changes."""
        expected = {"game", "tick", "iteration", "ticks_done", "moves", "move_count", "tick_count", "bad_code",
                    "bad_move", "over", "reasons", "applies_since_read", "gate", "batches",
                    "evaluations", "observed", "pending", "last_rewards", "last_infos", "last_player"}  # fmt: skip
        if not isinstance(state, Mapping) or set(state) != expected:
            got = sorted(state) if isinstance(state, Mapping) else type(state).__name__
            raise ValueError(f"match state: expected the keys {sorted(expected)}, got {got}")
        n, device = self.num_games, self.game.device
        tick = check_int("match state: tick", state["tick"], minimum=0)
        if tick >= len(self.ticks):
            raise ValueError(f"match state: tick must be below {len(self.ticks)} (ticks per iteration), got {tick}")
        plan = self.ticks[tick]
        for key in ("iteration", "ticks_done", "applies_since_read"):
            check_int(f"match state: {key}", state[key], minimum=0)
        for key in ("moves", "over", "reasons"):
            if not isinstance(state[key], (list, tuple)) or len(state[key]) != n:
                raise ValueError(f"match state: {key} must hold one entry per game ({n}), got {state[key]!r}"[:200])
        for key, dtype, shape in (("move_count", torch.int64, (n,)), ("tick_count", torch.int64, ()),
                                  ("bad_code", torch.int64, (n,)), ("bad_move", torch.int64, (n,))):  # fmt: skip
            _check_tensor(f"match state: {key}", state[key], dtype, shape)
        if state["gate"] is not None:
            _check_tensor("match state: gate", state["gate"], torch.bool, (n,))
        if set(state["batches"]) != set(plan.draws):
            raise ValueError(f"match state: the tick draws {sorted(plan.draws)}, the state holds {sorted(state['batches'])}")
        game = self.game
        batches = {}
        for part, games in plan.draws.items():
            saved = state["batches"][part]
            real, noise = saved.get("real"), saved.get("noise")
            if not isinstance(real, torch.Tensor) or not isinstance(noise, torch.Tensor) or len(real) != len(games) \
                    or len(noise) != len(games) or real.dtype != game.dtype or noise.dtype != game.dtype:  # fmt: skip
                raise ValueError(f"match state: the {part!r} minibatch does not fit this game ({len(games)} games)")
            batches[part] = Minibatch(real.to(device, copy=True), noise.to(device, copy=True), part)
        sizes = {p: game.size(p) for p in PLAYERS}
        evaluations = {p: _evaluation_from(e, p, n, sizes[p], device, "evaluation") for p, e in state["evaluations"].items()}
        observed = {p: _evaluation_from(e, p, n, sizes[p], device, "observation") for p, e in state["observed"].items()}
        pending = {}
        for p, a in state["pending"].items():
            if p not in plan.movers:
                raise ValueError(f"match state: a pending move of {p!r}, who does not move in this tick")
            _check_tensor(f"match state: pending move of {p}", a, game.dtype, (n, sizes[p]))
            pending[p] = a.to(device, copy=True)
        for p in PLAYERS:
            _check_tensor(f"match state: last reward of {p}", state["last_rewards"].get(p), game.dtype, (n,))
        if state["last_player"] not in (None, *PLAYERS):
            raise ValueError(f"match state: last_player must be a player or None, got {state['last_player']!r}")
        self.game.load_state_dict(state["game"])
        self.tick, self.iteration, self.ticks_done = tick, int(state["iteration"]), int(state["ticks_done"])
        moves = np.asarray(state["moves"], dtype=np.int64)
        self._moves_all = int(moves.min()) if len(moves) else 0
        self._moves_some = None if (moves == self._moves_all).all() else moves - self._moves_all
        self.move_count = state["move_count"].to(device, copy=True)
        self.tick_count = state["tick_count"].to(device, copy=True)
        self._bad_code = state["bad_code"].to(device, copy=True)
        self._bad_move = state["bad_move"].to(device, copy=True)
        self._watch, self._health = [], None
        self.over = np.asarray(state["over"], dtype=bool)
        self._any_over = bool(self.over.any())
        self._not_over_mask = None
        self.reasons = [None if r is None else str(r) for r in state["reasons"]]
        self.applies_since_read = int(state["applies_since_read"])
        self._gate = None if state["gate"] is None else state["gate"].to(device, copy=True)
        self.batches, self.evaluations, self.observed, self.pending = batches, evaluations, observed, pending
        self.last_rewards = {p: state["last_rewards"][p].to(device, copy=True) for p in PLAYERS}
        self.last_infos = {p: _info_from(state["last_infos"].get(p, {}), device) for p in PLAYERS}
        self.last_player = state["last_player"]


def _one_player(e: Evaluation, player: str) -> Evaluation:
    """The part of a joint evaluation that concerns one player (diagnostics are shared)."""
    return Evaluation({player: e.losses[player]}, {player: e.gradients[player]}, {player: e.grad_norms[player]},
                      e.d_real, e.d_fake, e.value)  # fmt: skip


def _evaluation_state(e: Evaluation) -> dict[str, Any]:
    (player,) = e.losses
    return {"player": player, "loss": e.losses[player].clone(), "gradient": e.gradients[player].clone(),
            "grad_norm": e.grad_norms[player].clone(),
            **{k: None if getattr(e, k) is None else getattr(e, k).clone() for k in ("d_real", "d_fake", "value")}}  # fmt: skip


def _evaluation_from(saved: Any, player: str, n: int, size: int, device: torch.device, what: str) -> Evaluation:
    if player not in PLAYERS or not isinstance(saved, Mapping) or saved.get("player") != player:
        raise ValueError(f"match state: a saved {what} of {player!r} that is not one")
    for key, shape in (("loss", (n,)), ("gradient", (n, size)), ("grad_norm", (n,))):
        _check_tensor(f"match state: {player}'s {what} {key}", saved.get(key), None, shape)
    diag = {}
    for key in ("d_real", "d_fake", "value"):
        value = saved.get(key)
        if value is not None:
            _check_tensor(f"match state: {player}'s {what} {key}", value, None, (n,))
            value = value.to(device, copy=True)
        diag[key] = value
    return Evaluation({player: saved["loss"].to(device, copy=True)}, {player: saved["gradient"].to(device, copy=True)},
                      {player: saved["grad_norm"].to(device, copy=True)}, diag["d_real"], diag["d_fake"], diag["value"])  # fmt: skip


def _info_state(info: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in info.items():
        out[k] = v.clone() if isinstance(v, torch.Tensor) else (v.tolist() if isinstance(v, np.ndarray) else v)
    return out


def _info_from(saved: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in saved.items():
        if isinstance(v, torch.Tensor):
            out[k] = v.to(device, copy=True)
        elif k in ("move", "moving") and isinstance(v, list):
            out[k] = np.asarray(v, dtype=np.int64 if k == "move" else bool)
        else:
            out[k] = v
    return out


def _check_tensor(what: str, value: Any, dtype: torch.dtype | None, shape: tuple[int, ...]) -> None:
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape or (dtype is not None and value.dtype != dtype):
        got = f"a {value.dtype} tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else repr(value)[:80]
        want = f"a {dtype} tensor" if dtype is not None else "a tensor"
        raise ValueError(f"{what}: expected {want} of shape {list(shape)}, got {got}")


__all__ = ["REASONS", "Match", "Tick", "describe_divergence", "plan_ticks"]
