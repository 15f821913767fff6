"""Image metrics on classifier outputs: closed forms, independent reimplementations, refusals."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from minimax.eval import image_metrics as im


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes)[labels]


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --- classifier score ---------------------------------------------------------------------------


def test_classifier_score_is_k_for_confident_uniform_predictions_and_1_for_identical_rows() -> None:
    confident = one_hot(np.arange(50) % 10, 10)
    assert im.classifier_score(confident) == pytest.approx((10.0, 0.0), rel=1e-12)
    # rows off by less than the tolerance are renormalised, so the range stays 1..K
    assert im.classifier_score(confident * (1 + 5e-4)) == pytest.approx((10.0, 0.0), rel=1e-12)
    identical = np.tile(softmax(np.random.default_rng(0).normal(size=(1, 10))), (40, 1))
    assert im.classifier_score(identical) == pytest.approx((1.0, 0.0), abs=1e-12)
    # torch float32 softmax input works too and stays in [1, K]
    probs = torch.softmax(torch.randn(200, 10, generator=torch.Generator().manual_seed(1)), dim=1)
    score, _ = im.classifier_score(probs)
    assert 1.0 <= score <= 10.0


def test_classifier_score_matches_a_direct_numpy_formula() -> None:
    p = softmax(3 * np.random.default_rng(2).normal(size=(300, 7)))
    marginal = p.mean(axis=0)
    expected = math.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1)))
    assert im.classifier_score(p)[0] == pytest.approx(expected, rel=1e-12)


def test_classifier_score_splits_score_each_part_with_its_own_marginal() -> None:
    # first half: confident and uniform over 10 classes (score 10); second half: all class 3 (score 1)
    p = np.concatenate([one_hot(np.arange(20) % 10, 10), one_hot(np.full(20, 3), 10)])
    assert im.classifier_score(p, splits=2) == pytest.approx((5.5, 4.5), rel=1e-12)
    whole, spread = im.classifier_score(p, splits=1)
    assert spread == 0.0 and 1.0 < whole < 10.0 and whole != pytest.approx(5.5)
    # 4 parts of 10 confident samples, each part using all 5 classes equally: every part scores 5
    p = one_hot(np.arange(40) % 5, 5)
    assert im.classifier_score(p, splits=4) == pytest.approx((5.0, 0.0), rel=1e-12)


@pytest.mark.parametrize(
    ("probs", "splits", "error", "message"),
    [
        (np.full((4, 3), 0.25), 1, ValueError, "row 0 sums to 0.75"),
        (np.array([[1.2, -0.2], [0.5, 0.5]]), 1, ValueError, r">= 0\), got -0.2"),
        (np.array([[np.nan, 1.0], [0.5, 0.5]]), 1, ValueError, "must be finite"),
        (np.array([0.5, 0.5]), 1, ValueError, r"2-D array \(samples, classes\), got shape \(2,\)"),
        (np.zeros((0, 3)), 1, ValueError, "at least 1 samples, got 0"),
        (one_hot(np.arange(4) % 2, 2), 5, ValueError, "splits must be at most the number of samples"),
        (one_hot(np.arange(4) % 2, 2), 0, ValueError, "splits must be an integer >= 1, got 0"),
        ("abc", 1, TypeError, "array of real numbers"),
    ],
)
def test_classifier_score_refuses_bad_input(probs, splits, error, message) -> None:
    with pytest.raises(error, match=message):
        im.classifier_score(probs, splits=splits)


# --- Frechet distance ---------------------------------------------------------------------------


def test_frechet_distance_of_identical_sets_is_zero() -> None:
    x = np.random.default_rng(3).normal(size=(100, 8)) @ np.random.default_rng(4).normal(size=(8, 8))
    assert im.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    assert im.frechet_distance(torch.as_tensor(x, dtype=torch.float32), x) == pytest.approx(0.0, abs=1e-4)


def test_frechet_distance_in_one_dimension_is_the_gap_in_means_and_stds() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(1.0, 2.0, size=(80, 1)), rng.normal(-0.5, 0.7, size=(120, 1))
    expected = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert im.frechet_distance(a, b) == pytest.approx(expected, rel=1e-12)


def factorial_design(stds: list[float], mean: list[float], repeats: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every +-1 sign pattern in len(stds) dimensions (repeated), scaled: its sample covariance is exactly diagonal."""
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=len(stds))))
    signs = np.tile(signs, (repeats, 1))
    n = len(signs)
    return signs * np.array(stds) + np.array(mean), np.array(stds) ** 2 * n / (n - 1)


def test_frechet_distance_with_exactly_diagonal_sample_covariances() -> None:
    a, var_a = factorial_design([1.0, 2.0, 0.5], [0.0, 1.0, -1.0])
    b, var_b = factorial_design([3.0, 0.1, 0.5], [1.0, 1.0, 2.0], repeats=2)
    np.testing.assert_allclose(np.cov(a, rowvar=False), np.diag(var_a), atol=1e-14)
    expected = (1.0 + 0.0 + 9.0) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert im.frechet_distance(a, b) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_with_non_commuting_covariances_matches_a_general_eigen_solver() -> None:
    rng = np.random.default_rng(6)
    a = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5)) + 1.0
    b = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5))
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    assert not np.allclose(cov_a @ cov_b, cov_b @ cov_a)
    eigenvalues = np.linalg.eigvals(cov_a @ cov_b)  # real and positive in exact arithmetic
    trace_sqrt = np.sqrt(eigenvalues.real).sum()
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt
    assert im.frechet_distance(a, b) == pytest.approx(expected, rel=1e-10)
    assert im.frechet_distance(b, a) == pytest.approx(im.frechet_distance(a, b), rel=1e-12)


def test_frechet_distance_of_a_shifted_copy_is_the_squared_shift() -> None:
    a = np.random.default_rng(7).normal(size=(60, 4)) @ np.diag([1.0, 3.0, 0.2, 2.0])
    shift = np.array([0.5, -2.0, 1.0, 3.0])
    assert im.frechet_distance(a + shift, a) == pytest.approx(float(shift @ shift), rel=1e-10)


def test_frechet_distance_handles_singular_covariances() -> None:
    # more features than samples: rank-deficient covariances, still symmetric and >= 0
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(5, 20)), rng.normal(size=(7, 20))
    fd = im.frechet_distance(a, b)
    assert math.isfinite(fd) and fd > 0
    assert im.frechet_distance(b, a) == pytest.approx(fd, rel=1e-9)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((5, 3)), np.zeros((5, 4)), "same number of features, got 3 and 4"),
        (np.zeros((1, 3)), np.zeros((5, 3)), "features_a must hold at least 2 samples, got 1"),
        (np.zeros((5, 3)), np.full((5, 3), np.inf), "features_b must be finite"),
        (np.zeros(5), np.zeros((5, 1)), r"features_a must be a 2-D array"),
    ],
)
def test_frechet_distance_refuses_bad_input(a, b, message) -> None:
    with pytest.raises(ValueError, match=message):
        im.frechet_distance(a, b)


# --- class coverage -----------------------------------------------------------------------------


def test_class_histogram_from_probabilities_and_from_labels() -> None:
    labels = np.array([0, 1, 1, 3, 3, 3])
    expected = np.array([1, 2, 0, 3]) / 6
    np.testing.assert_allclose(im.class_histogram(labels, 4), expected)
    np.testing.assert_allclose(im.class_histogram(torch.as_tensor(labels), 4), expected)
    probs = 0.9 * one_hot(labels, 4) + 0.1 / 4  # the argmax is the label
    np.testing.assert_allclose(im.class_histogram(probs, 4), expected)
    assert im.class_histogram(probs, 4).sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        (np.array([0, 4]), ValueError, r"must lie in \[0, 4\), got 4 at index 1"),
        (np.array([0.0, 1.0]), TypeError, "integer class indices, got dtype float64"),
        (one_hot(np.array([0, 1]), 3), ValueError, "num_classes = 4 columns, got 3"),
        (np.zeros((2, 2, 2)), ValueError, "got 3 dimensions"),
    ],
)
def test_class_histogram_refuses_bad_input(values, error, message) -> None:
    with pytest.raises(error, match=message):
        im.class_histogram(values, 4)


def test_kl_to_uniform_runs_from_zero_to_log_k() -> None:
    assert im.kl_to_uniform(np.full(10, 0.1)) == pytest.approx(0.0, abs=1e-15)
    assert im.kl_to_uniform(one_hot(np.array([2]), 10)[0]) == pytest.approx(math.log(10), rel=1e-15)
    assert im.kl_to_uniform([0.5, 0.5, 0.0, 0.0]) == pytest.approx(math.log(2), rel=1e-12)
    with pytest.raises(ValueError, match="sums to 0.5"):
        im.kl_to_uniform([0.25, 0.25, 0.0])


def test_classes_covered_needs_a_share_of_the_uniform_share() -> None:
    # 1000 samples over K = 10: the default threshold is 0.1 * 1/10 = 1% = 10 samples
    counts = np.array([300, 200, 200, 150, 100, 29, 10, 9, 1, 1])
    histogram = counts / counts.sum()
    assert im.classes_covered(histogram) == 7  # 10 samples count (at the threshold), 9 and 1 do not
    assert im.classes_covered(histogram, min_share=0.001) == 10
    assert im.classes_covered(histogram, min_share=1.0) == 5  # at least the uniform share, 100 samples
    assert im.classes_covered(im.class_histogram(np.repeat(np.arange(10), 100), 10)) == 10
    with pytest.raises(ValueError, match="min_share must be > 0, got 0"):
        im.classes_covered(histogram, min_share=0)
    with pytest.raises(ValueError, match="1-D array"):
        im.classes_covered(histogram.reshape(2, 5))


# --- precision and recall -----------------------------------------------------------------------


def brute_force_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    def distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=-1))

    def radii(x: np.ndarray) -> np.ndarray:
        d = distances(x, x)
        np.fill_diagonal(d, np.inf)
        return np.sort(d, axis=1)[:, k - 1]

    cross = distances(fake, real)  # (fake, real)
    precision = np.mean((cross <= radii(real)[None, :]).any(axis=1))
    recall = np.mean((cross.T <= radii(fake)[None, :]).any(axis=1))
    return float(precision), float(recall)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("chunk", [7, 50, 512])
def test_precision_recall_matches_brute_force(k: int, chunk: int) -> None:
    rng = np.random.default_rng(10 + k)
    real = rng.normal(size=(50, 3))
    fake = rng.normal(0.6, 0.7, size=(40, 3))
    expected = brute_force_precision_recall(real, fake, k)
    assert 0 < expected[0] < 1 and 0 < expected[1] < 1  # a case where both can be wrong
    assert im.precision_recall(real, fake, k=k, chunk=chunk) == expected


def test_precision_recall_of_identical_and_of_far_apart_sets() -> None:
    x = np.random.default_rng(11).normal(size=(60, 4))
    assert im.precision_recall(x, x, k=3, chunk=16) == (1.0, 1.0)
    assert im.precision_recall(x, x + 100.0, k=3, chunk=16) == (0.0, 0.0)


def test_precision_recall_counts_ties_and_duplicates_as_inside() -> None:
    real = np.array([[0.0], [1.0], [2.0], [3.0]])  # k = 1: every radius is 1
    # fake radii 1, 1, 5: fake 4 sits exactly on real 3's sphere and real 3 on fake 4's
    assert im.precision_recall(real, np.array([[4.0], [5.0], [10.0]]), k=1) == (1 / 3, 1 / 4)
    assert im.precision_recall(real, np.array([[-1.0], [-2.0], [4.5], [5.5]]), k=1) == (1 / 4, 1 / 4)
    assert im.precision_recall(real, np.array([[4.01], [5.01], [10.0]]), k=1) == (0.0, 0.0)
    # duplicated points have radius 0, yet a copy of one is inside its ball, although the Gram-identity
    # distances are off by rounding (without the allowance some of these land at 0.9 to 0.98)
    for seed, (n, d) in itertools.product(range(3), [(20, 8), (30, 16), (50, 32)]):
        x = 10 + np.random.default_rng(seed).normal(size=(n, d))
        assert im.precision_recall(np.concatenate([x, x]), x, k=1) == (1.0, 1.0)
        assert im.precision_recall(x, np.concatenate([x, x]), k=1) == (1.0, 1.0)
    assert im.precision_recall(np.concatenate([x, x]), x + 1e-6, k=1) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("real", "fake", "kwargs", "error", "message"),
    [
        (np.zeros((5, 2)), np.zeros((5, 3)), {}, ValueError, "same number of features, got 2 and 3"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"k": 0}, ValueError, "k must be an integer >= 1, got 0"),
        (np.zeros((5, 2)), np.zeros((3, 2)), {"k": 3}, ValueError, r"fake samples minus one \(2\), got 3"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"chunk": 0}, ValueError, "chunk must be an integer >= 1"),
        (np.zeros((5, 2)), np.full((5, 2), np.nan), {}, ValueError, "fake_features must be finite"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"k": 1.5}, TypeError, "k must be an integer"),
    ],
)
def test_precision_recall_refuses_bad_input(real, fake, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        im.precision_recall(real, fake, **kwargs)


# --- reports ------------------------------------------------------------------------------------


def fake_classifier_outputs(n: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    features = rng.normal(size=(n, 6)) + labels[:, None] * 0.5 + shift
    return softmax(4 * one_hot(labels, 10) + rng.normal(size=(n, 10))), features


def test_image_report_gathers_every_metric() -> None:
    real_p, real_f = fake_classifier_outputs(200, 13)
    fake_p, fake_f = fake_classifier_outputs(150, 14, shift=0.3)
    report = im.image_report(real_p, real_f, fake_p, fake_f, k=3)
    assert tuple(report) == im.REPORT_KEYS
    histogram = im.class_histogram(fake_p, 10)
    assert report["classifier_score"] == im.classifier_score(fake_p)[0]
    assert report["frechet_distance"] == im.frechet_distance(real_f, fake_f)
    assert report["classes"] == im.classes_covered(histogram)
    assert report["kl_uniform"] == im.kl_to_uniform(histogram)
    assert (report["precision"], report["recall"]) == im.precision_recall(real_f, fake_f, k=3)
    with pytest.raises(ValueError, match="real_probs and real_features must describe the same samples"):
        im.image_report(real_p[:-1], real_f, fake_p, fake_f)
    with pytest.raises(ValueError, match="real_probs and fake_probs must have the same number of classes"):
        im.image_report(real_p[:, :5] / real_p[:, :5].sum(1, keepdims=True), real_f, fake_p, fake_f)


def test_random_halves_are_disjoint_and_equal() -> None:
    first, second = im.random_halves(9, seed=1)
    assert len(first) == len(second) == 4
    assert set(first).isdisjoint(second) and set(first) | set(second) <= set(range(9))
    again = im.random_halves(9, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip((first, second), again))
    assert not np.array_equal(im.random_halves(100, seed=2)[0], im.random_halves(100, seed=3)[0])


def test_real_floor_is_the_report_between_the_two_halves() -> None:
    probs, features = fake_classifier_outputs(301, 15)
    floor = im.real_floor(probs, features, k=3, seed=4)
    assert tuple(floor) == im.REPORT_KEYS and all(math.isfinite(v) for v in floor.values())
    first, second = im.random_halves(301, seed=4)
    assert floor == im.image_report(probs[first], features[first], probs[second], features[second], k=3)
    assert floor != im.real_floor(probs, features, k=3, seed=5)
    with pytest.raises(ValueError, match="at least 8 samples, got 7"):
        im.real_floor(probs[:7], features[:7], k=3)
    with pytest.raises(ValueError, match="probs and features must describe the same samples"):
        im.real_floor(probs, features[:-1])
