"""Mixtures of Gaussians (Ring8, Grid25) and the mode metrics (PacGAN's definitions)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pettingzoo
import pytest
import torch
from pettingzoo.test import api_test, parallel_api_test

import agents
import minimax
from minimax.eval.mode_metrics import (TARGET_HIGH_QUALITY_2D, assign_modes, high_quality_fraction, kl_to_uniform,
                                  mode_histogram, mode_report, modes_covered, reverse_kl)  # fmt: skip
from minimax.tasks import Grid25, Ring8
from minimax.tasks.mixtures import Maxout, Pack

TINY = {"hidden": 4, "depth": 2, "batch_size": 16, "noise_dim": 2}
CPU = torch.device("cpu")


def rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---- the tasks --------------------------------------------------------------------------------------


def test_ring8_centers_are_on_the_unit_circle_at_multiples_of_45_degrees() -> None:
    task = Ring8()
    expected = [(math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)) for k in range(8)]
    np.testing.assert_allclose(task.centers.numpy(), expected, atol=1e-15)
    np.testing.assert_allclose(task.centers[:3].numpy(), [[1, 0], [0.5**0.5, 0.5**0.5], [0, 1]], atol=1e-15)
    assert task.std == 0.01 and task.batch_size == 512 and task.noise_dim == 16
    np.testing.assert_allclose(Ring8(radius=2.0).centers.norm(dim=1).numpy(), 2.0)


def test_grid25_centers_are_the_5x5_grid_with_spacing_2() -> None:
    task = Grid25()
    got = {tuple(c) for c in task.centers.numpy().tolist()}
    assert got == set(itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2)) and len(task.centers) == 25
    assert task.std == 0.05 and task.batch_size == 100 and task.noise_dim == 2
    assert {tuple(c) for c in Grid25(spacing=1.0, side=3).centers.numpy().tolist()} == set(
        itertools.product([-1.0, 0.0, 1.0], repeat=2))


@pytest.mark.parametrize("task", [Ring8(), Grid25()], ids=["ring8", "grid25"])
def test_data_has_balanced_modes_and_the_right_per_mode_std(task) -> None:
    n = 40_000
    x = task.sample_data(n, rng(3), CPU, torch.float64)
    assert x.shape == (n, 2) and x.dtype == torch.float64
    nearest = torch.cdist(x, task.centers).argmin(1)
    counts = torch.bincount(nearest, minlength=len(task.centers)).double()
    expected = n / len(task.centers)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 3 * len(task.centers), counts  # mean K - 1; 3K is far in the tail
    residual = x - task.centers[nearest]
    per_mode_std = torch.stack([residual[nearest == k].std(0) for k in range(len(task.centers))])
    np.testing.assert_allclose(per_mode_std.numpy(), task.std, rtol=0.08)
    assert abs(float(residual.mean())) < 0.05 * task.std


def test_data_and_noise_come_from_the_given_stream() -> None:
    task = Ring8()
    a, b = task.sample_data(64, rng(1), CPU), task.sample_data(64, rng(1), CPU)
    assert torch.equal(a, b) and not torch.equal(a, task.sample_data(64, rng(2), CPU))
    z = task.sample_noise(1000, rng(0), CPU)
    assert z.shape == (1000, 16) and abs(float(z.std()) - 1) < 0.05
    u = Ring8(noise="uniform").sample_noise(1000, rng(0), CPU)
    assert float(u.min()) >= -1 and float(u.max()) <= 1 and float(u.min()) < -0.9


def test_networks_return_one_logit_per_sample_and_per_packed_group() -> None:
    torch.manual_seed(0)
    g, d = Ring8(**TINY).build_generator(), Ring8(**TINY).build_discriminator()
    assert g(torch.randn(10, 2)).shape == (10, 2) and d(torch.randn(10, 2)).shape == (10,)
    packed = Ring8(**TINY, pack=4).build_discriminator()
    assert isinstance(packed[0], Pack) and packed[1].in_features == 8  # only the first layer widens: 2 * pack inputs
    x = torch.randn(16, 2)
    logits = packed(x)
    assert logits.shape == (4,)
    # Group i is rows 4i..4i+3, concatenated in order: changing row 5 changes logit 1 only.
    y = x.clone()
    y[5] += 1.0
    changed = packed(y) != logits
    assert changed.tolist() == [False, True, False, False]
    np.testing.assert_allclose(packed[1:](x.reshape(4, 8)).detach().numpy(), logits.detach().numpy())
    with pytest.raises(ValueError, match="multiple of 4, got 6"):
        packed(torch.randn(6, 2))


def test_batch_size_must_be_a_multiple_of_pack() -> None:
    with pytest.raises(ValueError, match=r"batch_size \(100\) must be a multiple of pack \(3\)"):
        Grid25(pack=3)
    with pytest.raises(ValueError, match="multiple of pack"):
        pettingzoo.make("aec", "minimax/Ring8-v0", view="torch", pack=5, **TINY)
    for bad in ({"std": 0.0}, {"pack": 0}, {"radius": -1.0}, {"hidden": 0}, {"noise": "cauchy"}):
        with pytest.raises(ValueError):
            Ring8(**bad)


def test_grid25_has_pacgans_networks_by_default() -> None:
    task = Grid25(pack=2)
    g, d = task.build_generator(), task.build_discriminator()
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in g) == 4
    assert [m.in_features for m in g if isinstance(m, torch.nn.Linear)] == [2, 400, 400, 400, 400]
    maxouts = [m for m in d if isinstance(m, Maxout)]
    assert len(maxouts) == 3 and maxouts[0].linear.in_features == 4 and maxouts[0].linear.out_features == 200 * 5
    info = task.describe()
    assert info["generator"] == "4 x 400 ReLU + BatchNorm" and info["discriminator"] == "3 x 200 maxout(5)"
    assert info["pack"] == 2 and info["modes"] == 25 and info["name"] == "Grid25"


@pytest.mark.parametrize("loss", ["minimax", "non-saturating:r1=1", "wasserstein:gp=10"])
def test_packed_game_evaluates_with_penalties(loss: str) -> None:
    env = pettingzoo.make("aec", "minimax/Ring8-v0", view="torch", loss=loss, pack=2, **TINY)
    env.reset(seed=0)
    game = env.game
    batch = game.sample()
    ev = game.evaluate(batch)
    for p in minimax.PLAYERS:
        assert torch.isfinite(ev.gradients[p]).all() and ev.gradients[p].abs().sum() > 0
    if loss != "minimax":  # the penalty is there and differentiable through critic(x) on the (n, 2) input
        plain = minimax.Game(game.task, loss=loss.split(":")[0])
        plain.load_state_dict(game.state_dict())
        base = plain.evaluate(batch).losses["discriminator"]
        assert float(ev.losses["discriminator"]) > float(base) + 1e-6


def test_ring8_trains_in_the_aec_and_parallel_envs() -> None:
    env = pettingzoo.make("aec", "minimax/Ring8-v0", view="torch", schedule="alternating:k=2", pack=2, **TINY)
    history = minimax.train(env, agents.make("adam", lr=1e-3), 5, seed=0, progress=False)
    assert history.iterations == 5 and history.moves.tolist() == [15]
    assert env.game.generate(7).shape == (1, 7, 2)
    par = pettingzoo.make("parallel", "minimax/Grid25-v0", view="torch", hidden=8, d_hidden=8, batch_size=10, pack=2)
    history = minimax.train(par, agents.make("consensus", lr=1e-3, gamma=1.0), 3, seed=0, progress=False)
    assert history.iterations == 3 and np.isfinite(history["value"]).all()


def test_registered_ids_pass_the_pettingzoo_api_tests() -> None:
    for env_id in ("minimax/Ring8-v0", "minimax/Grid25-v0"):
        assert env_id in pettingzoo.aec_registry and env_id in pettingzoo.parallel_registry
    api_test(minimax.to_numpy(pettingzoo.make("aec", "minimax/Ring8-v0", view="torch", max_steps=120, pack=2, **TINY)),
             num_cycles=100)
    parallel_api_test(minimax.to_numpy(pettingzoo.make(
        "parallel", "minimax/Grid25-v0", view="torch", max_steps=60, hidden=4, d_hidden=4, batch_size=10)), num_cycles=50)
    with pytest.raises(TypeError, match="unknown option"):
        pettingzoo.make("aec", "minimax/Ring8-v0", view="torch", packing=2)


# ---- the mode metrics ------------------------------------------------------------------------------


RING = Ring8().centers.numpy()


def test_samples_exactly_on_modes_and_far_away() -> None:
    x = np.array([RING[0], RING[0], RING[3], [10.0, 10.0]])
    nearest, good = assign_modes(x, RING, 0.01)
    assert nearest.tolist()[:3] == [0, 0, 3] and good.tolist() == [True, True, True, False]
    assert mode_histogram(x, RING, 0.01).tolist() == [2, 0, 0, 1, 0, 0, 0, 0]
    assert high_quality_fraction(x, RING, 0.01) == 0.75
    assert modes_covered(x, RING, 0.01) == 2 and modes_covered(x, RING, 0.01, min_count=2) == 1
    expected = 2 / 3 * math.log(8 * 2 / 3) + 1 / 3 * math.log(8 / 3)
    assert reverse_kl(x, RING, 0.01) == pytest.approx(expected, rel=1e-12)
    report = mode_report(torch.tensor(x, dtype=torch.float32), RING, 0.01)  # torch input, float32
    assert report["modes_covered"] == 2 and report["high_quality"] == 3 and report["samples"] == 4
    assert report["reverse_kl"] == pytest.approx(expected, rel=1e-6) and report["histogram"][3] == 1


def test_the_3_std_threshold_is_inclusive_and_uses_the_nearest_center() -> None:
    centers = [[0.0, 0.0], [10.0, 0.0]]
    x = [[3.0, 0.0], [3.0001, 0.0], [0.0, -3.0], [7.5, 0.0], [5.0, 0.0]]
    nearest, good = assign_modes(x, centers, 1.0)
    assert good.tolist() == [True, False, True, True, False]
    assert nearest.tolist()[:4] == [0, 0, 0, 1]
    assert high_quality_fraction(x, centers, 2.0) == 1.0  # 6 std reaches the middle point at 5


def test_kl_to_uniform_for_known_histograms() -> None:
    assert kl_to_uniform([5, 5, 5, 5]) == 0.0
    assert kl_to_uniform([7, 0, 0, 0]) == pytest.approx(math.log(4))
    assert kl_to_uniform([3, 1]) == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    assert kl_to_uniform([0, 0, 0]) == pytest.approx(math.log(3))  # empty histogram: the worst value, log K
    for bad in ([], [[1, 2]], [1, -1], [1, float("nan")]):
        with pytest.raises(ValueError):
            kl_to_uniform(bad)


def test_no_high_quality_sample_scores_the_worst_reverse_kl() -> None:
    report = mode_report(np.full((5, 2), 100.0), RING, 0.01)
    assert report["modes_covered"] == 0 and report["high_quality_fraction"] == 0.0
    assert report["reverse_kl"] == pytest.approx(math.log(8))


def test_non_finite_samples_count_as_not_high_quality() -> None:
    x = np.array([RING[1], [np.nan, 0.0], [np.inf, np.inf], RING[2]])
    report = mode_report(x, RING, 0.01)
    assert report["finite"] == 2 and report["high_quality"] == 2 and report["high_quality_fraction"] == 0.5
    assert report["modes_covered"] == 2 and report["reverse_kl"] == pytest.approx(math.log(4))
    assert assign_modes(x, RING, 0.01)[0].tolist() == [1, -1, -1, 2]


def test_modes_covered_with_one_percent_share() -> None:
    x = np.concatenate([np.repeat(RING[:1], 9_990, 0), np.repeat(RING[1:2], 10, 0)])  # share 0.01 * 10000 / 8 = 12.5
    report = mode_report(x, RING, 0.01)
    assert report["modes_covered"] == 2 and report["modes_covered_1pct"] == 1


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        mode_report(np.zeros((4, 3)), RING, 0.01)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        mode_report(np.zeros(4), RING, 0.01)
    with pytest.raises(ValueError, match="at least one sample"):
        mode_report(np.zeros((0, 2)), RING, 0.01)
    for std in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="std"):
            mode_report(np.zeros((4, 2)), RING, std)
    with pytest.raises(ValueError, match="centers"):
        mode_report(np.zeros((4, 2)), [[0.0, np.nan]], 0.1)
    with pytest.raises(ValueError, match="centers"):
        mode_report(np.zeros((4, 2)), [0.0, 1.0], 0.1)
    with pytest.raises(TypeError):
        mode_report("abc", RING, 0.01)
    with pytest.raises(ValueError, match="min_count"):
        modes_covered(np.zeros((4, 2)), RING, 0.01, min_count=0)


@pytest.mark.parametrize("task", [Ring8(), Grid25()], ids=["ring8", "grid25"])
def test_a_target_sample_scores_the_floor(task) -> None:
    x = task.sample_data(20_000, rng(7), CPU, torch.float64)
    report = mode_report(x, task.centers, task.std)
    assert report["modes_covered"] == report["modes_covered_1pct"] == len(task.centers)
    assert report["high_quality_fraction"] == pytest.approx(TARGET_HIGH_QUALITY_2D, abs=0.004)
    assert report["reverse_kl"] < 5 * (len(task.centers) - 1) / (2 * report["high_quality"])
