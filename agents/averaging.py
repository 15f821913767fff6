"""Iterate averaging as a wrapper for any update rule (uniform or exponential moving average).

The wrapped rule moves the player exactly as before; its state also carries
the average of the iterates it produced, which is what one evaluates (a GAN's
generator averaged over its last moves oscillates less than its last iterate).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from agents._checks import check_number
from agents.rules import UpdateRule, remember
from agents.transforms import GradientTransformation, step_count


class AverageState(NamedTuple):
    inner: Any
    average: Tensor
    count: Tensor


def averaged(rule: UpdateRule, decay: float | None = None) -> UpdateRule:
    """``rule`` that also keeps the average of its iterates in ``state.average``.

    ``decay=None`` is the uniform average of every iterate since ``init``; a decay in
    [0, 1) is an exponential moving average, ``avg <- decay * avg + (1 - decay) * new``,
    started at the initial parameters.
    """
    if decay is not None:
        check_number("averaged", "decay", decay, low=0.0, high=1.0)
    inner = rule.transform

    def init(params: Tensor) -> AverageState:
        return AverageState(inner.init(params), params.detach().clone(), step_count(params, torch.float32))

    def update(updates: Tensor, state: AverageState, params: Tensor | None = None):
        if params is None:
            raise ValueError("averaged: update needs params (the average is of the parameters)")
        delta, inner_state = inner.update(updates, state.inner, params)
        new, count = params + delta, state.count + 1
        if decay is None:
            average = state.average + (new - state.average) / (count + 1).to(new.dtype)
        else:
            average = decay * state.average + (1.0 - decay) * new
        return delta, AverageState(inner_state, average, count)

    label = "uniform average" if decay is None else f"ema {decay:g}"
    out = UpdateRule(GradientTransformation(init, update), name=f"{rule.name}+{label.split()[0]}",
                     hyperparameters={**rule.hyperparameters, "average": label})
    out.shared_count = rule.shared_count  # one step count for every row, as the inner rule
    return remember(out, averaged, rule, decay)
