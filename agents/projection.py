"""Projection onto a box as a wrapper for any update rule: WGAN's weight clipping.

Arjovsky, Chintala & Bottou 2017 keep the critic's weights in ``[-c, c]`` (c = 0.01)
after every optimiser step so that it stays Lipschitz. As an update rule: the wrapped
rule proposes ``delta``; the wrapper answers the change that lands on the clamped point,
``delta' = clamp(params + delta, -bound, bound) - params``.
"""

from __future__ import annotations

from typing import Union

import torch
from torch import Tensor

from agents._checks import check_number
from agents.rules import UpdateRule, remember
from agents.transforms import GradientTransformation


def clipped(rule: UpdateRule, bound: Union[float, Tensor]) -> UpdateRule:
    """``rule`` whose steps keep every parameter in ``[-bound, bound]`` (weight clipping).

    ``bound`` is a finite number > 0, or a floating tensor of such numbers broadcastable
    to the parameters' shape ``(..., P)`` (per-parameter bounds). The inner rule's state
    evolves exactly as without the wrapper (it sees the same gradients and parameters).

    Floating point: an entry whose step stays inside the box gets the inner rule's delta
    bitwise. For a clamped entry, ``params + delta'`` (computed in the parameters' dtype, as
    the environments do) lies inside the box exactly, ``bound`` rounded to that dtype: the
    plain ``clamp(...) - params`` can round so that adding it back overshoots by an ulp, and
    such a step is moved one ulp towards the box. It lands on the clamped point up to the
    rounding of ``delta'`` (exactly where ``clamp(...) - params`` is exact, e.g. parameters
    within a factor 2 of the bound).
    """
    check_number("clipped", "bound", bound, low=0.0, low_open=True, per_game=False)
    inner = rule.transform

    def init(params: Tensor):
        return inner.init(params)

    def update(updates: Tensor, state, params: Tensor | None = None):
        if params is None:
            raise ValueError("clipped: update needs params (the bound applies to params + delta)")
        delta, inner_state = inner.update(updates, state, params)
        if isinstance(bound, Tensor):
            high = bound.to(device=params.device, dtype=params.dtype)
            low = -high
        else:
            low, high = -float(bound), float(bound)
        proposed = params + delta
        target = torch.clamp(proposed, low, high)
        step = target - params
        landed = params + step  # what the caller's params + delta' will be
        step = torch.where(landed > high, torch.nextafter(step, torch.full_like(step, -torch.inf)), step)
        step = torch.where(landed < low, torch.nextafter(step, torch.full_like(step, torch.inf)), step)
        # Inside the box (and for NaN proposals, which propagate either way) keep the inner delta itself.
        return torch.where(target == proposed, delta, step), inner_state

    out = UpdateRule(GradientTransformation(init, update), name=f"{rule.name}+clipped",
                     hyperparameters={**rule.hyperparameters, "clip": bound})
    out.shared_count = rule.shared_count  # one step count for every row, as the inner rule
    return remember(out, clipped, rule, bound)
