"""The live verdict: each class on a run whose answer is known, its early stop, and what it writes."""

from __future__ import annotations

import json
import math

import numpy as np
import pettingzoo
import pytest
import torch

import agents
import minimax
from minimax.eval.live import COLLAPSING, CONVERGING, CYCLING, DIVERGING, UNDECIDED, VERDICTS, LiveVerdict
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


class _Mixture:
    """A task with modes: eight centres on a ring of radius 2, std 0.02."""

    def __init__(self) -> None:
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        self.centers = torch.stack([2 * angles.cos(), 2 * angles.sin()], 1)
        self.std, self.data_shape = 0.02, (2,)

    def sample_data(self, n, rng, device, dtype):
        return self.centers[torch.arange(n) % 8].to(dtype) + self.std * torch.randn(n, 2, generator=rng, dtype=dtype)


class _Generator:
    """A game whose generator draws its samples from the listed modes (a share each), or from a wide blur."""

    device = torch.device("cpu")

    def __init__(self) -> None:
        self.task, self.shares = _Mixture(), {0: 1.0}

    def size(self, player: str) -> int:
        return 10

    def generate(self, n, rng, games=None):
        modes = torch.tensor([m for m, share in self.shares.items() for _ in range(round(share * n))], dtype=torch.long)
        noise = 0.2 * self.task.std * torch.randn(len(modes[:n]), 2, generator=rng, dtype=torch.float64)
        blur = 3 * torch.randn(n - len(modes[:n]), 2, generator=rng, dtype=torch.float64)  # the rest: far from any mode
        return torch.cat([self.task.centers[modes[:n]] + noise, blur]).unsqueeze(0)


def _judged(live: LiveVerdict, game: _Generator, shares: list[dict[int, float]]) -> tuple[str, str]:
    for i, share in enumerate(shares):
        game.shares = share
        live.snapshots.append(np.full(3, float(i)))
        verdict = live.judge(game, False)
    return verdict


def test_on_a_task_with_modes_the_modes_decide() -> None:
    game = _Generator()
    all_eight = {m: 1 / 8 for m in range(8)}
    assert _judged(LiveVerdict(window=4), game, [all_eight]) == (CONVERGING,
                                                                "covers 8 of 8 modes (100% of its samples on them)")
    two = {0: 0.7, 4: 0.3}  # opposite modes: the spread stays the target's, the modes show the collapse
    verdict, why = _judged(LiveVerdict(window=4), game, [two, two, two])
    assert verdict == COLLAPSING and why == "covers 2 of 8 modes, mode 0 holding most"
    verdict, why = _judged(LiveVerdict(window=4), game, [two, {0: 0.3, 4: 0.7}, two])
    assert verdict == CYCLING and "hopping" in why
    # two snapshots are too few to tell a kept mode from a hop; far from every mode, the modes say nothing
    assert _judged(LiveVerdict(window=4), game, [two, two])[0] == UNDECIDED
    assert _judged(LiveVerdict(window=4), game, [{}] * 5)[0] != COLLAPSING
    assert _judged(LiveVerdict(window=4, mode_quality=1.0), game, [{0: 0.95}] * 3)[0] != COLLAPSING


def test_the_live_verdict_watches_a_real_mixture_run() -> None:
    env = pettingzoo.make("aec", "minimax/Ring8-v0", view="torch", batch_size=32, schedule="alternating:k=1")
    live = LiveVerdict(window=4)
    minimax.train(env, pair("adam", lr=1e-3), 40, seed=0, progress=False, callbacks=[live], callback_every=5)
    assert len(live.history) == 8 and len(live.dominant) >= 1 and live.verdict in VERDICTS
