"""Tables and files for the benchmarks: mean +- std cells, markdown, atomic JSON/Markdown/PNG writes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from minimax.utils.files import atomic_write

__all__ = ["atomic_write", "jsonable", "markdown_table", "mean_std", "save_figure", "save_json"]


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays become numbers and lists, NaN and inf become None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def save_json(path: Path, payload: Any) -> None:
    """Write JSON atomically; non-finite numbers are written as null."""
    atomic_write(path, (json.dumps(jsonable(payload), indent=2, allow_nan=False) + "\n").encode())


def save_figure(path: Path, figure: Any) -> None:
    """Save a matplotlib figure as PNG atomically."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    atomic_write(path, buffer.getvalue())


def mean_std(values: Sequence[float], digits: int = 3) -> str:
    """'m ± s' over runs (std with ddof=1; just 'm' for one run); 'n/a' when nothing finite."""
    finite = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if finite.size == 0:
        return "n/a"
    if finite.size == 1 or np.ptp(finite) <= 1e-9 * max(1.0, float(np.abs(finite).max())):
        return f"{finite[0]:.{digits}g}"  # one run, or identical runs (e.g. epochs)
    return f"{finite.mean():.{digits}g} ± {finite.std(ddof=1):.{digits}g}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine(device: str = "cpu") -> str:
    """The CPU model, its logical CPUs, torch's version (and the GPU): what every table names beside it."""
    import os
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    text = f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__}"
    if device == "cuda":
        text += f", GPU {torch.cuda.get_device_name()}"
    return text
