"""A DownloadWeights stream written to disk: into a temporary file beside the destination,
checked against the size and SHA-256 its first chunk announces, and renamed into place only
when both match. A broken or tampered download never leaves a file that looks whole.
"""

import hashlib
import os
import re
import tempfile
from pathlib import Path

from nasforge.client.errors import DownloadMismatch
from nasforge.search_core.v1 import search_core_pb2 as pb

_SHA256 = re.compile(r"[0-9a-f]{64}")


def destination(path: str | Path, candidate_id: str) -> Path:
    """``path``, or ``<path>/<candidate_id>.pt`` when it is a directory."""
    path = Path(path)
    return path / f"{candidate_id}.pt" if path.is_dir() else path


class WeightsFile:
    """Use as a context manager: ``add`` each chunk in order, then ``finish``; leaving the
    block any other way removes the temporary file."""

    def __init__(self, path: Path, candidate_id: str) -> None:
        self.path = path
        self._candidate_id = candidate_id
        self._digest = hashlib.sha256()
        self._written = 0
        self._expected_size: int | None = None
        self._expected_sha256 = ""
        self._temporary: Path | None = None
        self._handle = None

    def __enter__(self) -> "WeightsFile":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part"
        )
        self._temporary = Path(name)
        self._handle = os.fdopen(descriptor, "wb")
        return self

    def __exit__(self, *exc) -> None:
        if not self._handle.closed:
            self._handle.close()
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)

    def _mismatch(self, what: str) -> DownloadMismatch:
        return DownloadMismatch(f"weights of candidate {self._candidate_id!r}: {what}")

    def add(self, chunk: pb.DownloadWeightsResponse) -> None:
        if self._expected_size is None:  # the first chunk names the whole file
            if not _SHA256.fullmatch(chunk.sha256) or chunk.size_bytes <= 0:
                raise self._mismatch("the first chunk did not announce the file's size and SHA-256")
            self._expected_size, self._expected_sha256 = chunk.size_bytes, chunk.sha256
        self._written += len(chunk.data)
        if self._written > self._expected_size:
            raise self._mismatch(f"more than the announced {self._expected_size} bytes")
        self._digest.update(chunk.data)
        self._handle.write(chunk.data)

    def finish(self) -> Path:
        """Check the whole file and move it to its destination; the destination."""
        if self._expected_size is None:
            raise self._mismatch("the server sent no data")
        if self._written != self._expected_size:
            raise self._mismatch(
                f"{self._written} bytes arrived, {self._expected_size} were announced"
            )
        actual = self._digest.hexdigest()
        if actual != self._expected_sha256:
            raise self._mismatch(f"SHA-256 {actual} is not the announced {self._expected_sha256}")
        self._handle.close()
        os.replace(self._temporary, self.path)
        self._temporary = None
        return self.path
