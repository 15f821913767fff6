"""Files that are never half-written: write to a temporary file, fsync, then rename over the target."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` only when the ``with`` block succeeds.

    The bytes go to a temporary file in the same directory (so ``os.replace`` is
    atomic), flushed and fsync'ed before the rename and removed on any error: a
    reader sees the old file or the new one, never a part. The new file gets the
    usual permissions (0666 less the umask), not ``mkstemp``'s private 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    umask = os.umask(0)
    os.umask(umask)
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        if error.filename is None and error.errno is not None:  # ENOSPC and friends name no file: name ours
            raise type(error)(error.errno, f"{error.strerror or error} (while writing {path})", str(path)) from error
        raise
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as file:
        file.write(data)


class Locked(RuntimeError):
    """Another process holds the lock."""


@contextmanager
def exclusive_lock(path: str | os.PathLike[str], what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the ``with`` block, or raise :class:`Locked`.

    ``flock`` locks are released by the kernel when their process ends, however it ends (a
    SIGKILLed run leaves no stale lock). The file records the holder's pid, for the message.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise Locked(f"{what} is in use by another minimax process (pid {holder}); wait for it to end, "
                         f"or stop it first") from None  # fmt: skip
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
