"""SearchClient: nasforge's public API (search_core's SearchService) for plain, blocking code
(scripts, notebooks); grpc's synchronous channel, no event loop."""

import time
from collections.abc import Iterator
from pathlib import Path

import grpc

from nasforge.client.aio import DEFAULT_TIMEOUT_SECONDS
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
from rpc.client import ClientTLS, open_blocking_channel


class SearchClient:
    """``with SearchClient(target, token, tls=...) as client:`` then call its methods, the
    same as AsyncSearchClient's without ``await``. Answers are the API's protobuf messages
    (see nasforge.client); refusals raise nasforge.client's errors. ``stub`` is the raw
    SearchService stub for anything else (its errors are grpc's own)."""

    def __init__(
        self,
        target: str,
        token: str | None = None,
        *,
        tls: ClientTLS | None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        """As AsyncSearchClient: ``tls`` None means plaintext (a local development server)."""
        self._channel = open_blocking_channel(
            target, token=token, tls=tls, default_timeout_seconds=timeout_seconds
        )
        self.stub = pb_grpc.SearchServiceStub(self._channel)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _call(self, method, request):
        try:
            return method(request)
        except grpc.RpcError as exc:
            raise mapped(exc) from exc

    def submit(self, config: dict | str | Path, client_request_id: str = "") -> str:
        """Start a search from a config (a dict, or a .toml/.yaml/.json file); its id."""
        request = submit_request(config, client_request_id)
        return self._call(self.stub.SubmitSearch, request).search_id

    def get(self, search_id: str) -> pb.Search:
        """The search's spec, state and progress."""
        return self._call(self.stub.GetSearch, pb.GetSearchRequest(search_id=search_id)).search

    def list_searches(
        self, states: tuple[str, ...] = (), methods: tuple[str, ...] = (), limit: int = 50
    ) -> list[pb.Search]:
        """The tenant's searches, newest first, up to ``limit``, filtered by state and
        method names when given."""
        pages = SearchPages.of(states, methods, limit)
        request = pages.request
        while request is not None:
            request = pages.take(self._call(self.stub.ListSearches, request))
        return pages.found

    def watch(
        self,
        search_id: str,
        after_sequence: int = 0,
        *,
        reconnect_for_seconds: float | None = 300.0,
    ) -> Iterator[pb.WatchSearchResponse]:
        """The search's events after ``after_sequence``, until it ends; a dropped stream is
        resumed after the last event seen (see AsyncSearchClient.watch)."""
        resume = WatchResume(search_id, after_sequence, reconnect_for_seconds)
        while True:
            call = self.stub.WatchSearch(resume.request(), timeout=WATCH_TIMEOUT_SECONDS)
            try:
                for event in call:
                    resume.seen(event)
                    yield event
                return
            except grpc.RpcError as exc:
                delay = resume.retry_delay(exc)
            finally:
                call.cancel()  # a caller that stops early ends the stream too
            time.sleep(delay)

    def cancel(self, search_id: str) -> str:
        """End the search (its finished candidates are kept); its state afterwards."""
        request = pb.CancelSearchRequest(search_id=search_id)
        return state_name(self._call(self.stub.CancelSearch, request).state)

    def pause(self, search_id: str) -> str:
        """Stop the search where it is until ``resume``; its state afterwards."""
        request = pb.PauseSearchRequest(search_id=search_id)
        return state_name(self._call(self.stub.PauseSearch, request).state)

    def resume(self, search_id: str) -> str:
        """Queue a paused search again; its state afterwards ("queued")."""
        request = pb.ResumeSearchRequest(search_id=search_id)
        return state_name(self._call(self.stub.ResumeSearch, request).state)

    def candidates(self, search_id: str) -> list[pb.Candidate]:
        """Every finished candidate of the search, whole, in the order they finished."""
        pages = CandidatePages.of(search_id)
        request = pages.request
        while request is not None:
            request = pages.take(self._call(self.stub.ListCandidates, request))
        return [self.candidate(candidate_id) for candidate_id in pages.ids]

    def candidate(self, candidate_id: str) -> pb.Candidate:
        """One candidate, whole."""
        request = pb.GetCandidateRequest(candidate_id=candidate_id)
        return self._call(self.stub.GetCandidate, request).candidate

    def leaderboard(
        self, search_id: str = "", limit: int = 10, *, task: str = ""
    ) -> list[pb.LeaderboardEntry]:
        """The best candidates of the search (or of the tenant's searches of ``task``)."""
        request = pb.GetLeaderboardRequest(search_id=search_id, limit=limit, task=task)
        return list(self._call(self.stub.GetLeaderboard, request).entries)

    def download_weights(self, candidate_id: str, path: str | Path) -> Path:
        """Write the candidate's best-epoch weights to ``path`` (a file, or a directory for
        ``<candidate_id>.pt``), checked against the announced SHA-256; the file written."""
        call = self.stub.DownloadWeights(pb.DownloadWeightsRequest(candidate_id=candidate_id))
        try:
            with WeightsFile(destination(path, candidate_id), candidate_id) as weights:
                for chunk in call:
                    weights.add(chunk)
                return weights.finish()
        except ClientError:  # DownloadMismatch: already the client's error
            raise
        except grpc.RpcError as exc:
            raise mapped(exc) from exc
        finally:
            call.cancel()

    def datasets(self) -> list[common_pb2.Dataset]:
        """The datasets a search can name: built-in first, then the registered ones."""
        return list(self._call(self.stub.ListDatasets, common_pb2.ListDatasetsRequest()).datasets)

    def dataset(self, name: str) -> common_pb2.Dataset:
        """One dataset: its task, shapes, classes, counts and checksums."""
        request = common_pb2.GetDatasetRequest(name=name)
        return self._call(self.stub.GetDataset, request).dataset
