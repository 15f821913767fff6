"""Dirac-GAN (Mescheder, Geiger, Nowozin 2018): the smallest GAN, whose dynamics are known in closed form.

Data delta_0, generator delta_theta (one parameter: every sample is theta), and a
linear discriminator D(x) = psi * x (one parameter, no bias). With the GAN loss the
value is V = f(0) + f(-psi theta), f(t) = log sigmoid(t); the only equilibrium is
(theta, psi) = (0, 0). Every loss family, penalty, schedule and update rule of the
library applies unchanged, so what the paper proves can be checked: the Jacobian of
the joint field at (0, 0) has eigenvalues +-f'(0) i (f'(0) = 1/2 for the GAN loss), R1
moves them to gamma/2 +- sqrt(gamma^2/4 - f'(0)^2) (our sign convention, see
:mod:`minimax.core.field`), simultaneous gradient descent spirals out, alternating cycles.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from minimax.utils.checks import check_float, check_int
from minimax.core.losses import Minimax, NonSaturating, Wasserstein
from minimax.core.task import Task


class DiracGenerator(nn.Module):
    """G(z) = theta for every z: a point mass at theta."""

    def __init__(self, theta: float) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([float(theta)]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.theta.expand(len(z), 1)


class LinearCritic(nn.Module):
    """logit(x) = psi * x, one logit per sample."""

    def __init__(self, psi: float) -> None:
        super().__init__()
        self.psi = nn.Parameter(torch.tensor([float(psi)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1)[:, 0] * self.psi


class DiracGAN(Task):
    """Dirac-GAN from the start point (theta, psi); the paper's notebook starts at (1, 1).

    ``batch_size`` only matters for losses that draw random numbers (instance noise,
    WGAN-GP interpolates): every sample of the data is 0 and every generated one is theta.
    """

    name = "DiracGAN"
    noise_dim = 1
    data_shape = (1,)

    def __init__(self, theta: float = 1.0, psi: float = 1.0, batch_size: int = 1) -> None:
        self.theta = check_float("theta (generator start)", theta)
        self.psi = check_float("psi (discriminator start)", psi)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)

    def build_generator(self) -> nn.Module:
        return DiracGenerator(self.theta)

    def build_discriminator(self) -> nn.Module:
        return LinearCritic(self.psi)

    def sample_data(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        return torch.zeros(n, 1, device=device, dtype=dtype)

    def sample_noise(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        return torch.zeros(n, 1, device=device, dtype=dtype)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "theta0": self.theta, "psi0": self.psi}

    def portrait_field(self, loss: Any, extent: float) -> tuple[np.ndarray, ...] | None:
        """The field the players follow under ``loss`` on a grid of the (theta, psi) plane, for the env's phase
        portrait; None for a family without a closed form here (penalties, instance noise, hinge, least squares)."""
        from minimax.render import panels

        family = {Minimax: "minimax", NonSaturating: "non-saturating", Wasserstein: "wasserstein"}.get(type(loss))
        return None if family is None else panels.dirac_field(extent, family=family)


class Shift(nn.Module):
    """G(z) = z + theta."""

    def __init__(self, start: torch.Tensor) -> None:
        super().__init__()
        self.theta = nn.Parameter(start.clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.theta


class LinearCriticND(nn.Module):
    """logit(x) = <w, x>."""

    def __init__(self, start: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(start.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w


class LinearWGAN(Task):
    """Daskalakis et al. 2018's linear WGAN: data N(v, I), G(z) = z + theta with z ~ N(0, I), D(x) = <w, x>.

    Under the Wasserstein loss the value is <w, v - theta> (in expectation): a bilinear
    game in (theta - v, w) with its equilibrium at theta = v, w = 0. Gradient play
    cycles around it; optimistic mirror descent converges in the last iterate.
    """

    name = "LinearWGAN"

    def __init__(self, v: tuple[float, ...] = (3.0, 4.0), theta: tuple[float, ...] | None = None,
                 w: tuple[float, ...] | None = None, batch_size: int = 128) -> None:  # fmt: skip
        self.v = torch.as_tensor(v, dtype=torch.float64).reshape(-1)
        if self.v.numel() == 0 or not torch.isfinite(self.v).all():
            raise ValueError(f"v must be a non-empty vector of finite numbers, got {v!r}")
        d = self.v.numel()
        self.theta0 = torch.zeros(d, dtype=torch.float64) if theta is None else torch.as_tensor(theta, dtype=torch.float64)
        self.w0 = torch.ones(d, dtype=torch.float64) if w is None else torch.as_tensor(w, dtype=torch.float64)
        for name, value in (("theta", self.theta0), ("w", self.w0)):
            if value.shape != (d,) or not torch.isfinite(value).all():
                raise ValueError(f"{name} must be {d} finite numbers (the size of v), got {value.tolist()}")
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.noise_dim = d
        self.data_shape = (d,)

    def build_generator(self) -> nn.Module:
        return Shift(self.theta0.float())

    def build_discriminator(self) -> nn.Module:
        return LinearCriticND(self.w0.float())

    def sample_data(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        return self.v.to(device, dtype) + torch.randn(n, self.noise_dim, generator=rng, device=device, dtype=dtype)

    def sample_noise(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        return torch.randn(n, self.noise_dim, generator=rng, device=device, dtype=dtype)
