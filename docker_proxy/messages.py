"""HTTP/1.1 on the wire: a strict request parser, the rebuilt upstream request, responses.

The parser accepts only what docker-py sends: origin-form targets, CRLF line ends, token
header names, at most one Content-Length and no Transfer-Encoding. It reads exactly one
request and nothing after it; the proxy never reads further (a pipelined second request
stays unread), except from an attach that the engine upgraded.
"""

import asyncio
import json
import re
from dataclasses import dataclass

MAX_HEADERS = 100
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_METHOD = re.compile(rb"[A-Z]{1,16}")
_TARGET = re.compile(rb"/[\x21-\x7e]*")
_VERSIONS = (b"HTTP/1.1", b"HTTP/1.0")
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e]*")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})(?: [^\r\n]*)?")

# Request headers passed on to the engine; everything else (hop-by-hop headers, Host,
# Content-Length, credentials of registries) is dropped and the framing is rebuilt.
FORWARDED_HEADERS = frozenset({"content-type", "user-agent", "accept"})

REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
}


class MalformedRequest(Exception):
    """The request cannot be parsed (or is too large): answered with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientGone(Exception):
    """The client closed the connection before sending a request."""


@dataclass(frozen=True)
class Request:
    """One parsed request. ``target`` is the raw request-target: path and query."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        """The value of a header (names compare case-insensitively), None when absent."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(values) if values else None

    @property
    def wants_upgrade(self) -> bool:
        """Connection: Upgrade with an Upgrade header, as docker-py's attach_socket sends."""
        tokens = {t.strip().lower() for t in (self.header("connection") or "").split(",")}
        return "upgrade" in tokens and bool(self.header("upgrade"))


def parse_head(head: bytes) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """Method, target and headers of a request head ending in CRLF CRLF."""
    if not head.endswith(b"\r\n\r\n"):
        raise MalformedRequest(400, "the request head does not end with CRLF CRLF")
    lines = head[:-4].split(b"\r\n")
    if any(b"\r" in line or b"\n" in line for line in lines):
        raise MalformedRequest(400, "bare CR or LF in the request head")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise MalformedRequest(400, "the request line is not METHOD TARGET VERSION")
    method, target, version = parts
    if not _METHOD.fullmatch(method):
        raise MalformedRequest(400, "invalid method")
    if not _TARGET.fullmatch(target) or b"#" in target:
        raise MalformedRequest(400, "the request target is not an absolute path")
    if version not in _VERSIONS:
        raise MalformedRequest(400, "only HTTP/1.1 and HTTP/1.0 are spoken")
    if len(lines) - 1 > MAX_HEADERS:
        raise MalformedRequest(431, f"more than {MAX_HEADERS} headers")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise MalformedRequest(400, "invalid header line (obs-fold or bad field name)")
        value = value.strip(b" \t")
        if not _FIELD_VALUE.fullmatch(value):
            raise MalformedRequest(400, "control or non-ASCII characters in a header value")
        headers.append((name.decode("ascii"), value.decode("ascii")))
    return method.decode("ascii"), target.decode("ascii"), tuple(headers)


def body_length(headers: tuple[tuple[str, str], ...], max_body_bytes: int) -> int:
    """The Content-Length of a request: 0 when absent; refuses chunked and oversized bodies."""
    names = [name.lower() for name, _ in headers]
    if "transfer-encoding" in names:
        raise MalformedRequest(400, "Transfer-Encoding request bodies are not accepted")
    if "expect" in names:
        raise MalformedRequest(400, "Expect is not supported")
    lengths = [value for name, value in headers if name.lower() == "content-length"]
    if not lengths:
        return 0
    if len(lengths) > 1 or not re.fullmatch(r"\d{1,12}", lengths[0]):
        raise MalformedRequest(400, "invalid Content-Length")
    length = int(lengths[0])
    if length > max_body_bytes:
        raise MalformedRequest(413, f"the request body is larger than {max_body_bytes} bytes")
    return length


async def read_request(
    reader: asyncio.StreamReader, max_head_bytes: int, max_body_bytes: int
) -> Request:
    """Read exactly one request: its head, then Content-Length bytes of body, nothing more."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise MalformedRequest(431, "the request head is too large") from exc
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise ClientGone from exc
        raise MalformedRequest(400, "the connection closed inside the request head") from exc
    if len(head) > max_head_bytes:
        raise MalformedRequest(431, "the request head is too large")
    method, target, headers = parse_head(head)
    length = body_length(headers, max_body_bytes)
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise MalformedRequest(400, "the connection closed inside the request body") from exc
    return Request(method, target, headers, body)


def upstream_request(request: Request, target: str, *, upgrade: bool) -> bytes:
    """The request as sent to the engine: rebuilt framing, one request per connection."""
    lines = [f"{request.method} {target} HTTP/1.1", "Host: docker"]
    lines += [f"{k}: {v}" for k, v in request.headers if k.lower() in FORWARDED_HEADERS]
    if request.body or request.method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(request.body)}")
    lines += ["Connection: Upgrade", "Upgrade: tcp"] if upgrade else ["Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + request.body


def error_response(status: int, message: str) -> bytes:
    """A complete JSON error response, as the engine's own: docker-py shows ``message``."""
    body = json.dumps({"message": message}).encode()
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def response_status(head: bytes) -> int:
    """The status code of a response head; ValueError when it is not HTTP/1.x."""
    match = _STATUS_LINE.fullmatch(head.split(b"\r\n", 1)[0])
    if not match:
        raise ValueError("the engine's response does not start with an HTTP/1.x status line")
    return int(match.group(1))


def response_header(head: bytes, name: str) -> str | None:
    """One header of a response head (the first), None when absent."""
    for line in head.split(b"\r\n")[1:]:
        key, colon, value = line.partition(b":")
        if colon and key.strip().lower() == name.lower().encode():
            return value.strip().decode("latin-1")
    return None


def closing_head(head: bytes) -> bytes:
    """A response head with its Connection and Keep-Alive headers replaced by Connection: close."""
    lines = head[:-4].split(b"\r\n")
    kept = [
        line
        for line in lines[1:]
        if line.partition(b":")[0].strip().lower() not in (b"connection", b"keep-alive")
    ]
    return b"\r\n".join([lines[0], *kept, b"Connection: close"]) + b"\r\n\r\n"


def dechunk(data: bytes) -> bytes:
    """The payload of a complete chunked body; ValueError when it is cut or malformed."""
    out = bytearray()
    while True:
        size_line, sep, data = data.partition(b"\r\n")
        if not sep:
            raise ValueError("chunked body cut short")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            return bytes(out)
        if len(data) < size + 2 or data[size : size + 2] != b"\r\n":
            raise ValueError("chunked body cut short")
        out += data[:size]
        data = data[size + 2 :]
