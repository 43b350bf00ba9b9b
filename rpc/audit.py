"""Append-only audit log: one JSON object per line, each chained to the line before it.

Every record holds ``time`` (UTC, ISO 8601), ``service``, ``event``, ``tenant``, the event's
own fields and ``prev``, the SHA-256 (hex) of the previous line's bytes (without its
newline); the first line of a file has ``prev`` = 64 zeros. Editing, deleting or
reordering a line breaks the chain at the line after it, which `verify` reports. The chain
cannot show that the *last* lines were cut off or rewritten: anchor the newest hash
elsewhere (e.g. ship the log off the host) where that matters.

A record is one ``write`` on a descriptor opened with O_APPEND, under an exclusive
``flock`` that also covers reading the last line: several processes (replicas sharing a
volume) may append to one file and the chain stays whole. Each record is fsync'd before
``record`` returns.
"""

import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

GENESIS = "0" * 64
_TAIL_CHUNK = 65536


def source_md5(code: str) -> str:
    """MD5 of a candidate's exact UTF-8 source text: the key that joins records across services.

    Recorded as ``code_md5``; search_core/identity.py names it beside the other code hashes.
    """
    return hashlib.md5(code.encode("utf-8"), usedforsecurity=False).hexdigest()


def line_hash(line: bytes) -> str:
    """The ``prev`` a record following ``line`` (without its newline) must carry."""
    return hashlib.sha256(line).hexdigest()


def _last_line(fd: int, size: int) -> bytes | None:
    """The last complete line of the file (without newline), or None when it is empty."""
    if size == 0:
        return None
    tail = b""
    position = size
    while position > 0:
        start = max(0, position - _TAIL_CHUNK)
        tail = os.pread(fd, position - start, start) + tail
        position = start
        body = tail[:-1] if tail.endswith(b"\n") else tail
        cut = body.rfind(b"\n")
        if cut >= 0:
            return body[cut + 1 :]
    return tail[:-1] if tail.endswith(b"\n") else tail


class AuditLog:
    """Appends chained records for one service; thread-safe, and safe across processes.

    A write that fails is logged and reported to ``on_failure`` (the service's
    ``nasforge_audit_write_failures_total``); it never raises into the work it records.
    """

    def __init__(
        self,
        path: Path,
        service: str,
        *,
        on_failure: Callable[[Exception], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.service = service
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._reader = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        self._known: tuple[int, str] | None = None  # (file size, hash of its last line)

    def _prev(self) -> tuple[str, bytes]:
        """The hash of the file's last line, and what must precede our line.

        A last line without its newline (a writer that died mid-line) is ended first, so
        that it stays a line of its own, which verify reports, rather than ours.
        """
        size = os.fstat(self._fd).st_size
        if self._known is not None and self._known[0] == size:
            return self._known[1], b""  # nobody else appended since our last record
        last = _last_line(self._reader, size)
        if last is None:
            return GENESIS, b""
        ended = os.pread(self._reader, 1, size - 1) == b"\n"
        return line_hash(last), b"" if ended else b"\n"

    def record(self, event: str, tenant: str, **fields: object) -> bool:
        """Append one record; False (logged, counted) when it could not be written."""
        document = {
            "time": datetime.now(UTC).isoformat(timespec="microseconds"),
            "service": self.service,
            "event": event,
            "tenant": tenant,
            **fields,
        }
        try:
            with self._lock:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
                try:
                    document["prev"], before = self._prev()
                    line = json.dumps(document, separators=(",", ":"), default=str).encode()
                    data = before + line + b"\n"
                    written = os.write(self._fd, data)
                    if written != len(data):
                        raise OSError(f"short write: {written} of {len(data)} bytes")
                    os.fsync(self._fd)
                    self._known = (os.fstat(self._fd).st_size, line_hash(line))
                finally:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        except (OSError, TypeError, ValueError) as exc:
            self._known = None
            log.error(
                "audit record %s of tenant %s not written to %s: %s", event, tenant, self.path, exc
            )
            if self._on_failure is not None:
                self._on_failure(exc)
            return False
        return True

    def close(self) -> None:
        with self._lock:
            for fd in (self._fd, self._reader):
                try:
                    os.close(fd)
                except OSError:
                    pass


def open_audit_log(path: Path | None, service: str, registry=None) -> AuditLog | None:
    """The service's audit log (None when ``path`` is unset), failures counted on ``registry``.

    The counter ``nasforge_audit_write_failures_total`` is created (at zero) whenever a
    registry is given, so an alert on it works whether or not the log is enabled.
    """
    on_failure = None
    if registry is not None:
        from prometheus_client import Counter

        failures = Counter(
            "nasforge_audit_write_failures_total",
            "Audit records that could not be written (the work itself went on).",
            registry=registry,
        )
        on_failure = lambda exc: failures.inc()  # noqa: E731
    if path is None:
        return None
    return AuditLog(path, service, on_failure=on_failure)


def iter_lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number from 1, the line without its newline, whether it ended with one)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            ended = raw.endswith(b"\n")
            yield number, raw[:-1] if ended else raw, ended


def verify(path: Path) -> tuple[int, int | None]:
    """(records that verified, the first bad line's number or None when the chain is whole).

    A line is bad when it is not a JSON object with the record fields, when its ``prev``
    is not the hash of the line before it (or 64 zeros on line 1), or when it is a last
    line without its newline (a write cut short).
    """
    prev = GENESIS
    good = 0
    for number, line, ended in iter_lines(path):
        try:
            document = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return good, number
        if (
            not ended
            or not isinstance(document, dict)
            or not all(key in document for key in ("time", "service", "event", "tenant"))
            or document.get("prev") != prev
        ):
            return good, number
        prev = line_hash(line)
        good += 1
    return good, None


def read_records(path: Path) -> Iterator[dict]:
    """Every line of the file that parses as a JSON object (no chain check: see verify)."""
    for _, line, _ in iter_lines(path):
        try:
            document = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(document, dict):
            yield document
