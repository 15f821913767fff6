"""Validation of update-rule hyper-parameters, with messages naming rule, parameter and value.

Why: torch.optim's checks forbid settings that game dynamics need (negative momentum or beta1),
so the rules validate their own, wider ranges. Checks run once at construction, never in updates.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
from torch import Tensor


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_flag(owner: str, name: str, value: Any) -> None:
    """Raises TypeError unless `value` is a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be a bool, got {_describe(value)}")


def check_number(
    owner: str,
    name: str,
    value: Any,
    *,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = True,
    per_game: bool = True,
) -> None:
    """Checks a real number, or each entry of a floating tensor, lies in the given interval.

    A tensor must be 0-d or one value per game, shape ``(N, 1)``, unless ``per_game`` is False
    (a value that broadcasts over the parameters, such as a per-parameter clipping bound).

    With `high` infinite the value must be finite and >= low (> low if `low_open`).
    Non-numbers raise TypeError, out-of-range values ValueError.
    """
    if isinstance(value, Tensor):
        if not value.is_floating_point():
            raise TypeError(f"{owner}: {name} must be a real number or a floating-point tensor, got {value!r}")
        if per_game and (value.dim() > 2 or (value.dim() >= 1 and value.shape[-1] != 1)):
            raise ValueError(f"{owner}: {name} as a tensor must be one value (0-d) or one per game, shape (N, 1) "
                             f"(see minimax.per_game), got shape {list(value.shape)}")  # fmt: skip
        values = value.detach()
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        values = torch.tensor(float(value), dtype=torch.float64)
    else:
        raise TypeError(f"{owner}: {name} must be a real number or a floating-point tensor, got {_describe(value)}")

    above = values > low if low_open else values >= low
    if math.isinf(high):
        expected = f"a finite number {'>' if low_open else '>='} {low:g}"
        ok = above & torch.isfinite(values)
    else:
        expected = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        ok = above & (values < high if high_open else values <= high)
    if not bool(ok.all()):
        raise ValueError(f"{owner}: {name} must be {expected}, got {value!r}")
