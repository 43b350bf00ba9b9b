"""Registered datasets: what `nasforge data add` verified, kept as one JSON file per name.

A record says where the user's files are, in which format, what they held when they were
verified (counts per split, classes, channels, each file's sha256) and its digest, which
keys the prepared cache: re-registering a name with other files never reuses data
prepared from the old ones. Records are written atomically, and only once the files have
been read whole and the first preparation has succeeded, so a failed `add` leaves nothing
half registered. The built-in datasets (trainer_svc.datasets.builtin) are listed beside
the registered ones and cannot be replaced.
"""

import hashlib
import json
import os
import re
import time
from dataclasses import replace
from pathlib import Path

from netapi.datasets import DatasetRecord, builtin_records
from trainer_svc.datasets.builtin import FASHION_CAPTIONS, idx_root, open_idx
from trainer_svc.datasets.contents import DatasetContents, DatasetError, Task
from trainer_svc.datasets.formats import open_dataset

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def contents_digest(format_name: str, files: dict[str, str]) -> str:
    """The digest of a dataset's files: sha256 over its format and each file's sha256."""
    payload = json.dumps([format_name, sorted(files.items())]).encode()
    return hashlib.sha256(payload).hexdigest()


def record_of(name: str, path: str, contents: DatasetContents) -> DatasetRecord:
    """The record of freshly verified contents (not yet prepared: outputs from classes)."""
    return DatasetRecord(
        name=name,
        format=contents.format,
        path=path,
        task=contents.task,
        channels=contents.channels,
        classes=contents.classes,
        counts=contents.counts(),
        native_size=contents.native_size,
        digest=contents_digest(contents.format, contents.files),
        files=dict(contents.files),
        published=dict(contents.published),
        notes=tuple(contents.notes),
        added_at=time.time(),
        outputs=len(contents.classes),
        default_transform=default_transform(contents.task, contents.native_size),
    )


def default_transform(task: Task, native_size: tuple[int, int] | None) -> str:
    """LEMUR's defaults: norm_32 for classification; captioning trains at 64 px at least."""
    if task == "img-captioning":
        return "norm_64" if native_size is None or max(native_size) <= 64 else "norm_256"
    return "norm_32"


def _builtin_records(data_root: Path) -> dict[str, DatasetRecord]:
    """Built-in datasets, described without reading their files, with where they lie."""
    return {
        name: replace(record, path=str(idx_root(_idx_source(name), data_root)))
        for name, record in builtin_records().items()
    }


def _idx_source(name: str) -> str:
    """The idx dataset a built-in one is read (or, for captions, generated) from."""
    return "fashion-mnist" if name == FASHION_CAPTIONS else name


def _read(path: Path) -> DatasetRecord:
    return DatasetRecord.from_json(json.loads(path.read_text(encoding="utf-8")))


def builtin_record(name: str, data_root: Path) -> DatasetRecord:
    """A built-in dataset's record; DatasetError naming the built-in ones for another name."""
    records = _builtin_records(Path(data_root))
    if name not in records:
        raise DatasetError(f"unknown dataset {name!r}; built in: {', '.join(records)}")
    return records[name]


class Registry:
    """The datasets of one trainer deployment (replicas share ``root``)."""

    def __init__(self, root: Path, data_root: Path, sources: Path | None = None) -> None:
        self.root = Path(root)
        self.data_root = Path(data_root)
        self.sources = sources  # registered paths must lie below it, when set
        self._builtin = _builtin_records(self.data_root)

    def _file(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def get(self, name: str) -> DatasetRecord:
        """The record, or DatasetError naming the known datasets."""
        if name in self._builtin:
            return self._builtin[name]
        path = self._file(name) if NAME.match(name) else None
        if path is None or not path.is_file():
            known = ", ".join(record.name for record in self.list())
            raise DatasetError(
                f"unknown dataset {name!r}; known: {known} "
                "(register one with `nasforge data add NAME --format FORMAT PATH`)"
            )
        return _read(path)

    def list(self) -> list[DatasetRecord]:
        registered = sorted(self.root.glob("*.json")) if self.root.is_dir() else []
        return [*self._builtin.values(), *(_read(path) for path in registered)]

    def check_name(self, name: str, replace: bool) -> None:
        """DatasetError unless ``name`` may be registered (``replace``: over an old one)."""
        if not NAME.match(name):
            raise DatasetError(
                f"dataset name {name!r} must be 1-63 lowercase letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if name in self._builtin:
            raise DatasetError(f"{name!r} is a built-in dataset and cannot be replaced")
        if self._file(name).is_file() and not replace:
            raise DatasetError(f"dataset {name!r} is registered already (pass --replace)")

    def source_folder(self, path: str) -> Path:
        """``path`` resolved, if this trainer may read (or download) datasets there."""
        resolved = Path(path).resolve()
        if self.sources is not None and not resolved.is_relative_to(self.sources.resolve()):
            raise DatasetError(
                f"{path} is outside {self.sources}, the folder this trainer reads datasets "
                "from: put the files there"
            )
        return resolved

    def source(self, path: str) -> Path:
        """``path`` resolved, if this trainer may read datasets from it and it exists."""
        resolved = self.source_folder(path)
        if not resolved.exists():
            raise DatasetError(f"{path} does not exist on the trainer's machine")
        return resolved

    def verify(self, name: str, format_name: str, path: str, replace: bool) -> DatasetRecord:
        """Read the files whole and describe them (nothing is written)."""
        self.check_name(name, replace)
        resolved = self.source(path)
        return record_of(name, str(resolved), open_dataset(format_name, str(resolved)))

    def save(self, record: DatasetRecord) -> None:
        """Write the record atomically (the last step of a registration)."""
        self.root.mkdir(parents=True, exist_ok=True)
        target = self._file(record.name)
        tmp = target.with_name(f".{record.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record.to_json(), indent=1), encoding="utf-8")
        os.replace(tmp, target)

    def open(self, record: DatasetRecord) -> DatasetContents:
        """The dataset's contents, read again from its files (built-in idx ones included)."""
        if record.builtin:
            if record.name == FASHION_CAPTIONS:
                raise DatasetError(f"{FASHION_CAPTIONS} is generated per job, not opened")
            return open_idx(record.name, self.data_root)
        return open_dataset(record.format, record.path)
