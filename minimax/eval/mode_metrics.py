"""Mode-collapse metrics: mixtures of Gaussians (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018), Stacked MNIST

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

**Stacked MNIST** (Metz et al. 2017; VEEGAN; PacGAN Table 2): each channel of a
(n, 3, 28, 28) image is classified by an MNIST classifier, giving digits (d0, d1, d2)
and the mode ``100 d0 + 10 d1 + d2`` (1000 modes). :func:`stacked_mode_report` gives
the modes covered (at least one sample) and KL(mode histogram || uniform over the 1000
modes) in nats, as those papers report them ("modes" and "KL", on 26,000 samples in
PacGAN). A channel that is not finite cannot be classified: its sample gets mode -1,
counts in ``samples`` but not in the histogram (none classified: KL = log 1000). The
floor is the same report on real stacked images (``StackedMNIST.sample_data``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minimax.tasks.stacked import DIGITS, STACKED_CHANNELS, STACKED_MODES, stacked_modes
from minimax.utils.checks import check_float, check_int

THRESHOLD_STDS = 3.0
TARGET_HIGH_QUALITY_2D = 1.0 - math.exp(-THRESHOLD_STDS**2 / 2)  # P(chi_2 <= 3): a target sample's score
_CHUNK = 65_536

__all__ = [
    "THRESHOLD_STDS",
    "TARGET_HIGH_QUALITY_2D",
    "STACKED_CHANNELS",
    "STACKED_MODES",
    "assign_modes",
    "classify_channels",
    "high_quality_fraction",
    "kl_to_uniform",
    "mode_histogram",
    "mode_report",
    "modes_covered",
    "reverse_kl",
    "stacked_mode_report",
    "stacked_modes",
    "stacked_report",
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


# ---- Stacked MNIST ---------------------------------------------------------------------------------


def classify_channels(images: Any, classifier: Any, batch_size: int = 1000) -> np.ndarray:
    """Each channel's digit: (n, C, 28, 28) images in [-1, 1] -> (n, C) int64, -1 where a channel is not finite.

    ``classifier`` is a :class:`minimax.eval.classifier.TrainedClassifier` (its ``evaluate``) or
    any callable mapping (m, 1, 28, 28) float32 images to (m, 10) class scores; the digit is
    the argmax.
    """
    import torch

    batch_size = check_int("batch_size", batch_size, minimum=1)
    x = images.detach() if hasattr(images, "detach") else torch.as_tensor(np.asarray(images))
    if not x.is_floating_point():
        raise TypeError(f"images must be floating point in [-1, 1], got dtype {x.dtype}")
    if x.ndim != 4 or tuple(x.shape[2:]) != (28, 28) or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"images must have shape (n, channels, 28, 28) with n >= 1, got {tuple(x.shape)}")
    n, c = x.shape[:2]
    flat = x.to("cpu", torch.float32).reshape(n * c, 1, 28, 28)
    finite = torch.isfinite(flat).flatten(1).all(1)
    digits = torch.full((n * c,), -1, dtype=torch.int64)
    rows = finite.nonzero().flatten()
    score = classifier.evaluate if hasattr(classifier, "evaluate") else classifier
    for chunk in rows.split(batch_size):
        out = score(flat[chunk])
        scores = out[0] if isinstance(out, tuple) else out
        scores = torch.as_tensor(scores)
        if scores.shape != (len(chunk), DIGITS):
            raise ValueError(f"the classifier must return ({len(chunk)}, {DIGITS}) class scores for "
                             f"{len(chunk)} images, got {tuple(scores.shape)}")  # fmt: skip
        digits[chunk] = scores.argmax(1).to(torch.int64)
    return digits.reshape(n, c).numpy()


def stacked_report(modes: Any, num_modes: int = STACKED_MODES) -> dict[str, Any]:
    """Modes covered and KL(histogram || uniform) of mode numbers (n,) in 0..num_modes-1 (-1: unclassified).

    Keys: ``samples`` (n), ``classified`` (modes >= 0), ``modes`` (num_modes),
    ``modes_covered`` (at least one sample), ``kl_uniform`` (nats; log num_modes when
    nothing is classified), ``histogram``.
    """
    num_modes = check_int("num_modes", num_modes, minimum=1)
    array = np.asarray(modes)
    if array.dtype.kind not in "iu" or array.ndim != 1 or array.size < 1:
        raise ValueError(f"modes must be a non-empty 1D integer array, got dtype {array.dtype} shape {array.shape}")
    bad = (array < -1) | (array >= num_modes)
    if bad.any():
        raise ValueError(f"modes must lie in 0..{num_modes - 1} (or -1), got {array[bad][0]} "
                         f"at index {int(np.flatnonzero(bad)[0])}")  # fmt: skip
    classified = array[array >= 0]
    histogram = np.bincount(classified, minlength=num_modes)
    return {
        "samples": int(array.size),
        "classified": int(classified.size),
        "modes": num_modes,
        "modes_covered": int((histogram >= 1).sum()),
        "kl_uniform": kl_to_uniform(histogram),
        "histogram": histogram.tolist(),
    }


def stacked_mode_report(images: Any, classifier: Any, batch_size: int = 1000) -> dict[str, Any]:
    """Stacked-MNIST metrics of (n, C, 28, 28) images: :func:`stacked_report` of the classified channels' modes,
    plus ``digit_histograms`` (C lists of 10 counts: each channel's digits)."""
    digits = classify_channels(images, classifier, batch_size)
    report = stacked_report(stacked_modes(digits), DIGITS ** digits.shape[1])
    report["digit_histograms"] = [np.bincount(d[d >= 0], minlength=DIGITS).tolist() for d in digits.T]
    return report
