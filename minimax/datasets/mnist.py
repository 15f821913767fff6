"""MNIST and Fashion-MNIST from their IDX files: find them, optionally download them, check and load them.

Where the files are looked for (:func:`data_directory`); the first that applies wins:

1. the ``root`` argument;
2. the environment variable ``MINIMAX_MNIST_DIR`` (MNIST) or ``MINIMAX_FASHION_MNIST_DIR``
   (Fashion-MNIST);
3. the system folder ``/usr/share/datasets/mnist`` or ``/usr/share/datasets/fashion-mnist``
   (where Debian's ``dataset-fashion-mnist`` package installs), when it holds a complete split;
4. the cache folder ``$XDG_CACHE_HOME/minimax/mnist`` or ``.../minimax/fashion-mnist``
   (``~/.cache/minimax/...`` when ``XDG_CACHE_HOME`` is unset).

A split is a pair of files, ``{train,t10k}-images-idx3-ubyte`` and ``{train,t10k}-labels-idx1-ubyte``,
each gzipped (``.gz``, preferred when both exist) or not. Nothing is substituted silently: loading
the other split because the requested one is missing raises a :class:`DataSplitWarning`, a file
whose MD5 differs from the canonical archive's raises a :class:`ChecksumWarning` (the data is still
returned: Debian's Fashion-MNIST files are re-compressed, so their MD5s differ), and both are
written in :attr:`ImageDataset.note`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
import warnings
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path

import numpy as np

from minimax.datasets.idx import IDXError, read_idx
from minimax.utils.checks import check_choice, check_float

DATASETS = ("mnist", "fashion")
SPLITS = ("train", "test")
TITLES = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}
MIRRORS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
ENV_VARS = {"mnist": "MINIMAX_MNIST_DIR", "fashion": "MINIMAX_FASHION_MNIST_DIR"}
SYSTEM_DIRECTORIES = {"mnist": Path("/usr/share/datasets/mnist"), "fashion": Path("/usr/share/datasets/fashion-mnist")}
CACHE_NAMES = {"mnist": "mnist", "fashion": "fashion-mnist"}
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10

# MD5 of the canonical .gz archives, as published with the datasets (the Fashion mirror is plain http:
# these are what make a download trustworthy).
CANONICAL_MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

# MD5 of the canonical files' decompressed contents (header and payload), where known here: they recognise
# the same data re-compressed (Debian's dataset-fashion-mnist drops the gzip header's file name and time,
# so its .gz MD5s differ) or stored uncompressed. MNIST's training files were not available to measure.
CANONICAL_CONTENT_MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}

CANONICAL = "canonical"
CANONICAL_CONTENT = "canonical content (the file itself is not the canonical archive: re-compressed or uncompressed)"
NOT_CANONICAL_NAME = "not a canonical file name"

_FILE_PREFIX = {"train": "train", "test": "t10k"}
_OTHER_SPLIT = {"train": "test", "test": "train"}
_LOG = logging.getLogger(__name__)


class ChecksumWarning(UserWarning):
    """A file's MD5 differs from the canonical archive's; its data was loaded all the same."""


class DataSplitWarning(UserWarning):
    """The requested split was not available and the other split was loaded instead."""


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Images and labels of one split, with where they came from and how far they can be trusted."""

    images: np.ndarray = field(repr=False)  # uint8, shape (N, 28, 28)
    labels: np.ndarray = field(repr=False)  # int64, shape (N,), values in 0..9
    dataset: str  # "mnist" or "fashion"
    split: str  # the split actually loaded: "train" or "test"
    directory: Path
    files: tuple[Path, ...]  # (images file, labels file)
    checksums: dict[str, str]  # file name -> "canonical", "MD5 mismatch: ...", or "not a canonical file name"
    note: str  # one line: what was loaded, and any substitution or checksum mismatch

    def __len__(self) -> int:
        return len(self.labels)


def split_files(split: str) -> tuple[str, str]:
    """The canonical (gzipped) names of a split's images file and labels file."""
    prefix = _FILE_PREFIX[check_choice("split", split, SPLITS)]
    return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def _locate(directory: Path, split: str) -> tuple[list[Path], list[str]]:
    """The split's files present in ``directory`` (``.gz`` first, else uncompressed) and the names missing."""
    found, missing = [], []
    for name in split_files(split):
        candidates = [directory / name, directory / name.removesuffix(".gz")]
        path = next((candidate for candidate in candidates if candidate.is_file()), None)
        if path is None:
            missing.append(name)
        else:
            found.append(path)
    return found, missing


def data_directory(dataset: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The folder to read ``dataset`` from: ``root``, else the env variable, else the system folder, else the cache."""
    check_choice("dataset", dataset, DATASETS)
    if root is not None:
        return Path(root).expanduser()
    from_env = os.environ.get(ENV_VARS[dataset])
    if from_env:
        return Path(from_env).expanduser()
    system = SYSTEM_DIRECTORIES[dataset]
    if any(not _locate(system, split)[1] for split in SPLITS):
        return system
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"  # XDG: ignore a relative path
    return base / "minimax" / CACHE_NAMES[dataset]


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _content_md5(array: np.ndarray) -> str:
    """MD5 of the IDX file ``array`` was read from, decompressed (uint8 arrays: header + bytes)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return hashlib.md5(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes(), usedforsecurity=False).hexdigest()


def _checksum_status(dataset: str, path: Path, array: np.ndarray) -> str:
    """How ``path`` (holding ``array``) compares with the canonical file of the same name."""
    stem = path.name.removesuffix(".gz")
    expected = CANONICAL_MD5[dataset].get(stem + ".gz")
    if expected is None:
        return NOT_CANONICAL_NAME
    got = _md5(path) if path.name.endswith(".gz") else None
    if got == expected:
        return CANONICAL
    content = CANONICAL_CONTENT_MD5[dataset].get(stem)
    if content is not None and array.dtype == np.uint8 and _content_md5(array) == content:
        return CANONICAL_CONTENT
    if got is None:
        return NOT_CANONICAL_NAME if content is None else "MD5 mismatch: the uncompressed content is not the canonical one"
    return f"MD5 mismatch: got {got}, expected {expected} (not the canonical archive: re-compressed or altered)"


def _fetch(url: str, destination: Path, timeout: float) -> None:
    """Download ``url`` into the file ``destination``; raises ``OSError`` (``URLError``, timeouts) on failure."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(destination, "wb") as file:
        shutil.copyfileobj(response, file, 1 << 20)


def _download(dataset: str, directory: Path, names: list[str], timeout: float) -> str | None:
    """Fetch the canonical files ``names`` into ``directory``; the first failure's reason, or None.

    Each file goes to a temporary file in ``directory``, must have the canonical MD5
    (else it is discarded), and is then renamed into place, so a failed or corrupted
    download never leaves a file that looks complete.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot create {directory}: {error}"
    for name in names:
        url = MIRRORS[dataset] + name
        expected = CANONICAL_MD5[dataset][name]
        try:
            fd, temporary_name = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".part")
        except OSError as error:
            return f"cannot write in {directory}: {error}"
        os.close(fd)
        temporary = Path(temporary_name)
        try:
            _LOG.info("downloading %s into %s", url, directory)
            _fetch(url, temporary, timeout)
            got = _md5(temporary)
            if got != expected:
                return f"{url}: MD5 mismatch: got {got}, expected {expected}; the download was discarded"
            with open(temporary, "rb+") as file:
                os.fsync(file.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, directory / name)
        except (OSError, HTTPException, ValueError) as error:  # URLError and timeouts are OSErrors
            return f"{url}: {error or type(error).__name__}"
        finally:
            temporary.unlink(missing_ok=True)
    return None


def _read_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The images (uint8, (N, 28, 28)) and labels (int64, (N,), in 0..9) of a file pair, or IDXError."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8:
        raise IDXError(f"{images_path}: wrong image type: expected unsigned bytes (uint8), got {images.dtype}")
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise IDXError(f"{images_path}: wrong image size: expected (N, 28, 28), got {images.shape}")
    if labels.ndim != 1:
        raise IDXError(f"{labels_path}: wrong label shape: expected (N,), got {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise IDXError(f"{labels_path}: wrong label type: expected integers, got {labels.dtype}")
    if len(labels) != len(images):
        raise IDXError(
            f"label count mismatch: {images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels; expected one label per image"
        )
    out_of_range = (labels < 0) | (labels >= NUM_CLASSES)
    if out_of_range.any():
        values = np.unique(labels[out_of_range])[:10].tolist()
        raise IDXError(
            f"{labels_path}: labels must be in 0..{NUM_CLASSES - 1}, found {int(out_of_range.sum())} "
            f"out of range (values {values})"
        )
    return images, labels.astype(np.int64)


def _missing_message(
    dataset: str,
    directory: Path,
    split: str,
    missing: list[str],
    failure: str | None,
    download: bool,
    other_missing: list[str] | None,
) -> str:
    """Why the split cannot be loaded, and where to get the files."""
    title, mirror = TITLES[dataset], MIRRORS[dataset]
    if directory.is_dir():
        parts = [f"{title}: the {split} split is incomplete in {directory}: missing {', '.join(missing)}"
                 " (the uncompressed file, without .gz, would do too)"]
    else:
        parts = [f"{title}: data directory {directory} does not exist (the {split} split needs {', '.join(missing)})"]
    if failure:
        parts.append(f"download failed: {failure}")
    elif not download:
        parts.append("download=False, so nothing was fetched")
    if other_missing:
        parts.append(f"no fallback: the {_OTHER_SPLIT[split]} split is missing {', '.join(other_missing)} too")
    where = (f"get the files from {mirror} (e.g. {mirror}{missing[0]}) into {directory}, "
             f"or point {ENV_VARS[dataset]} (or root=) at a folder that holds them")
    if dataset == "fashion":
        where += f", or `apt-get install dataset-fashion-mnist` (installs them in {SYSTEM_DIRECTORIES['fashion']})"
    parts.append(where)
    return "; ".join(parts)


def _checksum_summary(checksums: dict[str, str]) -> str:
    mismatched = [name for name, status in checksums.items() if status.startswith("MD5 mismatch")]
    unchecked = [name for name, status in checksums.items() if status == NOT_CANONICAL_NAME]
    recompressed = [name for name, status in checksums.items() if status == CANONICAL_CONTENT]
    parts = []
    if recompressed:
        parts.append(f"canonical content in re-compressed or uncompressed files ({', '.join(recompressed)})")
    if mismatched:
        parts.append(f"MD5 mismatch for {', '.join(mismatched)} (not the canonical archives)")
    if unchecked:
        parts.append(f"no canonical MD5 for {', '.join(unchecked)}")
    return "; ".join(parts) or "checksums canonical"


def load_mnist(
    dataset: str = "mnist",
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    download: bool = True,
    fallback: bool = True,
    timeout: float = 10.0,
) -> ImageDataset:
    """Load one split of MNIST (``dataset="mnist"``) or Fashion-MNIST (``"fashion"``).

    Files missing from the directory (see :func:`data_directory`) are downloaded from the
    mirror when ``download`` is true (``timeout`` seconds per network operation; a failure
    is reported, not raised on its own). If the split is still incomplete and ``fallback``
    is true, the other split is loaded when it is complete, with a :class:`DataSplitWarning`.
    Otherwise ``FileNotFoundError`` says what is missing and where to get it. Format
    problems raise :class:`IDXError`; a non-canonical MD5 gives a :class:`ChecksumWarning`.
    """
    check_choice("dataset", dataset, DATASETS)
    check_choice("split", split, SPLITS)
    timeout = check_float("timeout", timeout, positive=True)
    title = TITLES[dataset]
    directory = data_directory(dataset, root)
    if root is not None and not directory.is_dir():  # a folder the user named: never created, never filled from the net
        needed = _locate(directory, split)[1]
        message = _missing_message(dataset, directory, split, needed, None, False, None)
        raise FileNotFoundError(message.replace("download=False, so nothing was fetched",
                                                "a folder given as root= is never created nor downloaded into"))

    files, missing = _locate(directory, split)
    failure = None
    if missing and download:
        failure = _download(dataset, directory, missing, timeout)
        files, missing = _locate(directory, split)
    loaded, substitution = split, ""
    if missing:
        other_files, other_missing = _locate(directory, _OTHER_SPLIT[split])
        if not fallback or other_missing:
            reason = _missing_message(
                dataset, directory, split, missing, failure, download, other_missing if fallback else None
            )
            raise FileNotFoundError(reason)
        loaded, files = _OTHER_SPLIT[split], other_files
        substitution = f"{', '.join(missing)} not found in {directory}"
        if failure:
            substitution += f" (download failed: {failure})"

    images, labels = _read_split(*files)
    raw_labels = labels.astype(np.uint8)  # as stored (checked to lie in 0..9)
    checksums = {path.name: _checksum_status(dataset, path, array) for path, array in zip(files, (images, raw_labels))}
    for path in files:
        if checksums[path.name].startswith("MD5 mismatch"):
            warnings.warn(f"{title}: {path}: {checksums[path.name]}", ChecksumWarning, stacklevel=2)

    if substitution:
        verb = "training" if split == "train" else "testing"
        note = f"{title}: {verb} on the {len(labels):,}-image {loaded} split: {substitution}"
    else:
        note = f"{title}: the {len(labels):,}-image {loaded} split from {directory}"
    note += f"; {_checksum_summary(checksums)}"
    if substitution:
        warnings.warn(note, DataSplitWarning, stacklevel=2)
    return ImageDataset(
        images=images,
        labels=labels,
        dataset=dataset,
        split=loaded,
        directory=directory,
        files=tuple(files),
        checksums=checksums,
        note=note,
    )
