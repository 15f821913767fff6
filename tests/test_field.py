"""The joint field, its Jacobian and the analytic games, against closed forms (../shared/ANCHORS.md)."""

from __future__ import annotations

import math

import numpy as np
import pettingzoo
import pytest
import torch

import agents
import minimax
from minimax.eval.analysis import (CONVERGED, CYCLES, DIVERGES, best_response_gap, predicted_verdict, spectral_radius,
                              update_operator, verdict, winding)  # fmt: skip
from minimax.core.field import eigenvalues, split

F0 = 0.5  # f'(0) for f(t) = log sigmoid(t)


def dirac(loss: str = "minimax", kind: str = "parallel", **kwargs):
    return pettingzoo.make(kind, "minimax/DiracGAN-v0", view="torch", loss=loss, dtype="float64", **kwargs)


def field_at(env, seed: int = 0):
    env.reset(seed=seed)
    return env.field()


def assert_spectrum(matrix: torch.Tensor, expected: list[complex]) -> None:
    got = sorted(eigenvalues(matrix).tolist(), key=lambda z: (round(z.real, 9), z.imag))
    want = sorted(expected, key=lambda z: (round(z.real, 9), z.imag))
    np.testing.assert_allclose(np.array(got), np.array(want), atol=1e-12)


def test_dirac_gan_jacobian_eigenvalues_are_plus_minus_i_f_prime_zero() -> None:
    """ANCHORS, Dirac-GAN: eigenvalues +-f'(0) i at (0, 0) (ours are the negatives of the paper's field: same set)."""
    for loss in ("minimax", "non-saturating"):
        J = field_at(dirac(loss, theta=0.0, psi=0.0)).jacobian()
        assert_spectrum(J, [complex(0, -F0), complex(0, F0)])
        S, A = split(J)
        assert float(S.abs().max()) == 0.0 and torch.equal(A, J)  # a pure rotation


@pytest.mark.parametrize("gamma", [0.3, 1.0, 2.0])
def test_r1_moves_the_eigenvalues_into_the_stable_half_plane(gamma: float) -> None:
    """ANCHORS: R1 (gamma/2) psi^2 gives -gamma/2 +- sqrt(gamma^2/4 - f'(0)^2) in the paper's sign, so +gamma/2 here."""
    J = field_at(dirac(f"minimax:r1={gamma}", theta=0.0, psi=0.0)).jacobian()
    root = complex(gamma**2 / 4 - F0**2) ** 0.5
    assert_spectrum(J, [gamma / 2 + root, gamma / 2 - root])


def test_jvp_vjp_and_hamiltonian_agree_with_the_matrix_away_from_equilibrium() -> None:
    field = field_at(dirac("non-saturating:r1=0.5", theta=0.7, psi=-1.3))
    J = field.jacobian()
    v = {"discriminator": torch.tensor([0.3], dtype=torch.float64), "generator": torch.tensor([-2.0], dtype=torch.float64)}
    flat_v = torch.cat([v["discriminator"], v["generator"]])
    jv, jtv = field.jvp(v), field.vjp(v)
    torch.testing.assert_close(torch.cat([jv["discriminator"], jv["generator"]]), J @ flat_v)
    torch.testing.assert_close(torch.cat([jtv["discriminator"], jtv["generator"]]), J.T @ flat_v)
    xi = field()
    assert float(field.hamiltonian()) == pytest.approx(0.5 * sum(float(x.pow(2).sum()) for x in xi.values()))
    # xi by hand: L_D = -log s(0) - log s(-psi theta) (+ r1/2 psi^2), L_G = -log s(psi theta)
    theta, psi, s = 0.7, -1.3, lambda t: 1 / (1 + math.exp(-t))
    assert float(xi["discriminator"]) == pytest.approx(theta * s(psi * theta) + 0.5 * psi)
    assert float(xi["generator"]) == pytest.approx(-psi * (1 - s(psi * theta)))


def test_bilinear_field_and_jacobian() -> None:
    A = [[1.0, 2.0], [0.0, 1.0]]
    env = pettingzoo.make("parallel", "minimax/Bilinear-v0", view="torch", A=A, x0=[1.0, -1.0], y0=[0.5, 2.0], dtype="float64")
    field = field_at(env)
    a = torch.tensor(A, dtype=torch.float64)
    x, y = torch.tensor([1.0, -1.0], dtype=torch.float64), torch.tensor([0.5, 2.0], dtype=torch.float64)
    xi = field()
    torch.testing.assert_close(xi["generator"], a @ y)  # grad_x f
    torch.testing.assert_close(xi["discriminator"], -a.T @ x)  # grad_y (-f)
    zero = torch.zeros(2, 2, dtype=torch.float64)
    torch.testing.assert_close(field.jacobian(), torch.cat([torch.cat([zero, -a.T], 1), torch.cat([a, zero], 1)]))
    assert float(field.losses()["generator"]) == pytest.approx(float(x @ a @ y))


def sgd_pair(lr: float, momentum: float = 0.0) -> dict:
    name, options = ("sgd", {"lr": lr}) if momentum == 0 else ("momentum", {"lr": lr, "momentum": momentum})
    return {p: agents.make(name, **options) for p in minimax.PLAYERS}


def bilinear(kind: str = "parallel", **kwargs):
    return lambda: pettingzoo.make(kind, "minimax/Bilinear-v0", view="torch", A=1.0, x0=2.0, y0=0.5, dtype="float64", **kwargs)


def test_update_operator_predicts_the_bilinear_anchors() -> None:
    """ANCHORS, Gidel et al. 2019 on min_x max_y xy: simultaneous diverges for every momentum, alternating GD
    cycles, alternating positive momentum diverges, small negative momentum converges."""
    h = 0.2
    sim = update_operator(bilinear(), sgd_pair(h))
    torch.testing.assert_close(sim, torch.tensor([[1.0, h], [-h, 1.0]], dtype=torch.float64))  # y += h x, x -= h y
    assert spectral_radius(sim) == pytest.approx(math.sqrt(1 + h**2))
    for beta in (-0.5, 0.0, 0.5):
        assert predicted_verdict(spectral_radius(update_operator(bilinear(), sgd_pair(h, beta)))) == DIVERGES
    alternating = lambda: bilinear("aec", schedule="alternating")()  # noqa: E731
    assert predicted_verdict(spectral_radius(update_operator(alternating, sgd_pair(h)))) == CYCLES
    assert predicted_verdict(spectral_radius(update_operator(alternating, sgd_pair(h, 0.5)))) == DIVERGES
    assert predicted_verdict(spectral_radius(update_operator(alternating, sgd_pair(h, -0.5)))) == CONVERGED


def test_prediction_matches_the_observed_run() -> None:
    """Predicted radius^t against the observed distance on alternating negative momentum."""
    make = lambda: bilinear("aec", schedule="alternating")()  # noqa: E731
    rules = sgd_pair(0.2, -0.5)
    radius = spectral_radius(update_operator(make, rules))
    env = make()
    distances = []
    history = minimax.train(env, rules, 2000, seed=0, progress=False, callback_every=1,
                            callbacks=[lambda i, e, h: distances.append(float(e.game.distance_to(
                                {p: torch.zeros(1) for p in minimax.PLAYERS})))])  # fmt: skip
    assert history.iterations == 2000 and verdict(np.array(distances)) == CONVERGED
    observed = (distances[-1] / distances[999]) ** (1 / 1000)
    assert observed == pytest.approx(radius, abs=2e-3)


def test_dirac_gan_runs_simultaneous_spirals_out_alternating_cycles_r1_converges() -> None:
    """ANCHORS, Dirac-GAN notebook: h = 0.2, start (1, 1), 500 steps."""
    def run(env, rules, steps=500):
        points = []
        minimax.train(env, rules, steps, seed=0, progress=False, callback_every=1,
                      callbacks=[lambda i, e, h: points.append([float(e.game.parameters("generator")),
                                                                 float(e.game.parameters("discriminator"))])])  # fmt: skip
        points = np.array([[1.0, 1.0], *points])
        return verdict(np.linalg.norm(points, axis=1)), winding(points)

    sim, turns = run(dirac(), sgd_pair(0.2))
    assert sim != CONVERGED and abs(turns) > 1  # rotates and does not converge (it diverges slowly)
    alt, turns = run(dirac(kind="aec", schedule="alternating"), sgd_pair(0.2))
    assert alt == CYCLES and abs(turns) > 1
    r1, _ = run(dirac("minimax:r1=1"), sgd_pair(0.2))
    assert r1 == CONVERGED


def test_verdict_and_winding() -> None:
    t = np.arange(200)
    assert verdict(0.95**t) == CONVERGED and verdict(1.03**t) == DIVERGES and verdict(1 + 0.1 * np.sin(t)) == CYCLES
    assert verdict(np.array([1.0, np.nan])) == DIVERGES
    circle = np.stack([np.cos(t / 10), np.sin(t / 10)], 1)
    assert winding(circle) == pytest.approx(199 / 10 / (2 * math.pi))
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        winding(np.zeros((3, 3)))


def test_joint_field_is_refused_in_the_aec_env_and_payoff_games_refuse_bad_input() -> None:
    env = dirac(kind="aec")
    env.reset(seed=0)
    with pytest.raises(TypeError, match="Parallel env"):
        env.field()
    with pytest.raises(ValueError, match="x0 must have 2 entries"):
        pettingzoo.make("parallel", "minimax/Bilinear-v0", view="torch", A=[[1, 0], [0, 1]], x0=1.0, y0=[1.0, 1.0])
    with pytest.raises(TypeError, match="payoff game takes no"):
        pettingzoo.make("parallel", "minimax/Bilinear-v0", view="torch", loss="minimax")
    with pytest.raises(ValueError, match="theta"):
        minimax.DiracGAN(theta=float("nan"))


def test_best_response_gap_is_large_for_a_fresh_discriminator_and_leaves_the_game_alone() -> None:
    env = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", hidden=8, batch_size=64)
    env.reset(seed=0)
    before = {p: env.game.parameters(p).clone() for p in minimax.PLAYERS}
    state = env.game.noise_rngs[0].get_state()
    gap = best_response_gap(env.game, steps=200, lr=1e-2)
    assert gap["gap"] > 0.1  # an untrained D against an untrained G has much to gain
    assert all(torch.equal(before[p], env.game.parameters(p)) for p in minimax.PLAYERS)
    assert torch.equal(state, env.game.noise_rngs[0].get_state())


def test_saddle_gradient_noise_is_seeded() -> None:
    def grads(seed):
        env = pettingzoo.make("parallel", "minimax/Saddle-v0", view="torch", gradient_noise=1.0, dtype="float64")
        obs, _ = env.reset(seed=seed)
        return obs["generator"]["gradient"].clone()

    assert torch.equal(grads(1), grads(1)) and not torch.equal(grads(1), grads(2))
    env = pettingzoo.make("parallel", "minimax/Saddle-v0", view="torch", dtype="float64", x0=0.5, y0=2.0)
    obs, _ = env.reset(seed=0)
    assert float(obs["generator"]["gradient"]) == pytest.approx(2 * 0.5 * (100 - 4))
    assert float(obs["discriminator"]["gradient"]) == pytest.approx(2 * 2.0 * (1 + 0.25))
