"""The request parser: one well-formed request or a 400/413/431, never more than one."""

import asyncio

import pytest

from docker_proxy.messages import (
    ClientGone,
    MalformedRequest,
    Request,
    closing_head,
    dechunk,
    error_response,
    parse_head,
    read_request,
    response_status,
    upstream_request,
)

HEAD_LIMIT = 4096
BODY_LIMIT = 1024


def reader_of(data: bytes, *, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=HEAD_LIMIT)
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


async def read(data: bytes) -> Request:
    return await read_request(reader_of(data), HEAD_LIMIT, BODY_LIMIT)


async def test_a_request_with_a_body_is_parsed():
    request = await read(
        b"POST /v1.41/containers/create?name=x HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )
    assert request.method == "POST"
    assert request.path == "/v1.41/containers/create"
    assert request.query == "name=x"
    assert request.header("content-type") == "application/json"
    assert request.body == b"{}"
    assert not request.wants_upgrade


async def test_docker_pys_attach_asks_for_an_upgrade():
    request = await read(
        b"POST /containers/x/attach HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    )
    assert request.wants_upgrade


async def test_a_pipelined_second_request_is_left_unread():
    first = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
    second = b"POST /containers/create HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
    reader = reader_of(first + second)
    request = await read_request(reader, HEAD_LIMIT, BODY_LIMIT)
    assert (request.method, request.target, request.body) == ("GET", "/_ping", b"")
    assert await reader.read() == second


async def test_a_body_ends_at_its_content_length():
    reader = reader_of(b"POST /volumes/create HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /")
    assert (await read_request(reader, HEAD_LIMIT, BODY_LIMIT)).body == b"{}"
    assert await reader.read() == b"GET /"


@pytest.mark.parametrize(
    "head",
    [
        b"GET /_ping\r\n\r\n",
        b"GET  /_ping HTTP/1.1\r\n\r\n",
        b"get /_ping HTTP/1.1\r\n\r\n",
        b"GET http://docker/_ping HTTP/1.1\r\n\r\n",
        b"GET * HTTP/1.1\r\n\r\n",
        b"GET /_ping#x HTTP/1.1\r\n\r\n",
        b"GET /_p ing HTTP/1.1\r\n\r\n",
        b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
        b"GET /_ping HTTP/2.0\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nHost: x\rX: y\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nNoColon\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nX: a\x00b\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n",
    ],
)
async def test_malformed_heads_are_400(head):
    with pytest.raises(MalformedRequest) as caught:
        await read(head)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "headers",
    [
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n",
        b"Content-Length: 2\r\nContent-Length: 2\r\n",
        b"Content-Length: +2\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: 0x2\r\n",
        b"Content-Length: 2, 2\r\n",
        b"Expect: 100-continue\r\nContent-Length: 2\r\n",
    ],
)
async def test_ambiguous_or_chunked_bodies_are_refused(headers):
    with pytest.raises(MalformedRequest) as caught:
        await read(b"POST /volumes/create HTTP/1.1\r\n" + headers + b"\r\n{}")
    assert caught.value.status == 400


async def test_a_body_over_the_cap_is_413_before_it_is_read():
    reader = reader_of(b"POST /volumes/create HTTP/1.1\r\nContent-Length: 1025\r\n\r\n", eof=False)
    with pytest.raises(MalformedRequest) as caught:
        await read_request(reader, HEAD_LIMIT, BODY_LIMIT)
    assert caught.value.status == 413


async def test_a_head_over_the_cap_is_431():
    with pytest.raises(MalformedRequest) as caught:
        await read(b"GET /_ping HTTP/1.1\r\nX: " + b"a" * HEAD_LIMIT + b"\r\n\r\n")
    assert caught.value.status == 431


async def test_too_many_headers_are_431():
    with pytest.raises(MalformedRequest) as caught:
        await read(b"GET /_ping HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n")
    assert caught.value.status == 431


async def test_a_connection_closed_early_is_400_or_gone():
    with pytest.raises(ClientGone):
        await read(b"")
    with pytest.raises(MalformedRequest):
        await read(b"GET /_ping HTTP/1.1\r\n")
    with pytest.raises(MalformedRequest):
        await read(b"POST /volumes/create HTTP/1.1\r\nContent-Length: 5\r\n\r\n{}")


def test_parse_head_needs_the_blank_line():
    with pytest.raises(MalformedRequest):
        parse_head(b"GET /_ping HTTP/1.1\r\n")


def test_the_upstream_request_is_rebuilt_with_connection_close():
    request = Request(
        "POST",
        "/containers/create",
        (
            ("Host", "evil"),
            ("Content-Type", "application/json"),
            ("Connection", "keep-alive"),
            ("X-Registry-Auth", "secret"),
            ("Content-Length", "999"),
        ),
        b"{}",
    )
    wire = upstream_request(request, "/containers/create", upgrade=False)
    assert wire == (
        b"POST /containers/create HTTP/1.1\r\nHost: docker\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    )


def test_an_attach_keeps_its_upgrade_and_the_checked_target():
    request = Request("POST", "/containers/x/attach", (("Connection", "Upgrade"),))
    wire = upstream_request(request, "/containers/0123/attach", upgrade=True)
    assert wire.startswith(b"POST /containers/0123/attach HTTP/1.1\r\n")
    assert b"Connection: Upgrade\r\nUpgrade: tcp\r\n" in wire
    assert b"close" not in wire


def test_error_responses_carry_the_message_as_json():
    response = error_response(403, 'no "exec"')
    assert response.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert response.endswith(b'\r\n\r\n{"message": "no \\"exec\\""}')


def test_response_heads_are_made_to_close():
    head = b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX: y\r\n\r\n"
    assert closing_head(head) == b"HTTP/1.1 200 OK\r\nX: y\r\nConnection: close\r\n\r\n"
    assert response_status(head) == 200
    with pytest.raises(ValueError):
        response_status(b"SSH-2.0\r\n\r\n")


def test_dechunk():
    assert dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n") == b"abcde"
    with pytest.raises(ValueError):
        dechunk(b"5\r\nabc")
