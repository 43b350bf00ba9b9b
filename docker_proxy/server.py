"""The proxy server: one request per client connection, checked, then forwarded to the engine.

Each allowed request goes to the engine on its own unix-socket connection with
``Connection: close``; the response is streamed back until the engine closes, and then the
client connection is closed too, so nothing a client sends after its first request is ever
read. An attach that the engine upgrades (101, or the 200 hijack of older engines) is
piped both ways until either side is done.
"""

import asyncio
import json
import logging

from docker_proxy.config import ProxySettings
from docker_proxy.messages import (
    ClientGone,
    MalformedRequest,
    Request,
    closing_head,
    dechunk,
    error_response,
    read_request,
    response_header,
    response_status,
    upstream_request,
)
from docker_proxy.metrics import ProxyMetrics
from docker_proxy.policy import OTHER, Decision, Policy

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_MAX_INSPECT_BYTES = 4 * 1024**2
_RAW_STREAMS = ("application/vnd.docker.raw-stream", "application/vnd.docker.multiplexed-stream")


class UpstreamError(Exception):
    """The engine could not be reached or answered nonsense."""


class NotOwned(Exception):
    """The container or volume of a call is missing (the engine's status) or not ours (403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, eof: bool) -> None:
    while chunk := await src.read(_CHUNK):
        dst.write(chunk)
        await dst.drain()
    if eof and dst.can_write_eof():
        dst.write_eof()


class DockerProxy:
    """Listens on TCP, forwards what the policy allows to the engine's unix socket."""

    def __init__(self, settings: ProxySettings, policy: Policy, metrics: ProxyMetrics) -> None:
        self._settings = settings
        self._policy = policy
        self._metrics = metrics
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task] = set()

    async def start(self) -> int:
        """Bind and start accepting; returns the bound port."""
        self._server = await asyncio.start_server(
            self._handle,
            self._settings.host,
            self._settings.port,
            limit=self._settings.max_head_bytes,
        )
        return self._server.sockets[0].getsockname()[1]

    async def close(self, grace_seconds: float) -> None:
        """Stop accepting; open requests and streams get ``grace_seconds``, then are cut."""
        if self._server is not None:
            self._server.close()
        if self._handlers:
            _, pending = await asyncio.wait(set(self._handlers), timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        self._metrics.connections.inc()
        try:
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError, OSError) as exc:
            log.debug("connection ended: %r", exc)
        finally:
            self._metrics.connections.dec()
            self._handlers.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        settings = self._settings
        try:
            request = await asyncio.wait_for(
                read_request(reader, settings.max_head_bytes, settings.max_body_bytes),
                settings.request_timeout_seconds,
            )
        except ClientGone:
            return
        except TimeoutError:
            self._metrics.request("malformed", OTHER)
            await self._answer(writer, error_response(408, "the request was not sent in time"))
            return
        except MalformedRequest as exc:
            self._metrics.request("malformed", OTHER)
            log.info("malformed request: %s", exc.message)
            await self._answer(writer, error_response(exc.status, exc.message))
            return
        decision = self._policy.check(request.method, request.target, request.body)
        target = request.target
        if decision.allowed and (decision.container is not None or decision.volumes):
            try:
                target = await self._owned(decision, request)
            except UpstreamError as exc:
                await self._upstream_failed(writer, decision, exc)
                return
            except NotOwned as exc:
                if exc.status == 403:
                    self._deny(request, decision, exc.message)
                else:  # e.g. 404: docker-py's NotFound, which destroy() and the reaper expect
                    self._metrics.request("allowed", decision.endpoint)
                await self._answer(writer, error_response(exc.status, exc.message))
                return
        if not decision.allowed:
            self._deny(request, decision, decision.reason)
            await self._answer(writer, error_response(403, f"docker_proxy: {decision.reason}"))
            return
        self._metrics.request("allowed", decision.endpoint)
        log.debug("allowed %s %s (%s)", request.method, request.path, decision.endpoint)
        try:
            await self._forward(request, target, decision, reader, writer)
        except UpstreamError as exc:
            await self._upstream_failed(writer, decision, exc)

    def _deny(self, request: Request, decision: Decision, reason: str) -> None:
        self._metrics.request("denied", decision.endpoint)
        log.warning("denied %s %s: %s", request.method, request.path, reason)

    async def _upstream_failed(
        self, writer: asyncio.StreamWriter, decision: Decision, exc: Exception
    ) -> None:
        self._metrics.upstream_errors.inc()
        log.error("engine unavailable for %s: %s", decision.endpoint, exc)
        await self._answer(writer, error_response(502, f"docker_proxy: engine unavailable: {exc}"))

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, response: bytes) -> None:
        writer.write(response)
        await writer.drain()

    async def _open_engine(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.open_unix_connection(
                str(self._settings.docker_socket), limit=self._settings.max_head_bytes
            )
        except OSError as exc:
            raise UpstreamError(f"cannot connect to {self._settings.docker_socket}: {exc}") from exc

    async def _owned(self, decision: Decision, request: Request) -> str:
        """The target, its container named by full id; NotOwned when a thing is not ours."""
        for volume in decision.volumes:
            document = await self._inspect(f"/volumes/{volume}")
            if not self._policy.owns(document.get("Labels")):
                raise NotOwned(403, f"docker_proxy: volume {volume} is not in this namespace")
        if decision.container is None:
            return request.target
        name = decision.container
        document = await self._inspect(f"/containers/{name}/json")
        if "Id" not in document:
            raise UpstreamError("container inspect answered without an Id")
        if not self._policy.owns((document.get("Config") or {}).get("Labels")):
            raise NotOwned(403, f"docker_proxy: container {name} is not in this namespace")
        # The name was checked: forward the id it stands for, so no rename can swap it.
        path, _, query = request.target.partition("?")
        head, _, tail = path.partition(f"/containers/{name}")
        target = f"{head}/containers/{document['Id']}{tail}"
        return f"{target}?{query}" if query else target

    async def _inspect(self, path: str) -> dict:
        """The engine's JSON document at ``path``; NotOwned with its status when not 200."""
        status, body = await asyncio.wait_for(
            self._fetch(path), self._settings.request_timeout_seconds
        )
        try:
            document = json.loads(body)
        except json.JSONDecodeError as exc:
            raise UpstreamError(f"inspect answered {status} without JSON") from exc
        if not isinstance(document, dict):
            raise UpstreamError(f"inspect answered {status} with unexpected JSON")
        if status != 200:
            raise NotOwned(status, str(document.get("message", f"inspect answered {status}")))
        return document

    async def _fetch(self, path: str) -> tuple[int, bytes]:
        """Status and body of one GET to the engine, made by the proxy itself."""
        up_reader, up_writer = await self._open_engine()
        try:
            up_writer.write(
                f"GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n".encode()
            )
            await up_writer.drain()
            response = b""
            while chunk := await up_reader.read(_CHUNK):
                response += chunk
                if len(response) > _MAX_INSPECT_BYTES:
                    raise UpstreamError("inspect answer too large")
        except (ConnectionError, OSError) as exc:
            raise UpstreamError(str(exc)) from exc
        finally:
            up_writer.close()
        head, sep, body = response.partition(b"\r\n\r\n")
        try:
            status = response_status(head + sep)
            if (response_header(head + sep, "transfer-encoding") or "").lower() == "chunked":
                body = dechunk(body)
        except ValueError as exc:
            raise UpstreamError(str(exc)) from exc
        return status, body

    async def _forward(
        self,
        request: Request,
        target: str,
        decision: Decision,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        upgrade = request.wants_upgrade and decision.endpoint == "container_attach"
        up_reader, up_writer = await self._open_engine()
        try:
            try:
                up_writer.write(upstream_request(request, target, upgrade=upgrade))
                await up_writer.drain()
                head = await up_reader.readuntil(b"\r\n\r\n")
                status = response_status(head)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                raise UpstreamError(f"bad response head: {exc!r}") from exc
            except (ConnectionError, OSError) as exc:
                raise UpstreamError(str(exc)) from exc
            content_type = (response_header(head, "content-type") or "").split(";")[0].strip()
            if upgrade and (status == 101 or (status == 200 and content_type in _RAW_STREAMS)):
                await self._answer(writer, head)
                await self._pipe(reader, writer, up_reader, up_writer)
            else:
                await self._answer(writer, closing_head(head))
                await _copy(up_reader, writer, eof=False)
        finally:
            up_writer.close()

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        """Both ways until the engine is done or either side fails; a client EOF half-closes."""
        to_engine = asyncio.create_task(_copy(reader, up_writer, eof=True))
        to_client = asyncio.create_task(_copy(up_reader, writer, eof=False))
        try:
            first = asyncio.FIRST_COMPLETED
            done, _ = await asyncio.wait({to_engine, to_client}, return_when=first)
            if to_client not in done and to_engine.exception() is None:
                await to_client
        finally:
            for task in (to_engine, to_client):
                task.cancel()
            await asyncio.gather(to_engine, to_client, return_exceptions=True)
