"""Captioned images in MS COCO's captions format: the official COCO, and a user's own.

``coco-captions`` is MS COCO as published. PATH holds ``annotations/captions_train2017.json``
and ``annotations/captions_val2017.json`` with the images in ``train2017/`` and ``val2017/``
(or the 2014 files and folders; 2017 is used when both are there). Without Karpathy's splits
train is the train file and test the val file. With Karpathy's ``dataset_coco.json`` in PATH,
its splits are used (train = "train" + "restval", "val", "test"), matched to the official
annotations by COCO id, so they work with the 2014 and the 2017 image folders alike.

``coco-format`` is a user's own captioned images in that format::

    PATH/captions_train.json   {"images": [{"id", "file_name", ...}],
    PATH/captions_test.json     "annotations": [{"id", "image_id", "caption"}]}
    PATH/captions_val.json     (optional: otherwise validation is split off train)
    PATH/images/<file_name>    each image's file, file_name relative to images/

Both read annotations through pycocotools. Captions are the raw ones in annotation-id order;
images without a caption are left out (and counted in ``notes``). Every image the kept
annotations refer to must exist. ``files`` holds the sha256 of each JSON file read; the
images are checked to exist, not hashed (COCO's 120k images would take minutes).
"""

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pycocotools.coco import COCO

from trainer_svc.data.coco import captioned_image_ids, index_coco, references
from trainer_svc.datasets.contents import DatasetContents, DatasetError
from trainer_svc.datasets.formats.files import existing, read_file, require_all_present
from trainer_svc.datasets.formats.splits import CaptionedFilesSplit

YEARS = ("2017", "2014")
KARPATHY_FILE = "dataset_coco.json"
KARPATHY_SPLITS = {"train": ("train", "restval"), "val": ("val",), "test": ("test",)}
COCO_URLS = (
    "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
    "http://images.cocodataset.org/zips/train2017.zip",
    "http://images.cocodataset.org/zips/val2017.zip",
)


def read_json(path: Path, root: Path, files: dict[str, str]) -> Any:
    """A JSON file, its sha256 recorded, or a DatasetError saying it is not JSON."""
    raw = read_file(path, root, files)
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path} is truncated or not JSON: {e}") from None


def load_captions(path: Path, root: Path, files: dict[str, str]) -> COCO:
    """A COCO captions file, checked to be one, indexed by pycocotools."""
    data = read_json(path, root, files)
    if not (
        isinstance(data, dict)
        and isinstance(data.get("images"), list)
        and isinstance(data.get("annotations"), list)
    ):
        raise DatasetError(f"{path} is not a COCO annotation file: no 'images' and 'annotations'")
    for ann in data["annotations"]:
        if not isinstance(ann, dict) or not isinstance(ann.get("caption"), str):
            kind = [k for k in ("bbox", "segmentation", "keypoints") if k in (ann or {})]
            looks = f" (its annotations have {', '.join(kind)}: not captions)" if kind else ""
            raise DatasetError(
                f"{path} is not a COCO captions file: an annotation has no 'caption'"
                f"{looks}: {str(ann)[:120]}"
            )
        if "image_id" not in ann or "id" not in ann:
            raise DatasetError(f"{path}: an annotation lacks 'id' or 'image_id': {ann}")
    image_ids = set()
    for img in data["images"]:
        if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
            raise DatasetError(f"{path}: an image entry lacks 'id' or 'file_name': {img}")
        name = Path(str(img["file_name"]))
        if name.is_absolute() or ".." in name.parts:  # images stay inside the dataset's folder
            raise DatasetError(f"{path}: file_name {img['file_name']!r} leaves the image folder")
        image_ids.add(img["id"])
    unknown = {a["image_id"] for a in data["annotations"]} - image_ids
    if unknown:
        raise DatasetError(
            f"{path}: {len(unknown)} image ids have captions but no image entry,"
            f" e.g. {sorted(unknown, key=str)[:5]}"
        )
    return index_coco(data)


class _Annotated:
    """One annotation file's captioned images: id -> (image file, captions)."""

    def __init__(self, path: Path, image_folder: Path, root: Path, files: dict[str, str]):
        self.source = path
        self.folder = image_folder
        coco = load_captions(path, root, files)
        ids = captioned_image_ids(coco)
        self.uncaptioned = len(coco.imgs) - len(ids)
        self.items = {
            i: (image_folder / coco.imgs[i]["file_name"], references(coco, i)) for i in ids
        }

    def require_images(self, ids: Iterable[int] | None = None) -> None:
        wanted = self.items if ids is None else ids
        paths = [self.items[i][0] for i in wanted]
        require_all_present(paths, str(self.source), self.folder)

    def split(self, ids: Iterable[int] | None = None) -> CaptionedFilesSplit:
        return CaptionedFilesSplit([self.items[i] for i in (self.items if ids is None else ids)])


def _uncaptioned_note(parts: Iterable[_Annotated]) -> tuple[str, ...]:
    return tuple(
        f"{p.source.name}: {p.uncaptioned} of its images have no caption and are left out"
        for p in parts
        if p.uncaptioned
    )


def _contents(
    name: str, splits: dict[str, CaptionedFilesSplit], files: dict[str, str], notes: tuple
) -> DatasetContents:
    return DatasetContents(
        format=name,
        task="img-captioning",
        splits=splits,
        channels=3,
        files=files,
        notes=(*notes, "images are checked to exist, not hashed"),
    )


class CocoCaptionsReader:
    """``coco-captions``: MS COCO captions 2017 or 2014, with Karpathy's splits if present."""

    name = "coco-captions"
    task = "img-captioning"
    summary = (
        "MS COCO captions: annotations/captions_{train,val}2017.json (or 2014) with the"
        " image folders; Karpathy's dataset_coco.json beside them sets the splits"
    )

    def open(self, path: str) -> DatasetContents:
        root = existing(path, "a folder with annotations/captions_train2017.json")
        year = self._year(root)
        files: dict[str, str] = {}
        train, val = (
            _Annotated(
                root / "annotations" / f"captions_{part}{year}.json",
                root / f"{part}{year}",
                root,
                files,
            )
            for part in ("train", "val")
        )
        notes = _uncaptioned_note((train, val))
        if not (root / KARPATHY_FILE).is_file():
            train.require_images()
            val.require_images()
            notes += (
                f"no Karpathy splits ({KARPATHY_FILE} absent): train is"
                f" captions_train{year}.json, test is captions_val{year}.json",
            )
            return _contents(self.name, {"train": train.split(), "test": val.split()}, files, notes)
        splits = self._karpathy_splits(root, files, train, val)
        counts = ", ".join(f"{s} {len(split)}" for s, split in splits.items())
        notes += (
            f"Karpathy splits from {KARPATHY_FILE} (train = train + restval): {counts};"
            f" captions from the official captions_*{year}.json",
        )
        return _contents(self.name, splits, files, notes)

    @staticmethod
    def _year(root: Path) -> str:
        for year in YEARS:
            if (root / "annotations" / f"captions_train{year}.json").is_file():
                return year
        raise DatasetError(
            f"{root} has no annotations/captions_train2017.json (nor the 2014 one):"
            " expected the official COCO captions annotations and image folders there"
        )

    @staticmethod
    def _karpathy_splits(
        root: Path, files: dict[str, str], train: _Annotated, val: _Annotated
    ) -> dict[str, CaptionedFilesSplit]:
        path = root / KARPATHY_FILE
        data = read_json(path, root, files)
        images = data.get("images") if isinstance(data, dict) else None
        if not isinstance(images, list) or not all(
            isinstance(i, dict) and "cocoid" in i and "split" in i for i in images
        ):
            raise DatasetError(f"{path} is not Karpathy's COCO splits: no images with cocoid/split")
        owner = {i: part for part in (train, val) for i in part.items}
        unknown = [i["cocoid"] for i in images if i["cocoid"] not in owner]
        if unknown:
            raise DatasetError(
                f"{path}: {len(unknown)} of its images have no captions in the official"
                f" annotation files, e.g. cocoid {unknown[:5]}"
            )
        splits = {}
        for split, members in KARPATHY_SPLITS.items():
            ids = [i["cocoid"] for i in images if i["split"] in members]
            for part in (train, val):
                part.require_images(i for i in ids if owner[i] is part)
            splits[split] = CaptionedFilesSplit([owner[i].items[i] for i in ids])
        return splits

    def download(self, root: str | Path) -> Path:
        raise DatasetError(
            "MS COCO cannot be downloaded here: fetch "
            + ", ".join(COCO_URLS)
            + f", unzip them into {root} (annotations/, train2017/, val2017/), then run"
            f" `nasforge data add NAME --format coco-captions {root}`"
        )


class CocoFormatReader:
    """``coco-format``: a user's own captioned images, laid out as the module docstring says."""

    name = "coco-format"
    task = "img-captioning"
    summary = (
        "your own captioned images: captions_train.json, captions_test.json"
        " (captions_val.json optional) in COCO captions format, images/ beside them"
    )

    def open(self, path: str) -> DatasetContents:
        root = existing(path, "a folder with captions_train.json, captions_test.json, images/")
        files: dict[str, str] = {}
        splits, parts = {}, []
        for split in ("train", "val", "test"):
            annotations = root / f"captions_{split}.json"
            if split == "val" and not annotations.exists():
                continue
            part = _Annotated(annotations, root / "images", root, files)
            part.require_images()
            splits[split] = part.split()
            parts.append(part)
        return _contents(self.name, splits, files, _uncaptioned_note(parts))

    def download(self, root: str | Path) -> Path:
        raise DatasetError(
            "coco-format is your own data: nothing to download. Put captions_train.json,"
            f" captions_test.json and images/ in {root}, then run"
            f" `nasforge data add NAME --format coco-format {root}`"
        )


COCO_CAPTIONS = CocoCaptionsReader()
COCO_FORMAT = CocoFormatReader()
