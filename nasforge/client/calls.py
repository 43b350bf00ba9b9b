"""What the sync and async clients send and make of the answers, written once: requests,
paging, watch resumption. The clients only send (await or block) and map errors.
"""

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from nasforge.client.errors import InvalidArgument, mapped
from nasforge.common.v1 import common_pb2
from nasforge.search_core.v1 import search_core_pb2 as pb

# Names as the CLI and the config files spell them, e.g. "cancelled", "fairnad", "success".
STATES = {
    value: name.removeprefix("SEARCH_STATE_").lower() for name, value in pb.SearchState.items()
}
METHODS = {
    name.removeprefix("SEARCH_METHOD_").lower(): value
    for name, value in pb.SearchMethod.items()
    if value != pb.SEARCH_METHOD_UNSPECIFIED
}
OUTCOMES = {
    value: name.removeprefix("OUTCOME_").lower() for name, value in common_pb2.Outcome.items()
}
ENDED_STATES = frozenset(
    {pb.SEARCH_STATE_SUCCEEDED, pb.SEARCH_STATE_FAILED, pb.SEARCH_STATE_CANCELLED}
)

MAX_SEARCH_PAGE = 200  # ListSearches' largest page
MAX_CANDIDATE_PAGE = 500  # ListCandidates' largest page
WATCH_TIMEOUT_SECONDS = 24 * 3600  # a watch lasts as long as the search, not one call's deadline
RECONNECT_DELAY_SECONDS = 1.0


def state_name(value: int) -> str:
    """ "running" for pb.SEARCH_STATE_RUNNING, and so on."""
    return STATES.get(value, str(value))


def method_name(value: int) -> str:
    """ "fairnad" for pb.SEARCH_METHOD_FAIRNAD, and so on."""
    return next((name for name, number in METHODS.items() if number == value), str(value))


def outcome_name(value: int) -> str:
    """ "success" for common_pb2.OUTCOME_SUCCESS, and so on."""
    return OUTCOMES.get(value, str(value))


def submit_request(config: dict | str | Path, client_request_id: str) -> pb.SubmitSearchRequest:
    """The SubmitSearch request of a config: a dict as the config files hold it, or the path
    of a .toml/.yaml/.json file (validated here first; what it leaves out, such as the
    task's shapes, the service fills in from the dataset). The server validates a dict."""
    if isinstance(config, str | Path):
        from search_core.search_config import SearchConfigError, parse_config, read_config_file

        try:
            data = read_config_file(Path(config))
            config = {**data, "method": parse_config(data).method.value}
        except SearchConfigError as exc:
            raise InvalidArgument(str(exc)) from exc
    if not isinstance(config, dict) or config.get("method") not in METHODS:
        raise InvalidArgument(f"the config's method must be one of {', '.join(METHODS)}")
    spec = pb.SearchSpec(method=METHODS[config["method"]], config_json=json.dumps(config))
    return pb.SubmitSearchRequest(spec=spec, client_request_id=client_request_id)


def _known(names: Iterable[str], known: Iterable[str], what: str) -> list[str]:
    names, known = list(names), list(known)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InvalidArgument(f"unknown {what} {unknown[0]!r}: one of {', '.join(known)}")
    return names


@dataclass
class SearchPages:
    """ListSearches page by page until ``limit`` searches (newest first) or the last page."""

    limit: int
    request: pb.ListSearchesRequest | None = None
    found: list[pb.Search] = field(default_factory=list)

    @classmethod
    def of(cls, states: Iterable[str], methods: Iterable[str], limit: int) -> "SearchPages":
        if limit < 1:
            raise InvalidArgument("limit must be at least 1")
        wanted = set(_known(states, [n for v, n in STATES.items() if v], "state"))
        return cls(
            limit,
            pb.ListSearchesRequest(
                states=[value for value, name in STATES.items() if name in wanted],
                methods=[METHODS[m] for m in _known(methods, METHODS, "method")],
                page_size=min(limit, MAX_SEARCH_PAGE),
            ),
        )

    def take(self, page: pb.ListSearchesResponse) -> pb.ListSearchesRequest | None:
        """Keep the page's searches; the next request, or None when done."""
        self.found.extend(page.searches[: self.limit - len(self.found)])
        if len(self.found) >= self.limit or not page.next_page_token:
            return None
        self.request.page_token = page.next_page_token
        return self.request


@dataclass
class CandidatePages:
    """ListCandidates page by page: the ids of a search's finished candidates, in the order
    they finished."""

    request: pb.ListCandidatesRequest
    ids: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, search_id: str) -> "CandidatePages":
        return cls(pb.ListCandidatesRequest(search_id=search_id, page_size=MAX_CANDIDATE_PAGE))

    def take(self, page: pb.ListCandidatesResponse) -> pb.ListCandidatesRequest | None:
        self.ids.extend(summary.candidate_id for summary in page.candidates)
        if not page.next_page_token:
            return None
        self.request.page_token = page.next_page_token
        return self.request


@dataclass
class WatchResume:
    """Where a watch stands, so that a dropped stream is resumed after the last event seen
    (WatchSearch replays nothing twice and skips nothing).

    UNAVAILABLE (search_core restarting, a replica gone) is retried every second, for at most
    ``reconnect_for_seconds`` without an event (None: for ever); any other error, or an
    outage longer than that, is raised as the client's error.
    """

    search_id: str
    after_sequence: int = 0
    reconnect_for_seconds: float | None = 300.0
    _outage_since: float | None = None

    def request(self) -> pb.WatchSearchRequest:
        return pb.WatchSearchRequest(search_id=self.search_id, after_sequence=self.after_sequence)

    def seen(self, event: pb.WatchSearchResponse) -> None:
        self.after_sequence = event.sequence
        self._outage_since = None

    def retry_delay(self, error: grpc.RpcError) -> float:
        """Seconds to wait before resuming, or raise the client's error for ``error``."""
        code = error.code() if hasattr(error, "code") else None
        if code != grpc.StatusCode.UNAVAILABLE:
            raise mapped(error) from error
        now = time.monotonic()
        self._outage_since = self._outage_since or now
        budget = self.reconnect_for_seconds
        if budget is not None and now - self._outage_since > budget:
            raise mapped(error) from error
        return RECONNECT_DELAY_SECONDS
