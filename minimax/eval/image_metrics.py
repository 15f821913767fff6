"""Image-generation metrics on a classifier's outputs instead of Inception's.

Every function takes what the evaluation classifier gives for a set of images:
class probabilities (n, K) and penultimate-layer features (n, d), as torch
tensors or numpy arrays, and computes in float64 on the CPU.

- :func:`classifier_score`: the Inception-style score (Salimans et al. 2016), 1 to K.
- :func:`frechet_distance`: the Frechet distance of Gaussians fitted to the features (Heusel et al. 2017).
- :func:`class_histogram`, :func:`classes_covered`, :func:`kl_to_uniform`: which classes are produced, how evenly.
- :func:`precision_recall`: k-NN manifold precision and recall (Kynkaanniemi et al. 2019).
- :func:`image_report`: all of them for generated against real samples;
  :func:`real_floor`: the same between two random halves of a real set, the floor each metric is read against.

Bad input (wrong shapes, mismatched widths, too few samples, non-finite values,
rows that are not probabilities, k out of range) is refused with a message
naming the value and what was expected.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from minimax.utils.checks import check_float, check_int

PROBABILITY_SUM_TOLERANCE = 1e-3
"""How far a row of class probabilities may sum from 1 (float32 softmax is within 1e-6)."""

DEFAULT_CHUNK = 256
"""Rows per distance block in :func:`precision_recall`: 256 x 10,000 float64 is 20 MB (and faster than
bigger blocks on one thread, the block staying nearer the cache)."""

REPORT_KEYS = ("classifier_score", "frechet_distance", "classes", "kl_uniform", "precision", "recall")


# --- input checks -------------------------------------------------------------------------------


def _as_float64(name: str, values: object) -> torch.Tensor:
    """``values`` as a float64 CPU tensor (a copy never shares autograd history)."""
    if isinstance(values, torch.Tensor):
        if values.is_complex():
            raise TypeError(f"{name} must hold real numbers, got a complex tensor ({values.dtype})")
        return values.detach().to("cpu", torch.float64)
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of real numbers, got {type(values).__name__}") from None
    return torch.from_numpy(array)


def _check_finite(name: str, t: torch.Tensor) -> None:
    bad = ~torch.isfinite(t)
    count = int(bad.sum())
    if count:
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"{name} must be finite; {count} of {t.numel()} values are not "
            f"(first at index {first}: {float(t[first])})"
        )


def _as_matrix(name: str, values: object, *, min_rows: int, row_meaning: str, column_meaning: str) -> torch.Tensor:
    """A finite (rows, columns) float64 matrix with at least ``min_rows`` rows and one column."""
    t = _as_float64(name, values)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array ({row_meaning}, {column_meaning}), got shape {tuple(t.shape)}")
    rows, columns = t.shape
    if rows < min_rows:
        raise ValueError(f"{name} must hold at least {min_rows} {row_meaning}, got {rows}")
    if columns < 1:
        raise ValueError(f"{name} must have at least one column ({column_meaning}), got shape {tuple(t.shape)}")
    _check_finite(name, t)
    return t


def _as_features(name: str, values: object, min_rows: int = 1) -> torch.Tensor:
    return _as_matrix(name, values, min_rows=min_rows, row_meaning="samples", column_meaning="features")


def _check_distribution(name: str, t: torch.Tensor, what: str) -> torch.Tensor:
    """Each row of ``t`` non-negative and summing to 1 within tolerance; returned renormalised exactly."""
    negative = t < 0
    if bool(negative.any()):
        first = tuple(int(i) for i in negative.nonzero()[0])
        raise ValueError(f"{name} must be {what} (>= 0), got {float(t[first])} at index {first}")
    sums = t.sum(dim=-1, keepdim=True)
    gap = (sums - 1).abs()
    worst = int(gap.reshape(-1).argmax())
    if float(gap.reshape(-1)[worst]) > PROBABILITY_SUM_TOLERANCE:
        where = f"row {worst} sums" if t.ndim == 2 else "it sums"
        raise ValueError(
            f"{name} must be {what} summing to 1 (within {PROBABILITY_SUM_TOLERANCE}); "
            f"{where} to {float(sums.reshape(-1)[worst])}"
        )
    return t / sums


def _as_probabilities(name: str, values: object, min_rows: int = 1) -> torch.Tensor:
    """A (samples, classes) matrix of class probabilities, rows renormalised to sum to exactly 1."""
    t = _as_matrix(name, values, min_rows=min_rows, row_meaning="samples", column_meaning="classes")
    return _check_distribution(name, t, "class probabilities")


def _as_histogram(name: str, values: object) -> torch.Tensor:
    """A 1-D distribution over K >= 1 classes."""
    t = _as_float64(name, values)
    if t.ndim != 1 or t.numel() < 1:
        raise ValueError(f"{name} must be a non-empty 1-D array (one fraction per class), got shape {tuple(t.shape)}")
    _check_finite(name, t)
    return _check_distribution(name, t, "class fractions")


def _check_same_width(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor, meaning: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same number of {meaning}, got {a.shape[1]} and {b.shape[1]}"
        )


def _check_same_rows(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} and {name_b} must describe the same samples (one row each), "
            f"got {a.shape[0]} and {b.shape[0]} rows"
        )


def _check_k(k: object, *sets: tuple[str, torch.Tensor]) -> int:
    """k >= 1 and below every set's size (the k-th neighbour excludes the point itself)."""
    k = check_int("k", k, minimum=1)
    for name, points in sets:
        if k > points.shape[0] - 1:
            raise ValueError(
                f"k must be at most the number of {name} samples minus one ({points.shape[0] - 1}), got {k}"
            )
    return k


# --- classifier score -----------------------------------------------------------------------------


def classifier_score(probs: object, splits: int = 1) -> tuple[float, float]:
    """Inception-style score exp(E_x KL(p(y|x) || p(y))) of class probabilities (n, K).

    p(y) is the marginal (the mean of the rows) over the samples scored. The
    score is K when every sample is classified with certainty and the classes
    are used equally often, 1 when all rows are the same. With ``splits > 1``
    the samples are cut, in order, into ``splits`` consecutive parts of sizes
    differing by at most one, each part is scored with its own marginal, and
    the mean and (population) standard deviation of the parts' scores are
    returned, as in Salimans et al. 2016, "Improved techniques for training
    GANs"; with one split the standard deviation is 0. 0 log 0 counts as 0.
    """
    p = _as_probabilities("probs", probs)
    splits = check_int("splits", splits, minimum=1)
    if splits > p.shape[0]:
        raise ValueError(f"splits must be at most the number of samples ({p.shape[0]}), got {splits}")
    return _classifier_score(p, splits)


def _classifier_score(p: torch.Tensor, splits: int = 1) -> tuple[float, float]:
    n = p.shape[0]
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        marginal = part.mean(dim=0, keepdim=True)
        kl = (torch.special.xlogy(part, part) - torch.special.xlogy(part, marginal)).sum(dim=1)
        scores.append(math.exp(max(float(kl.mean()), 0.0)))  # rounding can leave KL at -1e-17
    return float(np.mean(scores)), float(np.std(scores))


# --- Frechet distance -----------------------------------------------------------------------------


def frechet_distance(features_a: object, features_b: object) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (n_a, d) and (n_b, d).

    FD = ||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)), with sample
    means and unbiased (n - 1) covariances (Heusel et al. 2017, "GANs trained by
    a two time-scale update rule converge to a local Nash equilibrium"; FID on
    Inception features). Tr((C_a C_b)^(1/2)) is the sum of the square roots of
    the eigenvalues of S C_b S with S = C_a^(1/2): that matrix is similar to
    C_a C_b but symmetric positive semi-definite, so two symmetric
    eigendecompositions give it stably (tiny negative eigenvalues from rounding
    are clipped to 0), with none of the complex parts a general matrix square
    root picks up. Each set needs at least 2 samples; the result is >= 0.
    """
    a = _as_features("features_a", features_a, min_rows=2)
    b = _as_features("features_b", features_b, min_rows=2)
    _check_same_width("features_a", a, "features_b", b, "features")
    return _frechet_distance(a, b)


def _mean_and_covariance(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = x.mean(dim=0)
    centred = x - mean
    covariance = centred.T @ centred / (x.shape[0] - 1)
    return mean, 0.5 * (covariance + covariance.T)


def _trace_sqrt_product(cov_a: torch.Tensor, cov_b: torch.Tensor) -> torch.Tensor:
    """Tr((C_a C_b)^(1/2)) for symmetric positive semi-definite C_a, C_b."""
    eigenvalues, eigenvectors = torch.linalg.eigh(cov_a)
    sqrt_a = (eigenvectors * eigenvalues.clamp_min(0).sqrt()) @ eigenvectors.T
    middle = sqrt_a @ cov_b @ sqrt_a
    return torch.linalg.eigvalsh(0.5 * (middle + middle.T)).clamp_min(0).sqrt().sum()


def _frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    mean_a, cov_a = _mean_and_covariance(a)
    mean_b, cov_b = _mean_and_covariance(b)
    distance = (mean_a - mean_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * _trace_sqrt_product(cov_a, cov_b)
    return max(float(distance), 0.0)  # equal sets can land at -1e-13


# --- class coverage -------------------------------------------------------------------------------


def class_histogram(probs_or_labels: object, num_classes: int) -> np.ndarray:
    """Fraction of the samples predicted as each of ``num_classes`` classes; sums to 1.

    Takes class probabilities (n, K), predicted as their argmax (the first
    class on a tie), or integer labels (n,) in [0, K).
    """
    num_classes = check_int("num_classes", num_classes, minimum=1)
    if isinstance(probs_or_labels, torch.Tensor):
        ndim = probs_or_labels.ndim
    else:
        ndim = np.ndim(probs_or_labels)
    if ndim == 2:
        p = _as_probabilities("probs", probs_or_labels)
        if p.shape[1] != num_classes:
            raise ValueError(f"probs must have num_classes = {num_classes} columns, got {p.shape[1]}")
        return _class_histogram(p.argmax(dim=1).numpy(), num_classes)
    if ndim == 1:
        return _class_histogram(_as_labels("labels", probs_or_labels, num_classes), num_classes)
    raise ValueError(
        f"probs_or_labels must be class probabilities (samples, classes) or labels (samples,), got {ndim} dimensions"
    )


def _as_labels(name: str, values: object, num_classes: int) -> np.ndarray:
    labels = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{name} must be integer class indices, got dtype {labels.dtype}")
    if labels.size < 1:
        raise ValueError(f"{name} must hold at least 1 sample, got 0")
    outside = (labels < 0) | (labels >= num_classes)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise ValueError(f"{name} must lie in [0, {num_classes}), got {int(labels[first])} at index {first}")
    return labels.astype(np.int64)


def _class_histogram(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(labels, minlength=num_classes).astype(np.float64) / labels.size


def classes_covered(histogram: object, min_share: float = 0.1) -> int:
    """Number of classes receiving at least ``min_share`` times the uniform share 1/K of the samples.

    The threshold is there because a class should count as produced only when
    the generator makes it, not when one stray sample (a classifier mistake on
    a blurry digit, a rare accident) lands in it: with K = 10 and the default
    0.1, a class needs 1% of the samples, 100 of 10,000. A share exactly at the
    threshold counts (up to float rounding of the fractions).
    """
    h = _as_histogram("histogram", histogram)
    min_share = check_float("min_share", min_share, positive=True)
    return _classes_covered(h, min_share)


def _classes_covered(h: torch.Tensor, min_share: float) -> int:
    threshold = min_share / h.numel()
    return int((h >= threshold * (1 - 1e-9)).sum())


def kl_to_uniform(histogram: object) -> float:
    """KL(p || uniform over K classes) = log K - H(p), in nats, in [0, log K] (0 log 0 = 0).

    0 when every class is produced equally often, log K when one class takes
    every sample (the mode-collapse measure of MNIST GAN papers, e.g. the
    stacked-MNIST tables of Metz et al. 2017, "Unrolled generative adversarial networks").
    """
    return _kl_to_uniform(_as_histogram("histogram", histogram))


def _kl_to_uniform(h: torch.Tensor) -> float:
    log_k = math.log(h.numel())
    return min(max(log_k + float(torch.special.xlogy(h, h).sum()), 0.0), log_k)


# --- precision and recall -------------------------------------------------------------------------


def precision_recall(
    real_features: object,
    fake_features: object,
    k: int = 3,
    chunk: int = DEFAULT_CHUNK,
) -> tuple[float, float]:
    """Improved precision and recall of Kynkaanniemi et al. 2019 on features (n_real, d), (n_fake, d).

    Each set's manifold is the union of balls around its points, each with
    radius the distance to the point's k-th nearest neighbour in the same set
    (the point itself excluded; a duplicate counts as a neighbour at distance 0).
    precision = fraction of fake samples inside the real manifold,
    recall = fraction of real samples inside the fake manifold.
    A point at exactly a ball's radius is inside (<=).

    Distances come from the Gram identity ||x - y||^2 = ||x||^2 + ||y||^2 - 2 x.y
    (what ``torch.cdist`` does in its matrix-product mode), on both sets
    centred at the real mean, ``chunk`` rows at a time: memory stays at
    chunk x max(n_real, n_fake) float64, and 10,000 x 10,000 at d = 128 takes
    a few seconds on one CPU thread. Squared distances are compared with the
    squared radius plus the float64 rounding bound of that identity (about
    4 (d + 2) 2^-52 times the largest squared norm: 2e-11 for unit-variance
    features at d = 128), so ties and duplicated points count as inside, as in
    exact arithmetic.
    """
    real = _as_features("real_features", real_features, min_rows=2)
    fake = _as_features("fake_features", fake_features, min_rows=2)
    _check_same_width("real_features", real, "fake_features", fake, "features")
    k = _check_k(k, ("real", real), ("fake", fake))
    chunk = check_int("chunk", chunk, minimum=1)
    return _precision_recall(real, fake, k, chunk)


def _squared_distances(
    rows: torch.Tensor, rows_sq: torch.Tensor, others: torch.Tensor, others_sq: torch.Tensor
) -> torch.Tensor:
    """||rows_i - others_j||^2 for a block of rows against every other point, via one matrix product."""
    return torch.addmm(others_sq.unsqueeze(0), rows, others.T, alpha=-2).add_(rows_sq.unsqueeze(1))


def _rounding_bound(width: int, largest_sq_norm: float) -> float:
    """Bound on the float64 error of one Gram-identity squared distance between points of squared norm <= largest."""
    return 2 * (width + 2) * torch.finfo(torch.float64).eps * largest_sq_norm


def _kth_neighbour_sq_radii(points: torch.Tensor, sq_norms: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Squared distance from each point to its k-th nearest other point of the same set."""
    n = points.shape[0]
    radii = torch.empty(n, dtype=torch.float64)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        block = _squared_distances(points[start:stop], sq_norms[start:stop], points, sq_norms)
        rows = torch.arange(stop - start)
        block[rows, rows + start] = math.inf  # the point itself is not its own neighbour
        radii[start:stop] = block.topk(k, dim=1, largest=False).values[:, -1]
    return radii


def _precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int, chunk: int) -> tuple[float, float]:
    centre = real.mean(dim=0)
    real, fake = real - centre, fake - centre
    real_sq, fake_sq = real.square().sum(dim=1), fake.square().sum(dim=1)
    width = real.shape[1]
    real_bound = _rounding_bound(width, float(real_sq.max()))
    fake_bound = _rounding_bound(width, float(fake_sq.max()))
    cross_bound = 0.5 * (real_bound + fake_bound)
    # A radius and a cross distance each carry their own rounding; allow both.
    real_reach = _kth_neighbour_sq_radii(real, real_sq, k, chunk) + (real_bound + cross_bound)
    fake_reach = _kth_neighbour_sq_radii(fake, fake_sq, k, chunk) + (fake_bound + cross_bound)

    fake_in_real = torch.zeros(fake.shape[0], dtype=torch.bool)
    real_in_fake = torch.empty(real.shape[0], dtype=torch.bool)
    for start in range(0, real.shape[0], chunk):
        stop = min(start + chunk, real.shape[0])
        block = _squared_distances(real[start:stop], real_sq[start:stop], fake, fake_sq)  # (real rows, fake)
        real_in_fake[start:stop] = (block <= fake_reach.unsqueeze(0)).any(dim=1)
        fake_in_real |= (block <= real_reach[start:stop].unsqueeze(1)).any(dim=0)
    return float(fake_in_real.double().mean()), float(real_in_fake.double().mean())


# --- reports --------------------------------------------------------------------------------------


def image_report(
    real_probs: object,
    real_features: object,
    fake_probs: object,
    fake_features: object,
    k: int = 3,
) -> dict[str, float]:
    """Every metric of generated ("fake") samples against real ones, in one dict.

    Keys: ``classifier_score`` (of the fake probabilities, one split),
    ``frechet_distance`` (real vs fake features), ``classes`` (classes covered
    by the fake argmax histogram, default threshold; an int), ``kl_uniform``
    (of that histogram), ``precision`` and ``recall`` (k-NN manifolds). The
    real probabilities fix K and must match the real features row for row.
    """
    real_p = _as_probabilities("real_probs", real_probs)
    fake_p = _as_probabilities("fake_probs", fake_probs)
    real_f = _as_features("real_features", real_features, min_rows=2)
    fake_f = _as_features("fake_features", fake_features, min_rows=2)
    _check_same_rows("real_probs", real_p, "real_features", real_f)
    _check_same_rows("fake_probs", fake_p, "fake_features", fake_f)
    _check_same_width("real_probs", real_p, "fake_probs", fake_p, "classes")
    _check_same_width("real_features", real_f, "fake_features", fake_f, "features")
    k = _check_k(k, ("real", real_f), ("fake", fake_f))
    return _report(real_f, fake_p, fake_f, k)


def _report(real_f: torch.Tensor, fake_p: torch.Tensor, fake_f: torch.Tensor, k: int) -> dict[str, float]:
    histogram = torch.from_numpy(_class_histogram(fake_p.argmax(dim=1).numpy(), fake_p.shape[1]))
    precision, recall = _precision_recall(real_f, fake_f, k, DEFAULT_CHUNK)
    return {
        "classifier_score": _classifier_score(fake_p)[0],
        "frechet_distance": _frechet_distance(real_f, fake_f),
        "classes": _classes_covered(histogram, 0.1),
        "kl_uniform": _kl_to_uniform(histogram),
        "precision": precision,
        "recall": recall,
    }


def random_halves(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random index sets of size n // 2 each from range(n) (one index is left out when n is odd)."""
    n = check_int("n", n, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    order = np.random.default_rng(seed).permutation(n)
    half = n // 2
    return order[:half], order[half : 2 * half]


def real_floor(probs: object, features: object, k: int = 3, seed: int = 0) -> dict[str, float]:
    """:func:`image_report` between two disjoint random halves of one real set.

    The first half (:func:`random_halves` with ``seed``) plays the real set,
    the second the generated one. Its values are what a perfect generator
    would score with a sample of that size: the floor (or ceiling) printed
    next to each metric. Each half needs more than k samples.
    """
    p = _as_probabilities("probs", probs, min_rows=2)
    f = _as_features("features", features, min_rows=2)
    _check_same_rows("probs", p, "features", f)
    k = check_int("k", k, minimum=1)
    if f.shape[0] // 2 < k + 1:
        raise ValueError(
            f"real_floor needs halves of more than k = {k} samples, i.e. at least {2 * (k + 1)} samples, "
            f"got {f.shape[0]}"
        )
    first, second = (torch.from_numpy(i) for i in random_halves(f.shape[0], seed))
    return _report(f[first], p[second], f[second], k)
