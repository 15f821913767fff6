"""The live verdict: each class on a run whose answer is known, its early stop, and what it writes."""

from __future__ import annotations

import json

import pettingzoo
import pytest

import agents
import minimax
from minimax.eval.live import COLLAPSING, CONVERGING, CYCLING, DIVERGING, UNDECIDED, LiveVerdict
from minimax.training.runlog import NOTES, RunLog


def watch(env_id: str, rules: dict, iterations: int, every: int, **options) -> LiveVerdict:
    env = pettingzoo.make("parallel" if "schedule" not in options else "aec", env_id, view="torch", dtype="float64",
                          **options)  # fmt: skip
    live = LiveVerdict(window=12)
    minimax.train(env, rules, iterations, seed=0, progress=False, callbacks=[live], callback_every=every)
    return live


def pair(name: str, **options) -> dict:
    return {p: agents.make(name, **options) for p in minimax.PLAYERS}


def test_each_verdict_on_a_game_whose_answer_is_known() -> None:
    # extragradient on xy converges; alternating GD on xy cycles; simultaneous GD on xy diverges
    assert watch("minimax/Bilinear-v0", agents.make("extragradient", lr=0.3), 300, 10, A=1.0, x0=1.0,
                 y0=1.0).verdict == CONVERGING  # fmt: skip
    assert watch("minimax/Bilinear-v0", pair("sgd", lr=0.2), 300, 5, A=1.0, x0=1.0, y0=1.0,
                 schedule="alternating").verdict == CYCLING  # fmt: skip
    assert watch("minimax/Bilinear-v0", pair("sgd", lr=0.3), 300, 10, A=1.0, x0=1.0, y0=1.0).verdict == DIVERGING


def test_a_collapsed_generator_and_a_non_finite_run() -> None:
    env = pettingzoo.make("parallel", "minimax/Normal1D-v0", view="torch", hidden=8, batch_size=32)
    live = LiveVerdict(window=4)
    minimax.train(env, pair("sgd", lr=1e4), 30, seed=0, progress=False, callbacks=[live], callback_every=5)
    assert live.verdict in (COLLAPSING, DIVERGING)
    env = pettingzoo.make("parallel", "minimax/Normal1D-v0", view="torch", hidden=8, batch_size=32)
    live = LiveVerdict(window=4)
    minimax.train(env, pair("sgd", lr=1e38), 20, seed=0, progress=False, callbacks=[live], callback_every=1)
    assert live.verdict == DIVERGING and "not finite" in live.why


def test_undecided_until_the_window_is_full_and_the_decision_time() -> None:
    env = pettingzoo.make("parallel", "minimax/Bilinear-v0", view="torch", A=1.0, x0=1.0, y0=1.0, dtype="float64")
    live = LiveVerdict(window=10)
    minimax.train(env, agents.make("extragradient", lr=0.3), 200, seed=0, progress=False, callbacks=[live],
                  callback_every=10)  # fmt: skip
    assert [v for _, v in live.history[:9]] == [UNDECIDED] * 9
    assert live.verdict == CONVERGING and live.decided_at() is not None and live.decided_at() <= 200


def test_stop_on_ends_the_run_early_and_notes_go_to_the_run_log(tmp_path) -> None:
    env = pettingzoo.make("parallel", "minimax/Bilinear-v0", view="torch", A=1.0, x0=1.0, y0=1.0, dtype="float64")
    with RunLog(tmp_path, tensorboard=False) as log:
        live = LiveVerdict(window=6, stop_on=[CONVERGING], log=log)
        history = minimax.train(env, agents.make("extragradient", lr=0.3), 5000, seed=0, progress=False,
                                callbacks=[live], callback_every=10, stop=live.stop)  # fmt: skip
    assert history.iterations < 5000 and live.verdict == CONVERGING
    notes = [json.loads(line) for line in (tmp_path / NOTES).read_text().splitlines()]
    assert notes[0]["verdict"] == UNDECIDED and notes[-1]["verdict"] == CONVERGING and notes[-1]["why"]
    assert len({n["verdict"] for n in notes}) == len(notes)  # one line per change of verdict


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="window must be at least 4"):
        LiveVerdict(window=2)
    with pytest.raises(ValueError, match="unknown verdicts"):
        LiveVerdict(stop_on=["converged"])
