"""Benchmark reporting: atomic writes never leave a half-written file; tables and JSON stay valid."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from benchmarks import reporting


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch) -> None:
    target = tmp_path / "results.json"
    reporting.atomic_write(target, b"old")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError, match="No space left"):
        reporting.atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temporary file left behind


def test_json_turns_nan_into_null_and_numpy_into_numbers(tmp_path) -> None:
    reporting.save_json(tmp_path / "r.json", {"a": np.float32(1.5), "b": [np.nan, np.inf, 2], "c": np.arange(2)})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1.5, "b": [None, None, 2], "c": [0, 1]}


def test_mean_std_cells() -> None:
    assert reporting.mean_std([1.0, 3.0]) == "2 ± 1.41"
    assert reporting.mean_std([7.68, 7.68, 7.68]) == "7.68"
    assert reporting.mean_std([float("nan")]) == "n/a"
