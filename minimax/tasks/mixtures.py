"""Mixtures of 2D Gaussians, the standard mode-collapse tasks: a ring of 8 and a grid of 25.

* :class:`Ring8`: 8 Gaussians on a circle of radius 1 at angles 2 pi k / 8, std 0.01
  (Mescheder, Nowozin, Geiger 2017, "The Numerics of GANs": noise dimension 16, batch
  512, generator and discriminator both 4 hidden layers of 16 ReLU units).
* :class:`Grid25`: 25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05 (the 2D grid of
  Srivastava et al. 2017, VEEGAN, used by Lin et al. 2018, PacGAN: batch 100, 2D
  Gaussian noise, generator 4 hidden layers of 400 ReLU units with batch
  normalisation, discriminator 3 hidden layers of 200 units with 5-piece maxout).

Every mode has the same weight; the data are drawn fresh each minibatch as
``center[k] + std * N(0, I)`` with k uniform over the modes, from the game's data stream
(PacGAN's code drew a fixed training set of 100k samples; with 100k samples that hardly
matters). Weights keep PyTorch's default initialisation (PacGAN's code: N(0, 0.02^2)). The noise prior is
N(0, I) (``noise="uniform"`` gives U(-1, 1)). Widths, depths, batch normalisation in
the generator and maxout in the discriminator are options, so a CPU run can shrink
the networks (``hidden=64``) without changing anything else.

**Packing** (PacGAN, Lin et al. 2018): with ``pack=m`` the discriminator sees m
samples at once, concatenated into one input of size 2m, and returns one logit per
packed group. It is done inside the discriminator module: input (n, 2) -> (n / m, 2m)
-> MLP -> logits (n / m,), consecutive samples forming a group. The losses, which
average over logits, and gradient penalties (R1, R2, WGAN-GP), which differentiate
``critic(x)`` with respect to the (n, 2) input, work unchanged. ``batch_size`` must be a
multiple of ``pack``, and any batch given to the discriminator must be one too
(half-batch schedules, ``split=true``, need ``batch_size // 2`` divisible by ``pack``).
Only the discriminator's first layer widens (2m inputs), as in PacGAN.

The modes are attributes: ``centers`` (a (K, 2) float64 tensor) and ``std``; the
mode metrics of :mod:`minimax.eval.mode_metrics` take them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from minimax.utils.checks import check_choice, check_float, check_int
from minimax.core.task import Task, symmetric_noise

NOISE_PRIORS = ("normal", "uniform")


class Pack(nn.Module):
    """(n, d) -> (n / m, m d): groups of m consecutive samples, concatenated (PacGAN's packing)."""

    def __init__(self, pack: int) -> None:
        super().__init__()
        self.pack = pack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if n % self.pack:
            raise ValueError(
                f"a packed discriminator (pack={self.pack}) needs a number of samples that is a multiple of "
                f"{self.pack}, got {n}"
            )
        return x.reshape(n // self.pack, -1)

    def extra_repr(self) -> str:
        return f"pack={self.pack}"


class Maxout(nn.Module):
    """A linear layer with ``pieces`` outputs per unit, keeping the largest (Goodfellow et al. 2013)."""

    def __init__(self, n_in: int, n_out: int, pieces: int) -> None:
        super().__init__()
        self.n_out, self.pieces = n_out, pieces
        self.linear = nn.Linear(n_in, n_out * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).reshape(*x.shape[:-1], self.n_out, self.pieces).amax(-1)


class Logit(nn.Module):
    """(n, 1) -> (n,): one logit per row."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(-1)


def _hidden_layers(n_in: int, width: int, depth: int, batch_norm: bool = False, maxout: int = 1) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for _ in range(depth):
        if maxout > 1:
            layers.append(Maxout(n_in, width, maxout))
        else:
            layers.append(nn.Linear(n_in, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(nn.ReLU())
        n_in = width
    return layers


class GaussianMixture2D(Task):
    """Equal-weight mixture of isotropic 2D Gaussians at ``centers`` with standard deviation ``std``.

    Generator: noise -> ``depth`` hidden layers of ``hidden`` ReLU units (batch
    normalisation before each ReLU when ``g_batch_norm``) -> a point in the plane.
    Discriminator: packed input (2 ``pack`` numbers) -> ``d_depth`` hidden layers of
    ``d_hidden`` units (ReLU, or maxout with ``d_maxout`` > 1 pieces) -> one logit.
    """

    name = "GaussianMixture2D"
    data_shape = (2,)

    def __init__(
        self,
        centers: Sequence[Sequence[float]] | torch.Tensor,
        std: float,
        *,
        batch_size: int,
        noise_dim: int,
        noise: str = "normal",
        hidden: int,
        depth: int,
        d_hidden: int | None = None,
        d_depth: int | None = None,
        g_batch_norm: bool = False,
        d_maxout: int = 1,
        pack: int = 1,
    ) -> None:
        centers = torch.as_tensor(centers, dtype=torch.float64)
        if centers.ndim != 2 or centers.shape[1] != 2 or len(centers) < 1:
            raise ValueError(f"centers must have shape (K, 2) with K >= 1, got {tuple(centers.shape)}")
        if not torch.isfinite(centers).all():
            raise ValueError("centers must be finite")
        self.centers = centers
        self.std = check_float("std", std, positive=True)
        self.noise_dim = check_int("noise_dim", noise_dim, minimum=1)
        self.noise = check_choice("noise prior", noise, NOISE_PRIORS)
        self.hidden = check_int("hidden", hidden, minimum=1)
        self.depth = check_int("depth", depth, minimum=1)
        self.d_hidden = self.hidden if d_hidden is None else check_int("d_hidden", d_hidden, minimum=1)
        self.d_depth = self.depth if d_depth is None else check_int("d_depth", d_depth, minimum=1)
        if not isinstance(g_batch_norm, bool):
            raise TypeError(f"g_batch_norm must be True or False, got {g_batch_norm!r}")
        self.g_batch_norm = g_batch_norm
        self.d_maxout = check_int("d_maxout (maxout pieces; 1 = ReLU)", d_maxout, minimum=1)
        self.pack = check_int("pack", pack, minimum=1)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        if self.batch_size % self.pack:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of pack ({self.pack}): the packed discriminator "
                f"sees groups of {self.pack} samples"
            )

    @property
    def n_modes(self) -> int:
        return len(self.centers)

    def build_generator(self) -> nn.Module:
        return nn.Sequential(
            *_hidden_layers(self.noise_dim, self.hidden, self.depth, batch_norm=self.g_batch_norm),
            nn.Linear(self.hidden, 2),
        )

    def build_discriminator(self) -> nn.Module:
        front: list[nn.Module] = [Pack(self.pack)] if self.pack > 1 else []
        return nn.Sequential(
            *front,
            *_hidden_layers(2 * self.pack, self.d_hidden, self.d_depth, maxout=self.d_maxout),
            nn.Linear(self.d_hidden, 1),
            Logit(),
        )

    def sample_modes(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """Which mode each of ``n`` samples comes from (uniform over the modes), on ``rng``'s device."""
        return torch.randint(self.n_modes, (n,), generator=rng, device=rng.device)

    def sample_data(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        modes = self.sample_modes(n, rng)
        noise = torch.randn(n, 2, generator=rng, device=rng.device, dtype=dtype)
        return (self.centers.to(rng.device, dtype)[modes] + self.std * noise).to(device)

    def sample_noise(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        return symmetric_noise(self.noise, n, self.noise_dim, rng, device, dtype)

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(), "modes": self.n_modes, "std": self.std, "noise": self.noise,
            "generator": f"{self.depth} x {self.hidden} ReLU" + (" + BatchNorm" if self.g_batch_norm else ""),
            "discriminator": f"{self.d_depth} x {self.d_hidden} "
                             + (f"maxout({self.d_maxout})" if self.d_maxout > 1 else "ReLU"),
            "hidden": self.hidden, "depth": self.depth, "d_hidden": self.d_hidden, "d_depth": self.d_depth,
            "g_batch_norm": self.g_batch_norm, "d_maxout": self.d_maxout, "pack": self.pack,
        }  # fmt: skip


class Ring8(GaussianMixture2D):
    """8 Gaussians on a circle of ``radius`` at angles 2 pi k / 8, k = 0..7, std ``std``.

    Defaults are The Numerics of GANs' (Mescheder et al. 2017): std 0.01, noise
    dimension 16, batch 512, both networks 4 hidden layers of 16 ReLU units. With
    ``modes`` other than 8 the ring has that many modes (the name stays).
    """

    name = "Ring8"

    def __init__(
        self,
        radius: float = 1.0,
        std: float = 0.01,
        modes: int = 8,
        batch_size: int = 512,
        noise_dim: int = 16,
        noise: str = "normal",
        hidden: int = 16,
        depth: int = 4,
        d_hidden: int | None = None,
        d_depth: int | None = None,
        g_batch_norm: bool = False,
        d_maxout: int = 1,
        pack: int = 1,
    ) -> None:
        self.radius = check_float("radius", radius, positive=True)
        k = check_int("modes", modes, minimum=1)
        angles = 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
        centers = self.radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
        super().__init__(centers, std, batch_size=batch_size, noise_dim=noise_dim, noise=noise, hidden=hidden,
                         depth=depth, d_hidden=d_hidden, d_depth=d_depth, g_batch_norm=g_batch_norm,
                         d_maxout=d_maxout, pack=pack)  # fmt: skip

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "radius": self.radius}


class Grid25(GaussianMixture2D):
    """25 Gaussians at ``spacing`` * {-2, -1, 0, 1, 2}^2 (default {-4, -2, 0, 2, 4}^2), std ``std``.

    Defaults follow PacGAN's 2D-grid experiment (VEEGAN's setup): std 0.05, batch 100,
    2D Gaussian noise, generator 4 hidden layers of 400 ReLU units with batch
    normalisation, discriminator 3 hidden layers of 200 units with 5-piece maxout.
    ``side`` other than 5 gives a side x side grid centred at 0.
    """

    name = "Grid25"

    def __init__(
        self,
        spacing: float = 2.0,
        std: float = 0.05,
        side: int = 5,
        batch_size: int = 100,
        noise_dim: int = 2,
        noise: str = "normal",
        hidden: int = 400,
        depth: int = 4,
        d_hidden: int | None = 200,
        d_depth: int | None = 3,
        g_batch_norm: bool = True,
        d_maxout: int = 5,
        pack: int = 1,
    ) -> None:
        self.spacing = check_float("spacing", spacing, positive=True)
        self.side = check_int("side", side, minimum=1)
        ticks = self.spacing * (torch.arange(self.side, dtype=torch.float64) - (self.side - 1) / 2)
        xs, ys = torch.meshgrid(ticks, ticks, indexing="ij")
        centers = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
        super().__init__(centers, std, batch_size=batch_size, noise_dim=noise_dim, noise=noise, hidden=hidden,
                         depth=depth, d_hidden=d_hidden, d_depth=d_depth, g_batch_norm=g_batch_norm,
                         d_maxout=d_maxout, pack=pack)  # fmt: skip

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "spacing": self.spacing, "side": self.side}
