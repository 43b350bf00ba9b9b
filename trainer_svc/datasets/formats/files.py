"""What every format does with the user's files: find them, hash them, judge their md5."""

import hashlib
from collections.abc import Sequence
from pathlib import Path

from trainer_svc.datasets.contents import DatasetError

MISSING_SHOWN = 5  # how many missing files an error lists by name


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 (hex) of a file, read in 1 MiB chunks (prepared data and weights are large)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def md5(raw: bytes) -> str:
    return hashlib.md5(raw, usedforsecurity=False).hexdigest()


def published_verdict(raw: bytes, published_md5: str) -> str:
    """``DatasetContents.published``'s wording for one file with a published md5."""
    found = md5(raw)
    if found == published_md5:
        return "matches the published md5"
    return f"differs from the published md5: {published_md5} published, {found} found"


def existing(path: str | Path, what: str) -> Path:
    """The path, or a DatasetError naming it and what it should have been."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DatasetError(f"{p} does not exist (expected {what})")
    return p


def read_file(path: Path, root: Path, files: dict[str, str]) -> bytes:
    """A file's bytes, its sha256 recorded in ``files`` under its path relative to ``root``."""
    if not path.is_file():
        raise DatasetError(f"{path} is missing")
    raw = path.read_bytes()
    files[relative(path, root)] = sha256(raw)
    return raw


def relative(path: Path, root: Path) -> str:
    """``path`` relative to the dataset's path; a dataset that is one file is named by its name."""
    if path == root:
        return path.name
    return path.relative_to(root).as_posix()


def require_all_present(paths: Sequence[Path], source: str, folder: Path) -> None:
    """DatasetError unless every referenced image file exists: how many are not, and which."""
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:MISSING_SHOWN])
        more = " ..." if len(missing) > MISSING_SHOWN else ""
        raise DatasetError(
            f"{len(missing)} of the {len(paths)} images that {source} refers to are missing"
            f" from {folder}: {shown}{more}"
        )
