"""A run directory's manifest: the files minimax wrote there, so that replacing a run removes only those.

A run directory may hold a user's own files (notes, a ``checkpoint-drafts/`` folder, other
TensorBoard runs). ``manifest.json`` lists, relative to the directory, every file the run
wrote under a fixed name (``run.json``, ``metrics.jsonl``, ``summary.json``, the TensorBoard
event files of its writer, ``curves.png``); checkpoints are the run's by their exact name
(``checkpoint-<9 digits>.ckpt``, and ``.corrupt`` for one set aside), which the manifest
does not need to list as they come and go. :func:`owned` is what ``--overwrite`` removes;
nothing else is ever deleted.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from minimax.utils.files import atomic_write

MANIFEST = "manifest.json"
# The names a run writes in every run directory (also owned by directories written before manifests existed).
RUN_FILES = ("run.json", "metrics.jsonl", "metrics.csv", "summary.json")
_CHECKPOINT = re.compile(r"^checkpoint-\d{9}\.ckpt(\.corrupt)?$")


def _read(directory: Path) -> list[str]:
    try:
        data = json.loads((directory / MANIFEST).read_text())
    except (FileNotFoundError, ValueError):
        return []
    files = data.get("files") if isinstance(data, dict) else None
    return [f for f in files if isinstance(f, str)] if isinstance(files, list) else []


def _inside(directory: Path, relative: str) -> Path | None:
    """``directory / relative`` when it stays inside ``directory`` (a hand-edited manifest cannot point elsewhere)."""
    path = (directory / relative).resolve()
    root = directory.resolve()
    return path if path != root and root in path.parents else None


def record(directory: str | os.PathLike[str], *paths: str | os.PathLike[str]) -> None:
    """Add ``paths`` (files inside ``directory``, absolute or relative to it) to the directory's manifest."""
    directory = Path(directory)
    files = _read(directory)
    for path in paths:
        relative = os.path.relpath(Path(path).resolve(), directory.resolve()) if Path(path).is_absolute() else str(path)
        if relative not in files and _inside(directory, relative) is not None:
            files.append(relative)
    atomic_write(directory / MANIFEST, (json.dumps({"files": sorted(files)}, indent=1) + "\n").encode())


def owned(directory: str | os.PathLike[str]) -> list[Path]:
    """The files of ``directory`` that its run wrote: what the manifest lists, its checkpoints, the manifest itself."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = {p for name in _read(directory) if (p := _inside(directory, name)) is not None and p.is_file()}
    found |= {p.resolve() for p in directory.iterdir() if (_CHECKPOINT.match(p.name) or p.name in RUN_FILES) and p.is_file()}
    if (directory / MANIFEST).is_file():
        found.add((directory / MANIFEST).resolve())
    return sorted(found)


def remove_run(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete the files :func:`owned` lists, then the folders they were in if that left them empty."""
    directory = Path(directory)
    removed = owned(directory)
    for path in removed:
        path.unlink(missing_ok=True)
    root = directory.resolve()
    for folder in sorted({p.parent for p in removed if p.parent != root}, key=lambda p: -len(p.parts)):
        try:
            folder.rmdir()  # only when empty: a user's files in it stay, and so does the folder
        except OSError:
            pass
    return removed


__all__ = ["MANIFEST", "RUN_FILES", "owned", "record", "remove_run"]
