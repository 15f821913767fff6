"""The vector game: N games in lockstep equal N lone games, deterministically, with per-game settings.

Equivalence tests run in float64: the only difference allowed between game i of a vector and
the lone game with the same seed is the rounding of batched versus unbatched matmuls, which
in float64 stays below 1e-10 over these short runs (float32 round-off, amplified by Adam's
normalisation of near-zero gradients, would blur a real bug with noise).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import agents
import minimax
from minimax.core.networks import BatchedNetwork
from minimax.envs.vector import VectorGameEnv, plan_ticks
from minimax.core.schedules import make_schedule
from minimax.tasks import MNIST, Normal1D
from minimax.tasks.mixtures import Ring8
from minimax.vector_game import VectorGame, load_into
from minimax.vector_training import per_game, train_vector

F64 = torch.float64


def small_1d(**kw) -> Normal1D:
    return Normal1D(hidden=8, batch_size=16, train_size=64, **kw)


def tiny_mnist() -> MNIST:
    images = np.random.default_rng(0).integers(0, 256, (64, 28, 28)).astype(np.uint8)
    return MNIST(images=images, batch_size=8, noise_dim=6, g_hidden=(12, 16), d_hidden=(16, 8))


def lone_run(task, seed, schedule, loss, rule_kw, iterations, fake_mode="train"):
    game = minimax.Game(task, loss=loss, dtype=F64, fake_mode=fake_mode)
    env = minimax.GameAECEnv(game, schedule)
    rules = {p: agents.make("adam", **rule_kw) for p in minimax.PLAYERS}
    history = minimax.train(env, rules, iterations, seed=seed, progress=False)
    return game, history


def assert_game_equals(vector: VectorGame, i: int, game: minimax.Game, vhist, hist, tol=1e-10) -> None:
    for p in minimax.PLAYERS:
        torch.testing.assert_close(vector.params[p][i], game.parameters(p), rtol=tol, atol=tol)
        for name, buffer in game.players[p].module.named_buffers():
            torch.testing.assert_close(vector.buffers[p][name][i], buffer, rtol=tol, atol=tol)
    for name, values in hist.metrics.items():
        np.testing.assert_allclose(vhist[name][:, i], values, rtol=1e-6, atol=1e-6, err_msg=name)


def test_each_game_equals_its_lone_game_with_per_game_seed_schedule_loss_and_lr() -> None:
    seeds = [3, 11, 5, 3]
    schedules = ["alternating:k=1", "alternating:k=3", "simultaneous", "alternating:k=2,first=generator"]
    losses = ["minimax", "non-saturating", "least-squares", "hinge"]
    lrs = [1e-3, 3e-3, 5e-4, 2e-3]
    beta1s, beta2s = [0.5, 0.9, 0.0, -0.3], [0.999, 0.99, 0.999, 0.9]
    vector = VectorGame(small_1d(), 4, loss=losses, dtype=F64)
    env = VectorGameEnv(vector, schedules)
    rule = agents.make("adam", lr=per_game(lrs, dtype=F64), betas=(per_game(beta1s, dtype=F64), per_game(beta2s, dtype=F64)))
    vhist = train_vector(env, rule, 15, seed=seeds, progress=False)
    assert env.ticks_per_iteration == 4
    for i in range(4):
        options = dict(lr=lrs[i], betas=(beta1s[i], beta2s[i]))
        game, hist = lone_run(small_1d(), seeds[i], schedules[i], losses[i], options, 15)
        assert_game_equals(vector, i, game, vhist, hist)


def test_per_game_momentum_matches_lone_games() -> None:
    momenta = [0.9, 0.0, -0.5]
    vector = VectorGame(small_1d(), 3, dtype=F64)
    rule = agents.make("momentum", lr=1e-2, momentum=per_game(momenta, dtype=F64))
    vhist = train_vector(VectorGameEnv(vector, "alternating:k=2"), rule, 10, seed=[0, 1, 2], progress=False)
    for i, momentum in enumerate(momenta):
        game = minimax.Game(small_1d(), dtype=F64)
        rules = {p: agents.make("momentum", lr=1e-2, momentum=momentum) for p in minimax.PLAYERS}
        hist = minimax.train(minimax.GameAECEnv(game, "alternating:k=2"), rules, 10, seed=i, progress=False)
        assert_game_equals(vector, i, game, vhist, hist)


def test_mnist_networks_with_batchnorm_split_turns_and_eval_fakes_equal_lone_games() -> None:
    schedules = ["alternating:k=1,split=true", "alternating:k=2,split=true", "alternating:k=1"]
    vector = VectorGame(tiny_mnist(), 3, loss="non-saturating", dtype=F64, fake_mode="eval")
    assert vector.networks["generator"].lowered and vector.networks["discriminator"].lowered
    env = VectorGameEnv(vector, schedules)
    vhist = train_vector(env, agents.make("adam", lr=2e-4, betas=(0.5, 0.999)), 6, seed=[0, 1, 2], progress=False)
    for i in range(3):
        game, hist = lone_run(tiny_mnist(), i, schedules[i], "non-saturating", dict(lr=2e-4, betas=(0.5, 0.999)), 6, "eval")
        assert_game_equals(vector, i, game, vhist, hist)


def test_networks_that_cannot_be_lowered_run_through_vmap_and_still_match() -> None:
    task = Ring8(pack=2, batch_size=16, hidden=8, depth=2)
    vector = VectorGame(task, 2, loss="non-saturating", dtype=F64)
    assert not vector.networks["discriminator"].lowered  # packing is not a lowered layer
    vhist = train_vector(VectorGameEnv(vector), agents.make("adam", lr=1e-3), 5, seed=[0, 7], progress=False)
    for i, seed in enumerate([0, 7]):
        game, hist = lone_run(Ring8(pack=2, batch_size=16, hidden=8, depth=2), seed, "alternating", "non-saturating",
                              dict(lr=1e-3), 5)  # fmt: skip
        assert_game_equals(vector, i, game, vhist, hist)


def test_lowered_network_equals_vmap_of_the_module() -> None:
    vector = VectorGame(tiny_mnist(), 3, dtype=F64)
    vector.reset([0, 1, 2])
    for player, shape in (("generator", (3, 5, 6)), ("discriminator", (3, 5, 1, 28, 28))):
        x = torch.randn(shape, dtype=F64)
        network = vector.networks[player]
        fallback = BatchedNetwork(network.template)
        fallback.ops = None
        params = network.leaves(vector.params[player], requires_grad=False)
        buffers_a = {k: v.clone() for k, v in vector.buffers[player].items()}
        buffers_b = {k: v.clone() for k, v in vector.buffers[player].items()}
        for train in (True, False):
            torch.testing.assert_close(network(params, buffers_a, x, train), fallback(params, buffers_b, x, train))
        for k in buffers_a:  # running statistics advanced the same way
            torch.testing.assert_close(buffers_a[k], buffers_b[k])


def test_vector_runs_are_bitwise_deterministic_on_cpu() -> None:
    def run():
        vector = VectorGame(small_1d(), 3, loss=["minimax", "non-saturating", "minimax"])
        env = VectorGameEnv(vector, ["alternating:k=1", "alternating:k=2", "simultaneous"])
        history = train_vector(env, agents.make("adam", lr=per_game([1e-3, 2e-3, 3e-3])), 20, seed=[1, 2, 3], progress=False)
        return vector, history

    (a, ha), (b, hb) = run(), run()
    for p in minimax.PLAYERS:
        assert torch.equal(a.params[p], b.params[p])
    for name in ha.metrics:
        np.testing.assert_array_equal(ha[name], hb[name])


def test_a_diverging_game_stops_alone_and_the_others_go_on_untouched() -> None:
    vector = VectorGame(small_1d(), 3)
    env = VectorGameEnv(vector)
    rule = agents.make("sgd", lr=per_game([1e-3, 1e38, 1e-3]))
    history = train_vector(env, rule, 30, seed=[0, 1, 2], progress=False)
    reasons = history.reasons()
    assert reasons[0] is None and reasons[2] is None
    assert reasons[1] is not None and reasons[1].startswith("non-finite move")
    assert 0 <= history.diverged_at[1] < 30
    for p in minimax.PLAYERS:
        assert torch.isfinite(vector.params[p][[0, 2]]).all()
    assert np.isfinite(history["discriminator_loss"][:, [0, 2]]).all()
    # the healthy games are exactly where they would be without the diverging neighbour
    alone = VectorGame(small_1d(), 1)
    train_vector(VectorGameEnv(alone), agents.make("sgd", lr=1e-3), 30, seed=[2], progress=False)
    torch.testing.assert_close(alone.params["generator"][0], vector.params["generator"][2])


def test_per_game_step_counts_follow_each_games_own_moves() -> None:
    vector = VectorGame(small_1d(), 2)
    env = VectorGameEnv(vector, ["alternating:k=1", "alternating:k=4"])
    observations, _ = env.reset(seed=[0, 1])
    rule = agents.make("adam", lr=1e-3)
    state = rule.init(vector.params["discriminator"])
    assert state[0].count.shape == (2, 1)
    moves = [int(t.moving["discriminator"][0]) for t in env.ticks], [int(t.moving["discriminator"][1]) for t in env.ticks]
    assert moves == ([1, 0, 0, 0, 0], [1, 1, 1, 1, 0])


def test_plan_ticks_aligns_schedules_on_iterations() -> None:
    ticks = plan_ticks([make_schedule("alternating:k=2"), make_schedule("simultaneous"), make_schedule("alternating:k=1,split=true")])
    assert len(ticks) == 3
    assert ticks[0].moves[("discriminator", "both")] == (0, 1) and ticks[0].moves[("generator", "both")] == (1,)
    assert ticks[0].moves[("discriminator", "real")] == (2,) and ticks[1].moves[("discriminator", "fake")] == (2,)
    assert ticks[2].moves == {("generator", "both"): (0, 2)}


def test_load_into_moves_a_vector_game_into_a_lone_game() -> None:
    vector = VectorGame(small_1d(), 2)
    vector.reset([4, 9])
    game = minimax.Game(small_1d())
    load_into(game, vector, 1)
    for p in minimax.PLAYERS:
        assert torch.equal(game.parameters(p), vector.params[p][1])
    samples = vector.generate(50)
    torch.testing.assert_close(samples[1], game.generate(50))


def test_state_memory_is_n_times_one_game() -> None:
    one, many = VectorGame(tiny_mnist(), 1), VectorGame(tiny_mnist(), 7)

    def nbytes(v: VectorGame) -> int:
        tensors = list(v.params.values()) + [b for p in v.buffers.values() for b in p.values()]
        return sum(t.numel() * t.element_size() for t in tensors)

    assert nbytes(many) == 7 * nbytes(one)


def test_spaces_and_observations_have_batched_shapes() -> None:
    vector = VectorGame(small_1d(), 5)
    env = VectorGameEnv(vector, "alternating:k=2", max_iterations=2)
    observations, infos = env.reset(seed=0)
    assert env.num_envs == 5 and len(env.seeds) == 5
    for p in minimax.PLAYERS:
        size = vector.size(p)
        assert env.observation_space(p)["gradient"].shape == (5, size)
        assert env.action_space(p).shape == (5, size)
        assert observations[p]["parameters"].shape == (5, size)
        assert observations[p]["moving"].dtype == torch.bool
    assert observations["discriminator"]["moving"].all() and not observations["generator"]["moving"].any()
    assert infos["discriminator"]["d_real"].shape == (5,)
    for _ in range(3 * 2 - 1):
        moving = [p for p in minimax.PLAYERS if observations[p]["moving"].any()]
        observations, rewards, terms, truncs, infos = env.step({p: torch.zeros_like(vector.params[p]) for p in moving})
        assert not truncs["generator"].any()
    observations, rewards, terms, truncs, infos = env.step({"generator": torch.zeros_like(vector.params["generator"])})
    assert truncs["generator"].all() and env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})


def test_bad_input_is_refused_with_clear_errors() -> None:
    with pytest.raises(ValueError, match="r1=1.*cannot run in a vector game"):
        VectorGame(small_1d(), 2, loss="non-saturating:r1=1")
    with pytest.raises(ValueError, match="one per game \\(3\\), got 2"):
        VectorGame(small_1d(), 3, loss=["minimax", "minimax"])
    with pytest.raises(ValueError, match="num_games"):
        VectorGame(small_1d(), 0)
    vector = VectorGame(small_1d(), 2)
    with pytest.raises(ValueError, match="one schedule or one per game \\(2\\), got 3"):
        VectorGameEnv(vector, ["alternating"] * 3)
    env = VectorGameEnv(vector)
    with pytest.raises(ValueError, match="one seed per game \\(2\\)"):
        env.reset(seed=[1, 2, 3])
    env.reset(seed=[1, 2])
    with pytest.raises(ValueError, match=r"shape \(2, \d+\)"):
        env.step({"discriminator": torch.zeros(3)})
    with pytest.raises(ValueError, match="discriminator moves in this tick"):
        env.step({})
    with pytest.raises(TypeError, match="init\\(params\\) and update"):
        train_vector(env, object(), 1, progress=False)


def test_make_vector_builds_from_a_registered_id_with_per_game_settings() -> None:
    env = minimax.make_vector("minimax/Normal1D-v0", 3, schedule=["alternating:k=1", "alternating:k=2", "simultaneous"],
                              loss=["minimax", "hinge", "non-saturating"], hidden=8, batch_size=16, max_iterations=4)  # fmt: skip
    assert isinstance(env, minimax.VectorGameEnv) and env.game.task.hidden == 8
    history = minimax.train_vector(env, agents.make("sgd", lr=1e-2), 4, seed=0, progress=False)
    assert history["generator_loss"].shape == (4, 3) and np.isfinite(history["generator_loss"]).all()
    with pytest.raises(TypeError, match="unknown option.*'hiden'"):
        minimax.make_vector("minimax/Normal1D-v0", 2, hiden=8)
    with pytest.raises(ValueError, match="no vector env for 'minimax/Bilinear-v0'"):
        minimax.make_vector("minimax/Bilinear-v0", 2)


@pytest.mark.parametrize(
    "name, options",
    [
        ("adam", dict(lr=1e-2)),
        ("adam", dict(lr=1e-2, amsgrad=True, weight_decay=0.1, betas=(-0.5, 0.99))),
        ("adamw", dict(lr=1e-2)),
        ("momentum", dict(lr=0.1, momentum=0.9)),
        ("momentum", dict(lr=0.1, momentum=-0.5, dampening=0.3)),
        ("nesterov", dict(lr=0.1, weight_decay=0.01)),
        ("sgd", dict(lr=0.1)),
        ("rmsprop", dict(lr=0.01)),  # no in-place form: update_ falls back to update
        ("optimistic-adam", dict(lr=0.01)),
    ],
)
def test_in_place_update_is_bitwise_the_functional_update(name: str, options: dict) -> None:
    options = {**options, "lr": per_game([options["lr"], 2 * options["lr"], 0.5 * options["lr"]])}
    rule = agents.make(name, **options)
    assert rule.in_place == (name not in ("rmsprop", "optimistic-adam"))
    generator = torch.Generator().manual_seed(0)
    params = torch.randn(3, 40, generator=generator)
    functional, in_place = rule.init(params), rule.init(params)
    for _ in range(6):
        grads = torch.randn(3, 40, generator=generator)
        delta, functional = rule.update(grads, functional, params)
        delta_, in_place = rule.update_(grads.clone(), in_place, params)
        assert torch.equal(delta, delta_)
        params = params + delta


def test_precision_options_change_results_only_where_they_say() -> None:
    def run(precision: str):
        vector = VectorGame(tiny_mnist(), 2, loss="non-saturating", precision=precision)
        history = train_vector(VectorGameEnv(vector), agents.make("adam", lr=1e-3), 6, seed=[0, 1], progress=False)
        return vector.params["generator"], history["generator_loss"]

    exact, tf32, bf16 = run("highest"), run("tf32"), run("bf16")
    assert torch.equal(exact[0], tf32[0])  # TF32 only touches CUDA matmuls: no effect on the CPU
    assert torch.isfinite(bf16[0]).all() and bf16[0].dtype == torch.float32  # state stays float32
    assert not torch.equal(exact[0], bf16[0])  # bfloat16 matmuls change the trajectory ...
    np.testing.assert_allclose(bf16[1], exact[1], atol=0.05)  # ... by about their 8-bit mantissa
    with pytest.raises(ValueError, match="precision"):
        VectorGame(small_1d(), 2, precision="fp8")


@pytest.mark.parametrize("options", [{}, {"noise": "normal"}, {"train_size": 64}, {"samples": np.arange(10.0)}])
def test_batched_sampling_draws_exactly_what_each_game_would(options: dict) -> None:
    task = Normal1D(hidden=4, batch_size=16, **options)
    copies = [copy.copy(task) for _ in range(3)]
    data_rngs = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    for t, g in zip(copies, data_rngs):
        t.reset(g)
    lone = [copy.deepcopy((t, g.get_state())) for t, g in zip(copies, data_rngs)]
    batch = task.sample_data_games(copies, 16, data_rngs, torch.device("cpu"))
    noise = task.sample_noise_games(16, [torch.Generator().manual_seed(s) for s in (4, 5, 6)], torch.device("cpu"))
    for i, (t, state) in enumerate(lone):
        g = torch.Generator()
        g.set_state(state)
        assert torch.equal(batch[i], t.sample_data(16, g, torch.device("cpu")))
        assert torch.equal(noise[i], task.sample_noise(16, torch.Generator().manual_seed(4 + i), torch.device("cpu")))
