"""The MNIST benchmark end to end on tiny IDX files: classifier, floors, table, JSON and figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import mnist
from minimax.datasets import write_idx


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """60 labelled 'digits' as the only (test) split, and a private classifier cache."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 60).astype(np.uint8)
    images = rng.integers(0, 40, (60, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 * label : 2 * label + 6, 4:24] = 255  # a bar whose height gives the class
    data = tmp_path / "data"
    data.mkdir()
    write_idx(data / "t10k-images-idx3-ubyte.gz", images)
    write_idx(data / "t10k-labels-idx1-ubyte.gz", labels)
    monkeypatch.setenv("MINIMAX_CACHE", str(tmp_path / "cache"))
    return data


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mnist_benchmark_writes_its_results(tiny_mnist, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    result = mnist.main(["--data-dir", str(tiny_mnist), "--no-download", "--iterations", "4", "--samples", "50", "--evaluations", "2",
                         "--grid-at", "2", "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert "training on the 60-image test split" in printed  # the substitution is said, not hidden
    assert "| floor: real vs real, 30 vs 30 |" in printed
    assert "k=1 · adam · non-saturating" in printed
    for name in ("results.json", "results.md", "grids.png", "curves.png"):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "results.json").read_text())
    (run,) = data["runs"]
    assert run["iterations"] == 4 and run["schedule"] == "alternating:k=1,split=true"
    assert run["curve"]["iteration"] == [0, 2, 4]
    assert set(run["metrics"]) == set(mnist.METRICS) and 1 <= run["metrics"]["classifier_score"] <= 10
    assert data["classifier"]["heldout"] == 12 and len(data["classifier"]["sha256"]) == 64
    assert sorted(result["runs"][0]["grids"]) == [0, 2, 4]
    assert result["runs"][0]["grids"][4].shape == (25, 28, 28)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mnist_study_grid(tiny_mnist, tmp_path) -> None:
    result = mnist.main(["--data-dir", str(tiny_mnist), "--no-download", "--study", "--ks", "1", "2", "--rules", "momentum",
                         "--losses", "minimax", "--preset", "default", "--iterations", "2", "--samples", "50",
                         "--evaluations", "1", "--out", str(tmp_path / "study"), "--no-progress"])
    assert [r["schedule"] for r in result["runs"]] == ["alternating:k=1", "alternating:k=2"]
    assert all(r["iterations"] == 2 for r in result["runs"])


def test_mnist_benchmark_refuses_bad_options(tmp_path) -> None:
    for argv in (["--iterations", "0"], ["--samples", "10"], ["--ks", "0"], ["--losses", "hnge"],
                 ["--iterations", "10", "--grid-at", "20"]):
        with pytest.raises(SystemExit):
            mnist.main([*argv, "--out", str(tmp_path / "x")])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mnist_run_resumes_as_if_never_interrupted(tiny_mnist, tmp_path, monkeypatch) -> None:
    """--checkpoint-every then --resume: the curve, grids and final generator equal the uninterrupted run's."""
    argv = ["--data-dir", str(tiny_mnist), "--no-download", "--iterations", "6", "--samples", "50",
            "--evaluations", "3", "--grid-at", "2", "--no-progress"]
    whole = mnist.main([*argv, "--out", str(tmp_path / "whole")])["runs"][0]

    out = tmp_path / "pieces"
    real_scores, calls = mnist.scores, {"n": 0}

    def crash_at_iteration_4(*a, **k):  # the evaluations run at 0, 2, 4, 6: die in the one at 4
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_scores(*a, **k)

    monkeypatch.setattr(mnist, "scores", crash_at_iteration_4)
    with pytest.raises(KeyboardInterrupt):
        mnist.main([*argv, "--out", str(out), "--checkpoint-every", "2"])
    monkeypatch.setattr(mnist, "scores", real_scores)
    with pytest.raises(SystemExit, match="--resume"):  # a checkpoint is never silently overwritten
        mnist.main([*argv, "--out", str(out), "--checkpoint-every", "2"])
    resumed = mnist.main([*argv, "--out", str(out), "--checkpoint-every", "2", "--resume"])["runs"][0]

    assert resumed["resumed_at"] == [4]  # the checkpoint at 4 was written before its evaluation crashed
    assert resumed["curve"] == whole["curve"]
    assert sorted(resumed["grids"]) == sorted(whole["grids"]) == [0, 2, 6]
    for i in whole["grids"]:
        np.testing.assert_array_equal(resumed["grids"][i], whole["grids"][i])
    np.testing.assert_array_equal(resumed["losses"]["generator"], whole["losses"]["generator"])
