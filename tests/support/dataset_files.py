"""Miniature datasets in their published layouts, written by tests from real images."""

import importlib.util
import json
from pathlib import Path

import numpy as np
from PIL import Image

from trainer_svc.data.cifar import CIFAR10_CLASSES, write_cifar


def foolbox_data() -> Path:
    """foolbox's folder of 20 real CIFAR-10 and 20 CIFAR-100 test images (never imported)."""
    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        raise AssertionError("foolbox is not installed: run scripts/install_test_data.sh")
    return Path(spec.submodule_search_locations[0]) / "data"


def foolbox_images(prefix: str) -> tuple[np.ndarray, list[int]]:
    """The 20 real images `<prefix>_<index>_<label>.png` in index order, with their labels."""
    files = sorted(foolbox_data().glob(f"{prefix}_*.png"), key=lambda p: int(p.stem.split("_")[1]))
    images = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    return images, [int(f.stem.rsplit("_", 1)[1]) for f in files]


def cifar10_sample(root: Path, n_train: int = 14) -> Path:
    """foolbox's CIFAR-10 images as the python-pickle archive's folder: the first
    ``n_train`` as the five training batches, the rest as the test batch."""
    images, labels = foolbox_images("cifar10")
    train = (images[:n_train], labels[:n_train])
    test = (images[n_train:], labels[n_train:])
    return write_cifar(root, "cifar10", train, test, CIFAR10_CLASSES)


WORDS = ("red", "blue", "green", "small", "large", "square", "circle", "stripe")


def coco_captions_sample(root: Path, n_train: int = 12, n_val: int = 5, seed: int = 0) -> Path:
    """The official COCO 2017 captions layout: `annotations/captions_{train,val}2017.json`
    and JPEG files in `train2017/`, `val2017/`; five captions an image, made from what
    the image shows (its colour and shape), so that a captioner can learn something."""
    rng = np.random.default_rng(seed)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    next_annotation = 1
    for split, count, first_id in (("train2017", n_train, 1), ("val2017", n_val, 10_000)):
        (root / split).mkdir(exist_ok=True)
        images, annotations = [], []
        for k in range(count):
            image_id = first_id + k
            colour = int(rng.integers(0, 3))
            pixels = np.zeros((48, 64, 3), dtype=np.uint8)
            pixels[8:40, 16:48, colour] = 200 + int(rng.integers(0, 55))
            file_name = f"{image_id:012d}.jpg"
            Image.fromarray(pixels).save(root / split / file_name, quality=90)
            images.append({"id": image_id, "file_name": file_name, "height": 48, "width": 64})
            for _ in range(5):
                words = [WORDS[colour], *rng.choice(WORDS[3:], size=2)]
                annotations.append(
                    {"id": next_annotation, "image_id": image_id, "caption": "a " + " ".join(words)}
                )
                next_annotation += 1
        document = {
            "info": {"description": "nasforge test miniature", "year": 2026},
            "licenses": [],
            "images": images,
            "annotations": annotations,
        }
        path = root / "annotations" / f"captions_{split}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
    return root
