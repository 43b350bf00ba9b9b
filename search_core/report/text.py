"""Markdown building blocks: escaping of user-controlled text, excerpts, tables, number formats.

Everything a candidate or a user can name (candidate names, error messages, task names,
ids) goes through `escape` or `excerpt`, so that it stays inside its table cell: one
line, every Markdown punctuation character backslash-escaped (pipes included).
"""

import math
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime

# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are the
# ones that can start emphasis, code, links, HTML, tables or headings inside a cell.
_SPECIAL = frozenset("\\`*_[]<>|~#!&{}")
NA = "n/a"


def _one_line(text: str) -> str:
    """Control characters (newlines, tabs, escape sequences) become spaces, runs collapse."""
    cleaned = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in str(text))
    return " ".join(cleaned.split())


def _escape_char(ch: str) -> str:
    return "\\" + ch if ch in _SPECIAL else ch


def escape(text: object) -> str:
    """User text made safe for a Markdown table cell or a heading."""
    return "".join(_escape_char(ch) for ch in _one_line(str(text)))


def excerpt(text: object, limit: int = 120) -> str:
    """escape() cut so that the escaped result is at most `limit` characters, "…" when cut."""
    out: list[str] = []
    length = 0
    line = _one_line(str(text))
    for index, ch in enumerate(line):
        piece = _escape_char(ch)
        more = index < len(line) - 1
        if length + len(piece) > (limit - 1 if more else limit):
            out.append("…")
            break
        out.append(piece)
        length += len(piece)
    return "".join(out)


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()
) -> str:
    """A GitHub table; cells must already be escaped. Columns in `numeric` align right."""
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append(
        "|" + "|".join("---:" if i in numeric else "---" for i in range(len(headers))) + "|"
    )
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def fmt_score(value: float | None) -> str:
    return NA if value is None or not math.isfinite(value) else f"{value:.4f}"


def fmt_rate(value: float | None) -> str:
    return NA if value is None else f"{100.0 * value:.1f}%"


def fmt_count_rate(count: int, total: int) -> str:
    """`52.6% (10/19)`; n/a when nothing was attempted."""
    return f"{fmt_rate(count / total)} ({count}/{total})" if total else f"{NA} (0/0)"


def fmt_int(value: int | None) -> str:
    return NA if value is None else f"{value:,}"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return NA
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def fmt_time(timestamp: float | None) -> str:
    """A record's own timestamp in UTC (the report adds no clock of its own)."""
    if timestamp is None or not math.isfinite(timestamp):
        return NA
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
