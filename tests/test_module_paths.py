"""minimax 0.1's module paths still import (the same module objects), with a DeprecationWarning."""

from __future__ import annotations

import importlib
import sys

import pytest

import minimax  # noqa: F401
from minimax._aliases import MOVED


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_an_old_path_is_the_new_module_and_warns(old: str, new: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)


def test_from_an_old_path_imports_names() -> None:
    sys.modules.pop("minimax.losses", None)
    with pytest.warns(DeprecationWarning):
        from minimax.losses import make_loss  # noqa: PLC0415
    from minimax.core.losses import make_loss as current

    assert make_loss is current


def test_the_training_package_keeps_the_old_module_names() -> None:
    from minimax.training import History, train

    assert train is minimax.train and History is minimax.History
