"""One panel per kind of game, drawn on a matplotlib ``Axes``: what the envs render and the benchmarks' figures show.

* :func:`draw_histogram`: generated 1D samples over the target's density (and D(x) on a second axis);
* :func:`draw_scatter`: generated 2D points over the modes (and D's heat map);
* :func:`draw_portrait`: a two-parameter game's trajectory in the (generator, discriminator) plane, over its field;
* :func:`draw_grid`: images as one mosaic.

The functions draw and return nothing; figures, titles and files stay the caller's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Density = Callable[[np.ndarray], np.ndarray]


def histogram_range(*samples: np.ndarray, quantile: float = 0.5) -> tuple[float, float]:
    """The range that holds all but ``quantile`` percent at each end of the finite samples given."""
    values = np.concatenate([np.asarray(s, dtype=np.float64).reshape(-1) for s in samples])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return -1.0, 1.0
    lo, hi = np.percentile(values, [quantile, 100 - quantile])
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    return float(lo), float(hi)


def draw_histogram(
    ax: Any, samples: np.ndarray, density: Density | None = None, span: tuple[float, float] | None = None,
    bins: int = 80, color: str = "tab:blue", label: str | None = "generated", alpha: float = 0.65,
) -> None:  # fmt: skip
    """The finite samples as a density histogram on ``span``, the target's ``density`` over it as a black line."""
    samples = np.asarray(samples, dtype=np.float64).reshape(-1)
    finite = samples[np.isfinite(samples)]
    lo, hi = span if span is not None else histogram_range(finite)
    ax.hist(finite, bins=bins, range=(lo, hi), density=True, alpha=alpha, color=color, label=label, histtype="stepfilled")
    if density is not None:
        xs = np.linspace(lo, hi, 400)
        ax.plot(xs, density(xs), "k", lw=1.3, label="target")


def draw_discriminator(ax: Any, xs: np.ndarray, d: np.ndarray) -> Any:
    """D(x) on a second y axis in [0, 1], with the equilibrium 1/2 dotted; returns that axis."""
    twin = ax.twinx()
    twin.plot(xs, d, color="tab:orange", lw=1.2, label="D(x)")
    twin.axhline(0.5, color="tab:orange", lw=0.8, ls=":")
    twin.set_ylim(0, 1)
    twin.set_ylabel("D(x)", color="tab:orange")
    return twin


def draw_scatter(
    ax: Any, samples: np.ndarray, centers: np.ndarray | None = None, span: float | None = None,
    heat: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None, target: np.ndarray | None = None,
) -> None:  # fmt: skip
    """Generated points (blue) over the modes (red circles) or target samples (grey), on D's heat map if given
    (``(xx, yy, D)``: white where D = 0, black where D = 1)."""
    samples = np.asarray(samples, dtype=np.float64)
    finite = samples[np.isfinite(samples).all(1)]
    if span is None:
        reference = [finite] + [np.asarray(c) for c in (centers, target) if c is not None]
        span = float(np.abs(np.concatenate(reference)).max()) * 1.15 if any(len(r) for r in reference) else 1.0
    if heat is not None:
        xx, yy, d = heat
        ax.pcolormesh(xx, yy, d, cmap="Greys", vmin=0, vmax=1, shading="auto", alpha=0.45, rasterized=True)
    if target is not None:
        ax.scatter(target[:, 0], target[:, 1], s=1.5, alpha=0.25, color="0.4", rasterized=True)
    if centers is not None:
        ax.scatter(centers[:, 0], centers[:, 1], s=40, facecolors="none", edgecolors="tab:red", lw=1, zorder=3)
    ax.scatter(finite[:, 0], finite[:, 1], s=1.5, alpha=0.35, color="tab:blue", rasterized=True)
    ax.set(xlim=(-span, span), ylim=(-span, span), aspect="equal")


def dirac_field(extent: float = 2.0, points: int = 17, family: str = "minimax") -> tuple[np.ndarray, ...]:
    """Dirac-GAN's field on a grid: ``(theta, psi, u, v)`` for ``quiver``, where the generator descends its loss
    (u = -dL_G/dtheta) and the discriminator ascends V (v = dV/dpsi), with D(x) = sigmoid(psi x) and data at 0.

    ``minimax``: u = psi s, v = -theta s with s = sigmoid(psi theta); ``non-saturating``: u = psi (1 - s), same v;
    ``wasserstein`` (critic psi x): u = psi, v = -theta.
    """
    grid = np.linspace(-extent, extent, points)
    theta, psi = np.meshgrid(grid, grid)
    s = 1 / (1 + np.exp(-psi * theta))
    if family == "minimax":
        return theta, psi, psi * s, -theta * s
    if family == "non-saturating":
        return theta, psi, psi * (1 - s), -theta * s
    if family == "wasserstein":
        return theta, psi, psi, -theta
    raise ValueError(f"family must be 'minimax', 'non-saturating' or 'wasserstein', got {family!r}")


def draw_portrait(
    ax: Any, trajectory: np.ndarray, field: tuple[np.ndarray, ...] | None = None, extent: float | None = None,
    equilibrium: tuple[float, float] | None = (0.0, 0.0), label: str | None = None,
) -> None:  # fmt: skip
    """A trajectory ``(T, 2)`` of (generator, discriminator) parameters: start (black), now (blue), field in grey."""
    trajectory = np.asarray(trajectory, dtype=np.float64).reshape(-1, 2)
    finite = trajectory[np.isfinite(trajectory).all(1)]
    if field is not None:
        ax.quiver(*field, color="0.75", angles="xy")
    if len(finite):
        ax.plot(finite[:, 0], finite[:, 1], lw=1.2, color="tab:blue", label=label)
        ax.plot([finite[0, 0]], [finite[0, 1]], "ko", ms=4)
        ax.plot([finite[-1, 0]], [finite[-1, 1]], "o", color="tab:blue", ms=5)
    if equilibrium is not None:
        ax.plot([equilibrium[0]], [equilibrium[1]], "r*", ms=9)
    if extent is None:
        extent = max(2.0, 1.1 * float(np.abs(finite).max())) if len(finite) else 2.0
    ax.set(xlim=(-extent, extent), ylim=(-extent, extent), xlabel="θ (generator)", ylabel="ψ (discriminator)")


def mosaic(images: np.ndarray, columns: int | None = None, pad: int = 1) -> np.ndarray:
    """Images ``(n, H, W)`` or ``(n, C, H, W)`` in [-1, 1] as one ``(rows*(H+2p), cols*(W+2p)[, 3])`` array in [0, 1].

    One channel is grey; three are RGB; other channel counts show their first channel.
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"images must be (n, H, W) or (n, C, H, W), got shape {x.shape}")
    x = x if x.shape[1] in (1, 3) else x[:, :1]
    n, c, h, w = x.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    x = np.clip(0.5 * (np.nan_to_num(x, nan=-1.0) + 1.0), 0.0, 1.0)
    tiles = np.zeros((rows * columns, c, h + 2 * pad, w + 2 * pad))
    tiles[:n, :, pad : pad + h, pad : pad + w] = x
    tiles = tiles.reshape(rows, columns, c, h + 2 * pad, w + 2 * pad).transpose(0, 3, 1, 4, 2)
    out = tiles.reshape(rows * (h + 2 * pad), columns * (w + 2 * pad), c)
    return out[..., 0] if c == 1 else out


def draw_grid(ax: Any, images: np.ndarray, columns: int | None = None) -> None:
    """Images in [-1, 1] as one mosaic, axes off."""
    picture = mosaic(images, columns)
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
