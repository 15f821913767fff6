"""The report's 1D task: learn a 1D law (default N(4, 1.25^2)) from uniform noise.

The generator maps Uniform(0, 1) noise (the report insists on uniform; Gaussian is
an option) through two hidden tanh layers to one number; ``g_skip=True`` adds a linear
path from the noise to the output, so that the range is unbounded (a tanh MLP's is not). The discriminator is a
sigmoid-output MLP; it returns the logit (the sigmoid is applied in the losses).
It sees single samples by default (``discriminator="sample"``), or a whole
minibatch at once as in the "GANs in 50 lines" example: its four moments
(``"moments"``, the 2018 preset) or the samples and their squared deviations as
one vector (``"batch"``, the 2017 preset).

``normalize=True`` standardises: the discriminator sees (x - loc) / scale and the
generator outputs loc + scale * net(z), with loc and scale the target's mean and
std (of the training samples when the target is given as samples or as a fixed
training set). A far target (mean 400 or -1000) is then the same problem as mean 4.

``train_size`` fixes a training set of target samples, drawn at reset; minibatches
are then shuffled passes over it, and an *epoch* is one pass (the report's unit).
Without it every minibatch is fresh (infinite data).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from minimax.utils.checks import check_choice, check_float, check_int
from minimax.core.layers import Affine, Residual, Squeeze
from minimax.core.task import Task
from minimax.render.density import KernelDensity

NOISE_PRIORS = ("uniform", "normal")
DISCRIMINATORS = ("sample", "moments", "batch")
ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU, "relu": nn.ReLU}

# The largest |mean| + 8 std of a target: beyond it float32 samples, and their squares in the losses, overflow.
TARGET_LIMIT = 1e15

# The "GANs in 50 lines" presets (../shared/ANCHORS.md). "task" goes to Normal1D; "training" says how the
# example trained them (schedule, update rule for both players, loss), for benchmarks and users to apply.
PRESETS: dict[str, dict[str, Any]] = {
    "2018": {
        "task": {"hidden": 5, "g_activations": ("tanh", "tanh"), "discriminator": "moments", "d_hidden": 10,
                 "d_activations": ("sigmoid", "sigmoid"), "batch_size": 500, "normalize": False},
        "training": {"schedule": "alternating:k=20,m=20", "rule": "momentum", "rule_options": {"lr": 1e-3, "momentum": 0.9},
                     "loss": "non-saturating", "iterations": 5000},
    },
    "2017": {
        "task": {"hidden": 50, "g_activations": ("elu", "sigmoid"), "discriminator": "batch", "d_hidden": 50,
                 "d_activations": ("elu", "elu"), "batch_size": 100, "normalize": False},
        "training": {"schedule": "alternating:k=1", "rule": "adam", "rule_options": {"lr": 2e-4, "betas": (0.9, 0.999)},
                     "loss": "non-saturating", "iterations": 30000},
    },
}


class Moments(nn.Module):
    """A minibatch (n, 1) -> its mean, std, skewness and excess kurtosis, shape (1, 4)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1)
        mean = x.mean()
        deviations = x - mean
        std = deviations.pow(2).mean().sqrt()
        z = deviations / std
        return torch.stack([mean, std, z.pow(3).mean(), z.pow(4).mean() - 3.0]).unsqueeze(0)


class WithSquaredDeviations(nn.Module):
    """A minibatch (n, 1) -> one row: the n samples then their n squared deviations from the batch mean."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1)
        return torch.cat([x, (x - x.mean()).pow(2)]).unsqueeze(0)


def mlp(sizes: Sequence[int], activations: Sequence[str]) -> nn.Sequential:
    """Linear layers of the given sizes, ``activations[i]`` after hidden layer i, none after the last."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activations[i]]())
    return nn.Sequential(*layers)


def _activations(name: str, value: Any) -> tuple[str, str]:
    if isinstance(value, str):
        value = (value, value)
    value = tuple(value)
    if len(value) != 2:
        raise ValueError(f"{name} must name two activations (one per hidden layer), got {value!r}")
    for a in value:
        check_choice(f"activation in {name}", a, ACTIVATIONS)
    return value  # type: ignore[return-value]


def _target_samples(samples: Any) -> torch.Tensor:
    array = np.asarray(samples, dtype=np.float64).reshape(-1)
    if array.size < 2:
        raise ValueError(f"samples must hold at least 2 target values, got {array.size}")
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(f"samples must be finite; {int(bad.sum())} of {array.size} are not (first: {array[bad][0]})")
    if array.std() == 0:
        raise ValueError(f"samples must not all be equal (all are {array[0]})")
    return torch.as_tensor(array)


class Normal1D(Task):
    """Target N(mean, std^2) (or an empirical law given as ``samples``); generator 1-h-h-1 from uniform noise."""

    name = "Normal1D"
    data_shape = (1,)
    # the fixed training set, the shuffled order of the current pass over it, the position in that pass
    state_fields = ("_train", "_order", "_cursor")

    def __init__(
        self,
        mean: float = 4.0,
        std: float = 1.25,
        samples: Any = None,
        noise: str = "uniform",
        noise_dim: int = 1,
        hidden: int = 32,
        g_activations: str | Sequence[str] = "tanh",
        g_skip: bool = False,
        discriminator: str = "sample",
        d_hidden: int | None = None,
        d_activations: str | Sequence[str] = "tanh",
        batch_size: int = 256,
        train_size: int | None = None,
        normalize: bool = True,
        preset: str | None = None,
    ) -> None:
        if preset is not None:
            check_choice("Normal1D preset", preset, PRESETS)
            # A preset fixes the networks; the target (mean, std, samples, noise) stays the caller's.
            p = PRESETS[preset]["task"]
            hidden, g_activations, discriminator = p["hidden"], p["g_activations"], p["discriminator"]
            d_hidden, d_activations, batch_size, normalize = p["d_hidden"], p["d_activations"], p["batch_size"], p["normalize"]
        self.preset = preset
        self.samples = None if samples is None else _target_samples(samples)
        if self.samples is None:
            self.mean = check_float("mean", mean)
            self.std = check_float("std", std, positive=True)
            if abs(self.mean) + 8 * self.std > TARGET_LIMIT:
                raise ValueError(f"mean={self.mean:g}, std={self.std:g}: the target's samples (|mean| + 8 std = "
                                 f"{abs(self.mean) + 8 * self.std:.3g}) lie outside what a float32 game computes with "
                                 f"(|mean| + 8 std must stay below {TARGET_LIMIT:g}); rescale the data")  # fmt: skip
        else:
            self.mean, self.std = float(self.samples.mean()), float(self.samples.std())
        self.noise = check_choice("noise prior", noise, NOISE_PRIORS)
        self.noise_dim = check_int("noise_dim", noise_dim, minimum=1)
        self.hidden = check_int("hidden", hidden, minimum=1)
        self.g_activations = _activations("g_activations", g_activations)
        if not isinstance(g_skip, bool):
            raise TypeError(f"g_skip must be True or False, got {g_skip!r}")
        self.g_skip = g_skip
        self.discriminator = check_choice("discriminator kind", discriminator, DISCRIMINATORS)
        self.d_hidden = self.hidden if d_hidden is None else check_int("d_hidden", d_hidden, minimum=1)
        self.d_activations = _activations("d_activations", d_activations)
        self.batch_size = check_int("batch_size", batch_size, minimum=2)
        self.train_size = None if train_size is None else check_int("train_size", train_size, minimum=self.batch_size)
        if not isinstance(normalize, bool):
            raise TypeError(f"normalize must be True or False, got {normalize!r}")
        self.normalize = normalize
        self._train: torch.Tensor | None = None
        self._order: torch.Tensor | None = None
        self._cursor = 0

    def check_field(self, name: str, value: Any) -> None:
        n = self.train_size
        if name == "_cursor":
            limit = 0 if n is None else n
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
                raise ValueError(f"Normal1D state: _cursor must be an integer in [0, {limit}], got {value!r}")
            return
        if value is None:
            return
        if n is None:
            raise ValueError(f"Normal1D state: {name} must be None without a training set (train_size=None), got a value")
        expected = {"_train": (torch.float64, (n, 1)), "_order": (torch.int64, (n,))}[name]
        if not isinstance(value, torch.Tensor) or (value.dtype, tuple(value.shape)) != expected:
            got = f"{value.dtype} {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"Normal1D state: {name} must be a {expected[0]} tensor of shape {expected[1]}, got {got}")
        if name == "_train" and not torch.isfinite(value).all():
            raise ValueError("Normal1D state: _train (the training set) must be finite")
        if name == "_order" and not torch.equal(value.sort().values.cpu(), torch.arange(n)):
            raise ValueError(f"Normal1D state: _order must be a permutation of 0..{n - 1}")

    @property
    def analytic(self) -> bool:
        """Whether the target is a normal law known in closed form (exact metrics apply)."""
        return self.samples is None

    def _scaling(self) -> tuple[float, float]:
        if not self.normalize:
            return 0.0, 1.0
        if self._train is not None:
            return float(self._train.mean()), float(self._train.std())
        return self.mean, self.std

    def reset(self, rng: torch.Generator) -> None:
        """Draw the fixed training set (when ``train_size`` is set) from the game's data stream."""
        self._cursor, self._order = 0, None
        if self.train_size is None:
            self._train = None
        elif self.samples is not None:
            pick = torch.randint(len(self.samples), (self.train_size,), generator=rng, device=rng.device)
            self._train = self.samples.to(rng.device)[pick].unsqueeze(-1)
        else:
            self._train = self.mean + self.std * torch.randn(
                self.train_size, 1, generator=rng, device=rng.device, dtype=torch.float64
            )

    def build_generator(self) -> nn.Module:
        shift, scale = self._scaling()
        net: nn.Module = mlp([self.noise_dim, self.hidden, self.hidden, 1], self.g_activations)
        if self.g_skip:  # an unbounded linear path from the noise: the output's range is the whole line
            net = Residual(net, nn.Linear(self.noise_dim, 1, bias=False))
        return nn.Sequential(net, Affine(shift, scale, inverse=False)) if self.normalize else net

    def build_discriminator(self) -> nn.Module:
        shift, scale = self._scaling()
        front: list[nn.Module] = [Affine(shift, scale, inverse=True)] if self.normalize else []
        if self.discriminator == "sample":
            body = [mlp([1, self.d_hidden, self.d_hidden, 1], self.d_activations)]
        elif self.discriminator == "moments":
            body = [Moments(), mlp([4, self.d_hidden, self.d_hidden, 1], self.d_activations)]
        else:
            body = [WithSquaredDeviations(), mlp([2 * self.batch_size, self.d_hidden, self.d_hidden, 1], self.d_activations)]
        return nn.Sequential(*front, *body, Squeeze())

    @property
    def epoch_size(self) -> int | None:
        """Target samples in one epoch (one pass over the fixed training set), or None with infinite data."""
        return self.train_size

    def sample_data(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        if self._train is not None:
            return self._next_from_training_set(n, rng).to(dtype)
        if self.samples is not None:
            pick = torch.randint(len(self.samples), (n,), generator=rng, device=device)
            return self.samples.to(device, dtype)[pick].unsqueeze(-1)
        return self.mean + self.std * torch.randn(n, 1, generator=rng, device=device, dtype=dtype)

    def sample_data_games(
        self, tasks: list[Task], n: int, rngs: list[torch.Generator], device: torch.device,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:  # fmt: skip
        if self._train is not None or self.samples is not None or any(t._train is not None for t in tasks):
            return super().sample_data_games(tasks, n, rngs, device, dtype)
        # Fresh normal samples: one draw per game's stream, then one affine map for all (the same
        # elementwise arithmetic as sample_data, so each row is bitwise what it would draw).
        draws = torch.stack([torch.randn(n, 1, generator=g, device=device, dtype=dtype) for g in rngs])
        return self.mean + self.std * draws

    def sample_noise_games(
        self, n: int, rngs: list[torch.Generator], device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        sampler = torch.rand if self.noise == "uniform" else torch.randn
        return torch.stack([sampler(n, self.noise_dim, generator=g, device=device, dtype=dtype) for g in rngs])

    def _next_from_training_set(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """The next ``n`` samples of shuffled passes over the training set (a new shuffle each epoch)."""
        assert self._train is not None
        parts, need = [], n
        while need:
            if self._order is None or self._cursor == len(self._order):
                self._order = torch.randperm(len(self._train), generator=rng, device=rng.device)
                self._cursor = 0
            take = min(need, len(self._order) - self._cursor)
            parts.append(self._train[self._order[self._cursor : self._cursor + take]])
            self._cursor += take
            need -= take
        return torch.cat(parts)

    def sample_noise(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        sampler = torch.rand if self.noise == "uniform" else torch.randn
        return sampler(n, self.noise_dim, generator=rng, device=device, dtype=dtype)

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        """The target's cumulative distribution function (the normal's, for exact metrics)."""
        return 0.5 * (1 + torch.erf((x - self.mean) / (self.std * math.sqrt(2.0))))

    def density(self, x: np.ndarray) -> np.ndarray:
        """The target's density: the normal's, or for a target given as samples their own (a Gaussian KDE, built
        once), so that a skewed or multimodal target is drawn as what it is."""
        if self.samples is None:
            return np.exp(-0.5 * ((x - self.mean) / self.std) ** 2) / (self.std * math.sqrt(2 * math.pi))
        if getattr(self, "_kde", None) is None:
            from minimax.render.density import KernelDensity  # numpy only; imported when first drawn

            self._kde = KernelDensity(self.samples.numpy())
        return self._kde(x)

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(), "mean": self.mean, "std": self.std, "analytic": self.analytic, "noise": self.noise,
            "hidden": self.hidden, "g_skip": self.g_skip, "discriminator": self.discriminator, "d_hidden": self.d_hidden,
            "train_size": self.train_size, "normalize": self.normalize, "preset": self.preset,
        }
