"""Miniature datasets written in the exact published layouts, from foolbox's real images."""

import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from tests.unit.trainer_svc.conftest import foolbox_images
from trainer_svc.data.cifar import CIFAR10_CLASSES, write_cifar
from trainer_svc.data.pickles import dumps_like_python2

ARCHIVES = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz"}


def cifar(root: Path, kind: str, foolbox_data: Path, classes: list[str]) -> Path:
    """15 train and 5 test real images in the published folder; returns that folder."""
    images, labels = foolbox_images(foolbox_data, kind)
    train, test = (images[:15], labels[:15]), (images[15:], labels[15:])
    return write_cifar(root, kind, train, test, classes)


def cifar10_classes() -> list[str]:
    return list(CIFAR10_CLASSES)


def tar_gz(folder: Path, archive: Path) -> Path:
    """The folder packed as the published archive is: one top folder, gzip'd tar."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def imagenet16_batch(images: np.ndarray, labels: list[int]) -> bytes:
    """A downsampled-ImageNet batch: ``data`` [N, 768] R, G, B planes, 1-based ``labels``."""
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    mean = data.mean(axis=0)  # the published train batches carry their mean too
    return dumps_like_python2({b"data": data, b"labels": list(labels), b"mean": mean})


def sixteen(images: np.ndarray) -> np.ndarray:
    """Real 32x32 images box-downsampled to 16x16, as the ImageNet16 images were made."""
    return np.stack(
        [np.asarray(Image.fromarray(i).resize((16, 16), Image.Resampling.BOX)) for i in images]
    )


def write_jpegs(folder: Path, images: np.ndarray, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for image, name in zip(images, names, strict=True):
        Image.fromarray(image).resize((64, 48)).save(folder / name, quality=95)


def coco_captions_json(
    path: Path, ids: list[int], names: list[str], captions: dict[int, list[str]], first_ann: int
) -> None:
    """A captions file as COCO publishes it: info, licenses, images, annotations."""
    doc = {
        "info": {"description": "COCO 2017 Dataset (miniature)", "version": "1.0", "year": 2017},
        "licenses": [{"url": "http://creativecommons.org/licenses/by/2.0/", "id": 4, "name": "x"}],
        "images": [
            {
                "license": 4,
                "file_name": name,
                "coco_url": f"http://images.cocodataset.org/x/{name}",
                "height": 48,
                "width": 64,
                "date_captured": "2013-11-14 11:18:45",
                "flickr_url": "http://farm3.staticflickr.com/x.jpg",
                "id": image_id,
            }
            for image_id, name in zip(ids, names, strict=True)
        ],
        "annotations": [],
    }
    ann_id = first_ann
    # COCO's files list annotations out of id order; captions must come back in id order.
    for image_id in reversed(ids):
        for caption in captions.get(image_id, []):
            doc["annotations"].append({"image_id": image_id, "id": ann_id, "caption": caption})
            ann_id += 1
    doc["annotations"].sort(key=lambda a: -a["id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
