"""The speed benchmark runs end to end and reports ratios against its own eager baseline."""

from __future__ import annotations

import json

import pytest

from benchmarks import speed


def test_speed_benchmark_writes_its_table_and_files(tmp_path, capsys) -> None:
    out = tmp_path / "speed"
    speed.main(["--tasks", "normal1d-small", "--games", "1", "3", "--seconds", "0.05", "--threads", "1",
                "--rounds", "2", "--device", "cpu", "--out", str(out)])  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    rows = results["rows"]
    assert results["limits"][0]["matmul_gflops"] > 0 and results["limits"][0]["copy_gb_per_s"] > 0
    assert "a large matmul runs at" in results["machine"]
    assert [r["method"] for r in rows] == ["eager", "eager-fused", "env", "games", "games"]
    assert all("error" not in r and r["its_per_s"] > 0 and r["rounds"] == 2 for r in rows), rows
    assert all(r["min_its_per_s"] <= r["its_per_s"] <= r["max_its_per_s"] for r in rows)
    games3 = rows[4]
    assert games3["games"] == 3 and games3["game_its_per_s"] == pytest.approx(3 * games3["its_per_s"])
    assert rows[3]["flops_per_game_iteration"] > 0
    assert len(results["rounds"]) == 2
    text = (out / "results.md").read_text()
    assert "| normal1d-small | cpu | 1 | games N=3 |" in text and "vs eager" in text
    assert (out / "speed.png").stat().st_size > 0
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("method, games", [("eager", 1), ("eager-fused", 1), ("env", 1), ("games", 2)])
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
