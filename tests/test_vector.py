"""N games in lockstep: one engine, so game i of N equals the lone game with the same seed, for every feature.

Equivalence tests run in float64: the only difference allowed between game i of N and the lone
game with the same seed is the rounding of batched versus unbatched matmuls, which in float64
stays below 1e-10 over these short runs (float32 round-off, amplified by Adam's normalisation
of near-zero gradients, would blur a real bug with noise).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pettingzoo
import pytest
import torch

import agents
import minimax
from minimax.core.game import Game
from minimax.core.networks import BatchedNetwork
from minimax.core.schedules import make_schedule
from minimax.envs.vector import VectorGameEnv, plan_ticks
from minimax.tasks import DiracGAN, MNIST, Normal1D
from minimax.tasks.mixtures import Ring8
from minimax.tasks.payoff import Bilinear
from minimax.training import checkpoint as ckpt

F64 = torch.float64
per_game = minimax.per_game


def small_1d(**kw) -> Normal1D:
    return Normal1D(hidden=8, batch_size=16, train_size=64, **kw)


def tiny_mnist() -> MNIST:
    images = np.random.default_rng(0).integers(0, 256, (64, 28, 28)).astype(np.uint8)
    return MNIST(images=images, batch_size=8, noise_dim=6, g_hidden=(12, 16), d_hidden=(16, 8))


def lone_run(task, seed, schedule, loss, rules, iterations, fake_mode="train", kind="aec"):
    game = Game(task, loss=loss, dtype=F64, fake_mode=fake_mode)
    env = minimax.GameAECEnv(game, schedule) if kind == "aec" else minimax.GameParallelEnv(game)
    history = minimax.train(env, rules, iterations, seed=seed, progress=False)
    return game, history


def assert_game_equals(vector: Game, i: int, game: Game, vhist, hist, tol=1e-10) -> None:
    for p in minimax.PLAYERS:
        torch.testing.assert_close(vector.params[p][i], game.parameters(p)[0], rtol=tol, atol=tol)
        for name, buffer in game.buffers[p].items():
            torch.testing.assert_close(vector.buffers[p][name][i], buffer[0], rtol=tol, atol=tol)
    for name, values in hist.metrics.items():
        np.testing.assert_allclose(vhist[name][:, i], values[:, 0], rtol=1e-6, atol=1e-6, err_msg=name)
    assert vhist.moves[i] == hist.moves[0]


def adam(**kw):
    return {p: agents.make("adam", **kw) for p in minimax.PLAYERS}


def test_each_game_equals_its_lone_game_with_per_game_seed_schedule_loss_and_lr() -> None:
    seeds = [3, 11, 5, 3]
    schedules = ["alternating:k=1", "alternating:k=3", "simultaneous", "alternating:k=2,first=generator"]
    losses = ["minimax", "non-saturating", "least-squares", "hinge"]
    lrs = [1e-3, 3e-3, 5e-4, 2e-3]
    beta1s, beta2s = [0.5, 0.9, 0.0, -0.3], [0.999, 0.99, 0.999, 0.9]
    vector = Game(small_1d(), 4, loss=losses, dtype=F64)
    env = VectorGameEnv(vector, schedules)
    rule = agents.make("adam", lr=per_game(lrs, dtype=F64), betas=(per_game(beta1s, dtype=F64), per_game(beta2s, dtype=F64)))
    vhist = minimax.train(env, rule, 15, seed=seeds, progress=False)
    assert env.ticks_per_iteration == 4 and vhist["generator_loss"].shape == (15, 4)
    for i in range(4):
        game, hist = lone_run(small_1d(), seeds[i], schedules[i], losses[i], adam(lr=lrs[i], betas=(beta1s[i], beta2s[i])), 15)
        assert_game_equals(vector, i, game, vhist, hist)


# Every loss option, per game: input gradients (R1, R2, WGAN-GP) and random draws (GP's interpolates,
# instance noise) of each game from its own loss stream; with split turns and a simultaneous game.
PENALISED = [("non-saturating:r1=1", "alternating:k=1"), ("minimax:r2=0.5", "alternating:k=2,split=true"),
             ("wasserstein:gp=10", "simultaneous"), ("non-saturating:noise=0.1", "alternating:k=1,split=true"),
             ("non-saturating:r1=1,noise=0.2", "alternating:k=2"), ("hinge", "alternating:k=1")]  # fmt: skip


def test_every_loss_option_runs_per_game_and_equals_the_lone_game() -> None:
    losses, schedules = zip(*PENALISED)
    seeds = [2, 4, 6, 8, 10, 12]
    vector = Game(small_1d(), len(losses), loss=list(losses), dtype=F64)
    vhist = minimax.train(VectorGameEnv(vector, list(schedules)), agents.make("adam", lr=1e-3), 8, seed=seeds, progress=False)
    for i, (loss, schedule) in enumerate(PENALISED):
        game, hist = lone_run(small_1d(), seeds[i], schedule, loss, adam(lr=1e-3), 8)
        assert_game_equals(vector, i, game, vhist, hist)


def test_per_game_momentum_matches_lone_games() -> None:
    momenta = [0.9, 0.0, -0.5]
    vector = Game(small_1d(), 3, dtype=F64)
    rule = agents.make("momentum", lr=1e-2, momentum=per_game(momenta, dtype=F64))
    vhist = minimax.train(VectorGameEnv(vector, "alternating:k=2"), rule, 10, seed=[0, 1, 2], progress=False)
    for i, momentum in enumerate(momenta):
        rules = {p: agents.make("momentum", lr=1e-2, momentum=momentum) for p in minimax.PLAYERS}
        game, hist = lone_run(small_1d(), i, "alternating:k=2", "minimax", rules, 10)
        assert_game_equals(vector, i, game, vhist, hist)


def test_mnist_networks_with_batchnorm_split_turns_and_eval_fakes_equal_lone_games() -> None:
    schedules = ["alternating:k=1,split=true", "alternating:k=2,split=true", "alternating:k=1"]
    vector = Game(tiny_mnist(), 3, loss="non-saturating:r1=0.5", dtype=F64, fake_mode="eval")
    assert vector.networks["generator"].lowered and vector.networks["discriminator"].lowered
    env = VectorGameEnv(vector, schedules)
    vhist = minimax.train(env, agents.make("adam", lr=2e-4, betas=(0.5, 0.999)), 6, seed=[0, 1, 2], progress=False)
    for i in range(3):
        game, hist = lone_run(tiny_mnist(), i, schedules[i], "non-saturating:r1=0.5", adam(lr=2e-4, betas=(0.5, 0.999)),
                              6, "eval")  # fmt: skip
        assert_game_equals(vector, i, game, vhist, hist)


def test_networks_that_cannot_be_lowered_run_through_vmap_and_still_match() -> None:
    task = Ring8(pack=2, batch_size=16, hidden=8, depth=2)
    vector = Game(task, 2, loss="wasserstein:gp=1", dtype=F64)
    assert not vector.networks["discriminator"].lowered  # packing is not a lowered layer
    vhist = minimax.train(VectorGameEnv(vector), agents.make("adam", lr=1e-3), 5, seed=[0, 7], progress=False)
    for i, seed in enumerate([0, 7]):
        game, hist = lone_run(Ring8(pack=2, batch_size=16, hidden=8, depth=2), seed, "alternating", "wasserstein:gp=1",
                              adam(lr=1e-3), 5)  # fmt: skip
        assert_game_equals(vector, i, game, vhist, hist)


@pytest.mark.parametrize("name, options", [
    ("extragradient", dict(lr=0.05)), ("past-extragradient", dict(lr=0.05)), ("consensus", dict(lr=0.05, gamma=0.5)),
    ("sga", dict(lr=0.05)), ("cgd", dict(lr=0.05)), ("cgd", dict(lr=0.02, exact=False, cg_max_iter=8)),
])  # fmt: skip
def test_joint_rules_move_n_games_as_each_lone_parallel_game(name: str, options: dict) -> None:
    """Game-aware rules on N games: their field, J products and solves are per game."""
    task = lambda: Normal1D(hidden=3, batch_size=8)  # noqa: E731
    vector = Game(task(), 3, loss=["minimax", "non-saturating:r1=1", "minimax:noise=0.1"], dtype=F64)
    env = VectorGameEnv(vector, "simultaneous", joint=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", agents.game_aware.ConvergenceWarning)
        vhist = minimax.train(env, agents.make(name, **options), 4, seed=[1, 2, 3], progress=False)
        for i, loss in enumerate(["minimax", "non-saturating:r1=1", "minimax:noise=0.1"]):
            game, hist = lone_run(task(), i + 1, None, loss, agents.make(name, **options), 4, kind="parallel")
            assert_game_equals(vector, i, game, vhist, hist, tol=1e-9)


def test_payoff_games_in_lockstep_equal_lone_ones() -> None:
    vector = Bilinear(A=[[1.0, 2.0], [0.5, -1.0]], x0=[1.0, -1.0], y0=[0.5, 2.0], gradient_noise=0.1, dtype=F64,
                      num_games=3)  # fmt: skip
    rule = agents.make("momentum", lr=per_game([0.1, 0.2, 0.3], dtype=F64), momentum=-0.3)
    vhist = minimax.train(VectorGameEnv(vector, "alternating:k=1"), rule, 20, seed=[0, 1, 2], progress=False)
    for i, lr in enumerate([0.1, 0.2, 0.3]):
        env = pettingzoo.make("aec", "minimax/Bilinear-v0", view="torch", A=[[1.0, 2.0], [0.5, -1.0]], x0=[1.0, -1.0], y0=[0.5, 2.0],
                              gradient_noise=0.1, dtype="float64")  # fmt: skip
        hist = minimax.train(env, {p: agents.make("momentum", lr=lr, momentum=-0.3) for p in minimax.PLAYERS}, 20,
                             seed=i, progress=False)  # fmt: skip
        for p in minimax.PLAYERS:
            torch.testing.assert_close(vector.params[p][i], env.game.parameters(p)[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(vhist["value"][:, i], hist["value"][:, 0], rtol=1e-6)


def test_one_game_through_batched_kernels_equals_its_modules() -> None:
    """N = 1 may run either way; the turn logic is the same, the results agree to round-off."""
    histories, games = [], []
    for execution in ("modules", "batched"):
        game = Game(tiny_mnist(), loss="non-saturating:r1=1", dtype=F64, fake_mode="eval", execution=execution)
        env = minimax.GameAECEnv(game, "alternating:k=1,split=true")
        histories.append(minimax.train(env, adam(lr=2e-4, betas=(0.5, 0.999)), 6, seed=4, progress=False))
        games.append(game)
    assert isinstance(games[1].networks["generator"], BatchedNetwork)
    assert_game_equals(games[1], 0, games[0], histories[1], histories[0])


def test_lowered_network_equals_vmap_of_the_module() -> None:
    vector = Game(tiny_mnist(), 3, dtype=F64)
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
            torch.testing.assert_close(network.run(params, buffers_a, x, train), fallback.run(params, buffers_b, x, train))
        for k in buffers_a:  # running statistics advanced the same way
            torch.testing.assert_close(buffers_a[k], buffers_b[k])


def test_runs_of_n_games_are_bitwise_deterministic_on_cpu() -> None:
    def run():
        vector = Game(small_1d(), 3, loss=["minimax", "non-saturating:r1=1", "minimax:noise=0.1"])
        env = VectorGameEnv(vector, ["alternating:k=1", "alternating:k=2", "simultaneous"])
        history = minimax.train(env, agents.make("adam", lr=per_game([1e-3, 2e-3, 3e-3])), 20, seed=[1, 2, 3], progress=False)
        return vector, history

    (a, ha), (b, hb) = run(), run()
    for p in minimax.PLAYERS:
        assert torch.equal(a.params[p], b.params[p])
    for name in ha.metrics:
        np.testing.assert_array_equal(ha[name], hb[name])


def test_a_diverging_game_stops_alone_and_the_others_go_on_untouched() -> None:
    vector = Game(small_1d(), 3)
    env = VectorGameEnv(vector)
    history = minimax.train(env, agents.make("sgd", lr=per_game([1e-3, 1e38, 1e-3])), 30, seed=[0, 1, 2], progress=False)
    reasons = history.reasons()
    assert reasons[0] is None and reasons[2] is None
    # the words of a lone env: what, whose and at which of the game's steps
    assert reasons[1] is not None and reasons[1].startswith("non-finite") and " at step " in reasons[1]
    assert 0 <= history.diverged_at[1] < 30 and history.diverged_players()[1] in minimax.PLAYERS
    frozen = vector.params["generator"][1].clone()
    for p in minimax.PLAYERS:
        assert torch.isfinite(vector.params[p][[0, 2]]).all()
    assert np.isfinite(history["discriminator_loss"][:, [0, 2]]).all()
    # the healthy games are exactly where they would be without the diverging neighbour
    alone = Game(small_1d(), 1)
    minimax.train(VectorGameEnv(alone), agents.make("sgd", lr=1e-3), 30, seed=[2], progress=False)
    torch.testing.assert_close(alone.params["generator"][0], vector.params["generator"][2])
    # and the diverged game stays frozen while the others go on
    healthy = vector.params["generator"][0].clone()
    env.play({"discriminator": torch.ones_like(vector.params["discriminator"])})
    env.play({"generator": torch.ones_like(vector.params["generator"])})
    torch.testing.assert_close(vector.params["generator"][1], frozen, rtol=0, atol=0, equal_nan=True)
    assert torch.equal(vector.params["generator"][0], healthy + 1)


def test_a_lone_and_a_vector_game_name_the_same_divergence_in_the_same_words() -> None:
    lone = pettingzoo.make("aec", "minimax/Normal1D-v0", view="torch", hidden=8, batch_size=16)
    hist = minimax.train(lone, {p: agents.make("sgd", lr=1e38) for p in minimax.PLAYERS}, 10, seed=5, progress=False)
    vector = minimax.make_vector("minimax/Normal1D-v0", 2, hidden=8, batch_size=16)
    vhist = minimax.train(vector, agents.make("sgd", lr=per_game([1e-3, 1e38])), 10, seed=[1, 5], progress=False)
    assert hist.reason is not None and vhist.reasons() == [None, hist.reason]


def test_kill_and_resume_of_n_games_is_bitwise_an_uninterrupted_run(tmp_path) -> None:
    def make():
        game = Game(small_1d(), 3, loss=["minimax:noise=0.1", "non-saturating:r1=1", "hinge"])
        env = VectorGameEnv(game, ["alternating:k=1,split=true", "alternating:k=3", "simultaneous"])
        return env, {p: agents.averaged(agents.make("adam", lr=per_game([1e-3, 2e-3, 3e-3])), 0.9) for p in minimax.PLAYERS}

    env, rules = make()
    reference = minimax.train(env, rules, 20, seed=[4, 5, 6], progress=False)

    class Crash(Exception):
        pass

    def crash(i, e, h):
        raise Crash

    first, rules_first = make()
    with pytest.raises(Crash):
        minimax.train(first, rules_first, 20, seed=[4, 5, 6], progress=False, checkpoint_dir=tmp_path,
                      checkpoint_every=7, callbacks=[crash], callback_at=[10])  # fmt: skip
    assert ckpt.latest(tmp_path).name == "checkpoint-000000007.ckpt"
    again, rules_again = make()  # as in a new process
    resumed = minimax.train(again, rules_again, 20, seed=[4, 5, 6], progress=False, checkpoint_dir=tmp_path, resume=True)
    assert resumed.settings["resumed_at"] == [7]
    for p in minimax.PLAYERS:
        assert torch.equal(env.game.params[p], again.game.params[p])
        for k, v in env.game.buffers[p].items():
            assert torch.equal(v, again.game.buffers[p][k])
        assert torch.equal(rules[p].state.average, rules_again[p].state.average)
    for name in reference.metrics:
        np.testing.assert_array_equal(reference[name], resumed[name], err_msg=name)
    assert reference.seeds == resumed.seeds == [4, 5, 6]


def test_per_game_step_counts_follow_each_games_own_moves() -> None:
    vector = Game(small_1d(), 2)
    env = VectorGameEnv(vector, ["alternating:k=1", "alternating:k=4"])
    env.reset(seed=[0, 1])
    rule = agents.make("adam", lr=1e-3)
    state = rule.init(vector.params["discriminator"])
    assert state[0].count.shape == (2, 1)
    moves = [int(t.moving["discriminator"][0]) for t in env.ticks], [int(t.moving["discriminator"][1]) for t in env.ticks]
    assert moves == ([1, 0, 0, 0, 0], [1, 1, 1, 1, 0])
    history = minimax.train(env, rule, 3, seed=[0, 1], progress=False)
    assert history.moves.tolist() == [3 * 2, 3 * 5]


def test_plan_ticks_aligns_schedules_on_iterations() -> None:
    ticks = plan_ticks([make_schedule("alternating:k=2"), make_schedule("simultaneous"), make_schedule("alternating:k=1,split=true")])
    assert len(ticks) == 3
    assert ticks[0].moves[("discriminator", "both")] == (0, 1) and ticks[0].moves[("generator", "both")] == (1,)
    assert ticks[0].moves[("discriminator", "real")] == (2,) and ticks[1].moves[("discriminator", "fake")] == (2,)
    assert ticks[2].moves == {("generator", "both"): (0, 2)}


def test_game_i_can_be_taken_out_as_a_module_and_generates_as_the_vector_does() -> None:
    vector = Game(small_1d(), 2)
    vector.reset([4, 9])
    lone = Game(small_1d())
    lone.reset([0])
    state = vector.state_dict()
    lone_state = lone.state_dict()
    for p in minimax.PLAYERS:  # game 1 of the vector, as a lone game
        lone_state["parameters"][p] = state["parameters"][p][1:2]
        lone_state["buffers"][p] = {k: v[1:2] for k, v in state["buffers"][p].items()}
    lone.load_state_dict(lone_state)
    torch.testing.assert_close(vector.generate(50)[1], lone.generate(50)[0])
    z = torch.rand(5, 1)
    torch.testing.assert_close(vector.module("generator", 1).eval()(z), lone.module("generator").eval()(z))
    assert not any(p.requires_grad is False for p in vector.module("generator", 1).parameters())  # a plain nn.Module


def test_state_memory_is_n_times_one_game() -> None:
    one, many = Game(tiny_mnist(), 1), Game(tiny_mnist(), 7)

    def nbytes(v: Game) -> int:
        tensors = list(v.params.values()) + [b for p in v.buffers.values() for b in p.values()]
        return sum(t.numel() * t.element_size() for t in tensors)

    assert nbytes(many) == 7 * nbytes(one)


def test_spaces_and_observations_have_batched_shapes() -> None:
    vector = Game(small_1d(), 5)
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
    with pytest.raises(ValueError, match="one per game \\(3\\), got 2"):
        Game(small_1d(), 3, loss=["minimax", "minimax"])
    with pytest.raises(ValueError, match="num_games"):
        Game(small_1d(), 0)
    with pytest.raises(ValueError, match="execution='modules' runs one game's modules; this game has 2"):
        Game(small_1d(), 2, execution="modules")
    vector = Game(small_1d(), 2)
    with pytest.raises(ValueError, match="one schedule or one per game \\(2\\), got 3"):
        VectorGameEnv(vector, ["alternating"] * 3)
    with pytest.raises(ValueError, match="a view of one game; this game has 2"):
        minimax.GameAECEnv(vector)
    env = VectorGameEnv(vector)
    with pytest.raises(ValueError, match="one seed per game \\(2\\)"):
        env.reset(seed=[1, 2, 3])
    env.reset(seed=[1, 2])
    with pytest.raises(ValueError, match=r"shape \(2, \d+\)"):
        env.step({"discriminator": torch.zeros(3)})
    with pytest.raises(ValueError, match="discriminator moves in this tick"):
        env.step({})
    with pytest.raises(TypeError, match="update rule with act"):
        minimax.train(env, object(), 1, progress=False)
    with pytest.raises(AttributeError, match="different loss families"):
        Game(small_1d(), 2, loss=["minimax", "hinge"]).loss


def test_make_vector_builds_from_a_registered_id_with_per_game_settings() -> None:
    env = minimax.make_vector("minimax/Normal1D-v0", 3, schedule=["alternating:k=1", "alternating:k=2", "simultaneous"],
                              loss=["minimax", "hinge", "non-saturating:r1=1"], hidden=8, batch_size=16, max_iterations=4)  # fmt: skip
    assert isinstance(env, minimax.VectorGameEnv) and env.game.task.hidden == 8
    history = minimax.train(env, agents.make("sgd", lr=1e-2), 4, seed=0, progress=False)
    assert history["generator_loss"].shape == (4, 3) and np.isfinite(history["generator_loss"]).all()
    assert history.truncated and history.game(2)["value"].shape == (4,)
    with pytest.raises(TypeError, match="unknown option.*'hiden'"):
        minimax.make_vector("minimax/Normal1D-v0", 2, hiden=8)
    with pytest.raises(ValueError, match="unknown env id 'minimax/Nope-v0'"):
        minimax.make_vector("minimax/Nope-v0", 2)
    assert minimax.make_vector("minimax/Bilinear-v0", 4).num_envs == 4


def test_the_vector_api_of_minimax_0_1_still_works_with_a_warning() -> None:
    env = minimax.make_vector("minimax/Normal1D-v0", 2, hidden=4, batch_size=8)
    with pytest.warns(DeprecationWarning, match="train_vector"):
        history = minimax.train_vector(env, agents.make("sgd", lr=1e-2), 3, seed=[0, 1], progress=False)
    assert isinstance(history, minimax.VectorHistory) and history.num_games == 2
    assert minimax.VectorGame is minimax.Game


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
        vector = Game(tiny_mnist(), 2, loss="non-saturating", precision=precision)
        history = minimax.train(VectorGameEnv(vector), agents.make("adam", lr=1e-3), 6, seed=[0, 1], progress=False)
        return vector.params["generator"], history["generator_loss"]

    exact, tf32, bf16 = run("highest"), run("tf32"), run("bf16")
    assert torch.equal(exact[0], tf32[0])  # TF32 only touches CUDA matmuls: no effect on the CPU
    assert torch.isfinite(bf16[0]).all() and bf16[0].dtype == torch.float32  # state stays float32
    assert not torch.equal(exact[0], bf16[0])  # bfloat16 matmuls change the trajectory ...
    np.testing.assert_allclose(bf16[1], exact[1], atol=0.05)  # ... by about their 8-bit mantissa
    with pytest.raises(ValueError, match="precision"):
        Game(small_1d(), 2, precision="fp8")


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


def test_dirac_games_in_lockstep_share_the_closed_form_field() -> None:
    """The joint field of N games: one Jacobian per game, each with the closed-form eigenvalues."""
    game = Game(DiracGAN(theta=0.0, psi=0.0), 3, loss=["minimax", "minimax:r1=1", "wasserstein"], dtype=F64)
    env = VectorGameEnv(game, "simultaneous")
    env.reset(seed=[0, 1, 2])
    eig = minimax.field.eigenvalues(env.field().jacobian())
    assert eig.shape == (3, 2)
    expected = [[-0.5j, 0.5j], [0.5 + 0j, 0.5 + 0j], [-1j, 1j]]  # +-f'(0) i; R1 gamma = 2 f'(0) = 1: a double 1/2
    for got, want in zip(eig, expected):
        np.testing.assert_allclose(sorted(got.numpy(), key=lambda z: (z.real, z.imag)), want, atol=1e-6)
