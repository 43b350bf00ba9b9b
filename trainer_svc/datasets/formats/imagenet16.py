"""NAS-Bench-201's ImageNet16-120: the 16x16 downsampled ImageNet, its first 120 classes.

PATH is the folder of the pickled batches (``train_data_batch_1`` .. ``train_data_batch_10``
and ``val_data``, as NAS-Bench-201's authors distribute ``ImageNet16``) or its parent holding
``ImageNet16/``. Each batch is a dict with ``data`` uint8 [N, 768] (R, G, B planes of 16x16)
and ``labels``, 1-based ImageNet classes 1..1000. ImageNet16-120 keeps the images labelled
1..120, relabelled 0..119, and uses ``val_data`` as its test split, as NAS-Bench-201 does.
The files name no classes, so class ``class_NNN`` is downsampled-ImageNet label NNN.

Every pickle passes the data-only unpickler; ``files`` holds each batch's sha256 and
``published`` compares each with the md5 NAS-Bench-201's ImageNet16 loader checks.
"""

from pathlib import Path

import numpy as np

from trainer_svc.datasets.contents import DatasetContents, DatasetError
from trainer_svc.datasets.formats.files import existing, published_verdict, read_file, relative
from trainer_svc.datasets.formats.pickled import load_batch
from trainer_svc.datasets.formats.splits import ArraySplit

FOLDER = "ImageNet16"
SIDE = 16
KEPT_CLASSES = 120  # ImageNet16-120
IMAGENET_CLASSES = 1000

# The md5 of each published file, as NAS-Bench-201's (AutoDL's) ImageNet16 loader checks them.
TRAIN_FILES = {
    "train_data_batch_1": "27846dcaa50de8e21a7d1a35f30f0e91",
    "train_data_batch_2": "c7254a054e0e795c69120a5727050e3f",
    "train_data_batch_3": "4333d3df2e5ffb114b05d2ffc19b1e87",
    "train_data_batch_4": "1620cdf193304f4a92677b695d70d10f",
    "train_data_batch_5": "348b3c2fdbb3940c4e9e834affd3b18d",
    "train_data_batch_6": "6e765307c242a1b3d7d5ef9139b48945",
    "train_data_batch_7": "564926d8cbf8fc4818ba23d2faac7564",
    "train_data_batch_8": "f4755871f718ccb653440b9dd0ebac66",
    "train_data_batch_9": "bb6dd660c38c58552125b1a92f86b5d4",
    "train_data_batch_10": "8f03f34ac4b42271a294f91bf480f29b",
}
TEST_FILES = {"val_data": "3410e3017fdaefba8d5073aaa65e4bd6"}


class ImageNet16Reader:
    """``imagenet16``: ImageNet16-120 from NAS-Bench-201's ImageNet16 batch files."""

    name = "imagenet16"
    task = "img-classification"
    summary = (
        "NAS-Bench-201's ImageNet16-120: the ImageNet16 folder (train_data_batch_1..10,"
        " val_data) or its parent"
    )

    def open(self, path: str) -> DatasetContents:
        root = existing(path, f"the {FOLDER} folder of train_data_batch_* and val_data")
        folder = root / FOLDER if (root / FOLDER).is_dir() else root
        files: dict[str, str] = {}
        published: dict[str, str] = {}

        def read_split(members: dict[str, str]) -> ArraySplit:
            images, labels = [], []
            for member, published_md5 in members.items():
                path = folder / member
                raw = read_file(path, root, files)
                published[relative(path, root)] = published_verdict(raw, published_md5)
                batch = load_batch(raw, str(path), "downsampled-ImageNet", "labels", SIDE)
                del raw
                given = np.asarray(batch.labels, dtype=np.int64)
                if len(given) and not (given.min() >= 1 and given.max() <= IMAGENET_CLASSES):
                    bad = given[(given < 1) | (given > IMAGENET_CLASSES)][0]
                    raise DatasetError(f"{path}: label {bad} is outside 1..{IMAGENET_CLASSES}")
                kept = given <= KEPT_CLASSES
                images.append(batch.images(SIDE)[kept])
                labels.extend((given[kept] - 1).tolist())
            return ArraySplit(np.concatenate(images), labels)

        splits = {"train": read_split(TRAIN_FILES), "test": read_split(TEST_FILES)}
        return DatasetContents(
            format=self.name,
            task=self.task,
            splits=splits,
            channels=3,
            classes=tuple(f"class_{i:03d}" for i in range(1, KEPT_CLASSES + 1)),
            native_size=(SIDE, SIDE),
            files=files,
            published=published,
            notes=(
                f"ImageNet16-120: the images labelled 1..{KEPT_CLASSES} of ImageNet16,"
                f" relabelled 0..{KEPT_CLASSES - 1}; val_data is the test split",
                "the files name no classes: class_NNN is downsampled-ImageNet label NNN",
            ),
        )

    def download(self, root: str | Path) -> Path:
        raise DatasetError(
            "ImageNet16 cannot be downloaded here: fetch NAS-Bench-201's ImageNet16"
            " (train_data_batch_1..10 and val_data) from its authors (the NAS-Bench-201 /"
            f" AutoDL-Projects README links it), put the folder at {Path(root) / FOLDER},"
            f" then run `nasforge data add NAME --format imagenet16 {Path(root) / FOLDER}`"
        )


IMAGENET16 = ImageNet16Reader()
