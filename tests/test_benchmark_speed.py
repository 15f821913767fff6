"""The speed benchmark runs end to end and reports ratios against its own eager baseline."""

from __future__ import annotations

import json

import pytest

from benchmarks import speed


def test_speed_benchmark_writes_its_table_and_files(tmp_path, capsys) -> None:
    out = tmp_path / "speed"
    # each row is a subprocess (about 5 s here); the MNIST test below measures every method in-process
    speed.main(["--tasks", "normal1d-small", "--games", "1", "3", "--seconds", "0.05", "--threads", "1",
                "--rounds", "2", "--device", "cpu", "--methods", "eager", "eager-fused", "env-fused", "games",
                "--out", str(out)])  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    rows = results["rows"]
    limits = results["limits"][0]
    assert limits["matmul_gflops"] > 0 and limits["copy_gb_per_s"] > 0 and limits["tanh_ns"] > 0 and limits["tanh_backward_ns"] > 0
    assert "a large matmul runs at" in results["machine"] and "tanh at" in results["machine"]
    assert [speed._label(r) for r in rows] == ["eager", "eager-fused", "env-fused", "games N=1", "games N=3"]
    assert all("error" not in r and r["its_per_s"] > 0 and r["rounds"] == 2 for r in rows), rows
    assert all(r["min_its_per_s"] <= r["its_per_s"] <= r["max_its_per_s"] for r in rows)
    games3 = rows[4]
    assert games3["games"] == 3 and games3["game_its_per_s"] == pytest.approx(3 * games3["its_per_s"])
    eager = rows[0]  # the game's own arithmetic, counted on the plain loop
    assert eager["flops_per_game_iteration"] > 0 and eager["tanh_elements"] > 0 and eager["adam_bytes"] > 0
    floor = results["floors"]["normal1d-small/cpu/1"]
    assert floor > max(r["game_its_per_s"] for r in rows)  # nothing runs faster than its arithmetic allows
    assert len(results["rounds"]) == 2
    text = (out / "results.md").read_text()
    assert "| normal1d-small | cpu | 1 | games N=3 |" in text and "vs eager" in text and "of floor" in text
    assert (out / "speed.png").stat().st_size > 0
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("method, games", [("eager", 1), ("eager-fused", 1), ("env", 1), ("env-fused", 1), ("games", 2),
                                           ("games-fused", 2)])  # fmt: skip
def test_mnist_configurations_measure_without_data(method: str, games: int, monkeypatch) -> None:
    monkeypatch.delenv("MINIMAX_MNIST_DIR", raising=False)
    spec = {"task": "mnist", "device": "cpu", "threads": 1, "seconds": 0.01, "mnist_batch": 4, "data_dir": None,
            "method": method, "games": games}  # fmt: skip
    result = speed.measure(spec)
    assert result["its_per_s"] > 0 and result["iterations"] >= 1
    assert result["game_its_per_s"] == pytest.approx(games * result["its_per_s"])


def test_bad_options_are_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        speed.main(["--games", "0"])
    assert "--games must be positive counts, got [0]" in capsys.readouterr().err


def test_a_baseline_checkout_measures_its_own_env_row(tmp_path) -> None:
    """--compare-with runs the env row of another checkout (here: this one), labelled baseline."""
    from pathlib import Path

    tree = str(Path(speed.__file__).resolve().parents[1])
    spec = {"task": "normal1d-small", "device": "cpu", "threads": 1, "seconds": 0.01, "mnist_batch": 4, "data_dir": None,
            "method": "baseline"}  # fmt: skip
    row = speed.run_in_subprocess(spec, tree)
    assert "error" not in row and row["method"] == "baseline" and row["its_per_s"] > 0


def test_the_floor_adds_each_cost_at_its_measured_rate() -> None:
    eager = {"task": "t", "device": "cpu", "threads": 1, "method": "eager", "flops_per_game_iteration": 2e9,
             "tanh_elements": 1e6, "tanh_backward_elements": 2e6, "adam_bytes": 4e9}  # fmt: skip
    limits = [{"device": "cpu", "threads": 1, "matmul_gflops": 100.0, "tanh_ns": 2.0, "tanh_backward_ns": 0.5,
               "copy_gb_per_s": 20.0}]  # fmt: skip
    # 2e9 / 1e11 + 1e6 * 2e-9 + 2e6 * 0.5e-9 + 4e9 / 2e10 = 0.02 + 0.002 + 0.001 + 0.2 = 0.223 s
    assert speed.floors([eager], limits)[("t", "cpu", 1)] == pytest.approx(1 / 0.223)


def test_the_fastest_peer_is_the_best_one_game_loop_or_jax_at_the_same_n() -> None:
    rows = [{"task": "t", "device": "cpu", "threads": 1, "method": m, "games": n, "game_its_per_s": v}
            for m, n, v in [("eager", 1, 10.0), ("eager-fused", 1, 30.0), ("jax", 1, 20.0), ("jax-games", 4, 80.0),
                            ("games", 4, 40.0)]]  # fmt: skip
    assert speed.best_peer(rows, ("t", "cpu", 1), 1) == ("eager-fused", 30.0)
    assert speed.best_peer(rows, ("t", "cpu", 1), 4) == ("jax N=4", 80.0)
    assert speed.best_peer(rows, ("t", "cpu", 1), 16) is None


def test_the_jax_rows_are_refused_clearly_without_jax(monkeypatch, capsys) -> None:
    monkeypatch.setattr(speed, "jax_available", lambda: False)
    with pytest.raises(SystemExit):
        speed.main(["--methods", "jax", "--tasks", "normal1d-small"])
    assert "the jax rows need jax and optax" in capsys.readouterr().err


@pytest.mark.parametrize("task, games", [("normal1d-small", 1), ("normal1d-small", 3), ("mnist", 1)])
def test_the_jax_peers_run_when_jax_is_installed(task: str, games: int) -> None:
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    spec = {"task": task, "device": "cpu", "threads": 1, "seconds": 0.01, "mnist_batch": 4, "data_dir": None,
            "method": "jax" if games == 1 else "jax-games", "games": games}  # fmt: skip
    result = speed.measure(spec)
    assert result["its_per_s"] > 0 and result["game_its_per_s"] == pytest.approx(games * result["its_per_s"])


@pytest.mark.parametrize("games", [1, 2])
def test_in_place_benchmark_pairs_the_two_paths_and_restores_the_engine(tmp_path, games) -> None:
    from benchmarks import in_place
    from minimax.training import loop

    before = loop.Driver._in_place
    result = in_place.main(["--task", "normal1d-small", "--games", str(games), "--rounds", "2", "--iterations", "3",
                            "--out", str(tmp_path)])  # fmt: skip
    assert loop.Driver._in_place is before
    assert all(len(v) == 2 and all(r > 0 for r in v) for v in result["rates"].values())
    assert len(result["ratios"]) == 2 and "| normal1d-small |" in (tmp_path / "results.md").read_text()
