"""Learning-rate schedules: multipliers of the step size as a function of the update count.

A schedule maps the number of updates already made (an int64 tensor, so the
update stays on the device with no host sync) to a factor; ``with_schedule``
multiplies a rule's change by it, in the Optax spirit of composing transformations:

    agents.with_schedule(agents.make("adam", lr=1e-3), agents.lr_schedules.linear(steps=6000, end=0.01))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from agents._checks import check_number
from agents.rules import UpdateRule, remember
from agents.transforms import GradientTransformation, chain, step_count

Schedule = Callable[[Tensor], Tensor]


def _check(owner: str, steps: int, end: float) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"{owner}: steps must be an integer >= 1, got {steps!r}")
    check_number(owner, "end", end, low=0.0)


class _Constant:
    name = "constant"

    def __call__(self, count: Tensor) -> Tensor:
        return torch.ones((), dtype=torch.float64, device=count.device)


class _Linear:
    name = "linear"

    def __init__(self, steps: int, end: float) -> None:
        self.steps, self.end = steps, end

    def __call__(self, count: Tensor) -> Tensor:
        return 1.0 - (1.0 - self.end) * torch.clamp(count.to(torch.float64) / self.steps, max=1.0)


class _Cosine:
    name = "cosine"

    def __init__(self, steps: int, end: float) -> None:
        self.steps, self.end = steps, end

    def __call__(self, count: Tensor) -> Tensor:
        progress = torch.clamp(count.to(torch.float64) / self.steps, max=1.0)
        return self.end + (1.0 - self.end) * 0.5 * (1.0 + torch.cos(math.pi * progress))


def constant() -> Schedule:
    """Factor 1 throughout."""
    return _Constant()


def linear(steps: int, end: float = 0.0) -> Schedule:
    """From 1 down to ``end`` linearly over ``steps`` updates, then ``end``."""
    _check("linear schedule", steps, end)
    return _Linear(steps, end)


def cosine(steps: int, end: float = 0.0) -> Schedule:
    """From 1 down to ``end`` along half a cosine over ``steps`` updates, then ``end``."""
    _check("cosine schedule", steps, end)
    return _Cosine(steps, end)


class ScheduleState(NamedTuple):
    count: Tensor


def scale_by_schedule(schedule: Schedule) -> GradientTransformation:
    """Multiply updates by ``schedule(count)``, count being the number of earlier updates."""

    def init(params: Tensor) -> ScheduleState:
        return ScheduleState(step_count(params))

    def update(updates: Tensor, state: ScheduleState, params: Tensor | None = None):
        factor = schedule(state.count).to(updates.dtype)
        return updates * factor, ScheduleState(state.count + 1)

    return GradientTransformation(init, update)


SCHEDULES = {"constant": constant, "linear": linear, "cosine": cosine}


def with_schedule(rule: UpdateRule, schedule: Schedule, name: str | None = None) -> UpdateRule:
    """``rule`` with its change multiplied by ``schedule(count)`` (a decaying learning rate)."""
    label = name or getattr(schedule, "name", None) or getattr(schedule, "__qualname__", "schedule").split(".")[0]
    out = UpdateRule(
        chain(rule.transform, scale_by_schedule(schedule)),
        name=f"{rule.name}+{label}",
        hyperparameters={**rule.hyperparameters, "lr_schedule": label},
    )
    out.shared_count = rule.shared_count  # one step count for every row, as the inner rule
    return remember(out, with_schedule, rule, schedule, name)
