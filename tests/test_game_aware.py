"""Game-aware rules against the literature: one-step closed forms, linear rates, CGD's algebra, misuse.

Notation on the bilinear game f(x, y) = alpha x y (``minimax/Bilinear-v0``, generator x
minimises f, discriminator y maximises it): the joint field, ordered (discriminator,
generator) = (y, x), is xi = (-alpha x, alpha y) = J z with z = (y, x) and
J = alpha [[0, -1], [1, 0]] (eigenvalues +-i alpha, J^T J = alpha^2 I, J normal). Each
rule's step is then a linear map of z whose spectral radius rho is known in closed form
(h = lr * alpha):

* simultaneous GD:          I - lr J,                        rho = sqrt(1 + h^2)
* extragradient:            I - lr J + lr^2 J^2,             rho = |1 - h^2 -+ i h| = sqrt(1 - h^2 + h^4)
* optimistic GD / past EG:  lambda^2 - (1 - 2 lr mu) lambda - lr mu = 0 per eigenvalue mu = +-i alpha
* consensus (gamma):        I - lr J - lr gamma J^T J,       rho = sqrt((1 - lr gamma alpha^2)^2 + h^2)
* SGA (lam, sign rule):     <xi, J^T xi> = 0 here, so lambda = lam and SGA = consensus with gamma = lam
* CGD:                      (1 -+ i h) / (1 + h^2),          rho = 1 / sqrt(1 + h^2)

The maps of GD, EG, consensus and CGD are normal (polynomials in J), so the distance to the
equilibrium is exactly rho^t times the start's; optimistic GD and past extragradient carry
one step of memory and reach their rate after the smaller root has died out.
"""

from __future__ import annotations

import cmath
import math
from types import SimpleNamespace

import numpy as np
import pettingzoo
import pytest
import torch

import agents
import minimax  # registers the environments
from agents import transforms as T
from agents.game_aware import (
    CGD,
    SGA,
    Consensus,
    ConvergenceWarning,
    Extragradient,
    PastExtragradient,
    SingularSystemError,
)

D, G = "discriminator", "generator"
PLAYERS = (D, G)
F64 = torch.float64


# --- helpers -------------------------------------------------------------------------------


def assert_close(actual, expected, rtol, atol) -> None:
    """np.testing on tensors (torch.testing's first call costs a second of imports)."""
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=rtol, atol=atol)


def bilinear_env(**kwargs):
    options = {"A": 1.0, "x0": 2.0, "y0": 0.5, "dtype": "float64", **kwargs}
    return pettingzoo.make("parallel", "minimax/Bilinear-v0", view="torch", **options)


def dirac_env(loss="minimax", theta=1.0, psi=1.0):
    return pettingzoo.make("parallel", "minimax/DiracGAN-v0", view="torch", theta=theta, psi=psi, loss=loss, dtype="float64")


def point(env) -> dict[str, torch.Tensor]:
    return {p: env.game.parameters(p)[0].clone() for p in PLAYERS}


def distance(params) -> float:
    return math.sqrt(sum(float(params[p].pow(2).sum()) for p in PLAYERS))


def play(env, rule, steps: int) -> list[dict[str, torch.Tensor]]:
    """The states visited (start included) when ``rule`` (a JointRule, or a {player: UpdateRule}) plays ``env``."""
    observations, _ = env.reset(seed=0)
    states = [point(env)]
    for _ in range(steps):
        if isinstance(rule, dict):
            actions = {p: rule[p].act(observations[p]) for p in PLAYERS}
        else:
            actions = rule.act(observations, env.field())
        observations, *_ = env.step(actions)
        states.append(point(env))
    return states


def per_player(name: str, **hyper) -> dict[str, agents.UpdateRule]:
    return {p: agents.make(name, **hyper) for p in PLAYERS}


class LinearField:
    """An affine game xi(theta) = M theta + c (theta ordered discriminator then generator) with
    everything a JointField offers: cheap, exact, and able to be general-sum or singular."""

    def __init__(self, M, theta0, c=None, n_discriminator=1, zero_sum=False):
        self.M = torch.as_tensor(np.asarray(M, dtype=np.float64))
        z0 = torch.as_tensor(np.asarray(theta0, dtype=np.float64))
        self.c = torch.zeros_like(z0) if c is None else torch.as_tensor(np.asarray(c, dtype=np.float64))
        self.n = n_discriminator
        self.state = self._split(z0)
        self.game = SimpleNamespace(loss=SimpleNamespace(zero_sum=zero_sum))

    def _cat(self, v):
        return torch.cat([v[D].reshape(-1), v[G].reshape(-1)])

    def _split(self, z):
        return {D: z[: self.n].clone(), G: z[self.n :].clone()}

    def current(self):
        return self.state

    def __call__(self, params=None):
        return self._split(self.M @ self._cat(params or self.state) + self.c)

    def jvp(self, v, params=None):
        return self._split(self.M @ self._cat(v))

    def vjp(self, u, params=None):
        return self._split(self.M.T @ self._cat(u))

    def jacobian(self, params=None):
        return self.M.clone()

    def observations(self):
        xi = self()
        return {p: {"gradient": xi[p], "parameters": self.state[p]} for p in PLAYERS}

    def run(self, rule, steps: int) -> np.ndarray:
        """Distances to 0 along ``steps`` moves of ``rule`` (JointRule or {player: UpdateRule})."""
        out = [distance(self.state)]
        for _ in range(steps):
            observations = self.observations()
            if isinstance(rule, dict):
                delta = {p: rule[p].act(observations[p]) for p in PLAYERS}
            else:
                delta = rule.act(observations, self)
            self.state = {p: self.state[p] + delta[p] for p in PLAYERS}
            out.append(distance(self.state))
        return np.array(out)


def xy_field(alpha=1.0, x0=2.0, y0=0.5) -> LinearField:
    return LinearField(alpha * np.array([[0.0, -1.0], [1.0, 0.0]]), [y0, x0])


def optimistic_radius(lr: float, alpha: float) -> float:
    mu = 1j * alpha  # the eigenvalue -i alpha gives the conjugate roots
    b = 1 - 2 * lr * mu
    disc = cmath.sqrt(b * b + 4 * lr * mu)
    return max(abs((b + disc) / 2), abs((b - disc) / 2))


def radius(rule: str, lr: float, alpha: float = 1.0, gamma: float = 1.0) -> float:
    """Closed-form spectral radius of each rule's step map on f = alpha x y."""
    h = lr * alpha
    return {
        "sgd": math.sqrt(1 + h * h),
        "extragradient": math.sqrt(1 - h * h + h**4),
        "optimistic": optimistic_radius(lr, alpha),
        "past-extragradient": optimistic_radius(lr, alpha),
        "consensus": math.sqrt((1 - lr * gamma * alpha**2) ** 2 + h * h),
        "sga": math.sqrt((1 - lr * gamma * alpha**2) ** 2 + h * h),
        "cgd": 1 / math.sqrt(1 + h * h),
    }[rule]


def make_rule(name: str, lr: float, gamma: float = 1.0):
    if name in ("sgd", "optimistic"):
        return per_player(name, lr=lr)
    if name == "consensus":
        return agents.make(name, lr=lr, gamma=gamma)
    if name == "sga":
        return agents.make(name, lr=lr, lam=gamma)
    return agents.make(name, lr=lr)


# --- registry ------------------------------------------------------------------------------


def test_registry_lists_and_builds_every_rule() -> None:
    names = {"extragradient", "past-extragradient", "optimistic", "optimistic-adam", "consensus", "sga", "cgd"}
    assert names <= set(agents.available())
    rule = agents.make("consensus", lr=0.1, gamma=1.0)
    assert isinstance(rule, Consensus) and rule.joint and rule.hyperparameters == {"lr": 0.1, "gamma": 1.0}
    assert isinstance(agents.make("CGD", lr=0.1), CGD)
    assert isinstance(agents.make("optimistic-adam", lr=0.1), agents.OptimisticAdam)
    assert not getattr(agents.make("optimistic", lr=0.1), "joint", False)
    with pytest.raises(TypeError, match="unknown hyper-parameter.*gamma"):
        agents.make("extragradient", lr=0.1, gamma=1.0)
    with pytest.raises(TypeError, match="missing required hyper-parameter.*lr"):
        agents.make("sga")


# --- one step on f = x y from (x, y) = (2, 0.5), lr = 0.2: xi_D = -x = -2, xi_G = y = 0.5 -------


def test_one_step_of_each_rule_matches_the_hand_algebra_on_xy() -> None:
    lr = 0.2

    def first(rule, steps=1):
        states = play(bilinear_env(), rule, steps)
        return [float(s[p]) for s in states[1:] for p in (G, D)]  # x1, y1, x2, y2, ...

    # GD: dx = -0.2 * 0.5, dy = -0.2 * (-2)
    assert first(per_player("sgd", lr=lr)) == pytest.approx([1.9, 0.9], abs=1e-15)
    # EG: half point x' = 2 - 0.2*0.5 = 1.9, y' = 0.5 + 0.2*2 = 0.9; dx = -0.2 y' = -0.18, dy = 0.2 x' = 0.38
    assert first(Extragradient(lr)) == pytest.approx([1.82, 0.88], abs=1e-15)
    # past EG: step 1 = EG (g_prev = xi(theta0)); step 2 from (1.82, 0.88) with g_prev = (xi_D, xi_G) = (-1.9, 0.9):
    # half x' = 1.82 - 0.2*0.9 = 1.64, y' = 0.88 + 0.2*1.9 = 1.26; dx = -0.2*1.26, dy = 0.2*1.64
    assert first(PastExtragradient(lr), 2) == pytest.approx([1.82, 0.88, 1.568, 1.208], abs=1e-15)
    # optimistic: step 1 = GD -> (1.9, 0.9); step 2: dx = -0.2 (2*0.9 - 0.5) = -0.26, dy = -0.2 (2*(-1.9) + 2) = 0.36
    assert first(per_player("optimistic", lr=lr), 2) == pytest.approx([1.9, 0.9, 1.64, 1.26], abs=1e-15)
    # consensus gamma=1: J^T xi = grad 1/2 (x^2 + y^2) = (y, x) = (0.5, 2) for (D, G);
    # dy = -0.2 (-2 + 0.5) = 0.3, dx = -0.2 (0.5 + 2) = -0.5
    assert first(Consensus(lr, gamma=1.0)) == pytest.approx([1.5, 0.8], abs=1e-15)
    # SGA: A = J, A^T xi = J^T xi; <xi, grad H> = -2*0.5 + 0.5*2 = 0 so lambda = sign(0 + eps) = 1: consensus
    sga = SGA(lr, lam=1.0)
    assert first(sga) == pytest.approx([1.5, 0.8], abs=1e-15)
    assert float(sga.last_lambda) == 1.0
    # CGD: dx = -lr/(1+lr^2) (y + lr x) = -0.18/1.04, dy = lr/(1+lr^2) (x - lr y) = 0.38/1.04
    expected = [2 - 0.18 / 1.04, 0.5 + 0.38 / 1.04]
    assert first(CGD(lr, exact=True)) == pytest.approx(expected, abs=1e-15)
    assert first(CGD(lr, exact=False)) == pytest.approx(expected, abs=1e-12)


def test_two_time_scales_extragradient_one_step() -> None:
    # lr_D = 0.1, lr_G = 0.2: half x' = 2 - 0.2*0.5 = 1.9, y' = 0.5 + 0.1*2 = 0.7; dx = -0.2*0.7, dy = 0.1*1.9
    rule = agents.make("extragradient", lr={D: 0.1, G: 0.2})
    after = play(bilinear_env(), rule, 1)[1]
    assert (float(after[G]), float(after[D])) == pytest.approx((1.86, 0.69), abs=1e-15)


# --- rates in the real env: distance = rho^t * start for the normal maps ---------------------


@pytest.mark.parametrize("name", ["sgd", "extragradient", "consensus", "sga", "cgd"])
def test_distance_in_the_env_follows_the_closed_form_radius(name: str) -> None:
    lr, steps = 0.2, 60
    states = play(bilinear_env(), make_rule(name, lr), steps)
    start = math.hypot(2.0, 0.5)
    observed = [distance(s) / start for s in states]
    predicted = [radius(name, lr) ** t for t in range(steps + 1)]
    np.testing.assert_allclose(observed, predicted, rtol=1e-9)


@pytest.mark.parametrize("name", ["optimistic", "past-extragradient"])
def test_optimistic_and_past_extragradient_follow_their_recursions_in_the_env(name: str) -> None:
    lr, steps = 0.2, 40
    J = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=F64)  # z = (y, x)
    z = [torch.tensor([0.5, 2.0], dtype=F64)]
    if name == "optimistic":  # z1 = z0 - lr g0; z_{t+1} = z_t - lr (2 g_t - g_{t-1})
        z.append(z[0] - lr * J @ z[0])
        for t in range(1, steps):
            z.append(z[t] - lr * (2 * J @ z[t] - J @ z[t - 1]))
    else:  # half_t = z_t - lr g_prev; g = J half_t; z_{t+1} = z_t - lr g; g_prev(0) = J z0
        g_prev = J @ z[0]
        for t in range(steps):
            g_prev = J @ (z[t] - lr * g_prev)
            z.append(z[t] - lr * g_prev)
    states = play(bilinear_env(), make_rule(name, lr), steps)
    observed = torch.stack([torch.cat([s[D], s[G]]) for s in states])
    assert_close(observed, torch.stack(z), rtol=0, atol=1e-12)


def test_past_extragradient_extrapolated_points_are_optimistic_iterates() -> None:
    lr, steps = 0.2, 30
    pe, field = PastExtragradient(lr), xy_field()
    halves = []
    for _ in range(steps):
        previous = pe.state["previous"] if pe.state else field()
        halves.append(torch.cat([field.state[p] - lr * previous[p] for p in PLAYERS]))
        delta = pe.act(field.observations(), field)
        field.state = {p: field.state[p] + delta[p] for p in PLAYERS}
    ogd = xy_field()
    rules, iterates = per_player("optimistic", lr=lr), []
    for _ in range(steps):
        ogd.run(rules, 1)
        iterates.append(torch.cat([ogd.state[p] for p in PLAYERS]))
    assert_close(torch.stack(halves), torch.stack(iterates), rtol=0, atol=1e-13)


# --- long runs on x y: converge or diverge at the predicted rate ------------------------------


# After 1000 steps: lr 0.2: rho^1000 ~ 3e-9 (EG, CGD), 5e-10 (optimistic, past EG), 2e-84 (consensus);
# lr 0.1: ~7e-3 (EG, CGD: rho 0.99504), 6e-3 (optimistic: 0.99494), 8e-44 (consensus). GD: x3e8, x145.
@pytest.mark.parametrize("lr,steps,shrink", [(0.1, 1000, 1e-2), (0.2, 1000, 1e-3)])
@pytest.mark.parametrize(
    "name", ["sgd", "extragradient", "past-extragradient", "optimistic", "consensus", "sga", "cgd"]
)
def test_long_runs_on_xy_converge_or_diverge_at_the_predicted_rate(name: str, lr: float, steps: int, shrink) -> None:
    distances = xy_field().run(make_rule(name, lr), steps)
    rho = radius(name, lr)
    late = (distances[-1] / distances[steps // 2]) ** (1 / (steps - steps // 2))
    assert late == pytest.approx(rho, rel=1e-6)
    if name == "sgd":
        assert rho > 1 and distances[-1] > 100 * distances[0]
    else:
        assert rho < 1 and distances[-1] < shrink * distances[0]


# --- f = alpha x y, lr = 0.2 (Schaefer & Anandkumar 2019, Section 4) -------------------------


@pytest.mark.parametrize("alpha", [1.0, 3.0, 6.0])
@pytest.mark.parametrize("name", ["sgd", "extragradient", "optimistic", "past-extragradient", "consensus", "cgd"])
def test_alpha_xy_observed_rate_matches_the_prediction(name: str, alpha: float) -> None:
    lr, steps = 0.2, 100  # 6.3^100 still fits in float64; by step 40 the smaller optimistic root has died out
    distances = xy_field(alpha).run(make_rule(name, lr), steps)
    observed = (distances[-1] / distances[40]) ** (1 / 60)
    assert observed == pytest.approx(radius(name, lr, alpha), rel=1e-6)


def test_alpha_xy_which_rules_keep_converging() -> None:
    lr, alphas = 0.2, (1.0, 3.0, 6.0)
    names = ("sgd", "extragradient", "optimistic", "consensus", "cgd")
    rho = {name: [radius(name, lr, a) for a in alphas] for name in names}
    assert all(r < 1 for r in rho["cgd"])  # CGD converges for every alpha, faster as alpha grows
    assert rho["cgd"] == sorted(rho["cgd"], reverse=True)
    assert all(r > 1 for r in rho["sgd"])  # simultaneous GDA diverges for every alpha
    for name in ("optimistic", "consensus"):  # these get worse with alpha and lose convergence:
        assert rho[name] == sorted(rho[name]) and rho[name][0] < 1 < rho[name][2]
    # optimistic GDA already at alpha = 3 (1.057); consensus (gamma = 1) is exactly marginal there
    # (|1 - 0.2*9 -+ 0.6 i| = 1: it neither converges nor diverges) and diverges at 6 (6.3).
    assert rho["optimistic"][1] > 1
    assert rho["consensus"][1] == pytest.approx(1.0, abs=1e-12)
    # Extragradient is not monotone in alpha: 0.981, 0.877, then 1.278 (|1 - h^2 -+ i h| is smallest at h^2 = 1/2).
    assert rho["extragradient"][1] < rho["extragradient"][0] < 1 < rho["extragradient"][2]


@pytest.mark.parametrize("alpha,sign_rule", [(1.0, True), (3.0, True), (6.0, False)])
def test_sga_on_alpha_xy_is_consensus_with_gamma_lam(alpha: float, sign_rule: bool) -> None:
    # <xi, grad H> = xi^T J^T xi = 0 on a pure bilinear game, so the sign rule gives lambda = lam.
    # (Where the run diverges, alpha = 6, the rounding error of that zero times <A^T xi, grad H>,
    # which grows as |xi|^4, exceeds the absolute eps after a few dozen steps and flips lambda at
    # random: the criterion is not scale-free. Hence sign_rule=False there.)
    lr, steps = 0.2, 100
    rule = SGA(lr, lam=1.0, sign_rule=sign_rule)
    field, lambdas = xy_field(alpha), []
    distances = [distance(field.state)]
    for _ in range(steps):
        distances.append(field.run(rule, 1)[-1])
        lambdas.append(float(rule.last_lambda))
    assert set(lambdas) == {1.0}
    observed = (distances[-1] / distances[40]) ** (1 / 60)
    assert observed == pytest.approx(radius("consensus", lr, alpha, gamma=1.0), rel=1e-6)


# --- Dirac-GAN --------------------------------------------------------------------------------


def test_consensus_converges_on_dirac_gan_at_the_linearised_rate() -> None:
    # At (0, 0) J has eigenvalues +-i/2 and J^T J = I/4 (f'(0) = 1/2), so consensus contracts by
    # |1 - lr gamma/4 -+ i lr/2|; simultaneous GD (Mescheder et al. 2018) spirals out.
    lr, gamma, steps = 0.5, 2.0, 60
    distances = [distance(s) for s in play(dirac_env(), Consensus(lr, gamma), steps)]
    assert distances[-1] < 1e-6
    rate = (distances[-1] / distances[30]) ** (1 / 30)
    assert rate == pytest.approx(math.hypot(1 - lr * gamma / 4, lr / 2), rel=1e-3)


# --- SGA on a vector bilinear game with non-symmetric A ----------------------------------------

A2 = np.array([[1.0, 2.0], [-0.5, 0.3]])


@pytest.mark.parametrize(
    "x0,y0,a,b,sign",
    [([0.2, 0.4], [-1.8, 0.9], 5.0, 2.0, -1.0), ([1.0, -0.6], [1.8, -1.3], 0.5, 1.0, 1.0)],
)
def test_sga_matches_the_closed_form_update(x0, y0, a, b, sign) -> None:
    lr, lam, eps = 0.1, 1.0, 0.1
    env = bilinear_env(A=A2.tolist(), x0=x0, y0=y0, a=a, b=b)
    observations, _ = env.reset(seed=0)
    rule = SGA(lr, lam=lam, eps=eps)
    delta = rule.act(observations, env.field())
    # f = x^T A y + a/2 |x|^2 - b/2 |y|^2: xi_D = -A^T x + b y, xi_G = A y + a x,
    # J = [[b I, -A^T], [A, a I]] (rows/cols y then x)
    x, y = np.array(x0), np.array(y0)
    xi = np.concatenate([-A2.T @ x + b * y, A2 @ y + a * x])
    J = np.block([[b * np.eye(2), -A2.T], [A2, a * np.eye(2)]])
    grad_h, at_xi = J.T @ xi, 0.5 * (J.T - J) @ xi
    lam_t = lam * np.sign((xi @ grad_h) * (at_xi @ grad_h) / 4 + eps)
    assert lam_t == sign and float(rule.last_lambda) == sign
    expected = -lr * (xi + lam_t * at_xi)
    np.testing.assert_allclose(torch.cat([delta[D], delta[G]]).numpy(), expected, rtol=1e-12, atol=1e-14)
    no_rule = SGA(lr, lam=lam, sign_rule=False).act(observations, env.field())
    np.testing.assert_allclose(torch.cat([no_rule[D], no_rule[G]]).numpy(), -lr * (xi + lam * at_xi), rtol=1e-12)


# --- CGD ---------------------------------------------------------------------------------------


def random_bilinear(seed=0, a=0.3, b=0.2):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(3, 3))
    x0, y0 = rng.normal(size=3), rng.normal(size=3)
    return A, x0, y0, bilinear_env(A=A.tolist(), x0=x0.tolist(), y0=y0.tolist(), a=a, b=b)


@pytest.mark.parametrize("exact", [True, False])
def test_cgd_reduces_to_the_papers_zero_sum_formula(exact: bool) -> None:
    # Schaefer & Anandkumar, zero-sum: dx = -eta (I + eta^2 D_xy f D_yx f)^{-1} (grad_x f + eta D_xy f grad_y f),
    # dy = eta (I + eta^2 D_yx f D_xy f)^{-1} (grad_y f - eta D_yx f grad_x f); D_xy f = A (the a, b terms
    # only enter the gradients: CGD ignores D_xx f and D_yy f).
    eta, a, b = 0.3, 0.3, 0.2
    A, x, y, env = random_bilinear(a=a, b=b)
    observations, _ = env.reset(seed=0)
    rule = CGD(eta, exact=exact)
    delta = rule.act(observations, env.field())
    gx, gy = A @ y + a * x, A.T @ x - b * y
    dx = -eta * np.linalg.solve(np.eye(3) + eta**2 * A @ A.T, gx + eta * A @ gy)
    dy = eta * np.linalg.solve(np.eye(3) + eta**2 * A.T @ A, gy - eta * A.T @ gx)
    np.testing.assert_allclose(delta[G].numpy(), dx, rtol=0, atol=1e-10)
    np.testing.assert_allclose(delta[D].numpy(), dy, rtol=0, atol=1e-10)
    assert rule.last_solve["method"] == ("exact" if exact else "cg")


def cgd_pair(observations, field, lr=0.2, **kwargs):
    exact = CGD(lr, exact=True).act(observations, field)
    iterative = CGD(lr, exact=False, **kwargs)
    return exact, iterative.act(observations, field), iterative.last_solve


@pytest.mark.parametrize("lr", [0.3, {D: 0.1, G: 0.4}])
def test_cgd_exact_and_conjugate_gradient_agree_on_a_3x3_bilinear_game(lr) -> None:
    _, _, _, env = random_bilinear(seed=1)
    observations, _ = env.reset(seed=0)
    exact, iterative, solve = cgd_pair(observations, env.field(), lr)
    assert solve["method"] == "cg" and solve["converged"]
    for p in PLAYERS:
        assert_close(iterative[p], exact[p], rtol=0, atol=1e-8)


@pytest.mark.parametrize("loss,method", [("minimax", "cg"), ("nonsaturating", "cgnr")])
@pytest.mark.parametrize("theta,psi", [(1.0, 1.0), (0.7, -1.3)])
def test_cgd_exact_and_iterative_agree_on_dirac_gan(loss, method, theta, psi) -> None:
    env = dirac_env(loss, theta, psi)
    observations, _ = env.reset(seed=0)
    exact, iterative, solve = cgd_pair(observations, env.field(), 0.5)
    assert solve["method"] == method and solve["converged"]
    for p in PLAYERS:
        assert_close(iterative[p], exact[p], rtol=0, atol=1e-8)


def general_sum_field(n_d: int, n_g: int, seed: int = 0, zero_sum: bool = False, scale: float = 1.0) -> LinearField:
    rng = np.random.default_rng(seed)
    n = n_d + n_g
    M = scale * rng.normal(size=(n, n))
    if zero_sum:  # J_yx = -J_xy^T, as for L_D = -L_G
        M[:n_d, n_d:] = -M[n_d:, :n_d].T
    return LinearField(M, rng.normal(size=n), c=rng.normal(size=n), n_discriminator=n_d, zero_sum=zero_sum)


@pytest.mark.parametrize("n_d,n_g", [(3, 4), (5, 2)])
@pytest.mark.parametrize("zero_sum", [False, True])
def test_cgd_is_the_local_nash_equilibrium_in_general_sum_games(n_d, n_g, zero_sum) -> None:
    # The move solves the local game: dx = -eta_x (xi_x + J_xy dy), dy = -eta_y (xi_y + J_yx dx);
    # checked independently of the closed form, with two time-scales, for both solvers.
    field = general_sum_field(n_d, n_g, zero_sum=zero_sum, scale=0.7)
    lr = {D: 0.3, G: 0.2}
    exact, iterative, solve = cgd_pair(field.observations(), field, lr)
    assert solve["method"] == ("cg" if zero_sum else "cgnr") and solve["converged"]
    assert solve["solved_for"] == (G if n_g <= n_d else D)
    J, xi = field.M, field()
    j_yx, j_xy = J[:n_d, n_d:], J[n_d:, :n_d]
    for delta, tol in ((exact, 1e-12), (iterative, 1e-8)):
        assert_close(delta[G], -lr[G] * (xi[G] + j_xy @ delta[D]), rtol=0, atol=tol)
        assert_close(delta[D], -lr[D] * (xi[D] + j_yx @ delta[G]), rtol=0, atol=tol)


def test_cgd_switches_to_the_iterative_solver_above_200_parameters() -> None:
    small, large = general_sum_field(3, 4, scale=0.1), general_sum_field(150, 100, scale=0.01)
    rule = CGD(0.1)
    rule.act(small.observations(), small)
    assert rule.last_solve["method"] == "exact"
    rule.act(large.observations(), large)
    assert rule.last_solve["method"] == "cgnr" and rule.last_solve["converged"]


def test_cgd_singular_system_is_a_clear_error() -> None:
    # Scalar general-sum game with J_xy = J_yx = 2: I - lr^2 J_xy J_yx = 1 - 0.25 * 4 = 0 at lr = 0.5.
    field = LinearField([[0.0, 2.0], [2.0, 0.0]], [1.0, 0.0])  # (y, x) = (1, 0): xi = (0, 2)
    with pytest.raises(SingularSystemError, match=r"1 generator and 1 discriminator .* singular at lr=0\.5"):
        CGD(0.5, exact=True).act(field.observations(), field)
    assert issubclass(SingularSystemError, RuntimeError)
    CGD(0.4, exact=True).act(field.observations(), field)  # fine below
    with pytest.warns(ConvergenceWarning, match="did not reach"):  # the iterative solver cannot: warns, no hang
        delta = CGD(0.5, exact=False, cg_max_iter=5).act(field.observations(), field)
    assert all(torch.isfinite(delta[p]).all() for p in PLAYERS)


def test_cgd_warns_and_returns_the_last_iterate_when_the_iterations_run_out() -> None:
    _, _, _, env = random_bilinear(seed=2)
    observations, _ = env.reset(seed=0)
    rule = CGD(1.0, exact=False, cg_max_iter=1)
    with pytest.warns(ConvergenceWarning, match=r"cg did not reach .* in 1 iterations"):
        delta = rule.act(observations, env.field())
    assert not rule.last_solve["converged"] and all(torch.isfinite(delta[p]).all() for p in PLAYERS)


# --- optimism as a transform; optimistic SGD and Adam ------------------------------------------

GRADS = [1.0, -2.0, 0.5]


def test_scale_by_optimism_and_optimistic_sgd_by_hand() -> None:
    t = T.scale_by_optimism()
    state = t.init(torch.zeros(1, dtype=F64))
    outs = []
    for g in GRADS:
        out, state = t.update(torch.tensor([g], dtype=F64), state)
        outs.append(float(out))
    assert outs == [1.0, 2 * -2.0 - 1.0, 2 * 0.5 + 2.0]  # u_{-1} = u_0: the first output is u_0
    rule, params, lr = agents.make("optimistic", lr=0.1), torch.zeros(1, dtype=F64), 0.1
    deltas = [float(rule.act({"gradient": torch.tensor([g], dtype=F64), "parameters": params})) for g in GRADS]
    assert deltas == pytest.approx([-lr * 1.0, -lr * (2 * -2.0 - 1.0), -lr * (2 * 0.5 + 2.0)], abs=1e-15)


def test_optimistic_adam_by_hand() -> None:
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    m = v = 0.0
    steps = []
    for t, g in enumerate(GRADS, start=1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        steps.append((m / (1 - b1**t)) / (math.sqrt(v) / math.sqrt(1 - b2**t) + eps))
    # theta <- theta - 2 lr a_t + lr a_{t-1}, and a_{-1} = a_0 (the first move is Adam's)
    expected = [-lr * steps[0]] + [-2 * lr * steps[t] + lr * steps[t - 1] for t in (1, 2)]
    rule, params = agents.make("optimistic-adam", lr=lr, betas=(b1, b2), eps=eps), torch.zeros(1, dtype=F64)
    deltas = [float(rule.act({"gradient": torch.tensor([g], dtype=F64), "parameters": params})) for g in GRADS]
    assert deltas == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["optimistic", "optimistic-adam"])
def test_optimistic_rules_run_batched(name: str) -> None:
    gen = torch.Generator().manual_seed(0)
    grads = torch.randn(4, 3, 5, generator=gen, dtype=F64)  # 4 steps, 3 games, 5 parameters
    lr = torch.tensor([[0.1], [0.2], [0.3]], dtype=F64)
    batched = agents.make(name, lr=lr)
    state, params = batched.init(torch.zeros(3, 5, dtype=F64)), torch.zeros(3, 5, dtype=F64)
    out = []
    for g in grads:
        delta, state = batched.update(g, state, params)
        out.append(delta)
    for i in range(3):
        single = agents.make(name, lr=float(lr[i]))
        s = single.init(torch.zeros(5, dtype=F64))
        for k, g in enumerate(grads):
            delta, s = single.update(g[i], s, torch.zeros(5, dtype=F64))
            assert_close(out[k][i], delta, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["optimistic", "optimistic-adam"])
def test_optimistic_rules_play_the_aec_env(name: str) -> None:
    env = pettingzoo.make("aec", "minimax/Bilinear-v0", view="torch", A=1.0, x0=2.0, y0=0.5, dtype="float64")
    history = minimax.train(env, agents.make(name, lr=0.05), 20, progress=False)
    assert history.iterations == 20 and not history.terminated


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build,error,match",
    [
        (lambda: Extragradient(-0.1), ValueError, r"Extragradient: lr must be a finite number >= 0, got -0\.1"),
        (lambda: Extragradient(0.1, extrapolation_lr=-1.0), ValueError, "extrapolation_lr must be"),
        (lambda: Extragradient({D: 0.1}), ValueError, r"lr as a dict must have exactly the keys.*missing \['generator"),
        (lambda: PastExtragradient({D: 0.1, G: -0.2}), ValueError, r"lr\['generator'\] must be .* got -0\.2"),
        (lambda: Consensus(0.1, gamma=-1.0), ValueError, r"Consensus: gamma must be a finite number >= 0, got -1\.0"),
        (lambda: Consensus(float("nan")), ValueError, "lr must be a finite number"),
        (lambda: SGA(0.1, lam=-1.0), ValueError, "lam must be"),
        (lambda: SGA(0.1, sign_rule=1), TypeError, "sign_rule must be a bool"),
        (lambda: CGD(0.1, cg_tol=0.0), ValueError, r"cg_tol must be a finite number > 0, got 0\.0"),
        (lambda: CGD(0.1, cg_max_iter=0), ValueError, "cg_max_iter must be an int >= 1, got 0"),
        (lambda: CGD(0.1, cg_max_iter=2.5), TypeError, "cg_max_iter must be an int"),
        (lambda: CGD(0.1, exact="yes"), TypeError, "exact must be a bool"),
        (lambda: agents.make("optimistic", lr=-1.0), ValueError, "OptimisticSGD: lr must be"),
        (lambda: agents.make("optimistic-adam", betas=(0.9, 1.5)), ValueError, r"beta2\) must be a number in \[0, 1\)"),
    ],
)
def test_bad_hyperparameters_are_clear_errors(build, error, match) -> None:
    with pytest.raises(error, match=match):
        build()


def test_joint_rules_refuse_what_they_cannot_do() -> None:
    env = bilinear_env()
    observations, _ = env.reset(seed=0)
    rule = Extragradient(0.1)
    with pytest.raises(ValueError, match=r"both players.*missing \['generator'\].*Parallel env"):
        rule.act({D: observations[D]}, env.field())
    with pytest.raises(TypeError, match="cannot act for one player"):
        rule.act(observations[D], env.field())
    with pytest.raises(TypeError, match="joint field"):
        rule.act(observations)
    aec = pettingzoo.make("aec", "minimax/Bilinear-v0", view="torch", A=1.0, x0=2.0, y0=0.5, dtype="float64")
    with pytest.raises(TypeError, match="Parallel env"):
        minimax.train(aec, agents.make("consensus", lr=0.1), 5, progress=False)
    with pytest.raises(TypeError, match="cannot act for one player"):  # given as one player's rule
        minimax.train(bilinear_env(), {D: CGD(0.1), G: CGD(0.1)}, 5, progress=False)


def test_joint_rules_train_in_the_parallel_env() -> None:
    history = minimax.train(bilinear_env(), agents.make("cgd", lr=0.2), 10, progress=False)
    assert history.iterations == 10 and np.isfinite(history["generator_loss"]).all()
    assert repr(agents.make("sga", lr={D: 0.1, G: 0.2})) == (
        "SGA(lr={'discriminator': 0.1, 'generator': 0.2}, lam=1.0, sign_rule=True, eps=0.1)"
    )
