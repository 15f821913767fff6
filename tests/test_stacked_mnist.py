"""Stacked MNIST: the task (three independent draws as channels, modes 100 d0 + 10 d1 + d2), metrics, benchmark."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pettingzoo
import pytest
import torch
from pettingzoo.test import api_test

import minimax
from benchmarks import stacked_mnist
from minimax.datasets import write_idx
from minimax.eval.mode_metrics import classify_channels, stacked_mode_report, stacked_modes, stacked_report
from minimax.tasks.stacked import StackedMNIST

TINY = {"noise_dim": 4, "g_hidden": (8,), "d_hidden": (8,), "batch_size": 8}
CPU = torch.device("cpu")


def indexed(n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """n images, image i filled with the value i (so a drawn channel tells which image it is), label i % 10."""
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None], (n, 28, 28)).copy()
    return images, (np.arange(n) % 10).astype(np.uint8)


def which(batch: torch.Tensor) -> torch.Tensor:
    """The image index of each channel of a batch of ``indexed`` images."""
    return torch.round(batch[:, :, 0, 0].double() * 127.5 + 127.5).long()


# ---- mode arithmetic -----------------------------------------------------------------------------


def test_mode_numbers_are_the_digit_triples_in_base_ten() -> None:
    assert stacked_modes(np.array([[1, 2, 3], [0, 0, 0], [9, 9, 9], [3, -1, 2], [0, 0, 7]])).tolist() == [
        123, 0, 999, -1, 7]  # fmt: skip
    triples = np.array(list(itertools.product(range(10), repeat=3)))
    assert stacked_modes(triples).tolist() == list(range(1000))  # a bijection onto 0..999
    assert stacked_modes(torch.tensor([[4, 0, 2]])).tolist() == [402]
    assert stacked_modes(np.array([[3, 1]])).tolist() == [31]  # any number of channels


@pytest.mark.parametrize("digits, error, match", [
    (np.array([[1.0, 2.0, 3.0]]), TypeError, "float64"),
    (np.array([[1, 10, 3]]), ValueError, r"got 10 at index \(0, 1\)"),
    (np.array([[1, -2, 3]]), ValueError, "got -2"),
    (np.array([1, 2, 3]), ValueError, r"\(n, channels\), got \(3,\)"),
])  # fmt: skip
def test_bad_digits_are_refused_by_value(digits, error, match) -> None:
    with pytest.raises(error, match=match):
        stacked_modes(digits)


# ---- the task ------------------------------------------------------------------------------------


def test_networks_are_the_reports_widened_to_three_channels() -> None:
    images, labels = indexed(20)
    task = StackedMNIST(images=images, labels=labels)
    g, d = task.build_generator(), task.build_discriminator()
    extra = 3 * 784 - 784  # the widened last generator layer and first discriminator layer
    assert sum(p.numel() for p in g.parameters()) == 1_489_936 + 1024 * extra + extra == 3_097_136
    assert sum(p.numel() for p in d.parameters()) == 533_505 + 512 * extra == 1_336_321
    assert sum(b.numel() for name, b in g.named_buffers() if "running" in name) == 3_584  # BatchNorm as MNIST's
    assert [m.out_features for m in g if isinstance(m, torch.nn.Linear)] == [256, 512, 1024, 2352]
    assert [m.in_features for m in d if isinstance(m, torch.nn.Linear)] == [2352, 512, 256]
    x = g(torch.randn(5, 100))
    assert x.shape == (5, 3, 28, 28) and x.abs().max() <= 1 and d(x).shape == (5,)
    mnist = minimax.MNIST(images=images)  # MNIST's own networks unchanged
    assert sum(p.numel() for p in mnist.build_generator().parameters()) == 1_489_936
    assert task.describe()["modes"] == 1000 and task.data_shape == (3, 28, 28)


def test_sampling_draws_each_channel_uniformly_and_independently_from_the_stream() -> None:
    images, labels = indexed(200)
    task = StackedMNIST(images=images, labels=labels, **TINY)
    n = 20_000
    batch = task.sample_data(n, torch.Generator().manual_seed(5), CPU)
    assert batch.shape == (n, 3, 28, 28) and batch.dtype == torch.float32
    assert float(batch.min()) == -1.0 and float(batch.max()) <= 1.0
    index = which(batch)
    assert torch.equal(index, torch.randint(0, 200, (n, 3), generator=torch.Generator().manual_seed(5)))
    assert (batch == batch[:, :, :1, :1]).all()  # each channel is one whole image, not a mixture
    for c in range(3):  # each channel uniform over the images: chi-square, 199 degrees of freedom
        counts = torch.bincount(index[:, c], minlength=200).double()
        assert float(((counts - n / 200) ** 2 / (n / 200)).sum()) < 199 + 6 * math.sqrt(2 * 199)
    # independent: the 1000 digit triples are uniform (labels i % 10 are uniform over these images)
    modes = stacked_modes(labels[index.numpy()])
    counts = np.bincount(modes, minlength=1000)
    assert (counts > 0).all()
    assert ((counts - n / 1000) ** 2 / (n / 1000)).sum() < 999 + 6 * math.sqrt(2 * 999)
    assert float((index[:, 0] == index[:, 1]).double().mean()) < 3 / 200  # tied channels would give 1


def test_sampling_is_deterministic_given_the_stream_and_modes_match_the_labels() -> None:
    images, labels = indexed(50)
    task = StackedMNIST(images=images, labels=labels, **TINY)
    rng = torch.Generator().manual_seed(11)
    first, second = task.sample_data(64, rng, CPU), task.sample_data(64, rng, CPU)
    assert not torch.equal(first, second)  # the stream moves on
    again = torch.Generator().manual_seed(11)
    assert torch.equal(task.sample_data(64, again, CPU), first)
    assert torch.equal(task.sample_data(64, again, CPU), second)
    x, modes = task.sample_with_modes(64, torch.Generator().manual_seed(11))
    assert torch.equal(x, first)  # the same draw as sample_data from the same state
    digits = which(x).numpy() % 10
    assert modes.tolist() == (100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2]).tolist()
    assert task.sample_data(4, torch.Generator().manual_seed(0), CPU, torch.float64).dtype == torch.float64

    def first_batch(seed: int) -> torch.Tensor:
        env = pettingzoo.make("aec", "minimax/StackedMNIST-v0", view="torch", images=images, labels=labels, **TINY)
        env.reset(seed=seed)
        (batch,) = env.match.batches.values()
        return batch.real[0]

    assert first_batch(3).shape == (8, 3, 28, 28)
    assert torch.equal(first_batch(3), first_batch(3)) and not torch.equal(first_batch(3), first_batch(4))


def test_bad_task_input_is_refused_clearly(tmp_path) -> None:
    images, labels = indexed(64)
    with pytest.raises(ValueError, match="labels were given without images"):
        StackedMNIST(labels=labels)
    with pytest.raises(TypeError, match="float32"):
        StackedMNIST(images=images, labels=labels.astype(np.float32))
    with pytest.raises(ValueError, match=r"shape \(64,\), one per image, got \(63,\)"):
        StackedMNIST(images=images, labels=labels[:63])
    bad = labels.copy()
    bad[5] = 10
    with pytest.raises(ValueError, match="got 10 at index 5"):
        StackedMNIST(images=images, labels=bad)
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        StackedMNIST(images=np.zeros((4, 3, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="labels="):
        StackedMNIST(images=images).sample_with_modes(3, torch.Generator())
    with pytest.raises(TypeError, match="unknown option"):
        pettingzoo.make("aec", "minimax/StackedMNIST-v0", view="torch", images=images, channels=2)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        StackedMNIST(root=tmp_path / "nowhere", download=False)


def test_loads_labels_from_idx_files_and_says_which_split(tmp_path) -> None:
    images, labels = indexed(30)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.warns(UserWarning):
        task = StackedMNIST(root=tmp_path, download=False, **TINY)
    assert len(task) == 30 and "test" in task.note
    x, modes = task.sample_with_modes(10, torch.Generator().manual_seed(0))
    assert modes.tolist() == stacked_modes(which(x).numpy() % 10).tolist()


def test_pettingzoo_api_test_on_tiny_stacked_mnist() -> None:
    images, labels = indexed(40)
    env = minimax.to_numpy(pettingzoo.make("aec", "minimax/StackedMNIST-v0", view="torch", images=images, labels=labels,
                                           max_steps=20, **TINY))  # fmt: skip
    api_test(env, num_cycles=10)


# ---- the metric ------------------------------------------------------------------------------------


def painted(triples: list[tuple[int, int, int]]) -> torch.Tensor:
    """Images whose channel c is filled with the value -1 + 2 d_c / 9 (read back by ``fake_classifier``)."""
    d = torch.tensor(triples, dtype=torch.float32)
    return (-1 + 2 * d / 9)[:, :, None, None].expand(len(triples), 3, 28, 28).clone()


def fake_classifier(x: torch.Tensor) -> torch.Tensor:
    """One-hot scores of the digit painted into each (m, 1, 28, 28) image."""
    assert x.shape[1:] == (1, 28, 28)
    digit = torch.round((x.mean((1, 2, 3)) + 1) * 4.5).long()
    return torch.nn.functional.one_hot(digit, 10).float()


def test_modes_covered_and_kl_on_hand_made_images() -> None:
    images = painted([(1, 2, 3)] * 10 + [(4, 5, 6)] * 30)
    report = stacked_mode_report(images, fake_classifier, batch_size=7)  # chunks of 7 images
    assert report["modes_covered"] == 2 and report["samples"] == report["classified"] == 40
    assert report["histogram"][123] == 10 and report["histogram"][456] == 30 and sum(report["histogram"]) == 40
    expected = 0.25 * math.log(1000 * 0.25) + 0.75 * math.log(1000 * 0.75)
    assert report["kl_uniform"] == pytest.approx(expected, rel=1e-12)
    assert report["digit_histograms"][0][1] == 10 and report["digit_histograms"][2][6] == 30

    every = painted(list(itertools.product(range(10), repeat=3)))
    full = stacked_mode_report(every, fake_classifier)
    assert full["modes_covered"] == 1000 and full["kl_uniform"] == pytest.approx(0.0, abs=1e-12)
    one = stacked_mode_report(painted([(7, 7, 7)] * 5), fake_classifier)
    assert one["modes_covered"] == 1 and one["kl_uniform"] == pytest.approx(math.log(1000))
    tied = stacked_mode_report(painted([(d, d, d) for d in range(10)] * 3), fake_classifier)
    assert tied["modes_covered"] == 10 and tied["kl_uniform"] == pytest.approx(math.log(100))


def test_unclassifiable_channels_and_trained_classifier_objects() -> None:
    images = painted([(1, 2, 3), (4, 5, 6), (7, 8, 9)])
    images[1, 2, 3, 4] = float("nan")
    digits = classify_channels(images, fake_classifier)
    assert digits.tolist() == [[1, 2, 3], [4, 5, -1], [7, 8, 9]]
    report = stacked_mode_report(images, fake_classifier)
    assert report["samples"] == 3 and report["classified"] == 2 and report["modes_covered"] == 2
    assert report["kl_uniform"] == pytest.approx(math.log(500))
    nothing = stacked_report(np.array([-1, -1]))
    assert nothing["modes_covered"] == 0 and nothing["kl_uniform"] == pytest.approx(math.log(1000))

    class Evaluates:  # the TrainedClassifier interface: evaluate -> (probabilities, features)
        def evaluate(self, x):
            return torch.softmax(10 * fake_classifier(x), 1), torch.zeros(len(x), 128)

    assert classify_channels(painted([(0, 9, 4)]), Evaluates()).tolist() == [[0, 9, 4]]


def test_bad_metric_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"\(n, channels, 28, 28\).*\(2, 3, 27, 28\)"):
        classify_channels(torch.zeros(2, 3, 27, 28), fake_classifier)
    with pytest.raises(TypeError, match="floating point"):
        classify_channels(torch.zeros(2, 3, 28, 28, dtype=torch.uint8), fake_classifier)
    with pytest.raises(ValueError, match=r"\(6, 10\) class scores for 6 images, got \(6, 9\)"):
        classify_channels(torch.zeros(2, 3, 28, 28), lambda x: torch.zeros(len(x), 9))
    with pytest.raises(ValueError, match="batch_size"):
        classify_channels(torch.zeros(2, 3, 28, 28), fake_classifier, batch_size=0)
    with pytest.raises(ValueError, match="got 1000 at index 1"):
        stacked_report(np.array([3, 1000]))
    with pytest.raises(ValueError, match="non-empty 1D integer"):
        stacked_report(np.array([1.5]))


# ---- the benchmark -------------------------------------------------------------------------------


def tiny_labels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 10, 60).astype(np.uint8)


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """60 labelled 'digits' (a bar whose height gives the class) as the only (test) split; a private cache."""
    labels = tiny_labels()
    images = np.random.default_rng(1).integers(0, 40, (60, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 * label : 2 * label + 6, 4:24] = 255
    data = tmp_path / "data"
    data.mkdir()
    write_idx(data / "t10k-images-idx3-ubyte.gz", images)
    write_idx(data / "t10k-labels-idx1-ubyte.gz", labels)
    monkeypatch.setenv("MINIMAX_CACHE", str(tmp_path / "cache"))
    return data


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_stacked_benchmark_writes_its_results(tiny_mnist, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    result = stacked_mnist.main([
        "--data-dir", str(tiny_mnist), "--no-download", "--methods", "ns", "wgan-gp", "--seeds", "2",
        "--iterations", "6", "--samples", "100", "--evaluations", "2", "--g-hidden", "8", "--d-hidden", "8",
        "--noise-dim", "4", "--batch-size", "8", "--out", str(out), "--no-progress",
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert "training on the 60-image test split" in printed  # the substitution is said, not hidden
    assert "| non-saturating (k=1, Adam) | " in printed and "| WGAN-GP (gp=10, k=5" in printed
    assert "| floor: real stacked images, classified |" in printed and "true labels |" in printed
    for name in ("results.json", "results.md", "samples.png", "curves.png"):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "results.json").read_text())
    assert len(data["runs"]) == 4 and {r["method"] for r in data["runs"]} == {"ns", "wgan-gp"}
    assert data["methods"]["wgan-gp"]["schedule"] == "alternating:k=5" and data["task"]["modes"] == 1000
    run = data["runs"][0]
    assert run["iterations"] == 6 and run["curve"]["iteration"] == [0, 3, 6]
    final = run["final"]
    assert final["samples"] == 100 and 1 <= final["modes_covered"] <= 100 and sum(final["histogram"]) <= 100
    assert run["curve"]["modes_covered"][-1] == final["modes_covered"]
    assert run["curve"]["kl_uniform"][-1] == final["kl_uniform"]
    for s in data["summary"]:  # the table's means are the runs' means
        finals = [r["final"]["kl_uniform"] for r in data["runs"] if r["method"] == s["method"]]
        assert s["kl_uniform_mean"] == pytest.approx(np.mean(finals))
    floor = data["floor"]
    assert len(floor["classified"]) == len(floor["labels"]) == 2
    assert all(f["samples"] == 100 and f["classified"] == 100 for f in floor["classified"])
    # 100 real triples: the expected number of distinct ones given the 60 labels' frequencies, within sampling noise
    p = np.bincount(tiny_labels(), minlength=10) / 60
    triple = np.einsum("i,j,k->ijk", p, p, p).ravel()
    expected = float((1 - (1 - triple) ** 100).sum())
    assert all(abs(f["modes_covered"] - expected) < 8 for f in floor["labels"]), (expected, floor["labels"])
    assert result["runs"][0]["images"].shape == (36, 3, 28, 28)


def test_stacked_benchmark_options() -> None:
    args = stacked_mnist.parse_args([])
    assert args.methods == ["ns"] and args.seeds == 1 and args.iterations == 2000 and args.samples == 10_000
    full = stacked_mnist.parse_args(["--full"])
    assert full.seeds == 5 and full.iterations == 30_000 and full.samples == 26_000 and len(full.methods) == 5
    for bad in (["--methods", "ns", "unrolled"], ["--seeds", "0"], ["--g-hidden", "0"], ["--lr", "-1"]):
        with pytest.raises(SystemExit):
            stacked_mnist.parse_args(bad)
    assert stacked_mnist.evaluation_points(10, 3) == [3, 7, 10] and stacked_mnist.evaluation_points(2, 5) == [1, 2]
