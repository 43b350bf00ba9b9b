"""Best-epoch weights kept by the trainer: written once per job, bounded by retention, read
back in chunks.

Each job's state_dict lies at ``root/<job_id>.pt`` beside ``root/<job_id>.json``, which
records whose it is (the tenant), its sha256 and size, and, once the retention setting has
removed the weights, when and why: a later read can then say "removed by retention" rather
than "never kept". Retention (a total size and/or a count) is enforced after every write,
oldest first, and never removes the file just written. Replicas may share ``root``: files
are renamed into place whole, and a file another replica removed first is simply gone.
"""

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 1024 * 1024
# Job ids are uuid4().hex; anything else (a dot, a slash) is not one, so none reaches a path.
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class WeightsNotFound(LookupError):
    """No weights for that job (unknown, another tenant's, or removed); the message says which
    of "never kept" and "removed by retention" it is, without telling a tenant of another's."""


@dataclass(frozen=True)
class KeptWeights:
    """A job's weights file as kept: where, its sha256 (hex) and its size."""

    job_id: str
    path: Path
    sha256: str
    size_bytes: int


class WeightsStore:
    """The weights of finished jobs under ``root``, at most ``retention_bytes`` in all and
    ``retention_count`` files (None: no bound of that kind)."""

    def __init__(
        self, root: Path, *, retention_bytes: int | None, retention_count: int | None
    ) -> None:
        self.root = Path(root)
        self.retention_bytes = retention_bytes
        self.retention_count = retention_count

    def _paths(self, job_id: str) -> tuple[Path, Path]:
        if not JOB_ID.match(job_id):
            raise WeightsNotFound(f"{job_id[:80]!r} is not a job id")
        return self.root / f"{job_id}.pt", self.root / f"{job_id}.json"

    def keep(self, job_id: str, data: bytes, *, tenant: str) -> KeptWeights:
        """Write the job's weights (atomically), then enforce retention on the others."""
        weights, record = self._paths(job_id)
        self.root.mkdir(parents=True, exist_ok=True)
        kept = KeptWeights(job_id, weights, hashlib.sha256(data).hexdigest(), len(data))
        _write_atomically(
            record,
            json.dumps({"tenant": tenant, "sha256": kept.sha256, "size_bytes": kept.size_bytes}),
        )
        _write_atomically(weights, data)
        self.enforce_retention(keep=job_id)
        return kept

    def find(self, job_id: str, *, tenant: str) -> KeptWeights:
        """The job's kept weights, if they are ``tenant``'s and still there; else
        WeightsNotFound saying why (another tenant's job reads as never kept)."""
        weights, record = self._paths(job_id)
        try:
            facts = json.loads(record.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            facts = {}
        if facts.get("tenant") != tenant:
            raise WeightsNotFound(f"the trainer kept no weights for job {job_id}")
        if "removed_at" in facts or not weights.is_file():
            raise WeightsNotFound(
                f"the weights of job {job_id} were removed by the trainer's retention setting "
                f"({facts.get('removed_by', 'file gone')})"
            )
        return KeptWeights(job_id, weights, facts["sha256"], int(facts["size_bytes"]))

    def chunks(self, kept: KeptWeights) -> Iterator[bytes]:
        """The file in CHUNK_BYTES pieces. The file is opened first, so a removal by
        retention while it is read does not cut the stream short (POSIX keeps it open)."""
        try:
            handle = kept.path.open("rb")
        except FileNotFoundError as exc:
            raise WeightsNotFound(
                f"the weights of job {kept.job_id} were removed by the trainer's retention setting"
            ) from exc
        with handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk

    def enforce_retention(self, *, keep: str) -> list[str]:
        """Remove the oldest weights until the bounds hold; never ``keep``'s. The removed
        job ids, oldest first."""
        if self.retention_bytes is None and self.retention_count is None:
            return []
        files = []
        for path in self.root.glob("*.pt"):
            with contextlib.suppress(FileNotFoundError):  # another replica removed it
                stat = path.stat()
                files.append((stat.st_mtime_ns, path.stem, stat.st_size))
        files.sort()
        total, count = sum(size for *_, size in files), len(files)
        removed = []
        for _, job_id, size in files:
            if not self._over(total, count):
                break
            if job_id == keep:
                continue
            self._remove(job_id, total, count)
            total, count = total - size, count - 1
            removed.append(job_id)
        return removed

    def _over(self, total: int, count: int) -> bool:
        return (self.retention_bytes is not None and total > self.retention_bytes) or (
            self.retention_count is not None and count > self.retention_count
        )

    def _remove(self, job_id: str, total: int, count: int) -> None:
        """Delete the weights; the record stays, saying when and under which bound."""
        weights, record = self.root / f"{job_id}.pt", self.root / f"{job_id}.json"
        with contextlib.suppress(FileNotFoundError):
            weights.unlink()
        try:
            facts = json.loads(record.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return  # weights without a record: nobody can ask for them anyway
        bound = (
            f"weights_retention_count={self.retention_count}"
            if self.retention_count is not None and count > self.retention_count
            else f"weights_retention_bytes={self.retention_bytes}"
        )
        facts.update(removed_at=time.time(), removed_by=f"{bound}, {total} bytes in {count} files")
        _write_atomically(record, json.dumps(facts))


def _write_atomically(path: Path, content: bytes | str) -> None:
    """Write beside ``path`` and rename into place: readers see the whole file or none."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = content.encode() if isinstance(content, str) else content
    tmp.write_bytes(data)
    os.replace(tmp, path)
