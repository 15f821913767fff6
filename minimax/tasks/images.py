"""The report's MNIST and Fashion-MNIST tasks (chapters 3.2 and 3.3): MLP generator and discriminator.

The networks are the report's (its Keras code):

* generator 100-256-512-1024-784: Dense, LeakyReLU(0.2), BatchNormalization(momentum 0.8)
  after each hidden layer, tanh output reshaped to a 1x28x28 image;
* discriminator 784-512-256-1: Dense, LeakyReLU(0.2), sigmoid output (the logit is
  returned; the sigmoid lives in the losses).

Keras conventions are kept where they change numbers: BatchNorm momentum 0.8 means
``running = 0.8 running + 0.2 batch`` (torch ``momentum=0.2``) and epsilon 1e-3; Dense
kernels are Glorot-uniform with zero biases (``init="keras"``; ``"torch"`` keeps
PyTorch's defaults). Images are scaled to [-1, 1]; the noise is N(0, 1).

``PRESETS`` holds how the report trained them: ``"report"`` reproduces its update
exactly (each discriminator step is a half batch of real images and a half batch of
generated ones as two updates, generated in inference mode as ``generator.predict``
does, then the generator on a full batch; Adam(2e-4, beta1 0.5); the non-saturating
generator loss of ``combined.train_on_batch(noise, valid)``). ``"default"`` is
Algorithm 1 on a full minibatch: one discriminator update on 32 real and 32
generated images, BatchNorm on batch statistics everywhere (PyTorch's usual loop).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from minimax.datasets import ImageDataset, load_mnist
from minimax.utils.checks import check_choice, check_float, check_int
from minimax.core.task import Task, draw_rows

IMAGE_SHAPE = (1, 28, 28)
INITS = ("keras", "torch")

# How the report trained the networks: "task" goes to the task, the rest to the game, the env and the agents.
_ADAM = {"rule": "adam", "rule_options": {"lr": 2e-4, "betas": (0.5, 0.999)}}
PRESETS: dict[str, dict[str, Any]] = {
    "report": {
        "task": {"batch_size": 32},
        "training": {"schedule": "alternating:k=1,split=true", "loss": "non-saturating", "fake_mode": "eval", **_ADAM},
    },
    "default": {
        "task": {"batch_size": 32},
        "training": {"schedule": "alternating:k=1", "loss": "non-saturating", "fake_mode": "train", **_ADAM},
    },
}
REPORT_ITERATIONS = {"mnist": 30_000, "fashion": 100_000}
REPORT_GRID_ITERATIONS = {"mnist": (0, 2_000, 5_000, 10_000, 30_000), "fashion": (0, 1_000, 10_000, 50_000, 100_000)}


def _glorot_uniform(module: nn.Module) -> None:
    """Keras's Dense defaults: Glorot-uniform kernels, zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


class ReportGenerator(nn.Sequential):
    """noise (n, noise_dim) -> image (n, *shape) in [-1, 1]; shape (1, 28, 28) unless given (Stacked MNIST: 3x28x28)."""

    def __init__(
        self,
        noise_dim: int,
        hidden: Sequence[int],
        slope: float,
        bn_momentum: float | None,
        bn_eps: float,
        shape: tuple[int, ...] = IMAGE_SHAPE,
    ) -> None:
        layers: list[nn.Module] = []
        width = noise_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(slope)]
            if bn_momentum is not None:
                layers.append(nn.BatchNorm1d(h, momentum=1.0 - bn_momentum, eps=bn_eps))
            width = h
        layers += [nn.Linear(width, math.prod(shape)), nn.Tanh(), nn.Unflatten(1, tuple(shape))]
        super().__init__(*layers)


class ReportDiscriminator(nn.Sequential):
    """image (n, *shape) -> one logit per image, shape (n,); ``shape`` (1, 28, 28) by default."""

    def __init__(self, hidden: Sequence[int], slope: float, shape: tuple[int, ...] = IMAGE_SHAPE) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(slope)]
            width = h
        layers += [nn.Linear(width, 1), nn.Flatten(0)]
        super().__init__(*layers)


def _widths(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, int) or not isinstance(value, Sequence) or not value:
        raise TypeError(f"{name} must be a non-empty sequence of layer widths, got {value!r}")
    return tuple(check_int(f"{name}[{i}]", v, minimum=1) for i, v in enumerate(value))


class MNIST(Task):
    """MNIST digits from N(0, 1) noise, with the report's networks.

    The images come from ``root`` (else ``$MINIMAX_MNIST_DIR``, else the cache
    folder; see :func:`minimax.datasets.load_mnist`), split ``split``; when the
    split is missing and the other is there, that one is used and the loader says
    so (``self.data.note``). ``images`` (uint8, (N, 28, 28)) bypasses the files.
    Minibatches are drawn uniformly with replacement, like the report's
    ``np.random.randint`` indices.
    """

    name = "MNIST"
    dataset = "mnist"
    data_shape = IMAGE_SHAPE

    def __init__(
        self,
        root: str | Path | None = None,
        split: str = "train",
        download: bool = True,
        images: np.ndarray | None = None,
        batch_size: int = 32,
        noise_dim: int = 100,
        g_hidden: Sequence[int] = (256, 512, 1024),
        d_hidden: Sequence[int] = (512, 256),
        negative_slope: float = 0.2,
        bn_momentum: float | None = 0.8,
        bn_eps: float = 1e-3,
        init: str = "keras",
    ) -> None:
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.noise_dim = check_int("noise_dim", noise_dim, minimum=1)
        self.g_hidden = _widths("g_hidden", g_hidden)
        self.d_hidden = _widths("d_hidden", d_hidden)
        self.negative_slope = check_float("negative_slope", negative_slope, minimum=0.0)
        if bn_momentum is not None:
            bn_momentum = check_float("bn_momentum (Keras convention)", bn_momentum, minimum=0.0)
            if bn_momentum >= 1.0:
                raise ValueError(f"bn_momentum (Keras convention) must be in [0, 1), got {bn_momentum}")
        self.bn_momentum = bn_momentum
        self.bn_eps = check_float("bn_eps", bn_eps, positive=True)
        self.init = check_choice("init", init, INITS)
        if images is not None:
            self.data: ImageDataset | None = None
            pixels = _check_images(images)
            self.note = f"{self.name}: {len(pixels)} images given as an array"
        else:
            self.data = load_mnist(self.dataset, root=root, split=split, download=download)
            pixels = self.data.images
            self.note = self.data.note
        self.images = torch.from_numpy(np.ascontiguousarray(pixels)).unsqueeze(1)  # uint8 (N, 1, 28, 28)
        self._on_device: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.images)

    def scaled(self, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """All images scaled to [-1, 1] as (x - 127.5) / 127.5, kept once per device and dtype."""
        key = (torch.empty(0, device=device).device, dtype)
        if key not in self._on_device:
            self._on_device[key] = (self.images.to(device=key[0], dtype=dtype) - 127.5) / 127.5
        return self._on_device[key]

    def build_generator(self) -> nn.Module:
        net = ReportGenerator(self.noise_dim, self.g_hidden, self.negative_slope, self.bn_momentum, self.bn_eps,
                              shape=self.data_shape)
        if self.init == "keras":
            net.apply(_glorot_uniform)
        return net

    def build_discriminator(self) -> nn.Module:
        net = ReportDiscriminator(self.d_hidden, self.negative_slope, shape=self.data_shape)
        if self.init == "keras":
            net.apply(_glorot_uniform)
        return net

    def sample_data(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        return draw_rows(self.scaled(device, dtype), n, rng)

    def sample_noise(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        return torch.randn(n, self.noise_dim, generator=rng, device=device, dtype=dtype)

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "images": len(self),
            "data": self.note,
            "g_hidden": self.g_hidden,
            "d_hidden": self.d_hidden,
            "bn_momentum_keras": self.bn_momentum,
            "init": self.init,
        }


class FashionMNIST(MNIST):
    """Fashion-MNIST with the same networks and settings as :class:`MNIST` (the report's chapter 3.3).

    Files from ``root``, else ``$MINIMAX_FASHION_MNIST_DIR``, else Debian's
    ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``),
    else the cache folder.
    """

    name = "FashionMNIST"
    dataset = "fashion"


def _check_images(images: Any) -> np.ndarray:
    array = np.asarray(images)
    if array.dtype != np.uint8:
        raise TypeError(f"images must be a uint8 array of pixels 0..255, got dtype {array.dtype}")
    if array.ndim != 3 or array.shape[1:] != IMAGE_SHAPE[1:] or len(array) == 0:
        raise ValueError(f"images must have shape (N, 28, 28) with N >= 1, got {array.shape}")
    return array
