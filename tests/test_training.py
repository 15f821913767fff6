"""The training loop: history, callbacks, divergence that keeps its data, learning that happens."""

from __future__ import annotations

import numpy as np
import pytest

import agents
import minimax
from minimax.eval.metrics import wasserstein1_to_normal


def rules(lr: float = 1e-3) -> dict:
    return {p: agents.make("adam", lr=lr, betas=(0.5, 0.999)) for p in minimax.PLAYERS}


def test_history_has_one_entry_per_iteration_and_callbacks_fire(make_aec) -> None:
    env = make_aec(schedule="alternating:k=3")
    calls = []
    history = minimax.train(
        env, rules(), 25, seed=0, progress=False, callbacks=[lambda i, e, h: calls.append((i, h.iterations))], callback_every=10
    )
    assert calls == [(10, 10), (20, 20), (25, 25)]
    assert history.iterations == 25 and history.moves == 25 * 4
    assert set(history.metrics) == set(minimax.training.loop.METRICS)
    assert all(len(v) == 25 and np.isfinite(v).all() for v in history.metrics.values())
    # minimax is zero-sum: the discriminator's loss is -V on its own minibatches
    assert np.all(history["discriminator_loss"] > 0)


def test_train_is_reproducible(make_aec, make_parallel) -> None:
    for make in (make_aec, make_parallel):
        a = minimax.train(make(), rules(), 30, seed=4, progress=False)
        b = minimax.train(make(), rules(), 30, seed=4, progress=False)
        for name in a.metrics:
            np.testing.assert_array_equal(a[name], b[name])


def test_divergence_stops_the_run_and_keeps_the_history(make_parallel) -> None:
    env = make_parallel()
    history = minimax.train(env, {p: agents.make("sgd", lr=1e38) for p in minimax.PLAYERS}, 200, seed=0, progress=False)
    assert history.terminated and history.reason.startswith("non-finite")
    assert 0 < history.iterations < 200
    assert len(history["value"]) == history.iterations
    assert np.isfinite(history["value"][0])
    assert history.to_dict()["reason"] == history.reason


def test_truncation_ends_the_run(make_aec) -> None:
    history = minimax.train(make_aec(max_cycles=7), rules(), 50, seed=0, progress=False)
    assert history.truncated and not history.terminated and history.iterations == 7


def test_training_moves_the_generator_towards_the_target(make_aec) -> None:
    """A short Algorithm-1 run must shrink W1 to N(4, 1.25^2) well below its value at initialisation.

    At initialisation the generator outputs values near 0, W1 ~ 4. After 1500 iterations the
    mean has moved most of the way; 2.0 leaves room for seed-to-seed variation while failing any
    run in which the generator does not learn.
    """
    env = make_aec(loss="non-saturating", hidden=16, batch_size=64, normalize=False)
    env.reset(seed=0)
    before = wasserstein1_to_normal(env.game.generate(5000), 4.0, 1.25)
    minimax.train(env, rules(lr=3e-3), 1500, seed=0, progress=False)
    after = wasserstein1_to_normal(env.game.generate(5000), 4.0, 1.25)
    assert before > 3.0 and after < 2.0, (before, after)


def test_bad_train_arguments(make_aec) -> None:
    env = make_aec()
    with pytest.raises(ValueError, match="iterations must be an integer >= 1, got 0"):
        minimax.train(env, rules(), 0)
    shared = agents.make("sgd", lr=0.1)
    with pytest.raises(ValueError, match="separate update-rule instances"):
        minimax.train(env, {"discriminator": shared, "generator": shared}, 1)
    with pytest.raises(ValueError, match=r"missing \['generator'\]"):
        minimax.train(env, {"discriminator": shared}, 1)
    with pytest.raises(TypeError, match="train takes a minimax env"):
        minimax.train(object(), rules(), 1)
