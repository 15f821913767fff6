"""Metrics streamed to disk as a run goes: JSON lines, CSV on request, TensorBoard when installed, W&B when asked.

One row per iteration, ``{"iteration": 12, "discriminator_loss": ..., ..., "wall_time": 0.53}``
(one per game and iteration, with ``"game": i``, for N games in lockstep; non-finite values as ``null``), appended to ``metrics.jsonl`` and flushed at every write,
so a run that is killed keeps every row it wrote. ``csv=True`` writes the same rows to
``metrics.csv``; ``tensorboard=True`` (or None: when ``torch.utils.tensorboard`` can be
imported) writes them as scalars under ``tensorboard/``. TensorBoard is never a
dependency: when it is missing it is skipped (with a warning when it was asked for).
``wandb=True`` (or a mapping of ``wandb.init`` options: project, name, mode, ...) also sends the
same scalars to Weights & Biases, its files in ``wandb/`` inside the run directory; it is only
ever on when asked for, and asking without wandb installed is an ImportError.

:meth:`RunLog.write_picture` adds a picture of the game (``minimax.train(..., image_every=N)``
draws one with :class:`Pictures`): an image and a histogram of generated samples in TensorBoard
and W&B, and the latest frame as ``frame.png`` in the run directory.

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
import secrets
import sys
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from minimax.training import manifest
from minimax.utils.files import atomic_write

JSONL = "metrics.jsonl"
CSV = "metrics.csv"
TENSORBOARD = "tensorboard"
FRAME = "frame.png"  # the latest picture of the game (image_every)
NOTES = "notes.jsonl"  # what a callback says of the run as it goes (a live verdict), one JSON line each
WANDB_RUN = "wandb-run.json"  # the W&B run's id: a resumed run continues it
WANDB_OWNED = ("dir", "id", "resume", "reinit")  # wandb.init options minimax sets itself


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


def wandb_module(asked: str = "wandb=True") -> Any:
    """The ``wandb`` module, or an ImportError saying how to install it (``asked``: how logging was asked for)."""
    try:
        import wandb
    except ImportError:
        raise ImportError(f"Weights & Biases logging was asked for ({asked}), but wandb is not installed: "
                          "pip install wandb (or minimax[interop])") from None  # fmt: skip
    return wandb


def wandb_options(value: bool | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``wandb=`` of a :class:`RunLog` as ``wandb.init`` keyword arguments (None: off), or a clear error."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"wandb must be True, False or a mapping of wandb.init options (project, name, mode, ...), "
                        f"got {value!r}")  # fmt: skip
    owned = sorted(set(value) & set(WANDB_OWNED))
    if owned:
        raise ValueError(f"wandb options {owned} are set by minimax (dir: the run directory; id and resume: a "
                         "resumed run continues its W&B run); leave them out")  # fmt: skip
    return dict(value)


def _scalars(row: Mapping[str, Any]) -> dict[str, float]:
    """A row's numbers as tagged scalars, ``metrics/<name>`` (``/game<i>`` for N games): TensorBoard's and W&B's."""
    suffix = f"/game{row['game']}" if "game" in row else ""
    return {f"metrics/{key}{suffix}": value for key, value in row.items()
            if key not in ("iteration", "wall_time", "game") and isinstance(value, (int, float))}  # fmt: skip


class RunLog:
    """The metrics of one run, in ``directory``: ``metrics.jsonl`` always; ``metrics.csv``, TensorBoard, W&B optionally.

    ``fsync=True`` also forces every write to the disk (survives a power cut, costs a
    disk sync per write); the default flush survives a killed process. ``wandb``: True, or
    ``wandb.init`` options (``project``, default ``"minimax"``; ``name``, default the directory's
    name; ``mode``, ``entity``, ``group``, ``tags``, ``config``, ...); minimax sets ``dir`` (the run
    directory) and the run's ``id`` (kept in ``wandb-run.json``, so a resumed run continues it).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        csv: bool = False,
        tensorboard: bool | None = None,
        fsync: bool = False,
        wandb: bool | Mapping[str, Any] | None = False,
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
        self.wandb_options = wandb_options(wandb)
        self._wandb_module = None if self.wandb_options is None else wandb_module()
        self._wandb: Any = None
        self._frame_recorded = False
        self.last_iteration = 0

    # -- lifecycle -------------------------------------------------------------------------

    def begin(self, iteration: int = 0, history: Any = None) -> None:
        """Open the log to continue after ``iteration`` completed iterations.

        Rows after ``iteration`` are dropped; rows up to it that are missing (a log that was
        deleted) are rebuilt from ``history`` (a :class:`minimax.training.loop.History`). A W&B run already
        started by this log goes on.
        """
        self._close_files()
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
        if self.wandb_options is not None:
            if self._wandb is None:
                self._wandb = self._start_wandb(iteration)
            owned.append(WANDB_RUN)
        manifest.record(self.directory, *owned)  # what --overwrite may remove: only these
        self.last_iteration = iteration

    def _start_wandb(self, iteration: int) -> Any:
        """A W&B run in ``directory/wandb``: the one this log started before when resuming (``iteration`` > 0)."""
        path = self.directory / WANDB_RUN
        run_id = None
        if iteration:
            try:
                run_id = json.loads(path.read_text()).get("id")
            except (OSError, ValueError, AttributeError):
                run_id = None
        if not isinstance(run_id, str) or not run_id:
            run_id = secrets.token_hex(6)
            atomic_write(path, (json.dumps({"id": run_id}) + "\n").encode())
        options = {"project": "minimax", "name": self.directory.resolve().name, **self.wandb_options}
        # reinit="create_new" (wandb >= 0.19.10): runs of one process (a sweep's, a test's) never take over each other
        try:
            run = self._wandb_module.init(dir=str(self.directory), id=run_id, resume="allow", reinit="create_new",
                                          **options)  # fmt: skip
        except Exception as error:  # wandb's own error types (not logged in, no network, a bad option): say what to do
            raise RuntimeError(f"could not start the W&B run (project {options['project']!r}): {error}; log in with "
                               "'wandb login', or log offline (WANDB_MODE=offline, --wandb-mode offline)") from error
        run.define_metric("iteration")
        run.define_metric("*", step_metric="iteration")  # steps are iterations: a resumed run may repeat some
        return run

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
                for tag, value in _scalars(row).items():
                    self._tb.add_scalar(tag, value, row["iteration"])
        if self._wandb is not None:  # one W&B step per iteration, every game's scalars in it
            steps: dict[int, dict[str, Any]] = {}
            for row in rows:
                steps.setdefault(row["iteration"], {"iteration": row["iteration"]}).update(_scalars(row))
            for step in steps.values():
                self._wandb.log(step)
        self.last_iteration = rows[-1]["iteration"]

    def write_picture(self, iteration: int, frame: Any, samples: Any = None, suffix: str = "") -> None:
        """A picture of the game at ``iteration``: ``frame`` (an RGB uint8 ``(height, width, 3)`` array) as an image
        and ``samples`` (generated samples, any shape; non-finite values left out) as a histogram, in TensorBoard
        and W&B (tags ``pictures/frame`` and ``pictures/samples``, plus ``suffix``), and the frame as ``frame.png``."""
        import numpy as np

        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame must be an RGB uint8 array (height, width, 3), got {frame.dtype} {frame.shape}")
        values = None
        if samples is not None:
            values = np.asarray(samples, dtype=np.float64).reshape(-1)
            values = values[np.isfinite(values)]
            values = values if values.size else None  # a diverged generator: no histogram
        if self._jsonl is None:
            self.begin(0)
        if self._tb is not None:
            self._tb.add_image(f"pictures/frame{suffix}", frame, iteration, dataformats="HWC")
            if values is not None:
                self._tb.add_histogram(f"pictures/samples{suffix}", values, iteration)
        if self._wandb is not None:
            wandb = self._wandb_module
            image = wandb.Image(frame, caption=f"iteration {iteration}")
            step = {"iteration": iteration, f"pictures/frame{suffix}": image}
            if values is not None:
                step[f"pictures/samples{suffix}"] = wandb.Histogram(values)
            self._wandb.log(step)
        import io

        from matplotlib.image import imsave

        buffer = io.BytesIO()
        imsave(buffer, frame, format="png")
        atomic_write(self.directory / FRAME, buffer.getvalue())
        if not self._frame_recorded:
            manifest.record(self.directory, FRAME)
            self._frame_recorded = True

    def note(self, iteration: int, fields: Mapping[str, Any]) -> None:
        """Words about the run at ``iteration`` (``{"verdict": "cycling", "why": "..."}``): a line of ``notes.jsonl``
        (flushed: a killed run keeps it), text in TensorBoard (tag ``notes/<key>``) and the same in W&B."""
        row = {"iteration": int(iteration), **{str(k): str(v) for k, v in fields.items()}}
        path = self.directory / NOTES
        first = not path.exists()
        with open(path, "a") as file:
            file.write(json.dumps(row) + "\n")
        if first:
            manifest.record(self.directory, NOTES)
        if self._tb is not None:
            for key, value in fields.items():
                self._tb.add_text(f"notes/{key}", str(value), int(iteration))
        if self._wandb is not None:
            self._wandb.log({"iteration": int(iteration), **{f"notes/{k}": str(v) for k, v in fields.items()}})

    def flush(self) -> None:
        for f in (self._jsonl, self._csv):
            if f is not None:
                f.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self, failed: bool | None = None) -> None:
        """Close every file and writer; the W&B run is finished, as failed (exit code 1) when ``failed`` (None: when
        an exception is on its way out, e.g. an interrupted run)."""
        if failed is None:
            failed = sys.exc_info()[0] is not None
        try:
            self._close_files()
        finally:
            if self._wandb is not None:
                run, self._wandb = self._wandb, None
                run.finish(exit_code=1 if failed else 0)

    def _close_files(self) -> None:
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

    def __exit__(self, kind: Any, *exc: Any) -> None:
        self.close(failed=kind is not None)

    def rows(self) -> list[dict[str, Any]]:
        """Everything in the JSON-lines file so far."""
        return read_rows(self.jsonl_path)


class Pictures:
    """A picture of game ``index`` every ``every`` iterations into :meth:`RunLog.write_picture` (``image_every``).

    A :class:`minimax.render.Renderer` draws it from its own fixed noise and frozen copies of the
    networks' buffers, so training is untouched (bitwise). A phase portrait's trajectory gets a
    point every ``every // 100`` iterations (at least every iteration): a device copy of two numbers,
    no host sync; it starts where this process started (a resumed run's portrait begins at the resume).
    """

    POINTS_PER_PICTURE = 100

    def __init__(self, game: Any, every: int, index: int = 0) -> None:
        from minimax.render import Renderer

        self.renderer = Renderer(game, index=index)
        self.every = every
        self.stride = max(1, every // self.POINTS_PER_PICTURE)
        self.suffix = f"/game{index}" if game.num_games > 1 else ""
        self.drawn: int | None = None
        self.recorded: int | None = None

    def after(self, done: int, final: bool, log: RunLog) -> None:
        """After iteration ``done``: a trajectory point when due; a picture every ``every`` iterations and last."""
        if self.renderer.kind == "portrait" and done % self.stride == 0:
            self._record(done)
        if done % self.every == 0 or final:
            self.draw(done, log)

    def _record(self, done: int) -> None:
        if self.recorded != done:
            self.renderer.record()
            self.recorded = done

    def draw(self, iteration: int, log: RunLog) -> None:
        """The picture at ``iteration`` (once per iteration) into ``log``."""
        if self.drawn == iteration:
            return
        import numpy as np
        import torch

        if self.renderer.kind == "portrait":
            self._record(iteration)
        with torch.no_grad(), np.errstate(all="ignore"):  # a diverged game draws what it can
            frame = self.renderer.frame(caption=f"iteration {iteration}")
            samples = self.renderer.samples()
        log.write_picture(iteration, frame, samples, self.suffix)
        self.drawn = iteration
