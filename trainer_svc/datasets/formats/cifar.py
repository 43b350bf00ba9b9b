"""CIFAR-10 and CIFAR-100 as published: python-pickle batches, read by torchvision's classes.

PATH may be the downloaded archive (``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``),
read member by member straight from the tar and never extracted; the extracted folder
(``cifar-10-batches-py/``, ``cifar-100-python/``); or its parent, torchvision's ``root``,
holding that folder or, failing it, the archive.

torchvision's classes ``pickle.load`` their files, which would run whatever a hostile file
names. So each file is read once, must pass the data-only unpickler and the layout checks
(trainer_svc.datasets.formats.pickled), and exactly those checked bytes are copied into a
private temporary folder that torchvision's class then reads. Its md5 check, which would
refuse anything but the full published files, is skipped: ``published`` says per file
whether it matches the published md5 instead. ``files`` holds the sha256 of the archive,
or of each batch and meta file read from the folder.
"""

import io
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from trainer_svc.datasets.contents import DatasetContents, DatasetError
from trainer_svc.datasets.formats.files import (
    existing,
    published_verdict,
    read_file,
    relative,
)
from trainer_svc.datasets.formats.pickled import load_batch, load_pickle
from trainer_svc.datasets.formats.requires import torchvision_datasets
from trainer_svc.datasets.formats.splits import ArraySplit

SIDE = 32


class _Folder:
    """Batch files in the extracted folder."""

    def __init__(self, folder: Path, root: Path, files: dict[str, str]) -> None:
        self.folder, self.root, self.files = folder, root, files

    def name(self, member: str) -> str:
        return str(self.folder / member)

    def read(self, member: str) -> tuple[bytes, str]:
        """The member's bytes and its key in ``published``."""
        path = self.folder / member
        return read_file(path, self.root, self.files), relative(path, self.root)


class _Archive:
    """Batch files read from inside the published tar.gz, which is hashed whole."""

    def __init__(self, archive: Path, base_folder: str, root: Path, files: dict[str, str]):
        raw = read_file(archive, root, files)
        self.key = relative(archive, root)
        self.archive, self.base_folder, self.raw = archive, base_folder, raw
        self.members = self._read_members(raw)

    def _read_members(self, raw: bytes) -> dict[str, bytes]:
        try:
            with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
                return {
                    m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                    for m in tar.getmembers()
                    if m.isfile() and m.name.startswith(f"{self.base_folder}/")
                }
        except (tarfile.TarError, EOFError, OSError) as e:
            raise DatasetError(f"{self.archive} is truncated or not a .tar.gz: {e}") from None

    def name(self, member: str) -> str:
        return f"{self.archive}:{self.base_folder}/{member}"

    def read(self, member: str) -> tuple[bytes, str]:
        inside = f"{self.base_folder}/{member}"
        if inside not in self.members:
            raise DatasetError(f"{self.archive} has no member {inside}")
        return self.members[inside], f"{self.key}:{inside}"


class _ContentChecked:
    """Mixed into torchvision's class: files are checked by content, not against md5s."""

    def _check_integrity(self) -> bool:
        return True  # every file passed the data-only unpickler; `published` reports md5s

    def _load_meta(self) -> None:
        pass  # the class names come from the checked meta file


class CifarReader:
    """``cifar10`` or ``cifar100`` (fine labels)."""

    task = "img-classification"

    def __init__(self, name: str, class_name: str, title: str, archive: str) -> None:
        self.name = name
        self.class_name = class_name  # torchvision.datasets.<class_name>
        self.title = title
        self.summary = f"{title} as published: {archive}, the extracted folder, or its parent"

    def torchvision_class(self) -> Any:
        return getattr(torchvision_datasets(self.name), self.class_name)

    def open(self, path: str) -> DatasetContents:
        cls = self.torchvision_class()
        files: dict[str, str] = {}
        published: dict[str, str] = {}
        source = self._source(Path(path).expanduser(), cls, files)
        if isinstance(source, _Archive):
            published[source.key] = published_verdict(source.raw, cls.tgz_md5)
            source.raw = b""  # the members are held; the archive's bytes are not needed
        label_key = "labels" if self.name == "cifar10" else "fine_labels"
        with tempfile.TemporaryDirectory(prefix=f"nasforge-{self.name}-") as staging:
            checked = Path(staging) / cls.base_folder
            checked.mkdir()
            classes = self._classes(source, cls, checked, published)
            for member, published_md5 in cls.train_list + cls.test_list:
                raw, key = source.read(member)
                batch = load_batch(raw, source.name(member), "CIFAR", label_key, SIDE)
                _check_labels(batch.labels, len(classes), source.name(member))
                (checked / member).write_bytes(raw)
                published[key] = published_verdict(raw, published_md5)
            checked_cls = type(f"ContentChecked{self.class_name}", (_ContentChecked, cls), {})
            train = checked_cls(staging, train=True)
            test = checked_cls(staging, train=False)
        return DatasetContents(
            format=self.name,
            task="img-classification",
            splits={
                "train": ArraySplit(train.data, train.targets),
                "test": ArraySplit(test.data, test.targets),
            },
            channels=3,
            classes=classes,
            native_size=(SIDE, SIDE),
            files=files,
            published=published,
        )

    def _source(self, path: Path, cls: Any, files: dict[str, str]) -> _Folder | _Archive:
        """Where the batch files are: the archive, the extracted folder, or inside its parent."""
        p = existing(path, f"{cls.filename}, {cls.base_folder}/ or the folder holding them")
        if p.is_file():
            return _Archive(p, cls.base_folder, p, files)
        if (p / cls.base_folder).is_dir():
            return _Folder(p / cls.base_folder, p, files)
        if (p / cls.meta["filename"]).is_file():
            return _Folder(p, p, files)
        if (p / cls.filename).is_file():
            return _Archive(p / cls.filename, cls.base_folder, p, files)
        raise DatasetError(
            f"{p} holds neither {cls.base_folder}/ nor {cls.filename}, nor is it the"
            f" extracted folder (no {cls.meta['filename']} in it)"
        )

    def _classes(
        self, source: _Folder | _Archive, cls: Any, checked: Path, published: dict[str, str]
    ) -> tuple[str, ...]:
        """The class names in label order, from the meta file (copied once checked)."""
        member, key = cls.meta["filename"], cls.meta["key"]
        raw, published_key = source.read(member)
        meta = load_pickle(raw, source.name(member), "CIFAR meta file")
        names = meta.get(key) if isinstance(meta, dict) else None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise DatasetError(f"{source.name(member)} has no list of class names under {key!r}")
        (checked / member).write_bytes(raw)
        published[published_key] = published_verdict(raw, cls.meta["md5"])
        return tuple(names)

    def download(self, root: str | Path) -> Path:
        """torchvision's own download of the archive into ``root``, extracted there; ``root``.

        The download routine the class's ``download()`` calls, with the class's URL and md5,
        but not the class's loading, which would unpickle unchecked: open the result.
        """
        cls = self.torchvision_class()
        from torchvision.datasets.utils import download_and_extract_archive

        root = Path(root).expanduser()
        archive = root / cls.filename
        had_archive = archive.exists()
        try:
            download_and_extract_archive(cls.url, str(root), filename=cls.filename, md5=cls.tgz_md5)
        except (OSError, RuntimeError) as e:  # URLError is an OSError; a bad md5 a RuntimeError
            if not had_archive:
                archive.unlink(missing_ok=True)  # a partial download must not pass for the file
            raise DatasetError(
                f"could not download {self.title} from {cls.url} ({e}). Fetch that file"
                f" (md5 {cls.tgz_md5}) by other means, put it at {archive}, then run"
                f" `nasforge data add NAME --format {self.name} {archive}`"
            ) from None
        return root


def _check_labels(labels: list[int], n_classes: int, source: str) -> None:
    bad = [x for x in labels if not 0 <= x < n_classes]
    if bad:
        raise DatasetError(
            f"{source}: label {bad[0]} is outside 0..{n_classes - 1}"
            f" (the meta file names {n_classes} classes)"
        )


CIFAR10 = CifarReader("cifar10", "CIFAR10", "CIFAR-10", "cifar-10-python.tar.gz")
CIFAR100 = CifarReader("cifar100", "CIFAR100", "CIFAR-100", "cifar-100-python.tar.gz")
