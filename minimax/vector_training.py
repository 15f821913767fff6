"""The training loop of a vector env: update rules play N games in lockstep.

The rules run on their functional core (``rule.update(grads, state, params)`` on ``(N, P)``
tensors; its in-place twin ``rule.update_`` when every game moves in a tick, which gives the
same numbers bitwise with fewer memory writes), so one rule object with per-game hyper-parameters (``(N, 1)`` tensors, see
:func:`per_game`) drives a player in every game. Where a player does not move in a tick
(another game's longer schedule), its state is kept by a mask, not advanced.

Metrics are written into preallocated ``(iterations, N)`` device tensors: the loop never
waits on the host. The history holds each game's metrics exactly as
:func:`minimax.train` records a lone game's (loss means over the player's moves in the
iteration, the diagnostics of the iteration's last move that measured them).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from minimax.envs.vector import VectorGameEnv
from minimax.utils.checks import check_int
from minimax.core.schedules import PLAYERS
from minimax.training.history import METRICS

#: Names of the per-iteration metrics a vector history records (as minimax.train's, grad norms included).
VECTOR_METRICS = METRICS


def per_game(values: Sequence[float], device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One hyper-parameter value per game as an ``(N, 1)`` tensor, e.g. ``agents.make("adam", lr=per_game(lrs))``."""
    values = list(values)
    if not values:
        raise ValueError("per_game needs at least one value")
    return torch.tensor(values, dtype=dtype, device=device).unsqueeze(-1)


def tree_where(mask: torch.Tensor, new: Any, old: Any) -> Any:
    """``new`` where ``mask`` (N,) is True, ``old`` elsewhere, leaf by leaf over a state tree.

    Leaves with a leading dimension of N are masked row by row; other leaves (shared
    constants) are taken from ``new``.
    """
    if isinstance(new, torch.Tensor):
        if new.dim() == 0 or new.shape[0] != mask.shape[0]:
            return new
        return torch.where(mask.view(-1, *([1] * (new.dim() - 1))), new, old)
    if new is None:
        return None
    if isinstance(new, tuple):
        merged = [tree_where(mask, a, b) for a, b in zip(new, old)]
        return type(new)(*merged) if hasattr(new, "_fields") else tuple(merged)
    return new


@dataclass
class VectorHistory:
    """What a vector run recorded: ``metrics[name]`` is an ``(iterations, N)`` numpy array."""

    metrics: dict[str, np.ndarray]
    iterations: int
    num_games: int
    wall_time: float
    diverged_at: np.ndarray  # (N,) iteration of the first non-finite move, -1 if none
    diverged_player: np.ndarray  # (N,) 0 discriminator, 1 generator, -1 none
    seeds: list[int] = field(default_factory=list)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.metrics[name]

    def game(self, i: int) -> dict[str, np.ndarray]:
        """Game ``i``'s metrics, one value per iteration (as a lone run's History.metrics)."""
        return {k: v[:, i] for k, v in self.metrics.items()}

    def reasons(self) -> list[str | None]:
        """Per game: None, or why it stopped (e.g. 'non-finite move (generator) at iteration 12')."""
        return [
            None if at < 0 else f"non-finite move ({PLAYERS[int(who)]}) at iteration {int(at)}"
            for at, who in zip(self.diverged_at, self.diverged_player)
        ]


def _rules_for(rules: Any) -> dict[str, Any]:
    if isinstance(rules, Mapping):
        if set(rules) != set(PLAYERS):
            raise ValueError(f"rules must map exactly {list(PLAYERS)}, got {sorted(rules)}")
        chosen = dict(rules)
    else:
        chosen = {p: rules for p in PLAYERS}  # the functional core keeps no state: one object may serve both
    for player, rule in chosen.items():
        if not (callable(getattr(rule, "init", None)) and callable(getattr(rule, "update", None))):
            raise TypeError(f"rule for {player} must have init(params) and update(grads, state, params), got {rule!r}")
    return chosen


def train_vector(
    env: VectorGameEnv,
    rules: Any,
    iterations: int,
    *,
    seed: int | Sequence[int] | None = None,
    progress: bool = True,
    description: str | None = None,
) -> VectorHistory:
    """Reset ``env`` (one seed per game, or one int) and let ``rules`` play ``iterations`` iterations.

    ``rules`` maps each player to an update rule, or is one rule for both (its hyper-parameters
    may be ``(N, 1)`` tensors: one value per game).
    """
    if not isinstance(env, VectorGameEnv):
        raise TypeError(f"env must be a minimax.envs.vector.VectorGameEnv, got {env!r}")
    iterations = check_int("iterations", iterations, minimum=1)
    chosen = _rules_for(rules)
    observations, infos = env.reset(seed=seed)
    n, device = env.num_envs, env.game.device
    states = {p: chosen[p].init(env.game.params[p]) for p in PLAYERS}
    buffers = {name: torch.full((iterations, n), float("nan"), device=device) for name in VECTOR_METRICS}
    # Moves per player per game in one iteration (host-known from the plan).
    moves = {p: sum(t.moving[p].astype(np.int64) for t in env.ticks) for p in PLAYERS}
    divisor = {p: torch.as_tensor(np.maximum(moves[p], 1), device=device, dtype=torch.float32) for p in PLAYERS}
    has_moves = {p: torch.as_tensor(moves[p] > 0, device=device) for p in PLAYERS}
    everyone = [{p: bool(t.moving[p].all()) for p in PLAYERS} for t in env.ticks]
    in_place = {p: callable(getattr(chosen[p], "update_", None)) for p in PLAYERS}
    start = time.perf_counter()
    with torch.no_grad():
        for i in tqdm(range(iterations), desc=description or "vector games", disable=not progress, leave=False):
            loss_sums = {p: torch.zeros(n, device=device) for p in PLAYERS}
            last = {name: buffers[name][i] for name in ("d_real", "d_fake", "value")}
            grad_norms = {p: buffers[f"{p}_grad_norm"][i] for p in PLAYERS}
            for j in range(env.ticks_per_iteration):
                actions = {}
                for p in PLAYERS:  # the discriminator's move first, as a lone game records it
                    if not env.ticks[j].moving[p].any():
                        continue
                    observation, moving = observations[p], observations[p]["moving"]
                    loss_sums[p] = loss_sums[p] + observation["loss"].float()
                    norm = torch.linalg.vector_norm(observation["gradient"], dim=-1).float()
                    grad_norms[p] = norm if everyone[j][p] else torch.where(moving, norm, grad_norms[p])
                    if everyone[j][p] and in_place[p]:  # every game moves: donate the gradient and the state
                        actions[p], states[p] = chosen[p].update_(observation["gradient"], states[p], observation["parameters"])
                    else:  # keep the state of the games that do not move in this tick
                        delta, new_state = chosen[p].update(observation["gradient"], states[p], observation["parameters"])
                        states[p] = tree_where(moving, new_state, states[p])
                        actions[p] = delta
                    for name in last:  # the latest move that measured each diagnostic
                        if name in infos[p]:
                            value = infos[p][name].float()
                            last[name] = value if everyone[j][p] else torch.where(moving & ~value.isnan(), value, last[name])
                observations, _, _, _, infos = env.step(actions)
            for name, value in last.items():
                buffers[name][i] = value
            for p in PLAYERS:
                buffers[f"{p}_grad_norm"][i] = grad_norms[p]
                buffers[f"{p}_loss"][i] = torch.where(has_moves[p], loss_sums[p] / divisor[p], buffers[f"{p}_loss"][i])
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # the loop only queued work: wait for it before reading the clock
    wall = time.perf_counter() - start
    return VectorHistory(
        metrics={k: v.cpu().numpy() for k, v in buffers.items()},
        iterations=iterations,
        num_games=n,
        wall_time=wall,
        diverged_at=env.diverged_at.cpu().numpy(),
        diverged_player=env.diverged_player.cpu().numpy(),
        seeds=list(env.seeds),
    )
