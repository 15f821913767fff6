"""A task's own measure of its generator's samples, next to the floor a perfect generator reaches.

:func:`measure_for` picks it from the task (None when the task has none):

* ``"images"`` (MNIST, Fashion-MNIST): the evaluation classifier's metrics
  (:func:`minimax.eval.image_metrics.image_report`: classifier score, Frechet distance, classes,
  KL to uniform, precision, recall) against real images, with the real-versus-real floor
  (:func:`~minimax.eval.image_metrics.real_floor`), as ``benchmarks.mnist`` reports them;
* ``"stacked"`` (Stacked MNIST): modes covered of 1000 and KL to uniform
  (:func:`minimax.eval.mode_metrics.stacked_mode_report`), the floor being real stacked images;
* ``"modes"`` (Ring8, Grid25 and other 2D mixtures): PacGAN's modes covered, high-quality
  fraction and reverse KL (:func:`minimax.eval.mode_metrics.mode_report`), the floor being target samples,
  as ``benchmarks.modes`` reports them.

The classifier is the cached one (:func:`minimax.eval.classifier.load_or_train`, trained on the
task's own data directory on first use, never downloaded when the task's files are there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from minimax.utils.checks import check_int

FLOOR_SEED = 1_000_000  # the target's draw for a floor, as benchmarks.modes and benchmarks.stacked_mnist draw it
KINDS = ("images", "stacked", "modes")


@dataclass
class Measure:
    """How a task's generated samples are scored: ``score(samples)`` (a tensor ``(n, *data_shape)``) -> metrics.

    ``floor`` is the same score of real data of the same size; ``about`` says what was compared
    (the floor's sizes, the classifier's accuracy and checksum); ``headline`` names the metrics
    worth printing (the rest, e.g. histograms, stay in the JSON).
    """

    kind: str
    score: Callable[[torch.Tensor], dict[str, Any]]
    floor: dict[str, Any]
    headline: tuple[str, ...]
    about: dict[str, Any] = field(default_factory=dict)


def measure_for(task: Any, samples: int, progress: bool = False) -> Measure | None:
    """The measure of ``task`` (see the module doc) for ``samples`` generated samples, or None when it has none."""
    from minimax.tasks.images import MNIST
    from minimax.tasks.mixtures import GaussianMixture2D
    from minimax.tasks.stacked import StackedMNIST

    samples = check_int("samples", samples, minimum=1)
    if isinstance(task, StackedMNIST):
        return _stacked(task, samples, progress)
    if isinstance(task, MNIST):
        return _images(task, samples, progress)
    if isinstance(task, GaussianMixture2D):
        return _modes(task, samples)
    return None


def _classifier(task: Any, dataset: str, progress: bool) -> Any:
    """The cached evaluation classifier of ``dataset``, from the directory the task's images came from."""
    from minimax.eval.classifier import load_or_train

    root = None if task.data is None else task.data.directory
    return load_or_train(dataset, root=root, progress=progress)


def real_reference(
    task: Any, classifier: Any, samples: int
) -> tuple[tuple[torch.Tensor, torch.Tensor], dict[str, Any], str]:
    """The real side of an image evaluation: ``((probs, features) of up to ``samples`` real images, the
    real-versus-real floor on up to ``2 * samples`` of them, a note saying the sizes)``; a fixed draw (seed 0)."""
    from minimax.eval.image_metrics import real_floor

    order = torch.randperm(len(task), generator=torch.Generator().manual_seed(0))
    n_real = min(len(task), 2 * samples)
    probs, features = classifier.evaluate(task.scaled()[order[:n_real]])
    floor = real_floor(probs, features)
    kept = min(n_real, samples)
    return (probs[:kept], features[:kept]), floor, f"real vs real, {n_real // 2:,} vs {n_real // 2:,}"


def _images(task: Any, samples: int, progress: bool) -> Measure:
    from minimax.eval.image_metrics import REPORT_KEYS, image_report

    if samples < 4:
        raise ValueError(f"samples must be at least 4 for the image metrics (k-NN precision and recall with k = 3), "
                         f"got {samples}")  # fmt: skip
    classifier = _classifier(task, task.dataset, progress)
    (real_probs, real_features), floor, note = real_reference(task, classifier, samples)

    def score(images: torch.Tensor) -> dict[str, Any]:
        if not torch.isfinite(images).all():
            return {"error": "the generator outputs non-finite values"}
        probs, features = classifier.evaluate(images)
        return image_report(real_probs, real_features, probs, features)

    about = {"floor_note": note, "reference": len(real_probs), "classifier": classifier.describe()}
    return Measure("images", score, floor, REPORT_KEYS, about)


def _stacked(task: Any, samples: int, progress: bool) -> Measure:
    from minimax.eval.mode_metrics import stacked_mode_report

    classifier = _classifier(task, "mnist", progress)
    real = task.sample_data(samples, torch.Generator().manual_seed(FLOOR_SEED), torch.device("cpu"))

    def score(images: torch.Tensor) -> dict[str, Any]:
        return stacked_mode_report(images, classifier)

    about = {"floor_note": f"{samples:,} real stacked images, classified", "classifier": classifier.describe()}
    return Measure("stacked", score, score(real), ("modes_covered", "kl_uniform", "classified"), about)


def _modes(task: Any, samples: int) -> Measure:
    from minimax.eval.mode_metrics import mode_report

    centers, std = task.centers, task.std

    def score(points: torch.Tensor) -> dict[str, Any]:
        return mode_report(points.reshape(len(points), -1), centers, std)

    target = task.sample_data(samples, torch.Generator().manual_seed(FLOOR_SEED), torch.device("cpu"), torch.float64)
    headline = ("modes_covered", "modes_covered_1pct", "high_quality_fraction", "reverse_kl")
    return Measure("modes", score, score(target), headline,
                   {"floor_note": f"{samples:,} target samples", "modes": len(centers), "std": std})  # fmt: skip
