"""A small reader of the report's Markdown for the tests: sections, table rows, images."""

import re

IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def section(markdown: str, heading: str) -> str:
    """The text under `heading` up to the next heading of the same or a higher level."""
    lines = markdown.splitlines()
    start = lines.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    body = []
    for line in lines[start + 1 :]:
        depth = len(line) - len(line.lstrip("#"))
        if 0 < depth <= level and line[depth : depth + 1] == " ":
            break
        body.append(line)
    return "\n".join(body)


def cells(row: str) -> list[str]:
    """Cells of one table row; a backslash escapes the next character (so `\\|` stays)."""
    out: list[str] = []
    current = ""
    index = 0
    while index < len(row):
        ch = row[index]
        if ch == "\\" and index + 1 < len(row):
            current += row[index : index + 2]
            index += 2
            continue
        if ch == "|":
            out.append(current.strip())
            current = ""
        else:
            current += ch
        index += 1
    out.append(current.strip())
    return out[1:-1]  # a row starts and ends with a pipe


def table_rows(text: str) -> list[list[str]]:
    """Every table row in `text` except the header separators (headers included)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|(-+:?\|)+", line):
            rows.append(cells(line))
    return rows


def rows_by_first_cell(text: str) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in table_rows(text)}
