"""Compiled ticks (``minimax.train(..., compile=True)``): one ``torch.compile(fullgraph=True)`` graph per tick.

The contract: the same trajectories as the eager engine to round-off (float64 here, where the
compiler's reordering of elementwise work stays near 1e-15), the same records (history,
rewards, infos, divergence words), checkpoints that resume in either engine, no graph break,
and a clear refusal of what is not supported. Compiling takes seconds per kind of tick, so the
games are small and each env is compiled once for several checks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

import agents
import minimax
from minimax.core.game import Game
from minimax.envs.vector import VectorGameEnv
from minimax.tasks import MNIST, Normal1D
from minimax.training.compiled import compile_problems

F64 = torch.float64


def small_1d() -> Normal1D:
    return Normal1D(hidden=6, batch_size=16, train_size=64)


def tiny_mnist() -> MNIST:
    images = np.random.default_rng(0).integers(0, 256, (64, 28, 28)).astype(np.uint8)
    return MNIST(images=images, batch_size=8, noise_dim=6, g_hidden=(12, 16), d_hidden=(16, 8))


def adam_pair(**kw):
    return {p: agents.make("adam", lr=1e-2, betas=(0.5, 0.999), **kw) for p in minimax.PLAYERS}


def assert_same_run(a_env, a_hist, b_env, b_hist, tol: float = 1e-12) -> None:
    for p in minimax.PLAYERS:
        torch.testing.assert_close(a_env.game.params[p], b_env.game.params[p], rtol=tol, atol=tol)
        for name, buffer in a_env.game.buffers[p].items():
            torch.testing.assert_close(buffer.double(), b_env.game.buffers[p][name].double(), rtol=tol, atol=tol)
    assert set(a_hist.metrics) == set(b_hist.metrics)
    for name in a_hist.metrics:
        np.testing.assert_allclose(a_hist[name], b_hist[name], rtol=1e-9, atol=1e-9, err_msg=name)
    assert list(a_hist.moves) == list(b_hist.moves)


def test_a_lone_aec_game_compiled_follows_the_eager_game() -> None:
    counters.clear()
    make = lambda: minimax.GameAECEnv(Game(small_1d(), loss="non-saturating", dtype=F64), "alternating:k=2")  # noqa: E731
    eager_env, compiled_env = make(), make()
    eager = minimax.train(eager_env, adam_pair(), 15, seed=3, progress=False)
    compiled = minimax.train(compiled_env, adam_pair(), 15, seed=3, progress=False, compile=True)
    assert_same_run(eager_env, eager, compiled_env, compiled)
    assert not counters["graph_break"], dict(counters["graph_break"])  # fullgraph: one graph per tick
    # the env's own records are the eager engine's: rewards and infos of the last move
    eager_info, compiled_info = eager_env.infos["generator"], compiled_env.infos["generator"]
    assert set(eager_info) == set(compiled_info)
    torch.testing.assert_close(torch.as_tensor(eager_info["loss"]), torch.as_tensor(compiled_info["loss"]))
    # training the same env with the same rules again compiles nothing new (and goes on the same way)
    rules = adam_pair()
    minimax.train(compiled_env, rules, 2, seed=0, progress=False, compile=True)
    compiled_functions = len(counters["stats"])
    minimax.train(compiled_env, rules, 2, seed=0, progress=False, compile=True)
    assert len(counters["stats"]) == compiled_functions


def test_n_games_with_per_game_hyperparameters_and_losses_compiled_follow_the_eager_games() -> None:
    def make():
        game = Game(small_1d(), 3, loss=["hinge", "wasserstein", "least-squares"], dtype=F64)
        return VectorGameEnv(game, "alternating:k=1")

    rule = agents.make("momentum", lr=minimax.per_game([1e-3, 2e-3, 5e-3]), momentum=-0.3)
    eager_env, compiled_env = make(), make()
    eager = minimax.train(eager_env, rule, 12, seed=[0, 1, 2], progress=False)
    compiled = minimax.train(compiled_env, rule, 12, seed=[0, 1, 2], progress=False, compile=True)
    assert_same_run(eager_env, eager, compiled_env, compiled)


@pytest.mark.parametrize("kind", ["parallel", "aec"])
def test_a_simultaneous_mnist_game_with_batchnorm_compiled_follows_the_eager_game(kind: str) -> None:
    # the Parallel env evaluates both players in one forward; the AEC env's simultaneous tick evaluates each on its
    # own (the generator's BatchNorm statistics move twice): the compiled ticks do the same
    def make():
        game = Game(tiny_mnist(), loss="minimax", dtype=F64)
        return minimax.GameParallelEnv(game) if kind == "parallel" else minimax.GameAECEnv(game, "simultaneous")

    eager_env, compiled_env = make(), make()
    eager = minimax.train(eager_env, adam_pair(), 6, seed=1, progress=False)
    compiled = minimax.train(compiled_env, adam_pair(), 6, seed=1, progress=False, compile=True)
    assert_same_run(eager_env, eager, compiled_env, compiled)


def test_split_turns_with_inference_fakes_compiled_follow_the_eager_game() -> None:
    make = lambda: minimax.GameAECEnv(Game(tiny_mnist(), loss="non-saturating", dtype=F64, fake_mode="eval"),  # noqa: E731
                                      "alternating:k=1,split=true")  # fmt: skip
    eager_env, compiled_env = make(), make()
    eager = minimax.train(eager_env, adam_pair(), 5, seed=2, progress=False)
    compiled = minimax.train(compiled_env, adam_pair(), 5, seed=2, progress=False, compile=True)
    assert_same_run(eager_env, eager, compiled_env, compiled)


def test_an_eager_checkpoint_resumes_compiled_and_a_divergence_reads_the_same(tmp_path) -> None:
    make = lambda: minimax.GameAECEnv(Game(small_1d(), loss="non-saturating", dtype=F64), "alternating:k=2")  # noqa: E731
    reference_env = make()
    reference = minimax.train(reference_env, adam_pair(), 12, seed=5, progress=False)

    class Stop(Exception):
        pass

    def stop(i, e, h):
        raise Stop

    with pytest.raises(Stop):
        minimax.train(make(), adam_pair(), 12, seed=5, progress=False, checkpoint_dir=tmp_path, checkpoint_every=6,
                      callbacks=[stop], callback_at=[8])  # fmt: skip
    resumed_env = make()
    resumed = minimax.train(resumed_env, adam_pair(), 12, seed=5, progress=False, checkpoint_dir=tmp_path, resume=True,
                            compile=True)  # fmt: skip
    assert_same_run(reference_env, reference, resumed_env, resumed)
    # a diverging run (float32 parameters overflow) stops with the eager engine's words
    make32 = lambda: minimax.GameAECEnv(Game(small_1d(), loss="non-saturating"), "alternating:k=2")  # noqa: E731
    eager = minimax.train(make32(), {p: agents.make("sgd", lr=1e38) for p in minimax.PLAYERS}, 10, seed=0, progress=False)
    compiled = minimax.train(make32(), {p: agents.make("sgd", lr=1e38) for p in minimax.PLAYERS}, 10, seed=0,
                             progress=False, compile=True)  # fmt: skip
    assert eager.reason is not None and compiled.reason == eager.reason


@pytest.mark.parametrize("what, build, message", [
    ("a loss with R1", lambda: (minimax.GameAECEnv(Game(small_1d(), loss="non-saturating:r1=1")), adam_pair()),
     "draws random numbers or takes input gradients"),
    ("a fused rule", lambda: (minimax.GameAECEnv(Game(small_1d())), adam_pair(fused=True)), "is fused"),
    ("schedules that differ", lambda: (VectorGameEnv(Game(small_1d(), 2), ["alternating:k=1", "alternating:k=2"]),
                                       agents.make("sgd", lr=1e-3)), "schedules differ"),
])  # fmt: skip
def test_what_does_not_compile_is_refused_with_the_reason(what, build, message) -> None:
    env, rules = build()
    with pytest.raises(ValueError, match=f"compile=True cannot run this game: .*{message}.*compile=False"):
        minimax.train(env, rules, 1, seed=0, progress=False, compile=True)


def test_a_joint_rule_is_refused_and_a_supported_game_has_no_problems() -> None:
    env = minimax.GameParallelEnv(Game(small_1d()))
    with pytest.raises(ValueError, match="joint rule .*compile=False"):
        minimax.train(env, agents.make("consensus", lr=0.1), 1, seed=0, progress=False, compile=True)
    assert compile_problems(env.match, adam_pair()) == []


def test_one_rule_for_both_players_compiles_once_across_train_calls() -> None:
    """train() copies a single rule for each player; the copies share its transformation, so the ticks compiled
    by the first call serve the next (the benchmark's N-game compiled rows recompiled on every call before)."""
    from minimax.training.compiled import _CACHE

    env = minimax.make_vector("minimax/Normal1D-v0", 2, hidden=4, batch_size=16)
    rule = agents.make("adam", lr=1e-3)
    minimax.train(env, rule, 2, seed=0, progress=False, compile=True)
    entries = dict(_CACHE[env.match])
    minimax.train(env, rule, 2, seed=0, progress=False, compile=True)
    assert _CACHE[env.match] == entries and len(entries) == 1


def test_guards_skipped_within_a_run_are_evaluated_again_when_the_inputs_change_layout() -> None:
    """Within a run a tick skips the compiler's guards once they have been evaluated for its inputs' layout;
    a new run evaluates them again, so a batch size changed between runs compiles anew instead of running
    the graph specialised on the old one (which would read the wrong number of samples)."""
    from minimax.training.compiled import _CACHE

    make = lambda: minimax.GameAECEnv(Game(small_1d(), loss="non-saturating", dtype=F64), "alternating:k=1")  # noqa: E731
    eager_env, compiled_env = make(), make()
    eager_rules, compiled_rules = adam_pair(), adam_pair()
    layouts = []
    for batch_size in (16, 24):
        for env in (eager_env, compiled_env):
            env.game.task.batch_size = batch_size
        eager = minimax.train(eager_env, eager_rules, 3, seed=1, progress=False)
        compiled = minimax.train(compiled_env, compiled_rules, 3, seed=1, progress=False, compile=True)
        assert_same_run(eager_env, eager, compiled_env, compiled)
        (ticks,) = _CACHE[compiled_env.match].values()
        assert len(ticks.warm) == 2  # both ticks of the iteration ran with their guards skipped after the first call
        layouts.append(dict(ticks.warm))
    assert layouts[0].keys() == layouts[1].keys() and layouts[0] != layouts[1]  # the second run's inputs are larger
