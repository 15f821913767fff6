"""`minimax eval` scores image and mixture runs with the task's own measure, next to its floor.

MNIST: the evaluation classifier's metrics against real images and the real-vs-real floor; Stacked MNIST: modes
of 1000; Ring8/Grid25: PacGAN's mode metrics against target samples. Each for the last iterate and, when the run
keeps one, the generator's average of iterates. Tiny IDX files built here (never downloaded).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from minimax import cli, runs
from minimax.datasets import write_idx
from minimax.eval.image_metrics import REPORT_KEYS, image_report
from minimax.eval.mode_metrics import mode_report
from minimax.training import checkpoint as ckpt

TINY = ["-o", "noise_dim=4", "-o", "g_hidden=8/8", "-o", "d_hidden=8/8", "-o", "batch_size=8", "-o", "download=false"]


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory):
    """60 labelled 'digits' (a bar whose height gives the class) as the only (test) split, and a classifier cache."""
    root = tmp_path_factory.mktemp("mnist")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 60).astype(np.uint8)
    images = rng.integers(0, 40, (60, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 * label : 2 * label + 6, 4:24] = 255
    (root / "data").mkdir()
    write_idx(root / "data" / "t10k-images-idx3-ubyte.gz", images)
    write_idx(root / "data" / "t10k-labels-idx1-ubyte.gz", labels)
    return root


@pytest.fixture
def cache(tiny_mnist, monkeypatch):
    monkeypatch.setenv("MINIMAX_CACHE", str(tiny_mnist / "cache"))  # one classifier for the module's tests


def train(task: str, out, *options: str, iterations: int = 4) -> None:
    argv = ["train", task, *options, "-n", str(iterations), "--no-tensorboard", "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 0


def restored_samples(out, samples: int, average: bool = False) -> torch.Tensor:
    """The run's generator (last iterate, or its average of iterates) on eval's fixed noise, rebuilt independently."""
    env, rules = runs.build_run(runs.load_spec(out))
    ckpt.restore(env, rules, ckpt.load_latest(out))
    if average:
        with torch.no_grad():
            env.game.parameters("generator").copy_(rules["generator"].state.average.reshape(1, -1))
    return env.game.generate(samples, torch.Generator().manual_seed(0))[0]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_an_mnist_run_is_scored_by_the_classifier_next_to_its_floor(tiny_mnist, cache, tmp_path, capsys) -> None:
    out = tmp_path / "mnist"
    train("MNIST", out, "-o", f"root={tiny_mnist / 'data'}", *TINY, "-G", "adam:lr=1e-3,ema=0.9")
    capsys.readouterr()
    assert cli.main(["eval", str(out), "--samples", "40", "--json", "--no-progress"]) == 0
    quality = json.loads(capsys.readouterr().out)["quality"]
    assert quality["kind"] == "images" and quality["samples"] == 40 and quality["headline"] == list(REPORT_KEYS)
    assert quality["floor_note"] == "real vs real, 30 vs 30" and quality["reference"] == 40
    assert quality["classifier"]["heldout"] == 12 and len(quality["classifier"]["sha256"]) == 64
    for part in ("last", "average", "floor"):
        assert set(quality[part]) == set(REPORT_KEYS) and 1 <= quality[part]["classifier_score"] <= 10, part
    assert quality["last"] != quality["average"]  # the average of iterates, not the last iterate again
    assert quality["floor"]["precision"] > quality["last"]["precision"]  # an untrained generator is below the floor

    from minimax.eval.classifier import load_or_train
    from minimax.eval.quality import real_reference
    from minimax.tasks.images import MNIST

    task = MNIST(root=tiny_mnist / "data", download=False)
    classifier = load_or_train("mnist", root=tiny_mnist / "data", progress=False)
    (probs, features), floor, _ = real_reference(task, classifier, 40)
    for part, average in (("last", False), ("average", True)):  # the restored run's generator, scored again here
        expected = image_report(probs, features, *classifier.evaluate(restored_samples(out, 40, average)))
        assert quality[part] == pytest.approx(expected), part
    assert quality["floor"] == pytest.approx(floor)

    assert cli.main(["eval", str(out), "--samples", "40", "--markdown", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "| metric | last iterate | average of iterates | floor |" in text and "| classifier_score |" in text
    assert "| discriminator_loss |" in text and "held-out accuracy" in text
    with pytest.raises(SystemExit):
        cli.main(["eval", str(out), "--samples", "3", "--no-progress"])
    assert "--samples 3: samples must be at least 4 for the image metrics" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_stacked_mnist_run_is_scored_by_its_modes(tiny_mnist, cache, tmp_path, capsys) -> None:
    out = tmp_path / "stacked"
    train("StackedMNIST", out, "-o", f"root={tiny_mnist / 'data'}", *TINY, iterations=2)
    capsys.readouterr()
    assert cli.main(["eval", str(out), "--samples", "30", "--json", "--no-progress"]) == 0
    quality = json.loads(capsys.readouterr().out)["quality"]
    assert quality["kind"] == "stacked" and "average" not in quality  # this run keeps no average
    assert quality["last"]["modes"] == quality["floor"]["modes"] == 1000
    assert quality["last"]["samples"] == quality["floor"]["samples"] == 30
    assert 1 <= quality["last"]["modes_covered"] <= 30 and 1 <= quality["floor"]["modes_covered"] <= 30
    assert cli.main(["eval", str(out), "--samples", "30", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "Stacked MNIST modes, 30 generated samples; floor: 30 real stacked images, classified" in text
    assert "modes_covered" in text and "histogram" not in text  # the histograms stay in the JSON


@pytest.mark.parametrize("task, modes", [("Ring8", 8), ("Grid25", 25)])
def test_a_mixture_run_is_scored_by_the_mode_metrics(task, modes, tmp_path, capsys) -> None:
    out = tmp_path / task
    small = ["-o", "hidden=8", "-o", "d_hidden=8", "-o", "batch_size=16", "-o", "depth=1", "-o", "d_depth=1"]
    train(task, out, *small, "-G", "adam:lr=1e-3,ema=uniform", iterations=5)
    capsys.readouterr()
    assert cli.main(["eval", str(out), "--samples", "2000", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    quality = report["quality"]
    assert quality["kind"] == "modes" and quality["modes"] == modes
    assert quality["floor"]["modes_covered"] == modes and quality["floor"]["high_quality_fraction"] > 0.97
    env = runs.build_run(runs.load_spec(out))[0]
    centers, std = env.game.task.centers, env.game.task.std
    assert quality["last"] == mode_report(restored_samples(out, 2000), centers, std)  # the final generator
    assert quality["average"] == mode_report(restored_samples(out, 2000, average=True), centers, std)
    assert "target" not in report  # the 1D distances are Normal1D's
    assert cli.main(["eval", str(out), "--samples", "2000"]) == 0
    text = capsys.readouterr().out
    assert "mode metrics, 2,000 generated samples; floor: 2,000 target samples" in text
    assert "high_quality_fraction" in text and "reverse_kl" in text


def test_tasks_without_a_measure_keep_the_old_report(tmp_path, capsys) -> None:
    out = tmp_path / "dirac"
    train("DiracGAN", out, "--env", "parallel", "--rule", "sgd:lr=0.1")
    assert "quality" not in runs.evaluate_run(out, 100)
