"""What a run recorded: per-iteration metrics of each game, why each stopped, how long it took."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minimax.core.players import PLAYERS

METRICS = (
    "discriminator_loss",
    "generator_loss",
    "value",
    "d_real",
    "d_fake",
    "discriminator_grad_norm",
    "generator_grad_norm",
)


@dataclass
class History:
    """What a run of N >= 1 games recorded, one row per completed iteration and one column per game.

    ``metrics[name]`` is an ``(iterations, N)`` numpy array (a lone game: N = 1); the losses
    are the mean over the player's moves in the iteration, the other diagnostics those of the
    iteration's last move that measured them (a half-batch turn measures only its half).
    ``game(i)`` gives game i's metrics as 1-D arrays. Per game: ``moves`` made, ``reasons()``
    (None, or why it diverged), ``diverged_at`` (the iteration of its first non-finite move, -1
    if none) and ``diverged_player`` (0 discriminator, 1 generator, -1 none).
    """

    metrics: dict[str, np.ndarray]
    iterations: int
    moves: np.ndarray
    wall_time: float
    termination_reasons: list[str | None]
    truncated: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    diverged_at: np.ndarray | None = None
    diverged_player: np.ndarray | None = None
    seeds: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.moves = np.asarray(self.moves, dtype=np.int64).reshape(-1)
        n = len(self.termination_reasons)
        if self.diverged_at is None:
            self.diverged_at = np.full(n, -1, dtype=np.int64)
        if self.diverged_player is None:
            self.diverged_player = np.full(n, -1, dtype=np.int64)
        self.diverged_at = np.asarray(self.diverged_at, dtype=np.int64)
        self.diverged_player = np.asarray(self.diverged_player, dtype=np.int64)

    @property
    def num_games(self) -> int:
        return len(self.termination_reasons)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.metrics[name]

    def game(self, i: int) -> dict[str, np.ndarray]:
        """Game ``i``'s metrics, one value per iteration."""
        return {k: v[:, i] for k, v in self.metrics.items()}

    def reasons(self) -> list[str | None]:
        """Per game: None, or why it stopped (e.g. ``non-finite action (generator) at step 12``)."""
        return list(self.termination_reasons)

    @property
    def terminated(self) -> np.ndarray:
        """Per game: whether it diverged (a bool array; ``if history.terminated`` works for one game)."""
        return np.array([r is not None for r in self.termination_reasons], dtype=bool)

    @property
    def reason(self) -> str | None:
        """Why the run stopped early: a lone game's reason; for N games, each diverged game's, or None."""
        if self.num_games == 1:
            return self.termination_reasons[0]
        found = [f"game {i}: {r}" for i, r in enumerate(self.termination_reasons) if r is not None]
        return "; ".join(found) or None

    def diverged_players(self) -> list[str | None]:
        """Per game: the player whose move was the first non-finite one, or None."""
        return [None if who < 0 else PLAYERS[int(who)] for who in self.diverged_player]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers become None; a lone game's columns are plain lists)."""

        def clean(a: np.ndarray) -> list:
            values = [[None if not np.isfinite(x) else float(x) for x in row] for row in np.asarray(a).reshape(len(a), -1)]
            return [row[0] for row in values] if self.num_games == 1 else values

        return {
            "iterations": self.iterations,
            "num_games": self.num_games,
            "moves": self.moves.tolist(),
            "wall_time": self.wall_time,
            "terminated": bool(self.terminated.all()),  # every game diverged (a lone game: it did)
            "terminated_games": self.terminated.tolist(),
            "truncated": self.truncated,
            "reason": self.reason,
            "reasons": self.reasons(),
            "diverged_at": self.diverged_at.tolist(),
            "diverged_player": self.diverged_player.tolist(),
            "seeds": list(self.seeds),
            "settings": self.settings,
            "metrics": {k: clean(v) for k, v in self.metrics.items()},
        }
