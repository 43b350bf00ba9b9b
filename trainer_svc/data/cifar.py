"""CIFAR-10 and CIFAR-100 in their standard python-pickle layout: reader and writer."""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from trainer_svc.data.pickles import dumps_like_python2, load_data_pickle
from trainer_svc.data.transforms import get_transform

CIFAR10_DIR = "cifar-10-batches-py"
CIFAR100_DIR = "cifar-100-python"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# The layout of each kind: folder, train batch files, test file, meta file, label keys.
_LAYOUTS = {
    "cifar10": (CIFAR10_DIR, CIFAR10_TRAIN, "test_batch", "batches.meta", "labels"),
    "cifar100": (CIFAR100_DIR, ("train",), "test", "meta", "fine_labels"),
}
_NAME_KEYS = {
    "labels": "label_names",
    "fine_labels": "fine_label_names",
    "coarse_labels": "coarse_label_names",
}


def load_batch(path: str | Path) -> dict[str, Any]:
    """One CIFAR pickle (written by Python 2 or 3) as a dict with str keys."""
    return load_data_pickle(Path(path).read_bytes())


def _layout_root(root: Path, kind: str) -> Path:
    """The folder holding the batch files: `root` itself or its standard subfolder."""
    folder = _LAYOUTS[kind][0]
    return root / folder if (root / folder).is_dir() else root


class CifarDataset(Dataset):
    """CIFAR-10 (`kind='cifar10'`) or CIFAR-100 (`kind='cifar100'`) from the pickle layout.

    `root` is the folder holding `cifar-10-batches-py/` (or `cifar-100-python/`), or that
    folder itself. Items are `(transform(PIL RGB image), label)`; `label_key` may be
    `coarse_labels` for CIFAR-100's 20 superclasses.
    """

    def __init__(
        self,
        root: str | Path,
        kind: str = "cifar10",
        train: bool = True,
        transform: Callable[[Image.Image], Any] | None = None,
        label_key: str | None = None,
    ) -> None:
        if kind not in _LAYOUTS:
            raise ValueError(f"unknown CIFAR kind {kind!r}; known: {', '.join(_LAYOUTS)}")
        _, train_files, test_file, meta_file, default_key = _LAYOUTS[kind]
        self.kind = kind
        self.label_key = label_key or default_key
        base = _layout_root(Path(root), kind)
        data, labels = [], []
        for name in train_files if train else (test_file,):
            batch = load_batch(base / name)
            if self.label_key not in batch:
                raise KeyError(f"{base / name} has no {self.label_key!r}")
            data.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(int(x) for x in batch[self.label_key])
        self.images = np.ascontiguousarray(np.concatenate(data).transpose(0, 2, 3, 1))  # NHWC
        self.labels = np.asarray(labels, dtype=np.int64)
        if len(self.images) != len(self.labels):
            raise ValueError(f"{base}: {len(self.images)} images but {len(self.labels)} labels")
        meta_path = base / meta_file
        meta = load_batch(meta_path) if meta_path.is_file() else {}
        self.classes = tuple(meta.get(_NAME_KEYS[self.label_key], ()))
        self.transform = transform if transform is not None else get_transform("echo")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def write_cifar(
    out_root: str | Path,
    kind: str,
    train: tuple[np.ndarray, Sequence[int]],
    test: tuple[np.ndarray, Sequence[int]],
    classes: Sequence[str],
) -> Path:
    """Write images [N, 32, 32, 3] uint8 and labels in the standard layout; return its folder.

    CIFAR-10's train images are spread over the five `data_batch_*` files as in the real
    archive. Only fine labels are written for CIFAR-100 (no coarse ones are invented).
    """
    folder, train_files, test_file, meta_file, label_key = _LAYOUTS[kind]
    base = Path(out_root) / folder
    base.mkdir(parents=True, exist_ok=True)
    images, labels = train
    parts = np.array_split(np.arange(len(labels)), len(train_files))
    for name, idx in zip(train_files, parts, strict=True):
        _write_batch(base / name, images[idx], [labels[i] for i in idx], label_key, name)
    _write_batch(base / test_file, test[0], list(test[1]), label_key, test_file)
    names = [c.encode() for c in classes]
    (base / meta_file).write_bytes(dumps_like_python2({_NAME_KEYS[label_key].encode(): names}))
    return base


def _write_batch(path: Path, images: np.ndarray, labels: list, key: str, name: str) -> None:
    """One batch file: `data` [N, 3072] uint8 as R, G, B planes of 32x32, row-major.

    Written as the published archive was (a Python 2 pickle: text keys as byte strings).
    """
    images = np.asarray(images, dtype=np.uint8)
    if images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(f"CIFAR images must be [N, 32, 32, 3], got {images.shape}")
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    batch = {
        b"batch_label": name.encode(),
        key.encode(): [int(x) for x in labels],
        b"data": data,
        b"filenames": [f"{name}_{i:05d}.png".encode() for i in range(len(images))],
    }
    path.write_bytes(dumps_like_python2(batch))
