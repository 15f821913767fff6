"""Matrix-free spectra (Arnoldi on products) against the dense matrices they avoid building."""

from __future__ import annotations

import numpy as np
import pettingzoo
import pytest
import torch

import agents
import minimax
from minimax.core.field import JointField
from minimax.eval.analysis import spectral_radius, update_operator
from minimax.eval.spectra import arnoldi, jacobian_spectrum, update_operator_spectrum


def leading(matrix: torch.Tensor, k: int) -> np.ndarray:
    values = torch.linalg.eigvals(matrix.double())
    return values[torch.argsort(values.abs(), descending=True, stable=True)[:k]].numpy()


def assert_same_values(found: torch.Tensor, expected: np.ndarray, atol: float) -> None:
    """Equal as multisets (conjugate pairs may come in either order)."""
    got = sorted(found.numpy().tolist(), key=lambda z: (round(abs(z), 6), z.imag))
    want = sorted(expected.tolist(), key=lambda z: (round(abs(z), 6), z.imag))
    np.testing.assert_allclose(np.array(got), np.array(want), atol=atol)


def separated_matrix(dim: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """A non-normal matrix with known leading eigenvalues 5, 4 +- 1i, 3 and the rest inside the unit disc."""
    g = torch.Generator().manual_seed(seed)
    blocks = [torch.tensor([[5.0]]), torch.tensor([[4.0, 1.0], [-1.0, 4.0]]), torch.tensor([[3.0]])]
    rest = dim - 4
    blocks.append(0.9 * torch.linalg.qr(torch.randn(rest, rest, generator=g, dtype=torch.float64))[0])
    core = torch.block_diag(*[b.double() for b in blocks])
    basis = torch.eye(dim, dtype=torch.float64) + 0.3 * torch.randn(dim, dim, generator=g, dtype=torch.float64) / dim**0.5
    return basis @ core @ torch.linalg.inv(basis), np.array([5, 4 + 1j, 4 - 1j, 3])


def test_arnoldi_finds_the_leading_eigenvalues_in_far_fewer_products_than_the_dimension() -> None:
    matrix, expected = separated_matrix(300)
    spectrum = arnoldi(lambda v: matrix @ v, 300, k=4, tol=1e-10)
    assert spectrum.converged and spectrum.products < 100
    assert_same_values(spectrum.values, expected, atol=1e-8)
    assert spectrum.radius == pytest.approx(5.0, abs=1e-9)
    for value, residual in zip(spectrum.values, spectrum.residuals):  # the residuals it reports are true ones
        assert float(residual) <= 1e-10 * max(1.0, abs(complex(value)))


def test_arnoldi_says_when_it_has_not_converged_and_checks_its_input() -> None:
    matrix, _ = separated_matrix(300)
    spectrum = arnoldi(lambda v: matrix @ v, 300, k=4, max_products=5)
    assert not spectrum.converged and spectrum.products == 5
    with pytest.raises(ValueError, match="k must be an integer in \\[1, dim=3\\], got 4"):
        arnoldi(lambda v: v, 3, k=4)
    with pytest.raises(ValueError, match="non-finite values at product 1"):
        arnoldi(lambda v: v * float("nan"), 10, k=2)


def test_a_small_space_is_solved_exactly() -> None:
    matrix = torch.tensor([[0.0, 2.0], [-2.0, 0.0]], dtype=torch.float64)
    spectrum = arnoldi(lambda v: matrix @ v, 2, k=2)
    assert spectrum.converged
    assert_same_values(spectrum.values, np.array([2j, -2j]), atol=1e-12)


def bilinear_env(a: torch.Tensor, schedule: str = "simultaneous"):
    n = a.shape[0]
    kind = "parallel" if schedule == "simultaneous" else "aec"
    options = {} if kind == "parallel" else {"schedule": schedule}
    return lambda: pettingzoo.make(kind, "minimax/Bilinear-v0", view="torch", A=a.tolist(), x0=[0.3] * n, y0=[-0.2] * n,
                                   dtype="float64", **options)  # fmt: skip


def coupling(n: int, seed: int = 0) -> torch.Tensor:
    """A = U diag(sigma) V^T with well-separated leading singular values."""
    g = torch.Generator().manual_seed(seed)
    u = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]
    v = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]
    sigma = torch.cat([torch.tensor([3.0, 2.0, 1.5], dtype=torch.float64), 0.5 * torch.rand(n - 3, generator=g, dtype=torch.float64)])
    return u @ torch.diag(sigma) @ v.T


@pytest.mark.parametrize("schedule, rule", [("simultaneous", ("sgd", {"lr": 0.1})),
                                            ("alternating", ("momentum", {"lr": 0.1, "momentum": -0.4}))])
def test_update_operator_spectrum_equals_the_dense_operators_leading_eigenvalues(schedule, rule) -> None:
    a = coupling(24)
    make = bilinear_env(a, schedule)
    rules = lambda: {p: agents.make(rule[0], **rule[1]) for p in minimax.PLAYERS}  # noqa: E731
    dense = update_operator(make, rules())
    spectrum = update_operator_spectrum(make, rules(), k=4, tol=1e-9)
    assert spectrum.converged and spectrum.products < dense.shape[0]
    assert_same_values(spectrum.values, leading(dense, 4), atol=1e-6)
    assert spectrum.radius == pytest.approx(spectral_radius(dense), abs=1e-6)


def test_jacobian_spectrum_of_a_neural_game_equals_the_dense_jacobians() -> None:
    env = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", hidden=6, batch_size=128, dtype="float64")
    env.reset(seed=0)
    field = JointField(env.game, env.game.sample(), squeeze=True)
    dense = field.jacobian()
    spectrum = jacobian_spectrum(field, k=3, tol=1e-10)
    assert spectrum.converged
    assert_same_values(spectrum.values, leading(dense, 3), atol=1e-8)
    with pytest.raises(ValueError, match="squeeze=True"):
        jacobian_spectrum(JointField(env.game, env.game.sample()))


def test_update_operator_spectrum_leaves_the_game_where_it_was() -> None:
    make = bilinear_env(coupling(6))
    rules = {p: agents.make("sgd", lr=0.1) for p in minimax.PLAYERS}
    update_operator_spectrum(make, rules, k=2)
    dense_after = update_operator(make, rules)  # the rules' states were put back: the same operator again
    torch.testing.assert_close(dense_after, update_operator(make, {p: agents.make("sgd", lr=0.1) for p in minimax.PLAYERS}))


def test_the_spectra_benchmark_writes_its_table_and_figure(tmp_path) -> None:
    from benchmarks import spectra

    result = spectra.main(["--tasks", "ring8", "--rules", "SGD 0.05, alternating", "--checkpoints", "2", "6",
                           "--cycles", "6", "--products", "12", "--k", "2", "--out", str(tmp_path), "--no-progress"])
    rows = result["rows"]
    assert [r["iteration"] for r in rows] == [2, 6] and all(not r["diverged"] for r in rows)
    assert all(r["products"] <= 12 and r["dimension"] > 1000 and r["observed_rate"] > 0 for r in rows)
    assert rows[0]["radius"] != rows[1]["radius"]  # measured at two different points of the run
    for name in ("results.md", "results.json", "spectra.png"):
        assert (tmp_path / name).stat().st_size > 0
