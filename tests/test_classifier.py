"""The evaluation classifier: augmentation, training, and the checksummed cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import minimax.eval.classifier as classifier
from minimax.datasets import write_idx


def test_shift_moves_each_image_by_at_most_max_shift_and_covers_every_offset() -> None:
    x = torch.full((400, 1, 28, 28), -1.0)
    x[:, 0, 10, 12] = 1.0
    moved = classifier._shift(x, 2, torch.Generator().manual_seed(0))
    assert moved.shape == x.shape
    assert torch.equal((moved == 1.0).sum((1, 2, 3)), torch.ones(400, dtype=torch.int64))
    rows, cols = (moved[:, 0] == 1.0).nonzero()[:, 1:].unbind(1)
    offsets = set(zip((rows - 10).tolist(), (cols - 12).tolist()))
    assert offsets == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}
    assert torch.equal(classifier._shift(x, 0, torch.Generator()), x)


def two_class_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class 0 lights the top half, class 1 the bottom half, plus pixel noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 14 * label : 14 * label + 14] = 255
    return images, labels.astype(np.uint8)


def test_fit_learns_a_separable_problem_and_evaluate_returns_probabilities_and_features() -> None:
    x, y = two_class_images(256, 0)
    xt, yt = two_class_images(64, 1)
    model, acc = classifier.fit(
        (classifier.to_unit_range(x), torch.as_tensor(y, dtype=torch.int64)),
        (classifier.to_unit_range(xt), torch.as_tensor(yt, dtype=torch.int64)),
        epochs=2, batch_size=32, lr=2e-3, shift=2, seed=0,
    )
    assert acc == 1.0
    trained = classifier.TrainedClassifier(model, "mnist", acc, 64, 256, "", "x", None)
    probs, features = trained.evaluate(classifier.to_unit_range(xt))
    assert probs.shape == (64, 10) and features.shape == (64, classifier.FEATURES)
    torch.testing.assert_close(probs.sum(1), torch.ones(64))
    assert (features >= 0).all()
    with pytest.raises(ValueError, match=r"\(n, 1, 28, 28\)"):
        trained.evaluate(torch.zeros(3, 28, 28))


def test_load_or_train_caches_by_checksum_and_retrains_a_corrupted_file(tmp_path, monkeypatch) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    x, y = two_class_images(50, 2)
    write_idx(data / "t10k-images-idx3-ubyte.gz", x)
    write_idx(data / "t10k-labels-idx1-ubyte.gz", y)
    recipe = {"epochs": 1, "batch_size": 20}
    with pytest.warns(UserWarning):  # the tiny files are not the canonical ones
        first = classifier.load_or_train("mnist", root=data, cache=cache, progress=False, recipe=recipe)
    assert first.trained_on == 40 and first.heldout == 10 and "only the 50-image test split" in first.note
    assert first.path.exists() and first.path.with_suffix(".sha256").read_text().strip() == first.checksum

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier should have been used")

    with monkeypatch.context() as patch, pytest.warns(UserWarning):
        patch.setattr(classifier, "fit", no_training)
        again = classifier.load_or_train("mnist", root=data, cache=cache, progress=False, recipe=recipe)
    assert again.checksum == first.checksum and again.accuracy == first.accuracy
    for a, b in zip(again.model.state_dict().values(), first.model.state_dict().values()):
        assert torch.equal(a, b)

    first.path.write_bytes(first.path.read_bytes()[:-10])  # a damaged cache file
    with pytest.warns(UserWarning, match="fails its checksum"):
        retrained = classifier.load_or_train("mnist", root=data, cache=cache, progress=False, recipe=recipe)
    assert retrained.checksum == first.checksum  # deterministic training gives the same file back
