"""The IDX file format (LeCun's MNIST format): read and write, raw or gzip-compressed.

An IDX file is a 4-byte magic number, ``00 00 <type code> <number of dimensions>``,
then one big-endian 32-bit size per dimension, then the payload: the array in C
order, big-endian. The reader checks every part of it and raises :class:`IDXError`
(naming the file, what was expected and what was found) rather than returning an
array of the wrong size: a truncated download or a file with trailing bytes is an
error, not a silently shorter or longer dataset.

Files are read whole into memory (MNIST's largest is 47 MB uncompressed). A file is
treated as gzip when it starts with the gzip magic bytes ``1f 8b``, whatever its name.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from minimax.utils.files import atomic_write

GZIP_MAGIC = b"\x1f\x8b"
MAX_DIMENSIONS = 4

# IDX type code -> (big-endian dtype, description). 0x08 is what MNIST uses.
TYPE_CODES: dict[int, tuple[np.dtype, str]] = {
    0x08: (np.dtype(">u1"), "unsigned byte"),
    0x09: (np.dtype(">i1"), "signed byte"),
    0x0B: (np.dtype(">i2"), "16-bit integer"),
    0x0C: (np.dtype(">i4"), "32-bit integer"),
    0x0D: (np.dtype(">f4"), "32-bit float"),
    0x0E: (np.dtype(">f8"), "64-bit float"),
}


class IDXError(ValueError):
    """A file is not a well-formed IDX file (bad header, wrong payload size, corrupted gzip)."""


def _known_codes() -> str:
    return ", ".join(f"0x{code:02X} ({name})" for code, (_, name) in TYPE_CODES.items())


def _decompress(path: Path, data: bytes) -> bytes:
    """The gunzipped bytes, or an IDXError naming the file when the stream is corrupted or cut short."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile (CRC, length, header) is an OSError
        reason = str(error) or type(error).__name__
        raise IDXError(f"{path}: corrupted gzip stream ({reason}); the file is damaged or truncated") from error


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The array stored in the IDX file ``path`` (gzipped or raw), in native byte order.

    Raises :class:`IDXError` for any format problem and ``FileNotFoundError`` when the
    file does not exist. The returned array owns its memory and is writable.
    """
    path = Path(path)
    with open(path, "rb") as file:
        data = file.read()
    compressed = data[:2] == GZIP_MAGIC
    if compressed:
        data = _decompress(path, data)
    what = "decompressed file" if compressed else "file"

    if len(data) < 4:
        raise IDXError(f"{path}: not an IDX file: expected a 4-byte magic number, the {what} has {len(data)} bytes")
    if data[0] != 0 or data[1] != 0:
        raise IDXError(
            f"{path}: not an IDX file: expected the magic number to start with 00 00, "
            f"found {data[0]:02x} {data[1]:02x}" + ("" if compressed else " (and it is not gzip-compressed)")
        )
    code, ndim = data[2], data[3]
    if code not in TYPE_CODES:
        raise IDXError(f"{path}: unknown IDX type code 0x{code:02X}; expected one of {_known_codes()}")
    if not 1 <= ndim <= MAX_DIMENSIONS:
        raise IDXError(f"{path}: expected 1 to {MAX_DIMENSIONS} dimensions in the IDX header, found {ndim}")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IDXError(
            f"{path}: truncated header: expected {header_size} bytes for {ndim} dimension sizes, "
            f"the {what} has {len(data)} bytes"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    for axis, size in enumerate(shape):
        if size == 0:
            raise IDXError(f"{path}: dimension {axis} of shape {shape} has size 0; expected sizes >= 1")

    dtype, name = TYPE_CODES[code]
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    found = len(data) - header_size
    if found < expected:
        raise IDXError(
            f"{path}: truncated payload: expected {expected} bytes for shape {shape} of {name}s, got {found}"
        )
    if found > expected:
        raise IDXError(
            f"{path}: {found - expected} trailing bytes: expected {expected} payload bytes for shape {shape} "
            f"of {name}s, got {found}"
        )
    array = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header_size)
    return array.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def _type_code(path: Path, array: np.ndarray) -> int:
    for code, (dtype, _) in TYPE_CODES.items():
        if array.dtype.kind == dtype.kind and array.dtype.itemsize == dtype.itemsize:
            return code
    supported = ", ".join(str(dtype.newbyteorder("=")) for dtype, _ in TYPE_CODES.values())
    raise IDXError(f"{path}: cannot write dtype {array.dtype} as IDX; expected one of: {supported} (convert first)")


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` (uint8, int8, int16, int32, float32 or float64) to ``path`` as IDX.

    Gzip-compressed when the name ends in ``.gz`` (with mtime 0, so the same array gives
    the same bytes). Written atomically: the file is either the old one or the new one.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _type_code(path, array)
    if not 1 <= array.ndim <= MAX_DIMENSIONS:
        raise IDXError(f"{path}: IDX arrays need 1 to {MAX_DIMENSIONS} dimensions, got shape {array.shape}")
    if any(size == 0 or size >= 2**32 for size in array.shape):
        raise IDXError(f"{path}: every dimension size must be in 1..2**32-1, got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=TYPE_CODES[code][0]).tobytes()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    atomic_write(path, data)
