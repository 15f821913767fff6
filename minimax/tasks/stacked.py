"""Stacked MNIST (Metz et al. 2017, "Unrolled GANs"; VEEGAN; PacGAN): three MNIST digits as the channels of one image.

Each target sample is three MNIST images drawn independently and uniformly (with
replacement) from the data set and stacked as the channels of a (3, 28, 28) image in
[-1, 1]. Its *mode* is the triple of their digits, numbered ``100 d0 + 10 d1 + d2``:
1000 modes. A generator that covers MNIST's 10 digits in each channel but ties the
channels together (e.g. the same digit everywhere) covers only 10 of them, which is
what makes this the standard mode-collapse test on images.

"Uniformly" means over the images, as in the literature ("three randomly sampled MNIST
digits"): the digits' frequencies are MNIST's (about 9-11% each), so the modes are only
approximately uniform. The real-sample floor of :mod:`benchmarks.stacked_mnist`
measures what that (and the evaluation classifier's errors) costs in the metrics.

The networks are the report's MNIST MLPs (:mod:`minimax.tasks.images`) widened to
3 x 784 = 2352 outputs (generator) and inputs (discriminator), with the same hidden
widths and Keras conventions. The generated channels are classified one by one with
the MNIST evaluation classifier (:func:`minimax.eval.mode_metrics.stacked_mode_report`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from minimax.tasks.images import IMAGE_SHAPE, MNIST

STACKED_CHANNELS = 3
STACKED_MODES = 10**STACKED_CHANNELS
DIGITS = 10
STACKED_SHAPE = (STACKED_CHANNELS, *IMAGE_SHAPE[1:])


def stacked_modes(digits: Any) -> np.ndarray:
    """(n, C) digits 0..9 -> mode numbers sum_c d_c 10^(C-1-c), shape (n,) int64 (C = 3: 100 d0 + 10 d1 + d2).

    A row with a -1 (an unclassifiable channel) gets mode -1.
    """
    if hasattr(digits, "detach"):
        digits = digits.detach().cpu().numpy()
    array = np.asarray(digits)
    if array.dtype.kind not in "iu":
        raise TypeError(f"digits must be integers 0..9 (or -1 for unclassified), got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(f"digits must have shape (n, channels), got {array.shape}")
    bad = (array < -1) | (array > DIGITS - 1)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"digits must lie in 0..9 (or -1 for unclassified), got {array[where]} at index {where}")
    array = array.astype(np.int64)
    weights = DIGITS ** np.arange(array.shape[1] - 1, -1, -1, dtype=np.int64)
    modes = array @ weights
    modes[(array < 0).any(axis=1)] = -1
    return modes


class StackedMNIST(MNIST):
    """Stacked MNIST: three independent uniform draws of MNIST images as the channels of a (3, 28, 28) image.

    Data options as :class:`~minimax.tasks.images.MNIST` (``root``, ``split``,
    ``download``, or ``images`` to bypass the files); ``labels`` (N digits 0..9) go with
    ``images`` when the target's modes are wanted (:meth:`sample_with_modes`); from the
    files the labels come with the images. Network options as MNIST's.
    """

    name = "StackedMNIST"
    dataset = "mnist"
    data_shape = STACKED_SHAPE
    channels = STACKED_CHANNELS
    modes = STACKED_MODES

    def __init__(
        self,
        root: str | Path | None = None,
        split: str = "train",
        download: bool = True,
        images: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        batch_size: int = 32,
        noise_dim: int = 100,
        g_hidden: Sequence[int] = (256, 512, 1024),
        d_hidden: Sequence[int] = (512, 256),
        negative_slope: float = 0.2,
        bn_momentum: float | None = 0.8,
        bn_eps: float = 1e-3,
        init: str = "keras",
    ) -> None:
        if labels is not None and images is None:
            raise ValueError("labels were given without images: pass images= and labels= together, or neither")
        super().__init__(
            root=root, split=split, download=download, images=images, batch_size=batch_size, noise_dim=noise_dim,
            g_hidden=g_hidden, d_hidden=d_hidden, negative_slope=negative_slope, bn_momentum=bn_momentum,
            bn_eps=bn_eps, init=init,
        )  # fmt: skip
        if self.data is not None:
            labels = self.data.labels
        self.labels = None if labels is None else torch.from_numpy(_check_labels(labels, len(self.images)))

    def sample_indices(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """(n, 3) indices into the images, drawn independently and uniformly with replacement from ``rng``."""
        return torch.randint(0, len(self.images), (n, self.channels), generator=rng, device=rng.device)

    def sample_data(
        self, n: int, rng: torch.Generator, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        data = self.scaled(device, dtype)[:, 0]  # (N, 28, 28)
        index = self.sample_indices(n, rng)
        return data[index.to(data.device)]  # (n, 3, 28, 28)

    def sample_with_modes(
        self, n: int, rng: torch.Generator, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> tuple[torch.Tensor, np.ndarray]:
        """``n`` target samples and their true modes (100 d0 + 10 d1 + d2 from the labels), as drawn by
        :meth:`sample_data` from the same ``rng`` state."""
        if self.labels is None:
            raise ValueError("the target's modes need the digits' labels: pass labels= with images=")
        data = self.scaled(device, dtype)[:, 0]
        index = self.sample_indices(n, rng).cpu()
        return data[index.to(data.device)], stacked_modes(self.labels[index].numpy())

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "channels": self.channels, "modes": self.modes}


def _check_labels(labels: Any, n: int) -> np.ndarray:
    array = np.asarray(labels)
    if array.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer digits 0..9, got dtype {array.dtype}")
    if array.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), one per image, got {array.shape}")
    bad = (array < 0) | (array > 9)
    if bad.any():
        raise ValueError(f"labels must be digits 0..9, got {array[bad][0]} at index {int(np.flatnonzero(bad)[0])}")
    return array.astype(np.int64)
