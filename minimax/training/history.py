"""What a run recorded: per-iteration metrics of each game, why it stopped, how long it took."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
    """What a run recorded, one entry per completed iteration.

    ``metrics[name]`` is a numpy array; the losses are the mean over the player's
    moves in the iteration, the other diagnostics are those of the iteration's
    last move that measured them (a half-batch turn measures only its half). ``terminated`` and ``reason`` report a divergence.
    """

    metrics: dict[str, np.ndarray]
    iterations: int
    moves: int
    wall_time: float
    terminated: bool = False
    truncated: bool = False
    reason: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers become None)."""
        clean = lambda a: [None if not np.isfinite(x) else float(x) for x in a]  # noqa: E731
        return {
            "iterations": self.iterations,
            "moves": self.moves,
            "wall_time": self.wall_time,
            "terminated": self.terminated,
            "truncated": self.truncated,
            "reason": self.reason,
            "settings": self.settings,
            "metrics": {k: clean(v) for k, v in self.metrics.items()},
        }
