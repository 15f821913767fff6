"""The module paths of minimax 0.1, kept working (with a DeprecationWarning) after the move to layered folders.

``import minimax.checkpoint`` or ``from minimax.losses import make_loss`` in a user's script still
works: the old name is the new module itself (same object, so ``isinstance`` checks and monkeypatching
agree), and a :class:`DeprecationWarning` names the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: old module path -> new module path
MOVED: dict[str, str] = {
    "minimax.errors": "minimax.utils.checks",
    "minimax.files": "minimax.utils.files",
    "minimax.flat": "minimax.core.flat",
    "minimax.losses": "minimax.core.losses",
    "minimax.schedules": "minimax.core.schedules",
    "minimax.batched": "minimax.core.networks",
    "minimax.game": "minimax.core.game",
    "minimax.field": "minimax.core.field",
    "minimax.checkpoint": "minimax.training.checkpoint",
    "minimax.runlog": "minimax.training.runlog",
    "minimax.metrics": "minimax.eval.metrics",
    "minimax.image_metrics": "minimax.eval.image_metrics",
    "minimax.mode_metrics": "minimax.eval.mode_metrics",
    "minimax.classifier": "minimax.eval.classifier",
    "minimax.analysis": "minimax.eval.analysis",
    "minimax.wrappers": "minimax.envs.numpy_edge",
    "minimax.registration": "minimax.envs.registration",
    "minimax.tasks.base": "minimax.core.task",
    "minimax.vector_game": "minimax.core.game",  # VectorGame is Game with num_games=N
    "minimax.vector_training": "minimax.training.loop",  # train_vector, VectorHistory: deprecated names there
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path and hands back the module that now lives at the new one."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new}; import it from there", DeprecationWarning, stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """The module is already executed (it is the new one)."""


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModules())
