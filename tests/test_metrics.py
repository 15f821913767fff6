"""The 1D distances: exact formulas against brute-force integration and textbook identities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from minimax.eval import metrics


def normal_cdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    return 0.5 * (1 + np.vectorize(math.erf)((x - mean) / (std * math.sqrt(2))))


@pytest.mark.parametrize("shift", [0.0, 0.7])
def test_w1_to_normal_equals_the_integral_of_the_cdf_gap(shift: float) -> None:
    x = np.random.default_rng(0).normal(4 + shift, 1.25, 2000)
    grid = np.linspace(-4, 13, 400_001)
    empirical = np.searchsorted(np.sort(x), grid, side="right") / len(x)
    brute = np.abs(empirical - normal_cdf(grid, 4, 1.25)).sum() * (grid[1] - grid[0])
    assert metrics.wasserstein1_to_normal(x, 4, 1.25) == pytest.approx(brute, rel=1e-4)


def test_ks_to_normal_is_the_largest_cdf_gap_at_the_jumps() -> None:
    x = np.sort(np.random.default_rng(1).normal(0, 1, 500))
    cdf = normal_cdf(x, 0, 1)
    i = np.arange(1, len(x) + 1)
    assert metrics.ks_to_normal(x, 0, 1) == pytest.approx(max((i / len(x) - cdf).max(), (cdf - (i - 1) / len(x)).max()))


def test_two_sample_distances() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 300), rng.normal(0.5, 2, 300)
    # equal sizes: W1 is the mean gap between sorted samples
    assert metrics.wasserstein1_two_sample(a, b) == pytest.approx(np.abs(np.sort(a) - np.sort(b)).mean(), rel=1e-12)
    assert metrics.ks_two_sample([0.0, 1.0, 2.0], [0.5, 1.5, 2.5]) == pytest.approx(1 / 3)
    assert metrics.ks_two_sample([0.0, 1.0, 2.0], [10.0, 11.0]) == 1.0


def test_histogram_jsd_bounds() -> None:
    same = np.random.default_rng(3).normal(0, 1, 100_000)
    assert metrics.histogram_jsd_to_normal(same, 0, 1) < 1e-3
    # all mass in the right tail bin, which holds 1 - Phi(4) = 3e-5 of the normal: just below log 2
    assert metrics.histogram_jsd_to_normal(np.full(10, 100.0), 0, 1) == pytest.approx(math.log(2), rel=1e-3)


@pytest.mark.parametrize("call", [lambda: metrics.wasserstein1_to_normal([1.0, float("nan")], 0, 1),
                                  lambda: metrics.ks_to_normal([], 0, 1),
                                  lambda: metrics.ks_to_normal([1.0], 0, -1)])
def test_bad_samples_and_laws_are_refused(call) -> None:
    with pytest.raises(ValueError):
        call()
