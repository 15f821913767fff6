"""The report's 1D task: learn N(mean, std^2) from uniform noise.

Target N(4, 1.25^2) by default. The generator maps Uniform(0, 1) noise (the
report insists on uniform; Gaussian is an option) through two hidden tanh
layers to one number; the discriminator is an MLP on single samples with a
sigmoid output (it returns the logit; the sigmoid is applied in the losses).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from minimax.errors import check_choice, check_float, check_int
from minimax.tasks.base import Task

NOISE_PRIORS = ("uniform", "normal")


class Squeeze(nn.Module):
    """Drop the trailing size-1 dimension, so a discriminator returns shape (batch,)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(-1)


def mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    """Linear layers of the given sizes with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class Normal1D(Task):
    """Target N(mean, std^2); generator 1-h-h-1 tanh; discriminator 1-h-h-1 tanh, sigmoid out."""

    name = "Normal1D"
    data_shape = (1,)

    def __init__(
        self,
        mean: float = 4.0,
        std: float = 1.25,
        noise: str = "uniform",
        noise_dim: int = 1,
        hidden: int = 32,
        batch_size: int = 256,
    ) -> None:
        self.mean = check_float("mean", mean)
        self.std = check_float("std", std, positive=True)
        self.noise = check_choice("noise prior", noise, NOISE_PRIORS)
        self.noise_dim = check_int("noise_dim", noise_dim, minimum=1)
        self.hidden = check_int("hidden", hidden, minimum=1)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)

    def build_generator(self) -> nn.Module:
        return mlp([self.noise_dim, self.hidden, self.hidden, 1], nn.Tanh)

    def build_discriminator(self) -> nn.Module:
        return nn.Sequential(mlp([1, self.hidden, self.hidden, 1], nn.Tanh), Squeeze())

    def sample_data(self, n: int, rng: torch.Generator, device: torch.device) -> torch.Tensor:
        return self.mean + self.std * torch.randn(n, 1, generator=rng, device=device)

    def sample_noise(self, n: int, rng: torch.Generator, device: torch.device) -> torch.Tensor:
        if self.noise == "uniform":
            return torch.rand(n, self.noise_dim, generator=rng, device=device)
        return torch.randn(n, self.noise_dim, generator=rng, device=device)

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        """The target's cumulative distribution function (for exact metrics)."""
        return 0.5 * (1 + torch.erf((x - self.mean) / (self.std * math.sqrt(2.0))))

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "mean": self.mean, "std": self.std, "noise": self.noise, "hidden": self.hidden}
