"""The stochastic bilinear game, stochastic extragradient with one or two terms, and the residual generator.

The sampled bilinear game f = (1/d) sum_i d x_i y_i shows a term per turn; its mean is x . y. Stochastic
extragradient drawing a fresh term for its second step (mirror-prox) grows the mean square distance by
1 + h^2 (d - 2) + h^4 d^2 per iteration; one term for both steps shrinks it by 1 - h^2 d + h^4 d^3
(benchmarks.convergence.seg_rate). These tests check the game's terms, the closed forms against a Monte Carlo
average over many games in lockstep, and the lone game against the vector game.
"""

from __future__ import annotations

import math

import numpy as np
import pettingzoo
import pytest
import torch

import agents
import minimax
from benchmarks.convergence import seg_rate
from minimax.core.layers import Residual
from minimax.tasks.normal1d import Normal1D
from minimax.tasks.payoff import Bilinear

F64 = torch.float64
D = 4


def sampled_game(num_games: int = 1) -> Bilinear:
    return Bilinear(A=np.eye(D).tolist(), x0=[1.0] * D, y0=[1.0] * D, sampled=True, dtype=F64, num_games=num_games)


def test_a_sampled_turn_sees_one_term_whose_mean_is_the_whole_game() -> None:
    game = sampled_game(3)
    game.reset([0, 1, 2])
    x = torch.randn(3, D, dtype=F64)
    y = torch.randn(3, D, dtype=F64)
    seen = torch.zeros(3, dtype=F64)
    draws = 4000
    for _ in range(draws):
        batch = game.sample()
        weights = batch.real[..., 0]
        assert ((weights != 0).sum(-1) == 1).all() and (weights.sum(-1) == D).all()  # one term, weight d
        seen += game.losses_at({"generator": x, "discriminator": y}, batch)["generator"]
    torch.testing.assert_close(seen / draws, (x * y).sum(-1), atol=0.15, rtol=0.05)  # unbiased, to Monte Carlo error


def test_a_sampled_gradient_moves_only_the_drawn_coordinate() -> None:
    env = pettingzoo.make("parallel", "minimax/Bilinear-v0", view="torch", A=np.eye(D).tolist(), x0=[1.0] * D,
                          y0=[1.0] * D, sampled=True, dtype="float64")  # fmt: skip
    minimax.train(env, {p: agents.make("sgd", lr=0.1) for p in minimax.PLAYERS}, 1, seed=0, progress=False)
    for p in minimax.PLAYERS:
        moved = (env.game.parameters(p)[0] != 1.0).sum().item()
        assert moved == 1, p  # the one drawn pair, by a step of lr * d


def test_the_sampled_option_is_checked() -> None:
    with pytest.raises(TypeError, match="sampled must be True or False, got 'yes'"):
        Bilinear(sampled="yes")


def test_extragradient_refuses_an_unknown_sampling() -> None:
    with pytest.raises(ValueError, match=r"samples must be one of \['same', 'independent'\], got 'fresh'"):
        agents.make("extragradient", lr=0.1, samples="fresh")


@pytest.mark.parametrize("samples", ["same", "independent"])
def test_stochastic_extragradient_in_lockstep_equals_lone_games(samples: str) -> None:
    vector = minimax.make_vector("minimax/Bilinear-v0", 3, A=np.eye(D).tolist(), x0=[1.0] * D, y0=[1.0] * D, sampled=True,
                                 dtype="float64", joint=True, schedule="simultaneous")  # fmt: skip
    minimax.train(vector, agents.make("extragradient", lr=0.1, samples=samples), 30, seed=[0, 1, 2], progress=False)
    for i in range(3):
        env = pettingzoo.make("parallel", "minimax/Bilinear-v0", view="torch", A=np.eye(D).tolist(), x0=[1.0] * D,
                              y0=[1.0] * D, sampled=True, dtype="float64")  # fmt: skip
        minimax.train(env, agents.make("extragradient", lr=0.1, samples=samples), 30, seed=i, progress=False)
        for p in minimax.PLAYERS:
            torch.testing.assert_close(vector.game.parameters(p)[i], env.game.parameters(p)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("samples, rule", [("independent", "extragradient"), ("same", "extragradient"),
                                           ("simultaneous", "sgd")])  # fmt: skip
def test_the_mean_square_rate_matches_its_closed_form(samples: str, rule: str) -> None:
    """Many games in lockstep: the mean over games of |z_t|^2 / |z_0|^2 follows rho^(2t) (Monte Carlo error)."""
    n, h, steps = 2000, 0.1, 10
    vector = minimax.make_vector("minimax/Bilinear-v0", n, A=np.eye(D).tolist(), x0=[1.0] * D, y0=[1.0] * D, sampled=True,
                                 dtype="float64", joint=rule != "sgd", schedule="simultaneous")  # fmt: skip
    if rule == "sgd":
        rules = {p: agents.make("sgd", lr=h) for p in minimax.PLAYERS}
    else:
        rules = agents.make("extragradient", lr=h, samples=samples)
    minimax.train(vector, rules, steps, seed=list(range(n)), progress=False)
    game = vector.game
    square = sum(game.parameters(p).pow(2).sum(-1) for p in minimax.PLAYERS) / (2 * D)
    expected = seg_rate(samples, h=h, d=D) ** (2 * steps)
    assert math.isclose(square.mean().item(), expected, rel_tol=0.05), (square.mean().item(), expected)


def test_one_term_for_both_steps_converges_where_fresh_terms_diverge() -> None:
    assert seg_rate("independent", h=0.05, d=10) > 1 > seg_rate("same", h=0.05, d=10)
    assert all(seg_rate("independent", h=h, d=3) > 1 for h in (1e-3, 1e-2, 0.1, 0.5))  # every step size, d >= 3


def test_a_residual_generator_reaches_beyond_its_tanh_range() -> None:
    task = Normal1D(noise="normal", hidden=8, g_skip=True)
    net = task.build_generator()
    assert isinstance(net[0], Residual)
    with torch.no_grad():
        net[0].skip.weight.fill_(1.0)
        z = torch.tensor([[-1e3], [0.0], [1e3]])
        out = net(z).reshape(-1)
    assert out[2] - out[0] > 1e3  # a bounded tanh body alone spans at most 2 x its output weights
    plain = Normal1D(noise="normal", hidden=8).build_generator()
    assert not any(isinstance(m, Residual) for m in plain.modules())
    with pytest.raises(TypeError, match="g_skip must be True or False, got 1"):
        Normal1D(g_skip=1)


def test_a_residual_network_is_lowered_and_matches_its_module() -> None:
    """Games in lockstep run the residual generator as batched kernels, equal to vmap of the module (values and
    gradients), and a residual game in lockstep equals the lone games."""
    from minimax.core.game import Game
    from minimax.core.networks import BatchedNetwork

    task = lambda: Normal1D(noise="normal", hidden=5, batch_size=16, g_skip=True)  # noqa: E731
    vector = Game(task(), 3, dtype=F64)
    vector.reset([0, 1, 2])
    network = vector.networks["generator"]
    assert network.lowered
    fallback = BatchedNetwork(network.template)
    fallback.ops = None
    x = torch.randn(3, 7, 1, dtype=F64)
    values = []
    for net in (network, fallback):
        theta = vector.params["generator"].detach().clone().requires_grad_(True)
        params = net.leaves(theta, requires_grad=True)
        out = net.run(params, dict(vector.buffers["generator"]), x, True)
        grads = torch.autograd.grad(out.pow(2).sum(), list(params.values()))
        values.append((out.detach(), [g.detach() for g in grads]))
    torch.testing.assert_close(values[0][0], values[1][0])
    for a, b in zip(values[0][1], values[1][1]):
        torch.testing.assert_close(a, b)
    env = minimax.make_vector("minimax/Normal1D-v0", 2, noise="normal", hidden=5, batch_size=16, g_skip=True,
                              dtype="float64")  # fmt: skip
    minimax.train(env, agents.make("adam", lr=1e-3), 5, seed=[0, 3], progress=False)
    for i, seed in enumerate([0, 3]):
        lone = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", noise="normal", hidden=5, batch_size=16,
                               g_skip=True, dtype="float64")  # fmt: skip
        minimax.train(lone, {p: agents.make("adam", lr=1e-3) for p in minimax.PLAYERS}, 5, seed=seed, progress=False)
        for p in minimax.PLAYERS:
            torch.testing.assert_close(env.game.parameters(p)[i], lone.game.parameters(p)[0], rtol=1e-9, atol=1e-10)
