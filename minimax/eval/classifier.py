"""The evaluation classifier: a small convolutional network trained once per data set, then cached.

MNIST-like GAN samples are scored with a classifier instead of Inception
(../shared/ANCHORS.md): its class probabilities give the classifier score, the
classes produced and the class histogram's KL to uniform; its penultimate
features give the Frechet distance and k-NN precision/recall
(:mod:`minimax.eval.image_metrics`).

Every evaluation must use the same network, so training is deterministic (seeded,
on the CPU) and its weights are cached under a key naming the training data (the
MD5 of the pixels and labels), the architecture and the recipe; the file's
SHA-256 sits beside it and is checked on every load (a mismatch retrains and says
so). Results record that checksum.

Training data: the canonical training split when the directory has it, tested on
the canonical test split. When only the test split is there (MNIST on this
project's machines), a fixed 80/20 split of it: trained on 8,000 images, held-out
accuracy on the other 2,000; :attr:`TrainedClassifier.note` says which.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from minimax.datasets import ImageDataset, load_mnist
from minimax.utils.files import atomic_output, atomic_write

ARCHITECTURE_VERSION = 1
FEATURES = 128
CHANNELS = (16, 32)
RECIPES = {  # epochs over the training images; a few thousand Adam steps in both cases
    "mnist": {"epochs": 12, "batch_size": 128, "lr": 2e-3, "shift": 2, "seed": 0},
    "fashion": {"epochs": 6, "batch_size": 128, "lr": 2e-3, "shift": 2, "seed": 0},
}
HOLDOUT_FRACTION = 0.2  # of the test split, when it is the only labelled data


class DigitClassifier(nn.Module):
    """Two conv blocks and a 128-unit penultimate layer; input (n, 1, 28, 28) in [-1, 1]."""

    def __init__(self, classes: int = 10, channels: tuple[int, int] = CHANNELS) -> None:
        super().__init__()
        c1, c2 = channels
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 14x14
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 7x7
            nn.Flatten(), nn.Linear(c2 * 7 * 7, FEATURES), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(FEATURES, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate activations, shape (n, 128): the space of the Frechet distance and precision/recall."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@dataclass
class TrainedClassifier:
    """A trained classifier with what it was trained and tested on."""

    model: DigitClassifier
    dataset: str
    accuracy: float
    heldout: int
    trained_on: int
    note: str
    checksum: str
    path: Path | None

    @torch.no_grad()
    def evaluate(self, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """Class probabilities (n, 10) and penultimate features (n, 128) of images in [-1, 1], on the CPU."""
        if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
            raise ValueError(f"images must have shape (n, 1, 28, 28), got {tuple(images.shape)}")
        self.model.eval()
        probs, feats = [], []
        for chunk in images.split(batch_size):
            f = self.model.features(chunk.detach().to("cpu", torch.float32))
            feats.append(f)
            probs.append(torch.softmax(self.model.head(f), dim=1))
        return torch.cat(probs), torch.cat(feats)

    def describe(self) -> dict[str, object]:
        return {"dataset": self.dataset, "accuracy": self.accuracy, "heldout": self.heldout,
                "trained_on": self.trained_on, "note": self.note, "sha256": self.checksum}  # fmt: skip


def to_unit_range(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (n, 28, 28) pixels -> float32 (n, 1, 28, 28) in [-1, 1], as the GAN sees them."""
    x = torch.as_tensor(np.asarray(images))
    return ((x.to(torch.float32) - 127.5) / 127.5).unsqueeze(1)


def _shift(x: torch.Tensor, max_shift: int, rng: torch.Generator) -> torch.Tensor:
    """Each image translated by a random whole number of pixels in [-max_shift, max_shift] (background -1)."""
    n = len(x)
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx, dy = (torch.randint(0, 2 * max_shift + 1, (2, n), generator=rng)).unbind(0)
    rows = (dy[:, None] + torch.arange(28)[None, :])[:, None, :, None].expand(n, 1, 28, 28 + 2 * max_shift)
    cropped = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(28)[None, :])[:, None, None, :].expand(n, 1, 28, 28)
    return cropped.gather(3, cols)


def fit(
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    epochs: int,
    batch_size: int,
    lr: float,
    shift: int,
    seed: int,
    progress: bool = False,
) -> tuple[DigitClassifier, float]:
    """Train a fresh classifier with Adam (linear decay to zero), return it and its test accuracy."""
    from tqdm.auto import tqdm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitClassifier()
    rng = torch.Generator().manual_seed(seed)
    x, y = train
    batch_size = min(batch_size, len(x))
    steps = epochs * max(1, len(x) // batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / steps)
    model.train()
    bar = tqdm(total=steps, desc="training the evaluation classifier", disable=not progress, leave=False)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=rng)
        for start in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[start : start + batch_size]
            batch = _shift(x[idx], shift, rng) if shift else x[idx]
            loss = F.cross_entropy(model(batch), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            bar.update()
    bar.close()
    return model, accuracy(model, *test)


@torch.no_grad()
def accuracy(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    correct = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in zip(x.split(1000), y.split(1000)))
    return correct / len(y)


def _labelled_splits(dataset: str, root: str | Path | None) -> tuple[tuple, tuple, str]:
    """(train, test) tensors and a sentence saying where they came from."""
    found: dict[str, ImageDataset] = {}
    for split in ("train", "test"):
        try:
            found[split] = load_mnist(dataset, root=root, split=split, download=False, fallback=False)
        except FileNotFoundError:
            pass
    if not found:  # nothing here: let the loader download, or explain what is missing and where to get it
        found["train"] = load_mnist(dataset, root=root, split="train", fallback=False)
    if len(found) == 2:
        train, test = found["train"], found["test"]
        note = f"trained on the {len(train):,} training images, tested on the {len(test):,} test images"
        return _tensors(train), _tensors(test), note
    (only,) = found.values()
    order = torch.as_tensor(np.random.default_rng(0).permutation(len(only)))
    cut = int(round(len(only) * (1 - HOLDOUT_FRACTION)))
    x, y = _tensors(only)
    note = (f"only the {len(only):,}-image {only.split} split is available: trained on a fixed {cut:,}-image part, "
            f"tested on the other {len(only) - cut:,}")  # fmt: skip
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]]), note


def _tensors(data: ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
    return to_unit_range(data.images), torch.as_tensor(data.labels, dtype=torch.int64)


def _fingerprint(dataset: str, train: tuple, test: tuple, recipe: dict) -> str:
    h = hashlib.md5()
    for t in (*train, *test):
        h.update(t.numpy().tobytes())
    h.update(json.dumps({"dataset": dataset, "arch": ARCHITECTURE_VERSION, "recipe": recipe,
                         "torch": torch.__version__.split("+")[0]}, sort_keys=True).encode())  # fmt: skip
    return h.hexdigest()[:16]


def cache_directory() -> Path:
    """``$MINIMAX_CACHE`` or ``$XDG_CACHE_HOME/minimax`` (default ``~/.cache/minimax``), ``/classifiers``."""
    base = os.environ.get("MINIMAX_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "minimax"
    return Path(base) / "classifiers"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _save(path: Path, payload: dict) -> str:
    """Write the weights atomically, then their SHA-256 beside them; returns the checksum."""
    with atomic_output(path) as file:
        torch.save(payload, file)
    checksum = _sha256(path)
    atomic_write(path.with_suffix(".sha256"), (checksum + "\n").encode())
    return checksum


def load_or_train(
    dataset: str = "mnist",
    root: str | Path | None = None,
    cache: str | Path | None = None,
    progress: bool = True,
    recipe: dict | None = None,
) -> TrainedClassifier:
    """The cached classifier for ``dataset``'s labelled data in ``root``, trained first when not cached."""
    import warnings

    recipe = {**RECIPES[dataset], **(recipe or {})}
    train, test, note = _labelled_splits(dataset, root)
    key = _fingerprint(dataset, train, test, recipe)
    path = Path(cache) if cache is not None else cache_directory()
    path = path / f"{dataset}-classifier-{key}.pt"
    if path.exists():
        side = path.with_suffix(".sha256")
        expected = side.read_text().strip() if side.exists() else None
        actual = _sha256(path)
        if expected == actual:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            model = DigitClassifier()
            model.load_state_dict(payload["state_dict"])
            meta = payload["meta"]
            return TrainedClassifier(model, dataset, meta["accuracy"], meta["heldout"], meta["trained_on"],
                                     meta["note"], actual, path)  # fmt: skip
        warnings.warn(f"cached classifier {path} fails its checksum (expected {expected}, got {actual}); retraining",
                      stacklevel=2)  # fmt: skip
    model, acc = fit(train, test, progress=progress, **recipe)
    meta = {"accuracy": acc, "heldout": len(test[1]), "trained_on": len(train[1]), "note": note, "recipe": recipe}
    checksum = _save(path, {"state_dict": model.state_dict(), "meta": meta})
    return TrainedClassifier(model, dataset, acc, len(test[1]), len(train[1]), note, checksum, path)
