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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from trainer_svc.data.coco import captioned_image_ids, load_coco, references
from trainer_svc.data.fashion_captions import build_fashion_caption_dataset
from trainer_svc.data.transforms import TransformSpec, resize_to_uint8, transform_spec
from trainer_svc.data.vocab import build_vocabulary
from trainer_svc.datasets.builtin import FASHION_CAPTIONS, open_idx
from trainer_svc.datasets.contents import DatasetContents, DatasetError, Split
from trainer_svc.datasets.formats import open_dataset
from trainer_svc.datasets.formats.files import file_sha256
from trainer_svc.datasets.formats.splits import CaptionedFilesSplit
from trainer_svc.datasets.registry import DatasetRecord, builtin_record, contents_digest
from trainer_svc.scoring import eval_subset

FORMAT = 2
CAPTION_MAX_LEN = 32
# Words seen fewer times in the training captions become <UNK> (Karpathy's 5 on COCO-sized
# data; every word of a small set, where 5 would leave little but <UNK>).
LARGE_VOCABULARY_CAPTIONS = 10_000


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
    digest: str = ""  # "sha256:..." of data.pt, meta.json and labels.pt (prepared_digest)

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


def _indices(contents: DatasetContents, sizes: Sizes) -> dict[str, Sequence[int]]:
    """Which items of each split a job uses: seeded; validation from the format's own
    validation split where it has one, else split off the training data."""
    splits = contents.splits
    if "val" in splits:
        train, _ = _split(len(splits["train"]), replace(sizes, val=0))
        if sizes.val > len(splits["val"]):
            raise DatasetError(
                f"asked for {sizes.val} validation samples, have {len(splits['val'])}"
            )
        val = np.random.default_rng(sizes.seed).permutation(len(splits["val"]))[: sizes.val]
    else:
        train, val = _split(len(splits["train"]), sizes)
    test = eval_subset(range(len(splits["test"])), sizes.test, sizes.seed)
    return {"train": train, "val": val, "test": test}


def _source(split: str, contents: DatasetContents) -> Split:
    """The split items of ``split`` are drawn from (validation: from training if none)."""
    return contents.splits.get(split) or contents.splits["train"]


def _images(split: Split, indices: Sequence[int], transform: str, mode: str) -> torch.Tensor:
    """uint8 [N, C, H', W'] of the chosen items through the transform's geometry."""
    steps = resize_to_uint8(transform)
    return torch.stack([steps(split.image(int(i)).convert(mode)) for i in indices])


def _classification(contents: DatasetContents, transform: str, sizes: Sizes):
    chosen = _indices(contents, sizes)
    mode = "L" if contents.channels == 1 else "RGB"
    images, targets = {}, {}
    for name, indices in chosen.items():
        split = _source(name, contents)
        images[name] = _images(split, indices, transform, mode)
        labels = [split.label(int(i)) for i in indices]
        targets[name] = torch.tensor(labels, dtype=torch.long)
    return images, targets, len(contents.classes), {}


def _captions(contents: DatasetContents, transform: str, sizes: Sizes):
    """Images, encoded captions [N, Ncaps, T] and raw test references of the chosen items.

    The vocabulary is built from the training items' captions only.
    """
    chosen = _indices(contents, sizes)
    train = contents.splits["train"]
    train_captions = [c for i in chosen["train"] for c in train.captions(int(i))]
    threshold = 5 if len(train_captions) >= LARGE_VOCABULARY_CAPTIONS else 1
    vocab = build_vocabulary(train_captions, threshold)
    images, targets, references = {}, {}, {}
    for name, indices in chosen.items():
        split = _source(name, contents)
        images[name] = _images(split, indices, transform, "RGB")
        rows = [[vocab.encode(c, CAPTION_MAX_LEN) for c in split.captions(int(i))] for i in indices]
        captions = torch.zeros(
            (len(rows), max(map(len, rows)), max(len(r) for item in rows for r in item)),
            dtype=torch.long,
        )  # PAD is 0
        for k, item in enumerate(rows):
            for r, ids in enumerate(item):
                captions[k, r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        targets[name] = captions
        references[name] = {str(k): split.captions(int(i)) for k, i in enumerate(indices)}
    meta = {
        "itos": list(vocab.itos),
        "vocab_threshold": threshold,
        "test_image_ids": [str(k) for k in range(len(chosen["test"]))],
        "test_references": references["test"],
        "train_captions": train_captions,
    }
    return images, targets, len(vocab.itos), meta


def _captioned_files(annotation_file: Path, image_dir: Path) -> CaptionedFilesSplit:
    """The captioned images of one COCO captions file, in image-id order."""
    coco = load_coco(annotation_file)
    return CaptionedFilesSplit(
        [
            (image_dir / coco.imgs[image_id]["file_name"], references(coco, image_id))
            for image_id in captioned_image_ids(coco)
        ]
    )


def _fashion_captions(source: Path, sizes: Sizes) -> DatasetContents:
    """The generated caption grids at the job's sizes, written under ``source``, opened."""
    paths = build_fashion_caption_dataset(source, sizes.train, sizes.val, sizes.test, sizes.seed)
    return DatasetContents(
        format=FASHION_CAPTIONS,
        task="img-captioning",
        splits={
            split: _captioned_files(paths.annotations[split], paths.image_dir)
            for split in ("train", "val", "test")
        },
        channels=3,
    )


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def prepare(
    dataset: str | DatasetRecord,
    transform: str,
    sizes: Sizes,
    cache_root: Path,
    data_root: Path,
    labels_root: Path | None = None,
) -> PreparedData:
    """The prepared dataset, built once and then read from ``cache_root``/``labels_root``.

    ``dataset`` is a registry record, or the name of a built-in dataset. The cache key
    holds the record's digest, so data prepared from other files is never reused.
    """
    record = dataset if isinstance(dataset, DatasetRecord) else builtin_record(dataset, data_root)
    labels_root = labels_root or default_labels_root(cache_root)
    if _inside(labels_root, cache_root):
        raise ValueError(f"labels_root {labels_root} lies inside cache_root {cache_root}")
    spec = transform_spec(transform)  # ValueError on an unknown name
    identity = [FORMAT, record.name, record.digest, transform, sizes.__dict__]
    key = hashlib.sha256(json.dumps(identity).encode())
    name = f"{record.name}-{key.hexdigest()[:16]}"
    directory, labels_directory = cache_root / name, labels_root / name
    if not ((directory / "meta.json").is_file() and (labels_directory / "labels.pt").is_file()):
        staging = {root: _staging(root, name) for root in (cache_root, labels_root)}
        try:
            _build(
                staging[cache_root], staging[labels_root], record, transform, spec, sizes, data_root
            )
            # Labels first: a published data folder always has its labels.
            _publish(staging[labels_root], labels_directory, "labels.pt")
            _publish(staging[cache_root], directory, "meta.json")
        finally:
            for folder in staging.values():  # gone already when it was published
                shutil.rmtree(folder, ignore_errors=True)
    meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    return PreparedData(
        directory,
        tuple(meta["in_shape"]),
        int(meta["num_outputs"]),
        meta,
        labels_directory,
        prepared_digest(directory, labels_directory),
    )


DIGEST_FILE = "digest.sha256"


def prepared_digest(directory: Path, labels_directory: Path) -> str:
    """ "sha256:<hex>" over the prepared files a job trains and is scored on, each file's
    sha256 in a fixed order: what a candidate's record names as its data.

    Hashing a large prepared set takes seconds, so it is done once, the first time the
    folder is used, and kept beside the labels (the trainer's own folder); replicas that race
    compute the same value and the last rename wins.
    """
    stored = labels_directory / DIGEST_FILE
    with contextlib.suppress(FileNotFoundError):
        return stored.read_text(encoding="utf-8").strip()
    files = [directory / "data.pt", directory / "meta.json", labels_directory / "labels.pt"]
    each = [[path.name, file_sha256(path)] for path in files]
    digest = "sha256:" + hashlib.sha256(json.dumps(each).encode()).hexdigest()
    tmp = stored.with_name(f".{DIGEST_FILE}.{os.getpid()}.tmp")
    tmp.write_text(digest, encoding="utf-8")
    os.replace(tmp, stored)
    return digest


def _contents(
    record: DatasetRecord, labels_directory: Path, sizes: Sizes, data_root: Path
) -> DatasetContents:
    """What to prepare from: the files as registered (DatasetError if they changed since)."""
    if record.name == FASHION_CAPTIONS and record.builtin:
        # The generated annotations carry every split's captions: they stay with the labels.
        return _fashion_captions(labels_directory / "source", sizes)
    if record.builtin:
        return open_idx(record.name, data_root)
    contents = open_dataset(record.format, record.path)
    if contents_digest(contents.format, contents.files) != record.digest:
        raise DatasetError(
            f"the files of dataset {record.name!r} ({record.path}) changed since they were "
            "registered: register them again with `nasforge data add --replace`"
        )
    return contents


def _staging(root: Path, name: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=root))


def _build(
    directory: Path,
    labels_directory: Path,
    record: DatasetRecord,
    transform: str,
    spec: TransformSpec,
    sizes: Sizes,
    data_root: Path,
) -> None:
    """Write data.pt and meta.json into ``directory`` (readable by the container's user) and
    the held-out labels into ``labels_directory`` (the trainer's alone)."""
    contents = _contents(record, labels_directory, sizes, data_root)
    build = _captions if contents.task == "img-captioning" else _classification
    images, targets, outputs, meta = build(contents, transform, sizes)
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
