"""Tests for agents: agreement with torch.optim, batching, negative momentum, acting, validation."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest
import torch

import agents
from agents import transforms as T

# A small 2-layer tanh MLP regression: non-convex, non-trivial gradients, cheap to run.
IN, HIDDEN, OUT, SAMPLES = 4, 8, 2, 32
SHAPES = [(HIDDEN, IN), (HIDDEN,), (OUT, HIDDEN), (OUT,)]
SIZES = [math.prod(shape) for shape in SHAPES]
STEPS = 150


def unflatten(flat: torch.Tensor) -> list[torch.Tensor]:
    return [chunk.view(shape) for chunk, shape in zip(flat.split(SIZES), SHAPES)]


def mlp_loss(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    w1, b1, w2, b2 = params
    return ((torch.tanh(x @ w1.T + b1) @ w2.T + b2 - y) ** 2).mean()


@pytest.fixture(scope="module")
def problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(SAMPLES, IN, generator=gen)
    y = torch.sin(x @ torch.randn(IN, OUT, generator=gen))
    flat0 = 0.5 * torch.randn(sum(SIZES), generator=gen)
    return flat0, x, y


def torch_trajectory(optimizer: Callable, flat0: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    params = [p.detach().clone().requires_grad_() for p in unflatten(flat0)]
    opt = optimizer(params)
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        mlp_loss(params, x, y).backward()
        opt.step()
        out.append(torch.cat([p.detach().flatten() for p in params]))
    return torch.stack(out)


def rule_trajectory(rule: agents.UpdateRule, flat0: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    flat, state = flat0.clone(), rule.init(flat0)
    out = []
    for _ in range(STEPS):
        leaf = flat.detach().requires_grad_()
        (grad,) = torch.autograd.grad(mlp_loss(unflatten(leaf), x, y), leaf)
        delta, state = rule.update(grad, state, flat)
        flat = flat + delta
        out.append(flat)
    return torch.stack(out)


# (rule name, hyper-parameters, torch.optim class, its extra keyword arguments)
TORCH_CASES = [
    ("sgd", dict(lr=0.2), torch.optim.SGD, {}),
    ("sgd", dict(lr=0.2, weight_decay=0.05), torch.optim.SGD, {}),
    ("momentum", dict(lr=0.05, momentum=0.9), torch.optim.SGD, {}),
    ("momentum", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01), torch.optim.SGD, {}),
    ("nesterov", dict(lr=0.05, momentum=0.9, weight_decay=0.01), torch.optim.SGD, dict(nesterov=True)),
    ("adam", dict(lr=0.01), torch.optim.Adam, {}),
    ("adam", dict(lr=0.01, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.01), torch.optim.Adam, {}),
    ("adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), torch.optim.Adam, {}),
    ("adamw", dict(lr=0.01, weight_decay=0.1), torch.optim.AdamW, {}),
    ("adamw", dict(lr=0.01, amsgrad=True), torch.optim.AdamW, {}),
    ("rmsprop", dict(lr=0.002), torch.optim.RMSprop, {}),
    ("rmsprop", dict(lr=0.002, centered=True), torch.optim.RMSprop, {}),
    ("rmsprop", dict(lr=0.001, momentum=0.5, weight_decay=0.01), torch.optim.RMSprop, {}),
    ("rmsprop", dict(lr=0.001, alpha=0.95, momentum=0.9, centered=True), torch.optim.RMSprop, {}),
]


# float64 runs isolate the formulas: any difference there is a mistake, not round-off. float32
# runs check the default dtype: same formulas, different operation order (torch folds -lr and
# the bias corrections into one factor, uses addcmul/addcdiv), so each step differs by a few
# ulps and 150 steps amplify that mildly. rtol 1e-4 / atol 1e-5 sits ~3 orders of magnitude above
# float32 eps yet far below any formula-level mistake. The settings keep the dynamics smooth:
# e.g. RMSprop at lr 1e-2 on this problem jitters sign-like around the optimum and amplifies
# round-off so much that torch's own float32 and float64 trajectories differ by ~3e-4.
TOLERANCES = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-12)}


@pytest.mark.parametrize("dtype", TOLERANCES)
@pytest.mark.parametrize(
    "name,hyperparameters,optimizer,extra", TORCH_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(TORCH_CASES)]
)
def test_matches_torch_optim(problem, name, hyperparameters, optimizer, extra, dtype):
    flat0, x, y = (t.to(dtype) for t in problem)
    expected = torch_trajectory(lambda p: optimizer(p, foreach=False, **hyperparameters, **extra), flat0, x, y)
    actual = rule_trajectory(agents.make(name, **hyperparameters), flat0, x, y)
    assert mlp_loss(unflatten(expected[-1]), x, y) < 0.5 * mlp_loss(unflatten(flat0), x, y), "must train"
    torch.testing.assert_close(actual, expected, **TOLERANCES[dtype])


# Batching ------------------------------------------------------------------------------------

N, P = 4, 6


def quadratic_grads(a: torch.Tensor, b: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Gradient of sum(0.5 * a * x**2 - b * x). Elementwise on purpose: a batched matmul rounds
    differently from per-row ones, while here batched and per-row runs must compute the same numbers."""
    return lambda x: a * x - b


def run(rule: agents.UpdateRule, x0: torch.Tensor, grad: Callable, steps: int = 60) -> torch.Tensor:
    x, state = x0.clone(), rule.init(x0)
    for _ in range(steps):
        delta, state = rule.update(grad(x), state, x)
        x = x + delta
    return x


@pytest.fixture(scope="module")
def quadratics() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    a = 0.1 + 2 * torch.rand(N, P, generator=gen)
    # Rows of very different scale, so global-norm clipping acts on some rows only.
    b = torch.randn(N, P, generator=gen) * torch.tensor([[0.1], [1.0], [10.0], [100.0]])
    x0 = torch.randn(N, P, generator=gen)
    return a, b, x0


BATCH_RULES = [
    lambda: agents.Momentum(lr=0.05, momentum=-0.5, dampening=0.1, weight_decay=0.01),
    lambda: agents.Nesterov(lr=0.05, momentum=0.9),
    lambda: agents.Adam(lr=0.05, betas=(-0.5, 0.99), amsgrad=True),
    lambda: agents.AdamW(lr=0.05),
    lambda: agents.RMSprop(lr=0.01, centered=True, momentum=0.5),
    lambda: agents.UpdateRule(T.chain(T.clip_by_global_norm(1.0), T.trace(0.9), T.scale_by_learning_rate(0.05))),
]


@pytest.mark.parametrize("make_rule", BATCH_RULES)
def test_batched_games_match_separate_games(quadratics, make_rule):
    a, b, x0 = quadratics
    batched = run(make_rule(), x0, quadratic_grads(a, b))
    rows = torch.stack([run(make_rule(), x0[i], quadratic_grads(a[i], b[i])) for i in range(N)])
    torch.testing.assert_close(batched, rows)


# Per-game values are dyadic so that float32 tensors and Python floats hold them exactly:
# the batched and per-row runs then compute the same numbers and default tolerances apply.
PER_GAME = [
    (
        lambda lr, mu: agents.Momentum(lr=lr, momentum=mu),
        [0.0625, 0.125, 0.03125, 0.25],
        [-0.5, 0.0, 0.5, 0.875],
    ),
    (
        lambda lr, b1: agents.Adam(lr=lr, betas=(b1, 0.875 if isinstance(b1, float) else torch.full_like(b1, 0.875))),
        [0.0625, 0.125, 0.03125, 0.25],
        [-0.5, 0.0, 0.5, 0.875],
    ),
    (
        lambda lr, mu: agents.RMSprop(lr=lr, momentum=mu),
        [0.0625, 0.125, 0.03125, 0.25],
        [-0.5, 0.25, 0.5, 0.875],
    ),
]


@pytest.mark.parametrize("make_rule,lrs,second", PER_GAME)
def test_per_game_hyperparameters_match_separate_games(quadratics, make_rule, lrs, second):
    a, b, x0 = quadratics
    column = lambda values: torch.tensor(values).unsqueeze(-1)  # shape (N, 1)
    batched = run(make_rule(column(lrs), column(second)), x0, quadratic_grads(a, b))
    rows = torch.stack([run(make_rule(lrs[i], second[i]), x0[i], quadratic_grads(a[i], b[i])) for i in range(N)])
    torch.testing.assert_close(batched, rows)


@pytest.mark.parametrize("make_rule", BATCH_RULES + [lambda: agents.Adam(betas=(torch.tensor([[-0.5], [0.9]]), 0.99))])
def test_update_never_reads_tensor_values_on_the_host(make_rule):
    # Meta tensors carry shapes but no data: .item(), float(t) or `if t:` raise on them, just as
    # such host synchronisation would prevent capturing the update in a CUDA graph.
    params = torch.empty(2, P, device="meta")
    rule = make_rule()
    state = rule.init(params)
    for _ in range(2):
        delta, state = rule.update(torch.empty_like(params), state, params)
    assert delta.shape == params.shape and delta.device.type == "meta"


def test_clip_by_global_norm_reduces_over_last_dim():
    updates = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    clip = T.clip_by_global_norm(1.0)
    clipped, _ = clip.update(updates, clip.init(updates))
    torch.testing.assert_close(clipped, torch.tensor([[0.6, 0.8], [0.3, 0.4]]))


# Negative momentum and beta1 against plain float64 recurrences ---------------------------------


def numpy_momentum(x0, A, b, lr, mu, steps, nesterov=False):
    x, buf, out = x0.copy(), None, []
    for _ in range(steps):
        g = A @ x - b
        buf = g.copy() if buf is None else mu * buf + g
        x = x - lr * (g + mu * buf if nesterov else buf)
        out.append(x)
    return np.stack(out)


def numpy_adam(x0, A, b, lr, b1, b2, eps, steps):
    x, m, v, out = x0.copy(), np.zeros_like(x0), np.zeros_like(x0), []
    for t in range(1, steps + 1):
        g = A @ x - b
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        x = x - lr * m_hat / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)
        out.append(x)
    return np.stack(out)


@pytest.mark.parametrize(
    "rule,reference",
    [
        (agents.Momentum(lr=0.1, momentum=-0.5), lambda *q: numpy_momentum(*q, lr=0.1, mu=-0.5, steps=100)),
        (
            agents.Nesterov(lr=0.1, momentum=-0.5),
            lambda *q: numpy_momentum(*q, lr=0.1, mu=-0.5, steps=100, nesterov=True),
        ),
        (
            agents.Adam(lr=0.05, betas=(-0.5, 0.999)),
            lambda *q: numpy_adam(*q, lr=0.05, b1=-0.5, b2=0.999, eps=1e-8, steps=100),
        ),
    ],
    ids=["momentum", "nesterov", "adam"],
)
def test_negative_momentum_matches_float64_reference(rule, reference):
    rng = np.random.default_rng(2)
    M = rng.standard_normal((5, 5))
    A, b, x0 = M @ M.T / 5 + 0.1 * np.eye(5), rng.standard_normal(5), rng.standard_normal(5)
    expected = reference(x0, A, b)
    A_t, b_t = torch.from_numpy(A), torch.from_numpy(b)
    x, state, out = torch.from_numpy(x0), rule.init(torch.from_numpy(x0)), []
    for _ in range(100):
        delta, state = rule.update(A_t @ x - b_t, state, x)
        x = x + delta
        out.append(x)
    # Both sides are float64; only operation order differs (lerp vs. the written-out average).
    torch.testing.assert_close(torch.stack(out), torch.from_numpy(expected), rtol=1e-10, atol=1e-12)


def alternating_bilinear(momentum: float, steps: int = 2000, lr: float = 0.1) -> float:
    """min_x max_y x*y with alternating updates, one Momentum agent per player; final |(x, y)|."""
    player_x, player_y = agents.Momentum(lr, momentum), agents.Momentum(lr, momentum)
    x, y = torch.tensor([1.0]), torch.tensor([1.0])
    for _ in range(steps):
        x = x + player_x.act({"gradient": y, "parameters": x})  # d(x*y)/dx
        y = y + player_y.act({"gradient": -x, "parameters": y})  # d(-x*y)/dy, with the new x
    return math.hypot(x.item(), y.item())


def test_negative_momentum_converges_on_bilinear_game():
    # Gidel et al. 2019: alternating updates with negative momentum converge; positive diverge.
    start = math.hypot(1.0, 1.0)
    assert alternating_bilinear(-0.5) < 0.1 * start
    assert alternating_bilinear(0.5) > 10 * start


# Acting ----------------------------------------------------------------------------------------


def test_act_with_numpy_returns_float32_numpy():
    rule = agents.SGD(lr=0.5)
    grad = np.array([[1.0, -2.0, 4.0]])
    delta = rule.act({"gradient": grad, "parameters": np.zeros((1, 3))})
    assert isinstance(delta, np.ndarray) and delta.dtype == np.float32 and delta.shape == (1, 3)
    np.testing.assert_array_equal(delta, np.array([[-0.5, 1.0, -2.0]], dtype=np.float32))


def test_act_with_torch_returns_torch():
    rule = agents.Adam(lr=0.1)
    delta = rule.act({"gradient": torch.tensor([1.0, -1.0]), "parameters": torch.zeros(2)})
    assert isinstance(delta, torch.Tensor)
    torch.testing.assert_close(delta, torch.tensor([-0.1, 0.1]))


def test_act_keeps_state_and_reset_forgets_it():
    rule = agents.Momentum(lr=1.0, momentum=0.5)
    obs = {"gradient": torch.ones(2), "parameters": torch.zeros(2)}
    assert rule.state is None
    torch.testing.assert_close(rule.act(obs), -torch.ones(2))
    torch.testing.assert_close(rule.act(obs), -1.5 * torch.ones(2))  # buf = 0.5 * 1 + 1
    assert rule.state is not None
    rule.reset()
    assert rule.state is None
    torch.testing.assert_close(rule.act(obs), -torch.ones(2))


def test_act_reinitialises_when_shape_changes():
    rule = agents.Momentum(lr=1.0, momentum=0.5)
    rule.act({"gradient": torch.ones(2), "parameters": torch.zeros(2)})
    delta = rule.act({"gradient": torch.ones(3, 2), "parameters": torch.zeros(3, 2)})
    torch.testing.assert_close(delta, -torch.ones(3, 2))
    assert rule.state[0].momentum_buffer.shape == (3, 2)


def test_state_can_be_saved_and_loaded(tmp_path):
    rule = agents.Adam(lr=0.1, amsgrad=True)
    params = torch.randn(3, 5)
    delta, state = rule.update(torch.randn(3, 5), rule.init(params), params)
    torch.save(state, tmp_path / "state.pt")
    torch.testing.assert_close(torch.load(tmp_path / "state.pt", weights_only=False), state)


# Names, repr and validation --------------------------------------------------------------------


def test_make_is_case_insensitive_and_round_trips_hyperparameters():
    rule = agents.make("AdamW", lr=0.01, betas=(-0.5, 0.9))
    assert isinstance(rule, agents.AdamW)
    assert repr(rule) == "AdamW(lr=0.01, betas=(-0.5, 0.9), eps=1e-08, weight_decay=0.01, amsgrad=False)"
    assert repr(agents.make("adamw", **rule.hyperparameters)) == repr(rule)
    assert agents.available() == sorted(["adam", "adamw", "cgd", "consensus", "extragradient", "momentum", "nesterov",
                                         "optimistic", "optimistic-adam", "past-extragradient", "rmsprop", "sga", "sgd"])


def test_register_adds_a_named_rule():
    agents.register("test-descent", lambda lr: agents.UpdateRule(T.scale(-lr), name="TestDescent"))
    assert "test-descent" in agents.available()
    delta = agents.make("TEST-descent", lr=2.0).act({"gradient": torch.ones(1), "parameters": torch.zeros(1)})
    torch.testing.assert_close(delta, torch.tensor([-2.0]))
    with pytest.raises(ValueError, match="already registered"):
        agents.register("test-descent", agents.SGD)


def test_make_unknown_name_lists_known_names():
    with pytest.raises(ValueError) as err:
        agents.make("adma")
    assert str(err.value) == "unknown update rule 'adma'; known: " + ", ".join(agents.available())


def test_make_unknown_hyperparameter_lists_accepted_names():
    with pytest.raises(TypeError, match="momentum.*accepted: lr, weight_decay"):
        agents.make("sgd", lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match="missing required hyper-parameter.*lr"):
        agents.make("momentum")


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: agents.SGD(lr=-0.1), "SGD: lr must be a finite number >= 0, got -0.1"),
        (lambda: agents.Adam(lr=math.inf), "Adam: lr must be a finite number >= 0, got inf"),
        (lambda: agents.SGD(lr=math.nan), "SGD: lr must be a finite number >= 0, got nan"),
        (lambda: agents.Momentum(lr=0.1, momentum=1.0), "Momentum: momentum must be a number in (-1, 1), got 1.0"),
        (lambda: agents.Nesterov(lr=0.1, momentum=-1.0), "Nesterov: momentum must be a number in (-1, 1), got -1.0"),
        (lambda: agents.RMSprop(momentum=1.5), "RMSprop: momentum must be a number in (-1, 1), got 1.5"),
        (lambda: agents.Adam(betas=(-1.0, 0.9)), "Adam: betas[0] (beta1) must be a number in (-1, 1), got -1.0"),
        (lambda: agents.Adam(betas=(0.9, 1.0)), "Adam: betas[1] (beta2) must be a number in [0, 1), got 1.0"),
        (lambda: agents.RMSprop(alpha=-0.1), "RMSprop: alpha must be a number in [0, 1), got -0.1"),
        (lambda: agents.Adam(eps=-1e-8), "Adam: eps must be a finite number >= 0, got -1e-08"),
        (lambda: agents.AdamW(weight_decay=-0.01), "AdamW: weight_decay must be a finite number >= 0, got -0.01"),
        (lambda: agents.SGD(lr=0.1, weight_decay=math.inf), "SGD: weight_decay must be a finite number >= 0, got inf"),
        (
            lambda: agents.Momentum(lr=torch.tensor([[0.1], [-0.2]])),
            "Momentum: lr must be a finite number >= 0, got tensor([[ 0.1000],\n        [-0.2000]])",
        ),
    ],
)
def test_bad_hyperparameters_raise_value_error(build, message):
    with pytest.raises(ValueError) as err:
        build()
    assert str(err.value) == message


@pytest.mark.parametrize(
    "build,fragment",
    [
        (lambda: agents.SGD(lr="0.1"), "SGD: lr must be a real number or a floating-point tensor, got '0.1' (str)"),
        (lambda: agents.Adam(betas=0.9), "Adam: betas must be a pair (beta1, beta2), got 0.9"),
        (lambda: agents.RMSprop(centered="yes"), "RMSprop: centered must be a bool, got 'yes' (str)"),
        (lambda: agents.Momentum(lr=0.1, momentum=None), "Momentum: momentum must be a real number"),
    ],
)
def test_non_numbers_raise_type_error(build, fragment):
    with pytest.raises(TypeError) as err:
        build()
    assert fragment in str(err.value)


# ---- learning-rate schedules -------------------------------------------------------------------------


def test_linear_and_cosine_schedules_scale_the_change() -> None:
    from agents import lr_schedules

    params = torch.zeros(3)
    for schedule, expected in (
        (lr_schedules.linear(4, end=0.2), [1.0, 0.8, 0.6, 0.4, 0.2, 0.2]),
        (lr_schedules.cosine(2, end=0.0), [1.0, 0.5, 0.0, 0.0, 0.0, 0.0]),
        (lr_schedules.constant(), [1.0] * 6),
    ):
        rule = agents.with_schedule(agents.make("sgd", lr=0.5), schedule)
        state = rule.init(params)
        got = []
        for _ in range(6):
            delta, state = rule.update(torch.ones(3), state, params)
            got.append(-delta[0].item() / 0.5)
        assert got == pytest.approx(expected, abs=1e-7)


def test_schedule_bad_input() -> None:
    from agents import lr_schedules

    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        lr_schedules.linear(0)
    with pytest.raises(ValueError, match="end"):
        lr_schedules.cosine(10, end=-0.5)


# ---- iterate averaging ---------------------------------------------------------------------------------


def test_averaged_rule_moves_like_the_inner_rule_and_keeps_the_averages() -> None:
    params = torch.tensor([0.0, 1.0])
    plain, uniform, ema = (agents.make("sgd", lr=0.5), agents.averaged(agents.make("sgd", lr=0.5)),
                           agents.averaged(agents.make("sgd", lr=0.5), decay=0.5))
    states = [r.init(params) for r in (plain, uniform, ema)]
    iterates = [params]
    p = params
    for grad in (torch.tensor([2.0, 0.0]), torch.tensor([-4.0, 2.0])):
        deltas = []
        for i, rule in enumerate((plain, uniform, ema)):
            delta, states[i] = rule.update(grad, states[i], p)
            deltas.append(delta)
        assert torch.equal(deltas[0], deltas[1]) and torch.equal(deltas[0], deltas[2])
        p = p + deltas[0]
        iterates.append(p)
    torch.testing.assert_close(states[1].average, torch.stack(iterates).mean(0))  # [0,1], [-1,1], [1,0]
    torch.testing.assert_close(states[2].average, 0.5 * (0.5 * iterates[0] + 0.5 * iterates[1]) + 0.5 * iterates[2])
    with pytest.raises(ValueError, match="decay"):
        agents.averaged(agents.make("sgd", lr=0.1), decay=1.0)
