"""Mode-collapse metrics for mixtures of Gaussians (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018).

For generated samples x_1..x_n, the mixture's centers c_1..c_K and its std sigma:

* a sample is **high quality** when it lies within 3 sigma (Euclidean distance,
  inclusive) of its nearest center; it is then *assigned* to that mode;
* a mode is **covered** when at least one high-quality sample is assigned to it
  (PacGAN's definition, the headline number); :func:`modes_covered` also takes a
  ``min_count``, and :func:`mode_report` adds ``modes_covered_1pct``: modes that get at
  least 1% of a uniform share of the samples (``0.01 * n / K``), which a handful of
  stray samples cannot inflate;
* **reverse KL** is KL(p_gen || uniform) = sum_k p_k log(K p_k) over the histogram p of
  the high-quality samples over the modes (PacGAN's "reverse KL"; 0 log 0 = 0), in
  nats. It is 0 for perfectly balanced modes and log K when every high-quality sample
  sits on one mode. With **no high-quality sample at all** the histogram is empty and
  p is undefined; we return log K, the metric's worst value (a generator that hits no
  mode is at least as bad as one that hits one), so that means over seeds are not
  silently taken over the successful runs only. ``high_quality`` in the report tells
  the two cases apart.

Decisions on input: ``samples`` is (n, d) with n >= 1 and d the centers' dimension
(numpy array or torch tensor, any float dtype; computed in float64). **Non-finite
samples** (NaN or inf, e.g. from a diverged generator) are counted, not refused: they
are never high quality and stay in the denominator of the high-quality fraction, so a
generator that emits NaN half the time scores at most 0.5. ``centers`` must be finite,
(K, d) with K >= 1; ``std`` a finite number > 0. Anything else raises ``ValueError``
(``TypeError`` for non-numeric input).

A sample of the target itself scores: every mode covered, reverse KL close to 0 (the
sampling noise of the histogram, about (K - 1) / (2 n_hq) nats), and a high-quality
fraction of P(|N(0, I_2)| <= 3) = 1 - exp(-9/2) = 0.9889 in 2D (the floor of the metric,
not 1).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minimax.errors import check_float

THRESHOLD_STDS = 3.0
TARGET_HIGH_QUALITY_2D = 1.0 - math.exp(-THRESHOLD_STDS**2 / 2)  # P(chi_2 <= 3): a target sample's score
_CHUNK = 65_536

__all__ = [
    "THRESHOLD_STDS",
    "TARGET_HIGH_QUALITY_2D",
    "assign_modes",
    "high_quality_fraction",
    "kl_to_uniform",
    "mode_histogram",
    "mode_report",
    "modes_covered",
    "reverse_kl",
]


def _array(name: str, value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().double().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}") from None
    return array


def _check(samples: Any, centers: Any, std: Any) -> tuple[np.ndarray, np.ndarray, float]:
    centers = _array("centers", centers)
    if centers.ndim != 2 or centers.shape[0] < 1 or centers.shape[1] < 1:
        raise ValueError(f"centers must have shape (K, d) with K >= 1, got {centers.shape}")
    if not np.isfinite(centers).all():
        raise ValueError("centers must all be finite")
    samples = _array("samples", samples)
    if samples.ndim != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(
            f"samples must have shape (n, {centers.shape[1]}) to match the centers {centers.shape}, got {samples.shape}"
        )
    if samples.shape[0] < 1:
        raise ValueError("samples must hold at least one sample, got none")
    std = check_float("std", std, positive=True)
    return samples, centers, std


def assign_modes(samples: Any, centers: Any, std: float) -> tuple[np.ndarray, np.ndarray]:
    """(nearest, high_quality): each sample's nearest center (-1 for a non-finite sample) and
    whether it lies within 3 std of it."""
    samples, centers, std = _check(samples, centers, std)
    finite = np.isfinite(samples).all(axis=1)
    nearest = np.full(len(samples), -1, dtype=np.int64)
    distance = np.full(len(samples), np.inf)
    rows = np.flatnonzero(finite)
    for start in range(0, len(rows), _CHUNK):
        index = rows[start : start + _CHUNK]
        squared = ((samples[index, None, :] - centers[None, :, :]) ** 2).sum(-1)  # (chunk, K)
        nearest[index] = squared.argmin(1)
        distance[index] = np.sqrt(squared[np.arange(len(index)), nearest[index]])
    return nearest, distance <= THRESHOLD_STDS * std


def mode_histogram(samples: Any, centers: Any, std: float) -> np.ndarray:
    """How many high-quality samples each mode gets, shape (K,) (int64)."""
    nearest, good = assign_modes(samples, centers, std)
    return np.bincount(nearest[good], minlength=len(_array("centers", centers)))


def high_quality_fraction(samples: Any, centers: Any, std: float) -> float:
    """The fraction of samples within 3 std of their nearest center (non-finite samples count as not)."""
    return float(assign_modes(samples, centers, std)[1].mean())


def modes_covered(samples: Any, centers: Any, std: float, min_count: int = 1) -> int:
    """How many modes get at least ``min_count`` high-quality samples (PacGAN: ``min_count=1``)."""
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
    return int((mode_histogram(samples, centers, std) >= min_count).sum())


def kl_to_uniform(counts: Any) -> float:
    """KL(p || uniform) in nats for the histogram ``counts`` (K non-negative numbers, p = counts / sum).

    0 log 0 = 0; an all-zero histogram returns log K (the maximum, see the module docstring).
    """
    counts = _array("counts", counts)
    if counts.ndim != 1 or counts.size < 1:
        raise ValueError(f"counts must be a non-empty 1D histogram, got shape {counts.shape}")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError(f"counts must be finite and non-negative, got {counts}")
    k, total = counts.size, counts.sum()
    if total == 0:
        return math.log(k)
    p = counts[counts > 0] / total
    return float(max(0.0, (p * np.log(k * p)).sum()))  # clip -1e-17 rounding to 0


def reverse_kl(samples: Any, centers: Any, std: float) -> float:
    """PacGAN's reverse KL: KL(histogram of high-quality samples over modes || uniform), nats."""
    return kl_to_uniform(mode_histogram(samples, centers, std))


def mode_report(samples: Any, centers: Any, std: float) -> dict[str, Any]:
    """Every mode metric of ``samples`` in one pass, as plain Python numbers and lists.

    Keys: ``samples`` (n), ``finite`` (finite samples), ``high_quality`` (count),
    ``high_quality_fraction``, ``modes`` (K), ``modes_covered`` (PacGAN's),
    ``modes_covered_1pct`` (at least 1% of a uniform share of the n samples, and at
    least one), ``reverse_kl`` (nats), ``histogram`` (high-quality samples per mode).
    """
    samples_array, centers_array, std = _check(samples, centers, std)
    nearest, good = assign_modes(samples_array, centers_array, std)
    k, n = len(centers_array), len(samples_array)
    histogram = np.bincount(nearest[good], minlength=k)
    share = max(1.0, 0.01 * n / k)
    return {
        "samples": n,
        "finite": int(np.isfinite(samples_array).all(axis=1).sum()),
        "high_quality": int(good.sum()),
        "high_quality_fraction": float(good.mean()),
        "modes": k,
        "modes_covered": int((histogram >= 1).sum()),
        "modes_covered_1pct": int((histogram >= share).sum()),
        "reverse_kl": kl_to_uniform(histogram),
        "histogram": histogram.tolist(),
    }
