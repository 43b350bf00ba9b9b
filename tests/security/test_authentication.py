"""Authentication attacks on every public RPC of SearchService, on a running LocalStack.

No token, a wrong one, malformed `authorization` headers, a service token without the tenant
it acts for, a tenant token claiming another tenant, a token revoked with `nasforge tenant
token-revoke` while the stack runs. Expected ending: UNAUTHENTICATED with a fixed reason that
names no tenant and no token (a tenant token's claim of another tenant is ignored: it acts
as its own tenant, rpc/auth.py).
"""

import json
import secrets

import grpc
import pytest

from nasforge.search_core.v1 import search_core_pb2 as pb
from tests.security.conftest import (
    RELOAD_SECONDS,
    add_tenant,
    add_token,
    revoke_token,
    service_token,
    small_config,
    stack_channel,
    stub,
    until_code,
)

pytestmark = pytest.mark.timeout(180)

# Every public RPC with a request that would be valid for an existing search or candidate.
ANY_SEARCH, ANY_CANDIDATE = "s-0123456789abcdef", "c-0123456789abcdef"
RPCS = {
    "SubmitSearch": pb.SubmitSearchRequest(
        spec=pb.SearchSpec(method=pb.SEARCH_METHOD_RANDOM, max_candidates=1)
    ),
    "GetSearch": pb.GetSearchRequest(search_id=ANY_SEARCH),
    "WatchSearch": pb.WatchSearchRequest(search_id=ANY_SEARCH),
    "CancelSearch": pb.CancelSearchRequest(search_id=ANY_SEARCH),
    "PauseSearch": pb.PauseSearchRequest(search_id=ANY_SEARCH),
    "ResumeSearch": pb.ResumeSearchRequest(search_id=ANY_SEARCH),
    "ListSearches": pb.ListSearchesRequest(),
    "ListCandidates": pb.ListCandidatesRequest(search_id=ANY_SEARCH),
    "GetCandidate": pb.GetCandidateRequest(candidate_id=ANY_CANDIDATE),
    "GetLeaderboard": pb.GetLeaderboardRequest(task="img-classification"),
    "ReproduceCandidate": pb.ReproduceCandidateRequest(candidate_id=ANY_CANDIDATE),
    "DownloadWeights": pb.DownloadWeightsRequest(candidate_id=ANY_CANDIDATE),
}
# The only reasons the interceptor gives: none says whether a tenant or a token exists.
REASONS = {"missing bearer token", "invalid bearer token"}


async def _call(client_stub, rpc: str, metadata=()):
    """Call one RPC (reading a stream to its end); the response or the RPC error."""
    method = getattr(client_stub, rpc)
    try:
        if rpc in ("WatchSearch", "DownloadWeights"):  # server streams
            return [event async for event in method(RPCS[rpc], metadata=metadata, timeout=10)]
        return await method(RPCS[rpc], metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc


@pytest.fixture(scope="module")
def tenants(stack):
    """Tenant "auth-b" with a token (tenant A is the stack's own, "alpha")."""
    _, token = add_tenant(stack, "auth-b")
    return {"b": token}


@pytest.fixture
async def bare(stack):
    """A stub on a channel that sends no authorization header of its own."""
    channel = stack_channel(stack, None)
    yield stub(channel)
    await channel.close()


def _assert_refused(result, reasons=REASONS) -> None:
    assert isinstance(result, grpc.aio.AioRpcError), result
    assert result.code() == grpc.StatusCode.UNAUTHENTICATED, (result.code(), result.details())
    assert result.details() in reasons, result.details()


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer " + secrets.token_urlsafe(32),
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "BEARER  " + secrets.token_urlsafe(32),
        "Token " + secrets.token_urlsafe(32),
        # Long, but under gRPC's 8 KiB soft limit on all metadata together: between the
        # soft and the hard limit gRPC refuses at random (RESOURCE_EXHAUSTED), before our
        # code; the 100 KB case below is past the hard limit.
        "Bearer " + "A" * 7000,
        "Bearer ' OR '1'='1",
        "Bearer %00%ff",
    ],
    ids=[
        "none",
        "wrong",
        "empty",
        "scheme-only",
        "empty-token",
        "basic",
        "upper-case-scheme",
        "other-scheme",
        "7k",
        "sql",
        "escapes",
    ],
)
async def test_missing_wrong_or_malformed_tokens_are_unauthenticated(bare, rpc, header):
    """No header, a random token, empty and scheme-only headers, other schemes, a 7,000-
    character token, SQL and escape text -> UNAUTHENTICATED with one of two fixed reasons."""
    metadata = () if header is None else (("authorization", header),)
    _assert_refused(await _call(bare, rpc, metadata))


async def test_oversized_header_is_refused_by_grpc_and_the_server_stays_up(bare, stack):
    """A 100 KB authorization header -> RESOURCE_EXHAUSTED from gRPC's metadata limit,
    before any of our code; the next call is answered (UNAUTHENTICATED without a token)."""
    result = await _call(bare, "GetSearch", (("authorization", "Bearer " + "x" * 100_000),))
    assert isinstance(result, grpc.aio.AioRpcError)
    assert result.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, result
    _assert_refused(await _call(bare, "GetSearch"))


async def test_token_in_a_binary_header_is_not_a_token(bare, tenants):
    """A valid token sent as `authorization-bin` (bytes) -> UNAUTHENTICATED: only the
    `authorization` header carries a token."""
    token = ("Bearer " + tenants["b"]).encode()
    _assert_refused(await _call(bare, "GetSearch", (("authorization-bin", token),)))


async def test_non_ascii_header_cannot_even_be_sent(bare):
    """`Bearer tökén` -> gRPC refuses to send a non-ASCII header value (client side), so the
    server only ever sees printable ASCII; nothing is answered with data."""
    with pytest.raises(Exception, match="execute_batch"):
        await bare.GetSearch(
            RPCS["GetSearch"], metadata=(("authorization", "Bearer tökén"),), timeout=10
        )


@pytest.mark.parametrize("rpc", RPCS)
async def test_service_token_without_a_tenant_is_unauthenticated(bare, stack, rpc):
    """search_core's own service token with no `x-nasforge-tenant`, or an invalid one
    (upper case, traversal, 64+ characters) -> UNAUTHENTICATED; it acts for nobody."""
    header = ("authorization", f"Bearer {service_token(stack)}")
    for metadata in (
        (header,),
        (header, ("x-nasforge-tenant", "")),
        (header, ("x-nasforge-tenant", "Alpha")),
        (header, ("x-nasforge-tenant", "../alpha")),
        (header, ("x-nasforge-tenant", "a" * 64)),
    ):
        result = await _call(bare, rpc, metadata)
        assert isinstance(result, grpc.aio.AioRpcError), (metadata, result)
        assert result.code() == grpc.StatusCode.UNAUTHENTICATED, (metadata, result)
        assert "alpha" not in result.details()


async def test_tenant_token_claiming_another_tenant_acts_as_its_own(stack, tenants):
    """Tenant B's token with `x-nasforge-tenant: alpha` (tenant A) -> the header is ignored:
    B's submit is B's search (A cannot see it), and A's search stays NOT_FOUND to B."""
    claim = (("x-nasforge-tenant", stack.tenant),)
    b_channel, a_channel = (
        stack_channel(stack, tenants["b"]),
        stack_channel(stack, stack.tenant_token),
    )
    try:
        b, a = stub(b_channel), stub(a_channel)
        spec = pb.SearchSpec(
            method=pb.SEARCH_METHOD_RANDOM, config_json=json.dumps(small_config(seed=21))
        )
        a_search = (await a.SubmitSearch(pb.SubmitSearchRequest(spec=spec))).search_id
        b_search = (
            await b.SubmitSearch(pb.SubmitSearchRequest(spec=spec), metadata=claim)
        ).search_id
        # Nothing of this test stays running; B's cancel with the claim acts for B too.
        await a.CancelSearch(pb.CancelSearchRequest(search_id=a_search))
        await b.CancelSearch(pb.CancelSearchRequest(search_id=b_search), metadata=claim)
        found = await b.GetSearch(pb.GetSearchRequest(search_id=b_search), metadata=claim)
        assert found.search.search_id == b_search
        with pytest.raises(grpc.aio.AioRpcError) as by_a:
            await a.GetSearch(pb.GetSearchRequest(search_id=b_search))
        assert by_a.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as by_b:
            await b.GetSearch(pb.GetSearchRequest(search_id=a_search), metadata=claim)
        assert by_b.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await b_channel.close()
        await a_channel.close()


async def test_revoked_token_is_refused_within_seconds_without_a_restart(stack, bare):
    """A second token of tenant A, revoked with `nasforge tenant token-revoke` on the running
    stack -> UNAUTHENTICATED on every RPC within RELOAD_SECONDS, with the same reason as a
    token that never existed; A's other token keeps working; no service restarted."""
    pids = {name: p.process.pid for name, p in stack.processes.items()}
    token_id, token = add_token(stack, stack.tenant)
    header = (("authorization", f"Bearer {token}"),)
    accepted = await until_code(
        lambda: bare.GetLeaderboard(RPCS["GetLeaderboard"], metadata=header, timeout=10), None
    )
    assert isinstance(accepted, pb.GetLeaderboardResponse), accepted
    revoke_token(stack, token_id)
    refused = await until_code(
        lambda: bare.GetLeaderboard(RPCS["GetLeaderboard"], metadata=header, timeout=10),
        grpc.StatusCode.UNAUTHENTICATED,
        RELOAD_SECONDS,
    )
    _assert_refused(refused, {"invalid bearer token"})
    for rpc in RPCS:
        _assert_refused(await _call(bare, rpc, header), {"invalid bearer token"})
    never_issued = (("authorization", f"Bearer {secrets.token_urlsafe(32)}"),)
    assert (await _call(bare, "GetSearch", header)).details() == (
        await _call(bare, "GetSearch", never_issued)
    ).details()
    still = (("authorization", f"Bearer {stack.tenant_token}"),)
    assert isinstance(await _call(bare, "GetLeaderboard", still), pb.GetLeaderboardResponse)
    assert {name: p.process.pid for name, p in stack.processes.items()} == pids
    assert all(p.process.poll() is None for p in stack.processes.values())
