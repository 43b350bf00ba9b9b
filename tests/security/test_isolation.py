"""Isolation between tenants A ("alpha", the stack's) and B ("iso-b") on one LocalStack.

B holds A's real ids (a finished search with a trained, scored candidate, and a search
that keeps running) and tries every RPC on them, and guessed and enumerated ids. Expected
ending: NOT_FOUND with exactly the details of an id that never existed (so B cannot tell
that A's exists), or INVALID_ARGUMENT for ids no service issues; never data; A's search runs
on untouched; listings and leaderboards show each tenant only its own candidates.
"""

import asyncio
import json
import re
import uuid
from dataclasses import dataclass

import grpc
import pytest

from nasforge.search_core.v1 import search_core_pb2 as pb
from search_core.engine.runner import USER_PAUSE
from tests.security.conftest import (
    add_tenant,
    small_config,
    stack_channel,
    stub,
    until_code,
    watch_to_end,
)

pytestmark = pytest.mark.timeout(300)

# Still under way: PAUSED too while it waits for a service, e.g. a check refused because the
# tenant's checks in flight are at the sandbox's limit (a cancelled check of an earlier search
# can hold its place a moment); a pause by the user would say USER_PAUSE.
ACTIVE = (pb.SEARCH_STATE_QUEUED, pb.SEARCH_STATE_RUNNING, pb.SEARCH_STATE_PAUSED)


def _spec(config: dict) -> pb.SearchSpec:
    return pb.SearchSpec(method=pb.SEARCH_METHOD_RANDOM, config_json=json.dumps(config))


@dataclass
class World:
    a_token: str
    b_token: str
    finished: str  # A's finished search, one trained candidate
    candidate: str  # its candidate
    running: str  # A's search that keeps running (checks only, a large budget)
    b_search: str  # B's own finished search (checks only)


async def _build(stack, b_token: str) -> World:
    a_channel, b_channel = (
        stack_channel(stack, stack.tenant_token),
        stack_channel(stack, b_token, default_timeout_seconds=30),
    )
    try:
        a, b = stub(a_channel), stub(b_channel)
        await until_code(lambda: b.GetLeaderboard(_board_by_task()), None)  # B's token is live
        finished = (
            await a.SubmitSearch(
                pb.SubmitSearchRequest(spec=_spec(small_config(candidates=1, epochs=1, seed=11)))
            )
        ).search_id
        b_search = (
            await b.SubmitSearch(pb.SubmitSearchRequest(spec=_spec(small_config(candidates=1))))
        ).search_id
        await asyncio.gather(watch_to_end(a, finished), watch_to_end(b, b_search))
        listed = await a.ListCandidates(pb.ListCandidatesRequest(search_id=finished))
        running = (
            await a.SubmitSearch(pb.SubmitSearchRequest(spec=_spec(small_config(candidates=500))))
        ).search_id
        return World(
            stack.tenant_token,
            b_token,
            finished,
            listed.candidates[0].candidate_id,
            running,
            b_search,
        )
    finally:
        await a_channel.close()
        await b_channel.close()


@pytest.fixture(scope="module")
def world(stack):
    _, b_token = add_tenant(stack, "iso-b")
    built = asyncio.run(_build(stack, b_token))
    yield built

    async def cancel():
        channel = stack_channel(stack, stack.tenant_token)
        await stub(channel).CancelSearch(pb.CancelSearchRequest(search_id=built.running))
        await channel.close()

    asyncio.run(cancel())


@pytest.fixture
async def stubs(stack, world):
    """(A's stub, B's stub)."""
    a_channel, b_channel = stack_channel(stack, world.a_token), stack_channel(stack, world.b_token)
    yield stub(a_channel), stub(b_channel)
    await a_channel.close()
    await b_channel.close()


def _board_by_task() -> pb.GetLeaderboardRequest:
    return pb.GetLeaderboardRequest(task="img-classification", limit=100)


def _never_existing(like: str) -> str:
    """An id of the same form as ``like`` that no search or candidate has."""
    return f"{like[:2]}{uuid.uuid4().hex[:16]}"


async def _outcome(client_stub, rpc: str, request):
    """(code, details, data): what the call gave; data is every response or event received."""
    try:
        if rpc == "WatchSearch":
            data = [e async for e in client_stub.WatchSearch(request, timeout=15)]
        else:
            data = [await getattr(client_stub, rpc)(request, timeout=15)]
        return grpc.StatusCode.OK, "", data
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details(), []


def _requests(search_id: str | None = None, candidate_id: str | None = None) -> dict:
    """Every RPC that takes an id, with that id."""
    requests = {}
    if search_id is not None:
        requests.update(
            GetSearch=pb.GetSearchRequest(search_id=search_id),
            WatchSearch=pb.WatchSearchRequest(search_id=search_id),
            CancelSearch=pb.CancelSearchRequest(search_id=search_id),
            ListCandidates=pb.ListCandidatesRequest(search_id=search_id),
            GetLeaderboard=pb.GetLeaderboardRequest(search_id=search_id),
        )
    if candidate_id is not None:
        requests["GetCandidate"] = pb.GetCandidateRequest(candidate_id=candidate_id)
    return requests


@pytest.mark.parametrize("target", ["finished", "running", "candidate"])
async def test_another_tenants_ids_answer_like_ids_that_never_existed(stubs, world, target):
    """B calls GetSearch, WatchSearch, CancelSearch, ListCandidates, GetLeaderboard(search_id)
    on A's finished and running searches, GetCandidate on A's candidate -> NOT_FOUND, with
    details identical (apart from the id) to those for an id that never existed."""
    _, b = stubs
    real = getattr(world, target)
    fake = _never_existing(real)
    kind = "candidate_id" if target == "candidate" else "search_id"
    for rpc, request in _requests(**{kind: real}).items():
        code, details, data = await _outcome(b, rpc, request)
        never_code, never_details, _ = await _outcome(b, rpc, _requests(**{kind: fake})[rpc])
        assert (code, data) == (grpc.StatusCode.NOT_FOUND, []), (rpc, code, details, data)
        assert never_code == grpc.StatusCode.NOT_FOUND
        assert details.replace(real, "<id>") == never_details.replace(fake, "<id>"), rpc
        assert "alpha" not in details and "tenant" not in details.lower()


async def test_cancel_by_another_tenant_leaves_the_search_running(stubs, world):
    """B cancels A's running search -> NOT_FOUND; A's search is still running (no cancelled
    state in its events) and keeps evaluating candidates."""
    a, b = stubs
    before = (await a.GetSearch(pb.GetSearchRequest(search_id=world.running))).search
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await b.CancelSearch(pb.CancelSearchRequest(search_id=world.running))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND

    async def progressed():
        search = (await a.GetSearch(pb.GetSearchRequest(search_id=world.running))).search
        if search.candidates_evaluated <= before.candidates_evaluated:
            raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, None, None, "not yet")
        return search

    after = await until_code(progressed, None, seconds=120)
    assert isinstance(after, pb.Search), after
    assert after.state in ACTIVE, after.state
    assert after.status_message != USER_PAUSE, after.status_message
    states = []
    async for event in a.WatchSearch(
        pb.WatchSearchRequest(search_id=world.running), timeout=3
    ):  # the stream stays open while the search runs: read its first events
        if event.HasField("state_changed"):
            states.append(event.state_changed)
        if event.sequence >= 2:
            break
    assert pb.SEARCH_STATE_CANCELLED not in states, states


async def test_listings_and_leaderboards_show_only_the_callers_candidates(stubs, world):
    """A's and B's listings and their leaderboards by task (no search id) -> each sees only
    its own candidates: A's scored candidate is on A's board and on no listing of B."""
    a, b = stubs
    a_board = await a.GetLeaderboard(_board_by_task())
    b_board = await b.GetLeaderboard(_board_by_task())
    b_listed = await b.ListCandidates(pb.ListCandidatesRequest(search_id=world.b_search))
    b_ids = {c.candidate_id for c in b_listed.candidates}
    a_board_ids = {e.candidate.candidate_id for e in a_board.entries}
    assert world.candidate in a_board_ids
    assert len(b_ids) == 1 and not b_ids & a_board_ids
    assert not {e.candidate.candidate_id for e in b_board.entries} - b_ids
    assert world.candidate not in {e.candidate.candidate_id for e in b_board.entries}


async def test_page_token_of_another_tenant_opens_nothing(stubs, world):
    """A's page token of its running search, replayed by B on A's search and on B's own
    -> NOT_FOUND on A's, and on B's own search no candidate of A (or INVALID_ARGUMENT)."""
    a, b = stubs

    async def two_candidates():
        page = await a.ListCandidates(
            pb.ListCandidatesRequest(search_id=world.running, page_size=1)
        )
        if not page.next_page_token:
            raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, None, None, "not yet")
        return page

    page = await until_code(two_candidates, None, seconds=120)
    assert isinstance(page, pb.ListCandidatesResponse), page
    a_ids = {c.candidate_id for c in page.candidates} | {world.candidate}
    for search_id in (world.running, world.b_search):
        request = pb.ListCandidatesRequest(
            search_id=search_id, page_size=500, page_token=page.next_page_token
        )
        code, details, data = await _outcome(b, "ListCandidates", request)
        if search_id == world.running:
            assert code == grpc.StatusCode.NOT_FOUND, (code, details)
        else:
            assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), details
            listed = {c.candidate_id for r in data for c in r.candidates}
            assert not listed & a_ids


async def test_guessed_and_enumerated_ids_give_no_data(stubs, world):
    """B tries ids near A's (one character changed, truncated, upper case, with a suffix),
    A's candidate id as a search id and the other way round, random ids of the right form,
    SQL and LIKE metacharacters, path traversal, 201 characters and empty -> NOT_FOUND or
    INVALID_ARGUMENT on every RPC, never a response with data."""
    _, b = stubs
    real = world.finished
    flipped = real[:-1] + ("0" if real[-1] != "0" else "1")
    guesses = [
        flipped,
        real[:-1],
        real[:-4] + "%",
        real[:-1] + "_",
        real.upper(),
        real + " ",
        real + "\n",
        real + "' --",
        world.candidate,
        _never_existing(real),
        "s-%",
        "%",
        "_",
        "s-________________",
        "*",
        "' OR '1'='1",
        "'; DROP TABLE searches; --",
        "../" + real,
        "..%2F..%2Fetc%2Fpasswd",
        "/" + real,
        "s-" + "9" * 199,
        "",
    ]
    allowed = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
    for guess in guesses:
        for rpc, request in _requests(guess, guess if guess != world.candidate else real).items():
            code, details, data = await _outcome(b, rpc, request)
            assert code in allowed and data == [], (guess, rpc, code, details, data)
            assert not re.search(r"Traceback|File \"|sqlite|SELECT", details), details


async def test_client_request_id_of_another_tenant_creates_a_new_search(stubs):
    """A and B submit with the same client_request_id -> two searches: B's submit is never
    answered with A's search id (the key is per tenant)."""
    a, b = stubs
    key = f"shared-{uuid.uuid4().hex[:8]}"
    request = pb.SubmitSearchRequest(spec=_spec(small_config(candidates=1)), client_request_id=key)
    a_id = (await a.SubmitSearch(request)).search_id
    b_id = (await b.SubmitSearch(request)).search_id
    await a.CancelSearch(pb.CancelSearchRequest(search_id=a_id))
    await b.CancelSearch(pb.CancelSearchRequest(search_id=b_id))
    assert a_id != b_id
    assert (await b.SubmitSearch(request)).search_id == b_id  # B's own key still dedups
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await b.GetSearch(pb.GetSearchRequest(search_id=a_id))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
