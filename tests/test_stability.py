"""Stability maps: batched update operators equal the lone ones, measured classes meet predicted ones at the grid's
resolution, and the benchmark writes its table and figure."""

from __future__ import annotations

import json

import numpy as np
import pettingzoo
import pytest
import torch

import agents
import minimax
from benchmarks import stability
from minimax.eval.analysis import spectral_radii, spectral_radius, update_operator, update_operators

SCHEDULES = ["simultaneous", "alternating:k=1", "alternating:k=3"]
LRS, BETAS = [0.05, 0.2, 0.5], [-0.5, 0.3, 0.7]


def test_batched_update_operators_equal_each_games_own() -> None:
    per = lambda v: minimax.per_game(v, dtype=torch.float64)  # noqa: E731
    vector = lambda: minimax.make_vector("minimax/DiracGAN-v0", 3, schedule=SCHEDULES, theta=0.0, psi=0.0,  # noqa: E731
                                         dtype="float64")  # fmt: skip
    batched = update_operators(vector, {p: agents.make("momentum", lr=per(LRS), momentum=per(BETAS))
                                        for p in minimax.PLAYERS})  # fmt: skip
    assert batched.shape == (3, 4, 4)  # both players' parameter, then both momentum buffers
    for g, schedule in enumerate(SCHEDULES):
        lone = update_operator(lambda: pettingzoo.make("aec", "minimax/DiracGAN-v0", view="torch", schedule=schedule,
                                                       theta=0.0, psi=0.0, dtype="float64"),
                               {p: agents.make("momentum", lr=LRS[g], momentum=BETAS[g]) for p in minimax.PLAYERS})
        torch.testing.assert_close(batched[g], lone, rtol=0, atol=1e-9)
        assert spectral_radii(batched[g : g + 1])[0].item() == pytest.approx(spectral_radius(lone), abs=1e-9)


@pytest.mark.parametrize("game", sorted(stability.GAMES))
def test_the_observed_map_meets_the_predicted_one_at_the_grids_resolution(game: str) -> None:
    args = stability.parse_args(["--lrs", "6", "--betas", "6", "--iterations", "400"])
    grid = stability.Grid(np.logspace(-2, np.log10(2), 6), np.linspace(-0.95, 0.95, 6))
    result = stability.one_map(game, "momentum", grid, args)
    assert result["observed"].shape == (4, 6, 6)
    assert not result["beyond_resolution"].any()
    assert result["agree"].mean() > 0.9
    assert len(set(result["observed"].ravel().tolist())) == 3  # the map holds all three classes
    assert np.median(result["rate_error"]) < 1e-3  # the measured rate is the predicted radius


def test_the_resolution_check_sees_a_misplaced_cell() -> None:
    predicted = np.zeros((1, 4, 4), dtype=int)
    predicted[0, :, 2:] = 2
    observed = predicted.copy()
    observed[0, 1, 1] = 2  # next to the boundary: at resolution
    observed[0, 0, 0] = 2  # far from it: beyond
    near = stability.at_resolution(observed, predicted)
    assert near[0, 1, 1] and not near[0, 0, 0]
    observed[0, 3, 3] = 0  # np.roll would wrap to column 0 (predicted 0): the edge has no such neighbour
    assert not stability.at_resolution(observed, predicted)[0, 3, 3]


def test_the_benchmark_writes_its_table_and_figure(tmp_path, capsys) -> None:
    out = stability.main(["--lrs", "3", "--betas", "3", "--iterations", "40", "--games", "bilinear xy",
                          "--out", str(tmp_path)])  # fmt: skip
    assert out["cells"] == 2 * 4 * 3 * 3
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["cells"] == out["cells"] and len(saved["maps"]) == 2
    assert "no linear prediction" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "stability.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit):
        stability.parse_args(["--iterations", "10"])


def test_a_neural_cell_is_classified_by_its_run() -> None:
    # five cells over three evaluations (start first): W1 curves, spread curves (target std 1)
    w1 = np.array([[1.0, 1.0, 1.0, 1.0, 1.0],
                   [0.2, 0.1, 0.9, 0.5, 0.1],
                   [0.1, 0.6, 0.8, 0.2, np.inf]])  # fmt: skip
    spread = np.array([[0.05, 0.05, 0.05, 0.5, 0.5],
                       [0.8, 0.9, 0.06, 0.3, 0.9],
                       [1.0, 0.7, 0.07, 0.05, np.inf]])  # fmt: skip
    classes = stability.neural_classes(w1, spread, np.zeros(5, dtype=bool), target_std=1.0)
    names = [stability.ALL_CLASSES[c] for c in classes]
    assert names == ["converges", "cycles", "stalls", "collapses", "diverges"]
    ended = stability.neural_classes(w1, spread, np.array([True, False, False, False, False]), target_std=1.0)
    assert stability.ALL_CLASSES[ended[0]] == "diverges"  # a game that ended on a non-finite move
    narrow_from_the_start = stability.neural_classes(np.array([[1.0], [0.9]]), np.array([[0.05], [0.05]]),
                                                     np.zeros(1, dtype=bool), target_std=1.0)  # fmt: skip
    assert stability.ALL_CLASSES[narrow_from_the_start[0]] == "stalls"  # never wider: not a collapse


def test_the_neural_map_runs_every_cell_in_lockstep_and_draws_five_classes(tmp_path) -> None:
    out = tmp_path / "neural"
    result = stability.main(["--games", "Normal1D", "--rules", "adam", "--lrs", "3", "--betas", "2",
                             "--neural-iterations", "20", "--out", str(out)])  # fmt: skip
    (m,) = result["maps"]
    assert m["observed"].shape == (4, 2, 3) and result["cells"] == 24
    assert set(np.unique(m["observed"])) <= set(range(5)) and np.isfinite(m["w1_start"]).all()
    assert m["lrs"][0] == pytest.approx(stability.NEURAL_LR_RANGE["adam"][0])
    assert "| collapses | stalls |" in result["table"] and "a neural game" in result["table"]
    data = json.loads((out / "results.json").read_text())
    assert data["classes"] == list(stability.ALL_CLASSES)
    assert (out / "stability.png").stat().st_size > 0


def test_a_mixture_cell_is_classified_by_its_modes() -> None:
    # five cells over three evaluations: modes covered (of 8), high-quality share, dominant mode, all finite
    modes = np.array([[0, 0, 0, 0, 0], [5, 2, 1, 0, 3], [8, 2, 1, 0, 3]])
    high_quality = np.array([[0.0] * 5, [0.6, 0.5, 0.9, 0.01, 0.5], [0.8, 0.5, 0.9, 0.02, 0.5]])
    dominant = np.array([[-1] * 5, [3, 1, 4, -1, 2], [3, 6, 4, -1, 2]])
    finite = np.ones((3, 5), dtype=bool)
    finite[-1, 4] = False
    classes = stability.mode_classes(modes, high_quality, dominant, finite, np.zeros(5, dtype=bool), all_modes=8)
    assert [stability.ALL_CLASSES[c] for c in classes] == ["converges", "cycles", "collapses", "stalls", "diverges"]


def test_the_neural_maps_w1_is_the_exact_one_to_the_midpoint_rules_error() -> None:
    from minimax.eval.metrics import wasserstein1_to_normal

    env = minimax.make_vector("minimax/Normal1D-v0", 3, hidden=8, batch_size=32)
    env.reset(seed=[0, 1, 2])
    w1, spread = stability.w1_and_spread(env, n=2000)
    samples = env.game.generate(2000, torch.Generator().manual_seed(0)).reshape(3, 2000)
    task = env.game.task
    for i in range(3):
        exact = float(wasserstein1_to_normal(samples[i], task.mean, task.std))
        assert w1[i] == pytest.approx(exact, abs=5e-4)  # quantiles at (i - 1/2)/n, not each cell's integral (1e-4 here)
        assert spread[i] == pytest.approx(float(samples[i].double().std()), rel=1e-9)


def test_seeds_are_a_second_axis_of_the_neural_map() -> None:
    grid = stability.Grid(np.array([1e-3, 1e-2]), np.array([0.0, 0.5]))
    one = stability.observe_neural("Normal1D", "adam", grid, 20, seeds=1)
    three = stability.observe_neural("Normal1D", "adam", grid, 20, seeds=3)
    assert three["observed"].shape == three["agreement"].shape == (4, 2, 2)
    assert np.all(one["agreement"] == 1.0)
    assert set(np.unique(three["agreement"])) <= {1 / 3, 2 / 3, 1.0}  # the modal class holds 1, 2 or 3 of 3 seeds
    # the seeds are different starts: the median starting W1 over three is not seed 0's
    assert not np.allclose(three["w1_start"], one["w1_start"])
