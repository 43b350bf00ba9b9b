"""The proxy against a fake engine on a unix socket: what reaches the engine, and what not."""

import asyncio
import json

import pytest
from prometheus_client import CollectorRegistry

from docker_proxy.config import ProxySettings
from docker_proxy.metrics import ProxyMetrics
from docker_proxy.policy import Policy
from docker_proxy.server import DockerProxy
from tests.unit.docker_proxy.conftest import NAMESPACE

FULL_ID = "f" * 64


class FakeEngine:
    """Records every request head it receives; answers like the engine, then closes."""

    def __init__(self, namespace: str | None = NAMESPACE) -> None:
        self.labels = {} if namespace is None else {"org.nasforge.managed-by": namespace}
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(head)
        path = head.split(b" ")[1].decode().partition("?")[0]
        if path.endswith("/json") and "/containers/" in path:
            name = path.split("/")[-2]
            if name == "missing":
                await self._reply(writer, 404, {"message": "No such container: missing"})
            else:
                document = {"Id": FULL_ID, "Config": {"Labels": self.labels}}
                await self._reply(writer, 200, document)
        elif path.startswith("/volumes/") and head.startswith(b"GET "):
            await self._reply(writer, 200, {"Name": path[9:], "Labels": self.labels})
        elif path.endswith("/attach") and b"Upgrade: tcp" in head:
            writer.write(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
            while data := await reader.read(1024):  # an echoing container
                writer.write(data.upper())
                await writer.drain()
        else:
            await self._reply(writer, 200, {"ok": path}, keep_alive=True)
        writer.close()

    @staticmethod
    async def _reply(writer, status: int, document: dict, keep_alive: bool = False) -> None:
        body = json.dumps(document).encode()
        # Chunked like Go's server for larger bodies; the proxy must read either framing.
        framed = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
        connection = "keep-alive" if keep_alive else "close"
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Transfer-Encoding: chunked\r\nConnection: {connection}\r\n\r\n".encode()
            + framed
        )
        await writer.drain()


@pytest.fixture
async def proxy_for(tmp_path):
    started = []

    async def start(engine: FakeEngine | None):
        socket_path = tmp_path / "docker.sock"
        if engine is not None:
            started.append(await asyncio.start_unix_server(engine.handle, str(socket_path)))
        settings = ProxySettings(
            port=0, docker_socket=socket_path, request_timeout_seconds=2, namespace=NAMESPACE
        )
        registry = CollectorRegistry()
        policy = Policy.from_settings(settings)
        proxy = DockerProxy(settings, policy, ProxyMetrics(registry))
        port = await proxy.start()
        started.append(proxy)
        return port, registry

    yield start
    for item in reversed(started):
        if isinstance(item, DockerProxy):
            await item.close(1)
        else:
            item.close()
            await item.wait_closed()


async def exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return response


def count(registry, decision: str, endpoint: str) -> float:
    labels = {"decision": decision, "endpoint": endpoint}
    return registry.get_sample_value("nasforge_docker_proxy_requests_total", labels)


async def test_one_request_reaches_the_engine_and_a_pipelined_one_does_not(proxy_for):
    engine = FakeEngine()
    port, registry = await proxy_for(engine)
    second = b"POST /v1.41/build HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
    response = await exchange(port, b"GET /v1.41/_ping HTTP/1.1\r\nHost: x\r\n\r\n" + second)
    assert response.startswith(b"HTTP/1.1 200 X\r\n")
    assert response.count(b"HTTP/1.1") == 1
    assert b"keep-alive" not in response and b"Connection: close\r\n" in response
    assert engine.requests == [
        b"GET /v1.41/_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
    ]
    assert count(registry, "allowed", "ping") == 1
    assert count(registry, "denied", "other") == 0


async def test_a_refused_call_gets_a_403_message_and_never_reaches_the_engine(proxy_for, caplog):
    engine = FakeEngine()
    port, registry = await proxy_for(engine)
    response = await exchange(port, b"POST /v1.41/containers/abc/exec HTTP/1.1\r\n\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 ")
    assert "not an allowed Docker API call" in json.loads(body)["message"]
    assert engine.requests == []
    assert count(registry, "denied", "other") == 1
    assert any(
        r.levelname == "WARNING" and "/v1.41/containers/abc/exec" in r.getMessage()
        for r in caplog.records
    )


async def test_a_malformed_request_gets_a_400(proxy_for):
    engine = FakeEngine()
    port, registry = await proxy_for(engine)
    response = await exchange(port, b"GET /_ping HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 400 ")
    assert engine.requests == []
    assert count(registry, "malformed", "other") == 1


async def test_a_container_call_is_forwarded_by_id_only_when_the_container_is_managed(proxy_for):
    engine = FakeEngine()
    port, _ = await proxy_for(engine)
    response = await exchange(
        port, b"POST /v1.41/containers/short/kill?signal=KILL HTTP/1.1\r\n\r\n"
    )
    assert response.startswith(b"HTTP/1.1 200")
    assert engine.requests[0].startswith(b"GET /containers/short/json HTTP/1.1\r\n")
    assert engine.requests[1].startswith(
        f"POST /v1.41/containers/{FULL_ID}/kill?signal=KILL HTTP/1.1\r\n".encode()
    )


async def test_a_container_without_the_label_is_refused(proxy_for):
    engine = FakeEngine(namespace=None)
    port, registry = await proxy_for(engine)
    response = await exchange(port, b"DELETE /v1.41/containers/postgres?force=1 HTTP/1.1\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 403 ")
    assert b"not in this namespace" in response
    assert len(engine.requests) == 1  # the inspect only
    assert count(registry, "denied", "container_remove") == 1


@pytest.mark.parametrize(
    "label", ["nasforge-compose-trainer-3f2a9c1b7d4e", "nasforge-test-x", "nasforge-tes"]
)
async def test_a_container_of_another_namespace_is_refused(proxy_for, label):
    """Attack: sandbox_runner's proxy asked to kill a trainer's container. Ends in a 403."""
    engine = FakeEngine(namespace=label)
    port, registry = await proxy_for(engine)
    response = await exchange(port, b"POST /v1.41/containers/job/kill HTTP/1.1\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 403 ")
    assert b"not in this namespace" in response
    assert len(engine.requests) == 1  # the inspect only
    assert count(registry, "denied", "container_kill") == 1


async def test_a_body_on_start_never_reaches_the_engine(proxy_for):
    """Attack: an old-API start with a privileged HostConfig body. Ends in a 403, no inspect."""
    engine = FakeEngine()
    port, registry = await proxy_for(engine)
    body = json.dumps({"Privileged": True, "Binds": ["/:/host"]}).encode()
    for version in ("/v1.23", "/v1.41", ""):
        response = await exchange(
            port,
            f"POST {version}/containers/c/start HTTP/1.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body,
        )
        assert response.startswith(b"HTTP/1.1 403 "), response
    assert engine.requests == []
    assert count(registry, "denied", "container_start") == 3


async def test_a_volume_is_removed_only_when_it_is_in_the_namespace(proxy_for):
    engine = FakeEngine()
    port, _ = await proxy_for(engine)
    request = b"DELETE /v1.41/volumes/nasforge-out-0123abcd HTTP/1.1\r\n\r\n"
    assert (await exchange(port, request)).startswith(b"HTTP/1.1 200")
    assert [r.split(b" ")[:2] for r in engine.requests] == [
        [b"GET", b"/volumes/nasforge-out-0123abcd"],
        [b"DELETE", b"/v1.41/volumes/nasforge-out-0123abcd"],
    ]
    other = FakeEngine(namespace="nasforge-compose-sandbox")
    port, _ = await proxy_for(other)
    response = await exchange(port, request)
    assert response.startswith(b"HTTP/1.1 403 ") and b"not in this namespace" in response
    assert len(other.requests) == 1


async def test_a_missing_container_is_the_engines_404(proxy_for):
    port, _ = await proxy_for(FakeEngine())
    response = await exchange(port, b"DELETE /containers/missing HTTP/1.1\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 404 ")
    assert b"No such container: missing" in response


async def test_an_upgraded_attach_is_piped_both_ways(proxy_for):
    port, _ = await proxy_for(FakeEngine())
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1.41/containers/c/attach?stdin=1&stream=1 HTTP/1.1\r\n"
        b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 ")
    writer.write(b"hello\n")
    assert await asyncio.wait_for(reader.readexactly(6), 5) == b"HELLO\n"
    writer.write_eof()  # the engine sees stdin end and closes: so does the proxy
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_an_attach_without_upgrade_forwards_no_client_bytes(proxy_for):
    engine = FakeEngine()
    port, _ = await proxy_for(engine)
    response = await exchange(
        port, b"POST /containers/c/attach HTTP/1.1\r\n\r\nPOST /containers/create HTTP/1.1\r\n\r\n"
    )
    assert response.count(b"HTTP/1.1") == 1
    assert [r.split(b" ")[1] for r in engine.requests] == [
        b"/containers/c/json",
        f"/containers/{FULL_ID}/attach".encode(),
    ]


async def test_an_engine_that_is_down_is_a_502(proxy_for):
    port, registry = await proxy_for(None)
    response = await exchange(port, b"GET /_ping HTTP/1.1\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 502 ")
    assert registry.get_sample_value("nasforge_docker_proxy_upstream_errors_total") == 1


async def test_a_client_too_slow_to_send_its_request_is_cut_off(proxy_for):
    engine = FakeEngine()
    port, _ = await proxy_for(engine)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /_ping HTTP/1.1\r\n")
    response = await asyncio.wait_for(reader.read(), 5)
    assert response.startswith(b"HTTP/1.1 408 ")
    assert engine.requests == []
    writer.close()
