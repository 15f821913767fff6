"""Leading eigenvalues of a game's linear maps without building them: Arnoldi on matrix-vector products.

Why: :func:`minimax.eval.analysis.update_operator` and :meth:`JointField.jacobian` build D x D
matrices (D cycles of the game, or D backward passes), which a neural game's D (thousands to
millions of parameters) puts out of reach. Whether a point is locally stable needs only the few
eigenvalues of largest modulus, and Arnoldi's method finds them from a few dozen products: a
Jacobian-vector product of the field, or a finite difference of one schedule cycle.

* :func:`arnoldi`: the eigenvalues of largest modulus of any ``matvec`` on R^D, with each Ritz
  pair's residual, so a caller can tell a converged estimate from a guess.
* :func:`jacobian_spectrum`: the game Jacobian's (``J = d xi / d theta``), by JVPs.
* :func:`update_operator_spectrum`: one schedule cycle's, the same linearisation as the dense
  :func:`~minimax.eval.analysis.update_operator` (same warm-up, rewound streams, epsilon);
  :func:`cycle_spectrum` the same at any point of a run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from minimax.core.players import PLAYERS
from minimax.utils.memory import check_fits

MatVec = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Spectrum:
    """The leading eigenvalues found, largest modulus first, and how far each is from exact."""

    values: torch.Tensor  # complex128, (k,)
    residuals: torch.Tensor  # float64, (k,): ||A x - lambda x|| for the unit Ritz vector x
    products: int  # matrix-vector products spent
    converged: bool  # every residual below tol * max(1, |lambda|), or the Krylov space became invariant

    @property
    def radius(self) -> float:
        """The spectral radius estimate: the largest modulus found."""
        return float(self.values.abs().max())


def arnoldi(
    matvec: MatVec,
    dim: int,
    k: int = 6,
    *,
    max_products: int = 120,
    tol: float = 1e-9,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> Spectrum:
    """The ``k`` eigenvalues of largest modulus of the linear map ``matvec`` on R^dim.

    Arnoldi's method with classical Gram-Schmidt applied twice (orthogonal to rounding),
    stopped when the ``k`` leading Ritz pairs have residuals below ``tol * max(1, |lambda|)``,
    when the Krylov space is invariant (then the values are exact), or after ``max_products``
    products (``converged`` False). The start vector is Gaussian from ``seed``.
    """
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
    if not isinstance(k, int) or not 1 <= k <= dim:
        raise ValueError(f"k must be an integer in [1, dim={dim}], got {k!r}")
    if not isinstance(max_products, int) or max_products < k:
        raise ValueError(f"max_products must be an integer >= k={k}, got {max_products!r}")
    steps = min(max_products, dim)
    check_fits(f"Arnoldi's {steps + 1} basis vectors of size {dim}", (steps + 1) * dim * torch.finfo(dtype).bits // 8, device)
    basis = torch.zeros(steps + 1, dim, dtype=dtype, device=device)
    hessenberg = torch.zeros(steps + 1, steps, dtype=torch.float64)
    start = torch.randn(dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    basis[0] = (start / start.norm()).to(dtype=dtype, device=device)
    values = residuals = None
    m = 0
    for j in range(steps):
        w = matvec(basis[j]).to(dtype=dtype, device=device).reshape(dim)
        if not torch.isfinite(w).all():
            raise ValueError(f"matvec returned non-finite values at product {j + 1}: the map is not finite here")
        for _ in range(2):  # CGS2: a second pass removes what rounding left of the first
            coefficients = basis[: j + 1] @ w
            w = w - coefficients @ basis[: j + 1]
            hessenberg[: j + 1, j] += coefficients.double().cpu()
        beta = float(w.norm())
        hessenberg[j + 1, j] = beta
        m = j + 1
        scale = float(hessenberg[: m + 1, :m].abs().max()) or 1.0
        invariant = beta <= 1e-13 * scale
        if m >= k and (invariant or m == steps or m % 2 == 0):
            values, residuals = _ritz(hessenberg[:m, :m], beta, k)
            if invariant or bool((residuals <= tol * values.abs().clamp(min=1.0)).all()):
                return Spectrum(values, residuals, m, True)
        if invariant:
            break
        if j + 1 < steps:
            basis[j + 1] = w / beta
    values, residuals = _ritz(hessenberg[:m, :m], float(hessenberg[m, m - 1]), k)
    invariant = m == dim
    return Spectrum(values, residuals, m, invariant or bool((residuals <= tol * values.abs().clamp(min=1.0)).all()))


def _ritz(hessenberg: torch.Tensor, beta: float, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k Ritz values of largest modulus and their residuals beta * |last entry of the unit eigenvector|."""
    values, vectors = torch.linalg.eig(hessenberg)
    order = torch.argsort(values.abs(), descending=True, stable=True)[:k]
    vectors = vectors[:, order] / torch.linalg.vector_norm(vectors[:, order], dim=0)
    return values[order], (beta * vectors[-1].abs()).double()


def jacobian_spectrum(field: Any, k: int = 6, **options: Any) -> Spectrum:
    """The leading eigenvalues of one game's Jacobian ``J = d xi / d theta`` (discriminator, then generator).

    ``field`` is a squeezed :class:`minimax.core.field.JointField` (one game, ``squeeze=True``); each
    product is one :meth:`~minimax.core.field.JointField.jvp`. ``options`` go to :func:`arnoldi`.
    """
    if not getattr(field, "squeeze", False):
        raise ValueError("jacobian_spectrum needs one game's field: JointField(game, batch, squeeze=True)")
    current = field.current()
    sizes = [current[p].numel() for p in PLAYERS]
    dtype = current[PLAYERS[0]].dtype

    def matvec(vector: torch.Tensor) -> torch.Tensor:
        parts = dict(zip(PLAYERS, vector.to(dtype).split(sizes)))
        product = field.jvp(parts)
        return torch.cat([product[p].reshape(-1) for p in PLAYERS]).double()

    options.setdefault("dtype", torch.float64)
    return arnoldi(matvec, sum(sizes), k, **options)


def update_operator_spectrum(
    make_env: Callable[[], Any], rules: Any, k: int = 6, *, warmup: int = 2, seed: int = 0, epsilon: float = 1e-6,
    **options: Any,
) -> Spectrum:  # fmt: skip
    """The leading eigenvalues of one schedule cycle's map on the state (parameters, then the rules' buffers).

    The matrix-free twin of :func:`minimax.eval.analysis.update_operator`: the same state, warm-up,
    rewinding and finite difference (``(F(s + epsilon v) - F(s)) / epsilon`` for a unit ``v``),
    without forming the D columns. ``options`` go to :func:`arnoldi`.
    """
    from minimax.eval.analysis import CycleMap

    cycle = CycleMap(make_env, rules, warmup=warmup, seed=seed)
    try:
        return cycle_spectrum(cycle, k, epsilon=epsilon, **options)
    finally:
        cycle.rewind()


def cycle_spectrum(cycle: Any, k: int = 6, *, epsilon: float = 1e-6, **options: Any) -> Spectrum:
    """The leading eigenvalues of one cycle's map at a :class:`~minimax.eval.analysis.CycleMap`'s kept point
    (which may have been moved along the run with ``advance``), by finite-difference products."""
    origin = cycle.image(cycle.state)

    def matvec(vector: torch.Tensor) -> torch.Tensor:
        return (cycle.image(cycle.state + epsilon * vector.double()) - origin) / epsilon

    return arnoldi(matvec, cycle.state.numel(), k, **options)
