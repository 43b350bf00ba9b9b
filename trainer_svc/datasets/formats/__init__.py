"""The dataset formats a user can register, by name: each opens files into DatasetContents.

One module per format family: ``cifar`` (cifar10, cifar100), ``imagenet16``, ``coco``
(coco-captions, coco-format) and ``image_folder``. Each reader also has ``download(root)``:
a real download where the format is published for it (CIFAR), otherwise a DatasetError
saying what to fetch and where to put it.
"""

from pathlib import Path

from trainer_svc.datasets.contents import DatasetContents, DatasetError, Reader
from trainer_svc.datasets.formats.cifar import CIFAR10, CIFAR100
from trainer_svc.datasets.formats.coco import COCO_CAPTIONS, COCO_FORMAT
from trainer_svc.datasets.formats.image_folder import IMAGE_FOLDER
from trainer_svc.datasets.formats.imagenet16 import IMAGENET16

READERS: dict[str, Reader] = {
    r.name: r for r in (CIFAR10, CIFAR100, IMAGENET16, COCO_CAPTIONS, IMAGE_FOLDER, COCO_FORMAT)
}


def reader(name: str) -> Reader:
    """The reader of a format, or a DatasetError naming the known formats."""
    if name not in READERS:
        raise DatasetError(f"unknown dataset format {name!r}; known: {', '.join(READERS)}")
    return READERS[name]


def open_dataset(format: str, path: str | Path) -> DatasetContents:
    """Read the dataset at ``path`` in ``format``, or a DatasetError saying what is wrong."""
    return reader(format).open(str(path))


def download(format: str, root: str | Path) -> Path:
    """Download a published dataset into ``root`` and return the path to register.

    Only CIFAR can be; for the other formats, and wherever the internet is out of reach,
    the DatasetError says what to fetch, where to put it and which command to run then.
    """
    return reader(format).download(root)


__all__ = ["READERS", "download", "open_dataset", "reader"]
