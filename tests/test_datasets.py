"""The IDX reader/writer and the MNIST loader, on tiny files written here (plus the real files when present).

No test touches the network: an autouse fixture replaces the downloader with one that fails
the test, and the download tests replace it with fakes that write local files.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest

from minimax.datasets import (
    CANONICAL_MD5,
    ChecksumWarning,
    DataSplitWarning,
    IDXError,
    data_directory,
    load_mnist,
    read_idx,
    split_files,
    write_idx,
)
from minimax.datasets import mnist

REAL_MNIST = Path(__file__).resolve().parents[2] / "shared/data/mnist"
REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any real download attempt fails the test (the download tests install their own fake)."""

    def forbidden(url: str, destination: Path, timeout: float) -> None:
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(mnist, "_fetch", forbidden)


def tiny_arrays(n: int = 5, size: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def write_split(directory: Path, split: str, images: np.ndarray, labels: np.ndarray, gz: bool = False) -> list[Path]:
    """Write a split's two files (uncompressed by default: no canonical MD5, hence no ChecksumWarning)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, array in zip(split_files(split), (images, labels)):
        path = directory / (name if gz else name.removesuffix(".gz"))
        write_idx(path, array)
        paths.append(path)
    return paths


def raw_idx(array: np.ndarray) -> bytearray:
    """The uncompressed IDX bytes of a uint8 array, built by hand (independently of write_idx)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return bytearray(header + array.astype(np.uint8).tobytes())


# --- IDX format -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
@pytest.mark.parametrize("dtype", ["uint8", "int8", ">i2", "<i4", "float32", "float64"])
def test_write_then_read_gives_the_same_array(tmp_path: Path, name: str, dtype: str) -> None:
    array = (np.random.default_rng(1).normal(0, 50, (3, 4, 5))).astype(dtype)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.shape == (3, 4, 5)
    assert back.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_written_bytes_follow_the_idx_layout(tmp_path: Path) -> None:
    images, _ = tiny_arrays(n=2)
    write_idx(tmp_path / "raw", images)
    write_idx(tmp_path / "z.gz", images)
    assert (tmp_path / "raw").read_bytes() == bytes(raw_idx(images))
    assert (tmp_path / "z.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert gzip.decompress((tmp_path / "z.gz").read_bytes()) == bytes(raw_idx(images))


def test_gzip_is_detected_by_its_magic_bytes_not_the_name(tmp_path: Path) -> None:
    images, _ = tiny_arrays(n=2)
    (tmp_path / "compressed.idx").write_bytes(gzip.compress(bytes(raw_idx(images))))
    (tmp_path / "plain.gz").write_bytes(bytes(raw_idx(images)))
    np.testing.assert_array_equal(read_idx(tmp_path / "compressed.idx"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), images)


@pytest.mark.parametrize("damage", ["flip-middle", "truncate-half", "drop-trailer"])
def test_a_corrupted_gzip_file_is_an_idx_error_naming_it(tmp_path: Path, damage: str) -> None:
    images, _ = tiny_arrays()
    path = tmp_path / "images.gz"
    write_idx(path, images)
    data = bytearray(path.read_bytes())
    if damage == "flip-middle":
        middle = len(data) // 2
        data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    elif damage == "truncate-half":
        data = data[: len(data) // 2]
    else:
        data = data[:-8]  # the CRC32 and length trailer
    path.write_bytes(bytes(data))
    with pytest.raises(IDXError, match="corrupted gzip") as caught:
        read_idx(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("byte", "value", "expected"),
    [
        (0, 0x01, "start with 00 00, found 01 00"),
        (1, 0x08, "start with 00 00, found 00 08"),
        (2, 0x07, "unknown IDX type code 0x07"),
        (3, 0, "1 to 4 dimensions.*found 0"),
        (3, 5, "1 to 4 dimensions.*found 5"),
    ],
)
def test_a_bad_magic_number_is_rejected(tmp_path: Path, byte: int, value: int, expected: str) -> None:
    data = raw_idx(tiny_arrays(n=2)[0])
    data[byte] = value
    path = tmp_path / "bad"
    path.write_bytes(bytes(data))
    with pytest.raises(IDXError, match=expected):
        read_idx(path)


def test_a_truncated_payload_says_how_many_bytes_were_expected(tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_bytes(bytes(raw_idx(tiny_arrays()[0])[:-10]))
    with pytest.raises(IDXError, match=r"truncated payload: expected 3920 bytes .*\(5, 28, 28\).*got 3910"):
        read_idx(path)


def test_trailing_bytes_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "long.gz"
    path.write_bytes(gzip.compress(bytes(raw_idx(tiny_arrays()[0]) + b"\0\0\0")))
    with pytest.raises(IDXError, match="3 trailing bytes: expected 3920 payload bytes .* got 3923"):
        read_idx(path)


def test_a_truncated_header_and_a_zero_size_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "header").write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 5, 0, 0]))
    with pytest.raises(IDXError, match="truncated header: expected 16 bytes .* has 10 bytes"):
        read_idx(tmp_path / "header")
    (tmp_path / "empty").write_bytes(bytes([0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 0]))
    with pytest.raises(IDXError, match="dimension 1 .* has size 0"):
        read_idx(tmp_path / "empty")
    (tmp_path / "tiny").write_bytes(b"\0\0")
    with pytest.raises(IDXError, match="4-byte magic number.* has 2 bytes"):
        read_idx(tmp_path / "tiny")


def test_write_rejects_what_idx_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(IDXError, match="cannot write dtype int64"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=np.int64))
    with pytest.raises(IDXError, match="1 to 4 dimensions"):
        write_idx(tmp_path / "a", np.zeros((1,) * 5, dtype=np.uint8))
    with pytest.raises(IDXError, match=r"shape \(0, 3\)"):
        write_idx(tmp_path / "a", np.zeros((0, 3), dtype=np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data.gz"
    old = np.arange(6, dtype=np.uint8)
    write_idx(path, old)

    def broken_replace(source: str, destination: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_idx(path, np.zeros(6, dtype=np.uint8))
    monkeypatch.undo()
    np.testing.assert_array_equal(read_idx(path), old)
    assert [p.name for p in tmp_path.iterdir()] == ["data.gz"]


# --- MNIST loader: validation ----------------------------------------------------------------------------------


def test_a_split_loads_with_the_right_types(tmp_path: Path) -> None:
    images, labels = tiny_arrays()
    files = write_split(tmp_path, "train", images, labels)
    data = load_mnist(root=tmp_path, download=False)
    assert (len(data), data.split, data.dataset) == (5, "train", "mnist")
    assert (data.directory, data.files) == (tmp_path, tuple(files))
    assert data.images.dtype == np.uint8 and data.images.shape == (5, 28, 28)
    assert data.labels.dtype == np.int64 and data.labels.shape == (5,)
    np.testing.assert_array_equal(data.images, images)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.checksums == {"train-images-idx3-ubyte": "not a canonical file name",
                              "train-labels-idx1-ubyte": "not a canonical file name"}
    assert data.note.startswith(f"MNIST: the 5-image train split from {tmp_path}")


def test_gz_is_preferred_when_both_forms_exist(tmp_path: Path) -> None:
    images, labels = tiny_arrays()
    write_split(tmp_path, "test", images, labels, gz=True)
    write_split(tmp_path, "test", images, (labels + 1) % 10)
    with pytest.warns(ChecksumWarning):
        data = load_mnist(root=tmp_path, split="test", download=False)
    assert [p.name for p in data.files] == list(split_files("test"))
    np.testing.assert_array_equal(data.labels, labels)


def test_a_gz_file_with_a_canonical_name_but_another_md5_is_reported_not_hidden(tmp_path: Path) -> None:
    write_split(tmp_path, "test", *tiny_arrays(), gz=True)
    with pytest.warns(ChecksumWarning) as caught:
        data = load_mnist("fashion", root=tmp_path, split="test", download=False)
    assert [str(w.message).split(": ", 1)[1] for w in caught] == [
        f"{tmp_path / name}: MD5 mismatch: got {hashlib.md5((tmp_path / name).read_bytes()).hexdigest()}, "
        f"expected {CANONICAL_MD5['fashion'][name]} (not the canonical archive: re-compressed or altered)"
        for name in split_files("test")
    ]
    assert len(data) == 5  # the data is still returned
    assert all(status.startswith("MD5 mismatch") for status in data.checksums.values())
    assert "MD5 mismatch for t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" in data.note


def test_a_canonical_md5_is_recognised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = write_split(tmp_path, "train", *tiny_arrays(), gz=True)
    md5s = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in files}
    monkeypatch.setitem(CANONICAL_MD5, "mnist", md5s)
    data = load_mnist(root=tmp_path, download=False)
    assert data.checksums == dict.fromkeys(md5s, "canonical")
    assert data.note.endswith("checksums canonical")


def test_canonical_content_in_a_recompressed_file_is_recognised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian's Fashion-MNIST case: the .gz MD5 differs, the decompressed content is the canonical one."""
    images, labels = tiny_arrays()
    files = write_split(tmp_path, "test", images, labels, gz=True)
    contents = {p.name.removesuffix(".gz"): hashlib.md5(gzip.decompress(p.read_bytes())).hexdigest() for p in files}
    monkeypatch.setitem(mnist.CANONICAL_CONTENT_MD5, "fashion", contents)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChecksumWarning)  # recognised content is no mismatch
        data = load_mnist("fashion", root=tmp_path, split="test", download=False)
    assert set(data.checksums.values()) == {mnist.CANONICAL_CONTENT}
    assert "canonical content in re-compressed or uncompressed files" in data.note
    contents[files[1].name.removesuffix(".gz")] = "0" * 32  # the labels are not the canonical ones after all
    with pytest.warns(ChecksumWarning):
        data = load_mnist("fashion", root=tmp_path, split="test", download=False)
    assert data.checksums[files[1].name].startswith("MD5 mismatch")


def test_a_wrong_image_size_is_rejected(tmp_path: Path) -> None:
    write_split(tmp_path, "train", *tiny_arrays(size=27))
    with pytest.raises(IDXError, match=r"wrong image size: expected \(N, 28, 28\), got \(5, 27, 27\)"):
        load_mnist(root=tmp_path, download=False)


def test_a_label_count_mismatch_names_both_counts(tmp_path: Path) -> None:
    images, labels = tiny_arrays()
    write_split(tmp_path, "train", images, labels[:4])
    with pytest.raises(IDXError, match="label count mismatch: .* holds 5 images but .* holds 4 labels"):
        load_mnist(root=tmp_path, download=False)


def test_labels_out_of_range_are_rejected(tmp_path: Path) -> None:
    images, labels = tiny_arrays()
    labels[[1, 3]] = [10, 255]
    write_split(tmp_path, "train", images, labels)
    with pytest.raises(IDXError, match=r"labels must be in 0..9, found 2 out of range \(values \[10, 255\]\)"):
        load_mnist(root=tmp_path, download=False)


def test_bad_names_are_value_errors_listing_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown split 'validation'; expected one of: test, train"):
        load_mnist(root=tmp_path, split="validation", download=False)
    with pytest.raises(ValueError, match="unknown dataset 'kmnist'; expected one of: fashion, mnist"):
        load_mnist("kmnist", root=tmp_path, download=False)


# --- MNIST loader: missing files, fallback ---------------------------------------------------------------------


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=f"data directory {missing} does not exist"):
        load_mnist(root=missing, download=False)
    assert not missing.exists()


def test_missing_files_are_listed_with_where_to_get_them(tmp_path: Path) -> None:
    images, labels = tiny_arrays()
    write_idx(tmp_path / "train-images-idx3-ubyte", images)  # labels missing, test split absent
    with pytest.raises(FileNotFoundError) as caught:
        load_mnist("fashion", root=tmp_path, download=False)
    message = str(caught.value)
    assert f"train split is incomplete in {tmp_path}: missing train-labels-idx1-ubyte.gz (" in message
    assert "download=False" in message
    assert "the test split is missing t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz too" in message
    assert mnist.MIRRORS["fashion"] in message and "MINIMAX_FASHION_MNIST_DIR" in message
    assert "apt-get install dataset-fashion-mnist" in message


@pytest.mark.parametrize(
    ("requested", "present", "verb"), [("train", "test", "training"), ("test", "train", "testing")]
)
def test_the_other_split_is_loaded_with_a_warning(tmp_path: Path, requested: str, present: str, verb: str) -> None:
    images, labels = tiny_arrays()
    write_split(tmp_path, present, images, labels)
    with pytest.warns(DataSplitWarning) as caught:
        data = load_mnist(root=tmp_path, split=requested, download=False)
    assert data.split == present
    np.testing.assert_array_equal(data.labels, labels)
    missing = ", ".join(split_files(requested))
    assert data.note.startswith(f"MNIST: {verb} on the 5-image {present} split: {missing} not found in {tmp_path}")
    (split_warning,) = [w for w in caught if w.category is DataSplitWarning]
    assert str(split_warning.message) == data.note


def test_no_fallback_when_asked_for_none(tmp_path: Path) -> None:
    write_split(tmp_path, "test", *tiny_arrays())
    with pytest.raises(FileNotFoundError, match="missing train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz"):
        load_mnist(root=tmp_path, download=False, fallback=False)


# --- MNIST loader: downloads (faked) ---------------------------------------------------------------------------


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A fake mirror: ``_fetch`` copies tiny .gz files; CANONICAL_MD5 holds their MD5s. Records the URLs fetched."""
    source = tmp_path / "mirror"
    images, labels = tiny_arrays(n=7)
    for split in ("train", "test"):
        write_split(source, split, images, labels, gz=True)
    md5s = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in source.iterdir()}
    monkeypatch.setitem(CANONICAL_MD5, "mnist", md5s)
    state: dict = {"urls": [], "source": source, "labels": labels, "fail": None}

    def fake_fetch(url: str, destination: Path, timeout: float) -> None:
        state["urls"].append(url)
        assert url.startswith(mnist.MIRRORS["mnist"]) and timeout == 3.0
        data = (source / url.rsplit("/", 1)[1]).read_bytes()
        if state["fail"] == "network":
            destination.write_bytes(data[:100])  # a partial file, then the connection drops
            raise urllib.error.URLError("connection reset")
        if state["fail"] == "altered":
            data = data[:-1] + bytes([data[-1] ^ 1])
        destination.write_bytes(data)

    monkeypatch.setattr(mnist, "_fetch", fake_fetch)
    return state


def test_a_root_that_does_not_exist_is_never_created_nor_downloaded_into(tmp_path: Path, mirror: dict) -> None:
    root = tmp_path / "typo" / "mnist"
    with pytest.raises(FileNotFoundError, match="does not exist.*never created nor downloaded into"):
        load_mnist(root=root, timeout=3.0)
    assert mirror["urls"] == [] and not (tmp_path / "typo").exists()


def test_missing_files_are_downloaded_into_an_empty_directory(tmp_path: Path, mirror: dict) -> None:
    root = tmp_path / "new" / "mnist"
    root.mkdir(parents=True)
    data = load_mnist(root=root, timeout=3.0)
    assert mirror["urls"] == [mnist.MIRRORS["mnist"] + name for name in split_files("train")]
    assert sorted(p.name for p in root.iterdir()) == sorted(split_files("train"))  # no .part files left
    assert data.split == "train" and data.checksums == dict.fromkeys(split_files("train"), "canonical")
    np.testing.assert_array_equal(data.labels, mirror["labels"])
    mirror["urls"].clear()
    load_mnist(root=root, timeout=3.0)
    assert mirror["urls"] == []  # present files are not fetched again


def test_only_the_missing_file_is_downloaded(tmp_path: Path, mirror: dict) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "t10k-images-idx3-ubyte.gz").write_bytes((mirror["source"] / "t10k-images-idx3-ubyte.gz").read_bytes())
    load_mnist(root=root, split="test", timeout=3.0)
    assert mirror["urls"] == [mnist.MIRRORS["mnist"] + "t10k-labels-idx1-ubyte.gz"]


def test_a_download_with_the_wrong_md5_is_discarded(tmp_path: Path, mirror: dict) -> None:
    mirror["fail"] = "altered"
    root = tmp_path / "data"
    root.mkdir()
    expected = "download failed: .*train-images-idx3-ubyte.gz: MD5 mismatch.*discarded"
    with pytest.raises(FileNotFoundError, match=expected):
        load_mnist(root=root, timeout=3.0)
    assert list(root.iterdir()) == []


def test_a_network_failure_falls_back_and_says_why(tmp_path: Path, mirror: dict) -> None:
    mirror["fail"] = "network"
    root = tmp_path / "data"
    write_split(root, "test", *tiny_arrays())
    expected = "training on the 5-image test split: .*download failed: .*connection reset"
    with pytest.warns(DataSplitWarning, match=expected):
        data = load_mnist(root=root, timeout=3.0)
    assert data.split == "test"
    assert len(mirror["urls"]) == 1  # stopped at the first failure
    assert sorted(p.name for p in root.iterdir()) == ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


# --- where the files are looked for ----------------------------------------------------------------------------


@pytest.fixture
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No env variables, system folders inside tmp_path, HOME in tmp_path: resolution sees only what a test sets."""
    for variable in (*mnist.ENV_VARS.values(), "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    system = {"mnist": tmp_path / "sys-mnist", "fashion": tmp_path / "sys-fashion"}
    monkeypatch.setattr(mnist, "SYSTEM_DIRECTORIES", system)
    return tmp_path


def test_the_directory_comes_from_root_then_env_then_system_then_cache(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = clean_environment
    assert data_directory("fashion") == tmp_path / "home/.cache/minimax/fashion-mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_directory("mnist") == tmp_path / "xdg/minimax/mnist"
    (tmp_path / "sys-mnist").mkdir()
    write_idx(tmp_path / "sys-mnist/t10k-images-idx3-ubyte", tiny_arrays()[0])
    assert data_directory("mnist") == tmp_path / "xdg/minimax/mnist"  # an incomplete system folder is skipped
    write_idx(tmp_path / "sys-mnist/t10k-labels-idx1-ubyte", tiny_arrays()[1])
    assert data_directory("mnist") == tmp_path / "sys-mnist"
    assert data_directory("fashion") == tmp_path / "xdg/minimax/fashion-mnist"
    monkeypatch.setenv("MINIMAX_MNIST_DIR", str(tmp_path / "env"))
    assert data_directory("mnist") == tmp_path / "env"
    assert data_directory("mnist", root=tmp_path / "arg") == tmp_path / "arg"


def test_the_env_variable_is_used_by_load_mnist(clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = clean_environment / "fashion-files"
    write_split(directory, "test", *tiny_arrays())
    monkeypatch.setenv("MINIMAX_FASHION_MNIST_DIR", str(directory))
    data = load_mnist("fashion", split="test", download=False)
    assert (data.directory, data.dataset, len(data)) == (directory, "fashion", 5)
    assert data.note.startswith("Fashion-MNIST: the 5-image test split")


# --- the real files, when this machine has them ----------------------------------------------------------------

MNIST_TEST_HISTOGRAM = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.skipif(not (REAL_MNIST / "t10k-images-idx3-ubyte.gz").is_file(), reason=f"no MNIST files in {REAL_MNIST}")
def test_the_real_mnist_test_split() -> None:
    data = load_mnist(root=REAL_MNIST, split="test", download=False)
    assert len(data) == 10_000 and data.images.shape == (10_000, 28, 28)
    assert data.checksums == dict.fromkeys(split_files("test"), "canonical")
    histogram = np.bincount(data.labels, minlength=10)
    assert histogram.sum() == 10_000
    assert histogram.tolist() == MNIST_TEST_HISTOGRAM


@pytest.mark.skipif(
    not (REAL_FASHION / "train-images-idx3-ubyte.gz").is_file(), reason=f"no Fashion-MNIST files in {REAL_FASHION}"
)
def test_the_debian_fashion_mnist_train_split() -> None:
    """Debian re-compressed the archives (the .gz MD5s differ); the content is recognised as canonical."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChecksumWarning)
        data = load_mnist("fashion", root=REAL_FASHION, split="train", download=False)
    assert len(data) == 60_000 and data.images.shape == (60_000, 28, 28)
    assert np.bincount(data.labels, minlength=10).tolist() == [6000] * 10
    for name, status in data.checksums.items():
        assert hashlib.md5((REAL_FASHION / name).read_bytes()).hexdigest() != CANONICAL_MD5["fashion"][name]
        assert status == mnist.CANONICAL_CONTENT
    assert "canonical content in re-compressed or uncompressed files (train-images" in data.note
