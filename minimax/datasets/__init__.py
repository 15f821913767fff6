"""Datasets: the IDX file format and the MNIST / Fashion-MNIST loader."""

from minimax.datasets.idx import IDXError, read_idx, write_idx
from minimax.datasets.mnist import (
    CANONICAL_MD5,
    ChecksumWarning,
    DataSplitWarning,
    ImageDataset,
    data_directory,
    load_mnist,
    split_files,
)

__all__ = [
    "CANONICAL_MD5",
    "ChecksumWarning",
    "DataSplitWarning",
    "IDXError",
    "ImageDataset",
    "data_directory",
    "load_mnist",
    "read_idx",
    "split_files",
    "write_idx",
]
