"""Sizes asked for against the memory there is: refuse up front what cannot fit, with both numbers.

A run that asks for a history of 10^15 iterations, or an evaluation of 10^11 samples, would
otherwise fail deep inside an allocator with a message that names neither. :func:`check_fits`
compares the bytes a request needs with the memory available now (Linux ``MemAvailable``, a
CUDA device's free memory) and raises :class:`TooLarge` naming the request, its size and
what is available. Where the available memory cannot be read, only requests beyond any
machine (over 2^50 bytes) are refused.
"""

from __future__ import annotations

import os

_BEYOND_ANY_MACHINE = 2**50  # 1 PiB


class TooLarge(ValueError):
    """A request for more memory than the machine has."""


def human_bytes(n: float) -> str:
    """``3.6e10`` -> ``'36 GB'`` (powers of 1000, two significant digits at least)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB"):
        if abs(n) < 1000 or unit == "EB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} EB"


def available_bytes(device: str | object = "cpu") -> int | None:
    """The memory available on ``device`` now, or None when it cannot be read."""
    kind = getattr(device, "type", str(device).split(":")[0])
    if kind == "cuda":
        try:
            import torch

            free, _ = torch.cuda.mem_get_info(device)
            return int(free)
        except Exception:  # noqa: BLE001 - no CUDA here: unknown
            return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(what: str, nbytes: float, device: str | object = "cpu") -> None:
    """Raise :class:`TooLarge` when ``nbytes`` for ``what`` exceed the memory available on ``device``."""
    available = available_bytes(device)
    limit = _BEYOND_ANY_MACHINE if available is None else available
    if nbytes > limit:
        where = f"the {human_bytes(available)} of memory available" if available is not None else "any machine's memory"
        raise TooLarge(f"{what} needs {human_bytes(nbytes)}, more than {where}")


__all__ = ["TooLarge", "available_bytes", "check_fits", "human_bytes"]
