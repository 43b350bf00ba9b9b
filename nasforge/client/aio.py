"""AsyncSearchClient: nasforge's public API (search_core's SearchService) for asyncio code."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from nasforge.client.calls import (
    WATCH_TIMEOUT_SECONDS,
    CandidatePages,
    SearchPages,
    WatchResume,
    state_name,
    submit_request,
)
from nasforge.client.errors import ClientError, mapped
from nasforge.client.weights import WeightsFile, destination
from nasforge.common.v1 import common_pb2
from nasforge.search_core.v1 import search_core_pb2 as pb
from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc
from rpc.client import ClientTLS, open_channel

DEFAULT_TIMEOUT_SECONDS = 60.0


class AsyncSearchClient:
    """``async with AsyncSearchClient(target, token, tls=...) as client:`` then await its
    methods. Answers are the API's protobuf messages (see nasforge.client); refusals raise
    nasforge.client's errors. ``stub`` is the raw SearchService stub for anything else (its
    errors are grpc's own)."""

    def __init__(
        self,
        target: str,
        token: str | None = None,
        *,
        tls: ClientTLS | None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        """``target``: host:port of search_core. ``token``: the tenant's bearer token (None
        only for a server that allows an anonymous tenant). ``tls``: the CA of the server's
        certificate; None means plaintext, for a local development server only.
        ``timeout_seconds``: the deadline of each call (a watch lasts as long as its search).
        """
        self._channel = open_channel(
            target, token=token, tls=tls, default_timeout_seconds=timeout_seconds
        )
        self.stub = pb_grpc.SearchServiceStub(self._channel)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method, request):
        try:
            return await method(request)
        except grpc.aio.AioRpcError as exc:
            raise mapped(exc) from exc

    async def submit(self, config: dict | str | Path, client_request_id: str = "") -> str:
        """Start a search from a config (a dict, or a .toml/.yaml/.json file); its id. The
        same ``client_request_id`` again returns the same search instead of a second one."""
        request = submit_request(config, client_request_id)
        return (await self._call(self.stub.SubmitSearch, request)).search_id

    async def get(self, search_id: str) -> pb.Search:
        """The search's spec, state and progress."""
        request = pb.GetSearchRequest(search_id=search_id)
        return (await self._call(self.stub.GetSearch, request)).search

    async def list_searches(
        self, states: tuple[str, ...] = (), methods: tuple[str, ...] = (), limit: int = 50
    ) -> list[pb.Search]:
        """The tenant's searches, newest first, up to ``limit``; only those in ``states``
        (e.g. "running") and of ``methods`` (e.g. "fairnad") when given."""
        pages = SearchPages.of(states, methods, limit)
        request = pages.request
        while request is not None:
            request = pages.take(await self._call(self.stub.ListSearches, request))
        return pages.found

    async def watch(
        self,
        search_id: str,
        after_sequence: int = 0,
        *,
        reconnect_for_seconds: float | None = 300.0,
    ) -> AsyncIterator[pb.WatchSearchResponse]:
        """The search's events after ``after_sequence``, until it ends. A dropped stream
        (UNAVAILABLE) is resumed after the last event seen, for up to
        ``reconnect_for_seconds`` without an event (None: for ever)."""
        resume = WatchResume(search_id, after_sequence, reconnect_for_seconds)
        while True:
            call = self.stub.WatchSearch(resume.request(), timeout=WATCH_TIMEOUT_SECONDS)
            try:
                async for event in call:
                    resume.seen(event)
                    yield event
                return
            except grpc.aio.AioRpcError as exc:
                delay = resume.retry_delay(exc)
            finally:
                call.cancel()  # a caller that stops early ends the stream too
            await asyncio.sleep(delay)

    async def cancel(self, search_id: str) -> str:
        """End the search (its finished candidates are kept); its state afterwards."""
        request = pb.CancelSearchRequest(search_id=search_id)
        return state_name((await self._call(self.stub.CancelSearch, request)).state)

    async def pause(self, search_id: str) -> str:
        """Stop the search where it is until ``resume``; its state afterwards."""
        request = pb.PauseSearchRequest(search_id=search_id)
        return state_name((await self._call(self.stub.PauseSearch, request)).state)

    async def resume(self, search_id: str) -> str:
        """Queue a paused search again; its state afterwards ("queued")."""
        request = pb.ResumeSearchRequest(search_id=search_id)
        return state_name((await self._call(self.stub.ResumeSearch, request)).state)

    async def candidates(self, search_id: str) -> list[pb.Candidate]:
        """Every finished candidate of the search, whole (code, epochs, provenance), in the
        order they finished."""
        pages = CandidatePages.of(search_id)
        request = pages.request
        while request is not None:
            request = pages.take(await self._call(self.stub.ListCandidates, request))
        return [await self.candidate(candidate_id) for candidate_id in pages.ids]

    async def candidate(self, candidate_id: str) -> pb.Candidate:
        """One candidate, whole."""
        request = pb.GetCandidateRequest(candidate_id=candidate_id)
        return (await self._call(self.stub.GetCandidate, request)).candidate

    async def leaderboard(
        self, search_id: str = "", limit: int = 10, *, task: str = ""
    ) -> list[pb.LeaderboardEntry]:
        """The best candidates of the search by validation score (test score beside), or
        of all the tenant's searches of ``task`` when ``search_id`` is empty."""
        request = pb.GetLeaderboardRequest(search_id=search_id, limit=limit, task=task)
        return list((await self._call(self.stub.GetLeaderboard, request)).entries)

    async def download_weights(self, candidate_id: str, path: str | Path) -> Path:
        """Write the candidate's best-epoch weights (a PyTorch state_dict) to ``path`` (a
        file, or a directory for ``<candidate_id>.pt``), checked against the SHA-256 the
        server announced; the file written. DownloadMismatch when they differ (nothing is
        left at ``path``), NotFound when none were kept."""
        call = self.stub.DownloadWeights(pb.DownloadWeightsRequest(candidate_id=candidate_id))
        try:
            with WeightsFile(destination(path, candidate_id), candidate_id) as weights:
                async for chunk in call:
                    weights.add(chunk)
                return weights.finish()
        except ClientError:  # DownloadMismatch: already the client's error
            raise
        except grpc.aio.AioRpcError as exc:
            raise mapped(exc) from exc
        finally:
            call.cancel()

    async def datasets(self) -> list[common_pb2.Dataset]:
        """The datasets a search can name: built-in first, then the registered ones."""
        request = common_pb2.ListDatasetsRequest()
        return list((await self._call(self.stub.ListDatasets, request)).datasets)

    async def dataset(self, name: str) -> common_pb2.Dataset:
        """One dataset: its task, shapes, classes, counts and checksums."""
        request = common_pb2.GetDatasetRequest(name=name)
        return (await self._call(self.stub.GetDataset, request)).dataset
