"""The 1D benchmark end to end on a tiny grid: table, JSON and figures are written, and say what they should."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from benchmarks import normal1d


def test_normal1d_benchmark_writes_its_results(tmp_path, capsys) -> None:
    out = tmp_path / "normal1d"
    result = normal1d.main(
        ["--iterations", "30", "--seeds", "2", "--ks", "1", "--samples", "2000", "--evaluations", "3",
         "--hidden", "8", "--batch-size", "64", "--train-size", "1000", "--workers", "1", "--out", str(out), "--no-progress", "--no-recipe"]
    )
    printed = capsys.readouterr().out
    assert "| floor (target sample vs target) |" in printed and "Best configuration" in printed
    for name in ("results.json", "results.md", "histograms.png", "curves.png", "discriminator.png"):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "results.json").read_text())
    assert len(data["runs"]) == 2 * 2  # alternating:k=1 and simultaneous, two seeds each
    assert {r["schedule"] for r in data["runs"]} == {"alternating:k=1", "simultaneous"}
    run = data["runs"][0]
    assert run["iterations"] == 30 and run["epochs"] == 30 * 64 / 1000  # one D minibatch per iteration
    assert len(run["w1_curve"]["w1"]) == 4  # start + 3 evaluations
    floor_w1 = np.mean(data["floor"]["w1"])
    assert 0.005 < floor_w1 < 0.05  # W1 of 2000 normal samples to the law: about 0.8 * std / sqrt(n)
    assert result["threshold"] == 2 * floor_w1


def test_normal1d_benchmark_far_target_and_preset(tmp_path) -> None:
    far = normal1d.main(["--mean", "400", "--std", "10", "--iterations", "20", "--seeds", "1", "--modes", "alternating",
                         "--samples", "1000", "--evaluations", "2", "--workers", "1", "--out", str(tmp_path / "far"),
                         "--no-progress", "--no-recipe"])
    assert np.isfinite(far["best"]["w1_mean"]) and far["best"]["w1_mean"] < 40  # scaled: starts near 400, not 0
    preset = normal1d.main(["--preset", "2018", "--iterations", "3", "--seeds", "1", "--samples", "1000",
                            "--evaluations", "1", "--workers", "1", "--out", str(tmp_path / "p"), "--no-progress"])
    assert preset["summary"][0]["label"] == "alternating:k=20,m=20 · momentum · non-saturating"


def test_normal1d_snapshot_epochs_land_exactly_on_those_epochs(tmp_path, monkeypatch) -> None:
    # training set 640, batch 64, k = 2: 2 x 64 real samples per iteration = 0.2 epochs; epoch 1 = iteration 5
    common = ["--ks", "2", "--modes", "alternating", "--seeds", "1", "--samples", "500", "--evaluations", "4",
              "--hidden", "8", "--batch-size", "64", "--train-size", "640", "--workers", "1", "--no-progress",
              "--no-recipe"]
    args = normal1d.parse_args([*common, "--snapshot-epochs", "4", "0", "2", "6"])
    (config,) = normal1d.grid(args)
    assert config.snapshot_iterations == (0, 10, 20, 30) and config.iterations == 30  # sorted; stops at the last
    with pytest.raises(ValueError, match="between iterations"):
        normal1d.grid(normal1d.parse_args([*common, "--snapshot-epochs", "0", "1.1"]))
    with pytest.raises(ValueError, match="after the run's last"):
        normal1d.grid(normal1d.parse_args([*common, "--snapshot-epochs", "10", "--iterations", "30"]))
    with pytest.raises(SystemExit):
        normal1d.parse_args([*common, "--snapshot-epochs", "1", "--infinite-data"])
    # without the option nothing changes: six snapshots spread over the evaluations, 1500 iterations
    assert normal1d.grid(normal1d.parse_args(common))[0].snapshot_iterations is None

    with_snapshots = normal1d.run(config, 0, 500, 4)
    assert set(with_snapshots["snapshots"]) >= {0, 10, 20, 30} and with_snapshots["epochs"] == pytest.approx(6)
    plain = normal1d.run(dataclasses.replace(config, snapshot_iterations=None), 0, 500, 4)
    assert with_snapshots["metrics"] == plain["metrics"]  # the extra evaluations leave the training untouched
    assert sorted(plain["snapshots"]) == [0, 7, 14, 21, 28, 30]  # every 30 // 4 iterations and the end

    titles = []
    monkeypatch.setattr(normal1d, "save_figure", lambda path, fig: titles.extend(
        ax.get_title() for ax in fig.axes if ax.get_visible()))
    normal1d.plot_histograms(tmp_path / "h.png", with_snapshots, lambda x: np.exp(-x * x))
    assert titles == ["epoch 0 · iteration 0", "epoch 2 · iteration 10", "epoch 4 · iteration 20", "epoch 6 · iteration 30"]


def test_the_main_job_runs_the_recipe_beside_the_grid_and_says_which_reached_the_floor(tmp_path, capsys) -> None:
    # recipe: 20 iterations of 2 x 64 real samples = 2560 samples over 10 epochs: a training set of 256
    out = tmp_path / "main"
    result = normal1d.main(["--iterations", "10", "--seeds", "2", "--ks", "1", "--modes", "alternating", "--samples",
                            "1000", "--evaluations", "2", "--hidden", "8", "--batch-size", "64", "--recipe-iterations",
                            "20", "--recipe-epochs", "10", "--recipe-batch", "64", "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    labels = [s["label"] for s in result["summary"]]
    assert len(labels) == 2 and labels[1].startswith("recipe: normal noise, batch 64 · alternating:k=2")
    data = json.loads((out / "results.json").read_text())
    recipe_runs = [r for r in data["runs"] if r["label"] == labels[1]]
    assert len(recipe_runs) == 2 and all(r["iterations"] == 20 and r["epochs"] == pytest.approx(10) for r in recipe_runs)
    assert "W1 within 2 × floor" in printed and data["verdict"] in printed
    reached = [s for s in result["summary"] if s["final_within_2x_floor"] == s["runs"]]
    for s in result["summary"]:  # every configuration is named once, on the line that matches its outcome
        assert printed.count(s["label"] + " (") >= 1
        line = next(l for l in printed.splitlines() if s["label"] + " (" in l and "floor" in l and "Best" not in l)
        assert line.startswith("W1 within" if s in reached else "Not in every seed")
    assert (out / "seeds.png").stat().st_size > 0
    floor = data["recipe_arithmetic_floor"]  # the recipe's matmul FLOPs and tanh elements at this machine's rates
    assert floor["flops_per_game_iteration"] > 0 and floor["tanh_elements"] > 0 and floor["games"] == 2
    spent = sum(r["wall_time"] for r in recipe_runs)
    assert 0 < floor["core_seconds"] < spent  # no run beats the arithmetic it has to do
    assert f"Arithmetic floor of the recipe: {floor['flops_per_game_iteration'] / 1e6:.3g} MFLOP" in printed
    with pytest.raises(ValueError, match="multiple of 5"):
        normal1d.grid(normal1d.parse_args(["--recipe-iterations", "12"]))
    with pytest.raises(ValueError, match="do not divide into 7 epochs"):
        normal1d.grid(normal1d.parse_args(["--recipe-iterations", "10", "--recipe-epochs", "7", "--recipe-batch", "5"]))
    assert normal1d.grid(normal1d.parse_args(["--preset", "2018"]))[-1].is_recipe is False  # a preset runs alone
    assert normal1d.grid(normal1d.parse_args(["--recipe-ema", "0.999"]))[-1].ema == 0.999
    with pytest.raises(SystemExit):
        normal1d.parse_args(["--recipe-ema", "1"])


def test_the_floor_of_a_sample_target_is_the_mean_of_many_draws() -> None:
    import numpy as np

    from benchmarks import normal1d

    heavy = np.random.default_rng(0).standard_t(3, 20_000)
    config = normal1d.Config("alternating:k=1", "adam", {"lr": 1e-3}, "non-saturating", {"samples": heavy, "hidden": 4}, 10)
    floors = normal1d.floor(config, 2000, seeds=3)
    assert len(floors["w1"]) == normal1d.SAMPLE_FLOOR_DRAWS
    spread = np.std(floors["w1"])
    assert np.std(floors["w1"]) / np.sqrt(len(floors["w1"])) < 0.2 * np.mean(floors["w1"])  # a stable mean
    assert spread > 0  # the draws differ
    normal = normal1d.Config("alternating:k=1", "adam", {"lr": 1e-3}, "non-saturating", {"hidden": 4}, 10)
    assert len(normal1d.floor(normal, 2000, seeds=3)["w1"]) == 3  # a normal target: one draw per seed, as before


def test_a_built_in_law_and_the_recipe_alone() -> None:
    import numpy as np

    from benchmarks import normal1d

    configs = normal1d.grid(normal1d.parse_args(["--target-law", "student3", "--g-skip", "--recipe-only"]))
    assert len(configs) == 1 and configs[0].is_recipe
    options = configs[0].task_options
    assert options["g_skip"] is True and len(options["samples"]) == 100_000
    # each law's samples are the same whichever is asked for first, and the laws differ in shape
    assert np.array_equal(normal1d.law_samples("student3"), options["samples"])
    mixture, uniform = normal1d.law_samples("mixture"), normal1d.law_samples("uniform")
    assert (np.abs(mixture - 0.5) > 1.0).mean() > 0.9  # two modes, at -2 and 3, little mass between them
    assert uniform.min() >= -1 and uniform.max() <= 3
    assert len(normal1d.grid(normal1d.parse_args([]))) > 1  # without --recipe-only the grid runs too


def test_groups_spread_over_processes_give_the_results_of_one_process() -> None:
    args = normal1d.parse_args(["--iterations", "10", "--seeds", "4", "--ks", "1", "--modes", "alternating", "--hidden",
                                "8", "--batch-size", "64", "--recipe-iterations", "20", "--recipe-epochs", "10",
                                "--recipe-batch", "64", "--samples", "500", "--evaluations", "2"])  # fmt: skip
    configs = normal1d.grid(args)
    groups: dict = {}
    for c in configs:
        groups.setdefault(normal1d.group_key(c), []).append(c)
    assert len(groups) == 2  # the grid's cell and the recipe
    alone = normal1d.run_groups(list(groups.values()), [0, 1, 2, 3], 500, 2, workers=1, quiet=True)  # 2 envs of 4
    spread = normal1d.run_groups(list(groups.values()), [0, 1, 2, 3], 500, 2, workers=2, quiet=True)  # 4 envs of 2

    def key(r: dict) -> tuple:
        return r["label"], r["seed"]

    assert sorted(map(key, alone)) == sorted(map(key, spread)) and len(alone) == 8
    for a, b in zip(sorted(alone, key=key), sorted(spread, key=key)):
        assert a["metrics"] == b["metrics"] and a["samples"].tobytes() == b["samples"].tobytes(), key(a)
