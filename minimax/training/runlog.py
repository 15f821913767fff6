"""Metrics streamed to disk as a run goes: JSON lines, CSV on request, TensorBoard when installed.

One row per iteration, ``{"iteration": 12, "discriminator_loss": ..., ..., "wall_time": 0.53}``
(one per game and iteration, with ``"game": i``, for N games in lockstep; non-finite values as ``null``), appended to ``metrics.jsonl`` and flushed at every write,
so a run that is killed keeps every row it wrote. ``csv=True`` writes the same rows to
``metrics.csv``; ``tensorboard=True`` (or None: when ``torch.utils.tensorboard`` can be
imported) writes them as scalars under ``tensorboard/``. TensorBoard is never a
dependency: when it is missing it is skipped (with a warning when it was asked for).

:meth:`RunLog.begin` starts (or resumes) the log at a completed-iteration count: rows
after it, written by the run before it was killed, are dropped (a torn last line too),
so a resumed run's log reads as one uninterrupted run. ``minimax.train(..., log=...)``
calls it.
"""

from __future__ import annotations

import csv as csv_module
import io
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from minimax.training import manifest
from minimax.utils.files import atomic_write

JSONL = "metrics.jsonl"
CSV = "metrics.csv"
TENSORBOARD = "tensorboard"


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a JSON-lines metrics file; a torn or unparsable line (a killed writer) is skipped."""
    rows = []
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("iteration"), int):
            rows.append(row)
    return rows


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _tensorboard_writer() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch's wrapper needs the tensorboard package
        return None
    return SummaryWriter


class RunLog:
    """The metrics of one run, in ``directory``: ``metrics.jsonl`` always, ``metrics.csv`` and TensorBoard optionally.

    ``fsync=True`` also forces every write to the disk (survives a power cut, costs a
    disk sync per write); the default flush survives a killed process.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        csv: bool = False,
        tensorboard: bool | None = None,
        fsync: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.csv = bool(csv)
        self.fsync = bool(fsync)
        self.jsonl_path = self.directory / JSONL
        self.csv_path = self.directory / CSV
        self.tensorboard_dir = self.directory / TENSORBOARD
        writer = _tensorboard_writer() if tensorboard is not False else None
        if tensorboard is True and writer is None:
            warnings.warn(
                "TensorBoard logging was asked for, but tensorboard is not installed (pip install tensorboard); "
                "skipping it: metrics still go to metrics.jsonl",
                RuntimeWarning,
                stacklevel=2,
            )
        self._writer_class = writer
        self.tensorboard = writer is not None
        self._jsonl: TextIO | None = None
        self._csv: TextIO | None = None
        self._csv_writer: Any = None
        self._columns: list[str] | None = None
        self._tb: Any = None
        self.last_iteration = 0

    # -- lifecycle -------------------------------------------------------------------------

    def begin(self, iteration: int = 0, history: Any = None) -> None:
        """Open the log to continue after ``iteration`` completed iterations.

        Rows after ``iteration`` are dropped; rows up to it that are missing (a log that was
        deleted) are rebuilt from ``history`` (a :class:`minimax.training.loop.History`).
        """
        self.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        rows = [r for r in read_rows(self.jsonl_path) if r["iteration"] <= iteration] if iteration else []
        unique: dict[tuple[int, int], dict[str, Any]] = {}
        for row in rows:
            unique[(row["iteration"], int(row.get("game", 0)))] = row
        if history is not None and iteration:
            games = history.num_games
            for i in range(1, min(iteration, history.iterations) + 1):
                for g in range(games):
                    if (i, g) not in unique:
                        unique[(i, g)] = {"iteration": i, **({"game": g} if games > 1 else {}),
                                          **{k: _clean(float(v[i - 1, g])) for k, v in history.metrics.items()},
                                          "wall_time": None}  # fmt: skip
        rows = [unique[key] for key in sorted(unique)]
        if iteration or self.jsonl_path.exists():
            atomic_write(self.jsonl_path, "".join(json.dumps(r) + "\n" for r in rows).encode())
        self._jsonl = open(self.jsonl_path, "a", buffering=1, encoding="utf-8")
        if self.csv:
            self._columns = self._columns_of(rows)
            self._csv_writer = None
            if rows:
                buffer = io.StringIO()
                writer = csv_module.DictWriter(buffer, self._columns, extrasaction="ignore", lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
                atomic_write(self.csv_path, buffer.getvalue().encode())
            else:
                atomic_write(self.csv_path, b"")
            self._csv = open(self.csv_path, "a", buffering=1, encoding="utf-8", newline="")
            if rows:
                self._csv_writer = csv_module.DictWriter(self._csv, self._columns, extrasaction="ignore", lineterminator="\n")
        owned = [JSONL] + ([CSV] if self.csv else [])
        if self._writer_class is not None:
            before = set(self.tensorboard_dir.glob("events.out.tfevents.*"))
            self._tb = self._writer_class(
                log_dir=str(self.tensorboard_dir), purge_step=iteration + 1 if iteration else None, flush_secs=10
            )
            self._tb.flush()
            owned += [str(p.relative_to(self.directory)) for p in set(self.tensorboard_dir.glob("events.out.tfevents.*")) - before]
        manifest.record(self.directory, *owned)  # what --overwrite may remove: only these
        self.last_iteration = iteration

    @staticmethod
    def _columns_of(rows: list[dict[str, Any]]) -> list[str]:
        columns = ["iteration"]
        for row in rows:
            columns += [k for k in row if k not in columns]
        return columns

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows (each with an int ``"iteration"``) and flush."""
        rows = [{k: _clean(v) for k, v in row.items()} for row in rows]
        if not rows:
            return
        if self._jsonl is None:
            self.begin(0)
        assert self._jsonl is not None
        self._jsonl.write("".join(json.dumps(r) + "\n" for r in rows))
        self._jsonl.flush()
        if self.fsync:
            os.fsync(self._jsonl.fileno())
        if self._csv is not None:
            if self._csv_writer is None:
                self._columns = self._columns_of(rows)
                self._csv_writer = csv_module.DictWriter(
                    self._csv, self._columns, extrasaction="ignore", lineterminator="\n"
                )
                self._csv_writer.writeheader()
            self._csv_writer.writerows(rows)
            self._csv.flush()
            if self.fsync:
                os.fsync(self._csv.fileno())
        if self._tb is not None:
            for row in rows:
                suffix = f"/game{row['game']}" if "game" in row else ""
                for key, value in row.items():
                    if key not in ("iteration", "wall_time", "game") and isinstance(value, (int, float)):
                        self._tb.add_scalar(f"metrics/{key}{suffix}", value, row["iteration"])
        self.last_iteration = rows[-1]["iteration"]

    def flush(self) -> None:
        for f in (self._jsonl, self._csv):
            if f is not None:
                f.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        for name in ("_jsonl", "_csv"):
            f = getattr(self, name)
            if f is not None:
                f.close()
                setattr(self, name, None)
        self._csv_writer = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self) -> RunLog:
        if self._jsonl is None:
            self.begin(0)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def rows(self) -> list[dict[str, Any]]:
        """Everything in the JSON-lines file so far."""
        return read_rows(self.jsonl_path)
