"""Read a candidate source file for the CLI, refusing what is not a readable UTF-8 text."""

import sys
from pathlib import Path

from netapi.outcomes import MAX_CANDIDATE_BYTES


class CandidateFileError(Exception):
    """The file cannot be read as a candidate; the message is one line for the user."""


def read_candidate(path_text: str) -> str:
    """The text of ``path_text`` ('-' for stdin), at most MAX_CANDIDATE_BYTES of UTF-8."""
    if path_text == "-":
        data = sys.stdin.buffer.read(MAX_CANDIDATE_BYTES + 1)
        name = "standard input"
    else:
        path = Path(path_text)
        name = str(path)
        if not path.exists():
            raise CandidateFileError(f"{name}: no such file")
        if not path.is_file():
            raise CandidateFileError(f"{name}: not a regular file")
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_CANDIDATE_BYTES + 1)
        except OSError as exc:
            raise CandidateFileError(f"{name}: cannot be read ({exc.strerror})") from exc
    if len(data) > MAX_CANDIDATE_BYTES:
        raise CandidateFileError(
            f"{name}: larger than the {MAX_CANDIDATE_BYTES}-byte limit for a candidate"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CandidateFileError(
            f"{name}: not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from exc
