"""Distances between a 1D sample and a target law (exact where the target is a normal).

All functions take 1-D arrays (numpy or torch) and compute in float64.
``wasserstein1_to_normal`` and ``ks_to_normal`` are exact against the analytic
CDF; the ``*_two_sample`` versions compare two empirical samples.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from minimax.utils.checks import check_float

LOG4 = math.log(4.0)


def _sorted64(x: object, minimum: int = 1) -> torch.Tensor:
    """The sample as a sorted float64 tensor; empty or non-finite samples are refused."""
    t = torch.as_tensor(np.asarray(x, dtype=np.float64) if not isinstance(x, torch.Tensor) else x)
    t = t.detach().to("cpu", torch.float64).reshape(-1)
    if t.numel() < minimum:
        raise ValueError(f"sample must hold at least {minimum} value(s), got {t.numel()}")
    bad = int((~torch.isfinite(t)).sum())
    if bad:
        raise ValueError(f"sample must be finite; {bad} of {t.numel()} values are not")
    return torch.sort(t).values


def _check_normal(mean: float, std: float) -> None:
    check_float("mean", mean)
    check_float("std", std, positive=True)


def wasserstein1_to_normal(samples: object, mean: float, std: float) -> float:
    """Exact W1 between the empirical law of ``samples`` and N(mean, std^2).

    W1 = int_0^1 |F_n^{-1}(u) - F^{-1}(u)| du, integrated in closed form on each
    quantile cell ((i-1)/n, i/n], split where the normal quantile crosses x_(i).
    With Q(u) = mean + std * ndtri(u), int_0^u Q = mean*u - std*phi(ndtri(u)).
    """
    _check_normal(mean, std)
    x = _sorted64(samples)
    n = x.numel()
    edges = torch.arange(n + 1, dtype=torch.float64) / n
    a, b = edges[:-1], edges[1:]

    def antiderivative(u: torch.Tensor) -> torch.Tensor:
        z = torch.special.ndtri(u)
        phi = torch.where(torch.isfinite(z), torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi), torch.zeros_like(z))
        return mean * u - std * phi

    u_star = torch.clamp(torch.special.ndtr((x - mean) / std), a, b)
    ha, hb, hs = antiderivative(a), antiderivative(b), antiderivative(u_star)
    below = x * (u_star - a) - (hs - ha)  # Q < x on (a, u*)
    above = (hb - hs) - x * (b - u_star)  # Q > x on (u*, b)
    return float((below + above).sum())


def ks_to_normal(samples: object, mean: float, std: float) -> float:
    """Exact Kolmogorov-Smirnov statistic sup |F_n - F| against N(mean, std^2)."""
    _check_normal(mean, std)
    x = _sorted64(samples)
    n = x.numel()
    cdf = torch.special.ndtr((x - mean) / std)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(torch.maximum(i / n - cdf, cdf - (i - 1) / n).max())


def wasserstein1_two_sample(a: object, b: object) -> float:
    """W1 between two empirical laws: the integral of |F_a - F_b| over the merged support."""
    xa, xb = _sorted64(a), _sorted64(b)
    grid = torch.sort(torch.cat([xa, xb])).values
    fa = torch.searchsorted(xa, grid[:-1], right=True).to(torch.float64) / xa.numel()
    fb = torch.searchsorted(xb, grid[:-1], right=True).to(torch.float64) / xb.numel()
    return float((torch.abs(fa - fb) * torch.diff(grid)).sum())


def ks_two_sample(a: object, b: object) -> float:
    """Two-sample Kolmogorov-Smirnov statistic sup |F_a - F_b|."""
    xa, xb = _sorted64(a), _sorted64(b)
    grid = torch.cat([xa, xb])
    fa = torch.searchsorted(xa, grid, right=True).to(torch.float64) / xa.numel()
    fb = torch.searchsorted(xb, grid, right=True).to(torch.float64) / xb.numel()
    return float(torch.abs(fa - fb).max())


def histogram_jsd_to_normal(samples: object, mean: float, std: float, bins: int = 50, width: float = 4.0) -> float:
    """Jensen-Shannon divergence (nats, at most log 2) between the sample's histogram and the normal's.

    Bins cover mean +- width*std, plus one bin for each tail so no mass is dropped.
    """
    _check_normal(mean, std)
    x = _sorted64(samples)
    inner = torch.linspace(mean - width * std, mean + width * std, bins + 1, dtype=torch.float64)
    edges = torch.cat([torch.tensor([-math.inf]), inner, torch.tensor([math.inf])]).to(torch.float64)
    return _jsd(_bin_masses(x, edges), torch.diff(torch.special.ndtr((edges - mean) / std)))


def histogram_jsd_two_sample(a: object, b: object, bins: int = 50, width: float = 4.0) -> float:
    """Histogram JSD (nats) between two samples, bins over b's mean +- width * b's std plus two tail bins."""
    xa, xb = _sorted64(a), _sorted64(b, minimum=2)
    center, spread = float(xb.mean()), float(xb.std())
    inner = torch.linspace(center - width * spread, center + width * spread, bins + 1, dtype=torch.float64)
    edges = torch.cat([torch.tensor([-math.inf]), inner, torch.tensor([math.inf])]).to(torch.float64)
    return _jsd(_bin_masses(xa, edges), _bin_masses(xb, edges))


def _bin_masses(x: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Fraction of the sorted sample x in each bin [edges[i], edges[i+1])."""
    counts = torch.diff(torch.searchsorted(x, edges, right=False).to(torch.float64))
    return counts / x.numel()


def _jsd(p: torch.Tensor, q: torch.Tensor) -> float:
    m = 0.5 * (p + q)

    def kl(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        mask = u > 0
        return (u[mask] * torch.log(u[mask] / v[mask])).sum()

    return float(0.5 * kl(p, m) + 0.5 * kl(q, m))


def normal_report(samples: object, mean: float, std: float) -> dict[str, float]:
    """Every 1D distance of a sample to N(mean, std^2), in one dict."""
    x = _sorted64(samples, minimum=2)
    return {
        "w1": wasserstein1_to_normal(x, mean, std),
        "ks": ks_to_normal(x, mean, std),
        "mean_error": abs(float(x.mean()) - mean),
        "std_error": abs(float(x.std()) - std),
        "hist_jsd": histogram_jsd_to_normal(x, mean, std),
    }


def two_sample_report(samples: object, reference: object) -> dict[str, float]:
    """Every 1D distance of a sample to a reference sample (a target known only through samples)."""
    x, r = _sorted64(samples, minimum=2), _sorted64(reference, minimum=2)
    return {
        "w1": wasserstein1_two_sample(x, r),
        "ks": ks_two_sample(x, r),
        "mean_error": abs(float(x.mean()) - float(r.mean())),
        "std_error": abs(float(x.std()) - float(r.std())),
        "hist_jsd": histogram_jsd_two_sample(x, r),
    }


def distances(samples: object, mean: float, std: float, reference: object | None = None) -> dict[str, float]:
    """Exact distances to N(mean, std^2), or two-sample ones when a ``reference`` sample is the target."""
    return normal_report(samples, mean, std) if reference is None else two_sample_report(samples, reference)
