"""Small layers the tasks build their networks from and the batched execution knows how to lower."""

from __future__ import annotations

import torch
from torch import nn


class Squeeze(nn.Module):
    """Drop the trailing size-1 dimension, so a discriminator returns one logit per row."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(-1)


class Affine(nn.Module):
    """x -> (x - shift) / scale or x -> shift + scale * x, with shift and scale as buffers."""

    def __init__(self, shift: float, scale: float, inverse: bool) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(float(shift)))
        self.register_buffer("scale", torch.tensor(float(scale)))
        self.inverse = inverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale if self.inverse else self.shift + self.scale * x


class Residual(nn.Module):
    """x -> body(x) + skip(x): a bounded body (a tanh MLP) next to an unbounded linear path, so that the
    output's range is the whole line (a generator can then reach a target's tails)."""

    def __init__(self, body: nn.Module, skip: nn.Module) -> None:
        super().__init__()
        self.body, self.skip = body, skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)
