"""Labelled images in torchvision's ImageFolder layout: one folder per class, per split.

PATH holds ``train/<class>/<image>`` and ``test/<class>/<image>``; ``val/`` stands in for
``test/`` where ``test/`` is absent (``notes`` says so). Classes are the sorted folder names,
found with torchvision's own ``find_classes`` and ``make_dataset`` (its image extensions:
.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp); both splits must have the same classes,
at least two.

Every image's header is opened once (PIL reads no pixels until asked), which both proves
it is an image and gives its mode and size. The dataset has 1 channel if every image is
8-bit grey (mode "L" or "1") and 3 otherwise, and every ``image()`` is converted to that
("L" or "RGB"); ``native_size`` is set when every image has the same size. There are no
annotation files and the images are not hashed: ``files`` holds one entry, LISTING, the
sha256 of every image's path, size and modification time, so that the dataset's digest
(which keys prepared data) changes when an image is added, removed or rewritten.
"""

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from trainer_svc.datasets.contents import DatasetContents, DatasetError
from trainer_svc.datasets.formats.files import existing, relative, sha256
from trainer_svc.datasets.formats.requires import torchvision_datasets
from trainer_svc.datasets.formats.splits import LabelledFilesSplit

GREY_MODES = ("L", "1")
LISTING = "<image listing: path, size, mtime>"


class ImageFolderReader:
    """``image-folder``: PATH/train/<class>/ and PATH/test/ (or val/)/<class>/."""

    name = "image-folder"
    task = "img-classification"
    summary = "labelled images as PATH/train/<class>/*.jpg|png and PATH/test/ (or val/)"

    def open(self, path: str) -> DatasetContents:
        folder = torchvision_datasets(self.name).folder
        root = existing(path, "a folder with train/<class>/ and test/<class>/ image folders")
        notes: tuple[str, ...] = ()
        test_name = "test"
        if not (root / "test").is_dir() and (root / "val").is_dir():
            test_name = "val"
            notes = ("no test/ folder: val/ is the test split",)
        samples: dict[str, list[tuple[str, int]]] = {}
        classes: list[str] = []
        for split, name in (("train", "train"), ("test", test_name)):
            split_dir = root / name
            if not split_dir.is_dir():
                raise DatasetError(f"{split_dir} is missing (expected {split_dir}/<class>/images)")
            try:
                found, class_to_idx = folder.find_classes(split_dir)
                if len(found) < 2:
                    raise DatasetError(
                        "a classification dataset needs at least 2 classes;"
                        f" {split_dir} has one: {found[0]!r}"
                    )
                if classes and found != classes:
                    raise DatasetError(
                        f"{split_dir} has classes {found}, but {root / 'train'} has {classes}:"
                        " both splits need the same class folders"
                    )
                classes = found
                samples[split] = folder.make_dataset(
                    split_dir, class_to_idx, extensions=folder.IMG_EXTENSIONS
                )
            except FileNotFoundError as e:  # no class folder, or a class with no image
                raise DatasetError(f"{split_dir}: {e}") from None
        modes, sizes = set(), set()
        for path, _ in (s for split in samples.values() for s in split):
            mode, size = _header(Path(path))
            modes.add(mode)
            sizes.add(size)
        channels = 1 if modes <= set(GREY_MODES) else 3
        native = None
        if len(sizes) == 1:
            width, height = next(iter(sizes))
            native = (height, width)
        return DatasetContents(
            format=self.name,
            task=self.task,
            splits={
                split: LabelledFilesSplit(
                    [Path(p) for p, _ in items],
                    [label for _, label in items],
                    "L" if channels == 1 else "RGB",
                )
                for split, items in samples.items()
            },
            channels=channels,
            classes=tuple(classes),
            native_size=native,
            files={LISTING: _listing_digest(root, samples)},
            notes=(*notes, "images are checked to be readable, not hashed"),
        )

    def download(self, root: str | Path) -> Path:
        raise DatasetError(
            "image-folder is your own data: nothing to download. Put train/<class>/ and"
            f" test/<class>/ image folders in {root}, then run"
            f" `nasforge data add NAME --format image-folder {root}`"
        )


def _listing_digest(root: Path, samples: dict[str, list[tuple[str, int]]]) -> str:
    lines = []
    for path, label in sorted(s for split in samples.values() for s in split):
        status = Path(path).stat()
        lines.append(
            f"{relative(Path(path), root)}\t{label}\t{status.st_size}\t{status.st_mtime_ns}"
        )
    return sha256("\n".join(lines).encode())


def _header(path: Path) -> tuple[str, tuple[int, int]]:
    """An image file's mode and (width, height), from its header alone."""
    try:
        with Image.open(path) as image:
            return image.mode, image.size
    except (UnidentifiedImageError, OSError) as e:
        raise DatasetError(f"{path} is not a readable image: {e}") from None


IMAGE_FOLDER = ImageFolderReader()
