"""SearchClient (blocking) against a real search_core on loopback. The server runs on the
test's event loop, so each scenario runs in a worker thread, as a script would."""

import asyncio
from pathlib import Path

import grpc
import pytest

from nasforge.client import (
    InvalidArgument,
    NotFound,
    SearchClient,
    Unauthenticated,
    outcome_name,
    pb,
    state_name,
)
from tests.support.search_api import CONFIG


def client(api, tenant="acme") -> SearchClient:
    return SearchClient(api.target, api.tokens.get(tenant, tenant), tls=None)


def _search_to_the_end(api, config_path: Path) -> None:
    with client(api) as acme:
        search_id = acme.submit(config_path)  # a config file, validated before it is sent
        events = list(acme.watch(search_id))
        assert [e.sequence for e in events] == list(range(1, len(events) + 1))
        assert events[-1].state_changed == pb.SEARCH_STATE_SUCCEEDED
        finished = [e.candidate_finished for e in events if e.HasField("candidate_finished")]
        assert [outcome_name(f.outcome) for f in finished] == ["success"] * 3

        assert state_name(acme.get(search_id).state) == "succeeded"
        assert [s.search_id for s in acme.list_searches(states=("succeeded",))] == [search_id]
        assert acme.list_searches(methods=("regularized_evolution",)) == []
        candidates = acme.candidates(search_id)
        assert sorted(c.summary.slot for c in candidates) == [0, 1, 2]
        assert acme.candidate(candidates[1].summary.candidate_id) == candidates[1]
        board = acme.leaderboard(search_id, limit=3)
        assert [e.candidate.candidate_id for e in board] == [
            c.summary.candidate_id for c in candidates
        ]  # equal scores: earliest finished first
        assert {d.name for d in acme.datasets()} >= {"fashion-mnist", "mnist"}


async def test_a_search_from_a_config_file_to_leaderboard(api, tmp_path):
    path = tmp_path / "search.toml"
    path.write_text(
        'method = "random"\ngenerator = "template"\nmax_candidates = 3\nrepair_attempts = 0\n'
        "[training]\nepochs = 2\n"
    )
    await asyncio.to_thread(_search_to_the_end, api, path)


def _errors(api, tmp_path: Path) -> None:
    with client(api) as acme:
        with pytest.raises(NotFound) as missing:
            acme.get("s-does-not-exist")
        assert "s-does-not-exist" in missing.value.message
        assert str(missing.value).startswith("NOT_FOUND: ")
        with pytest.raises(InvalidArgument) as bad:
            acme.submit({**CONFIG, "max_candidates": 0})
        assert "max_candidates" in bad.value.message
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        broken = tmp_path / "broken.toml"
        broken.write_text("method = \n")
        with pytest.raises(InvalidArgument, match=r"broken\.toml is not valid toml"):
            acme.submit(broken)
        with pytest.raises(InvalidArgument, match="cannot read"):
            acme.submit(tmp_path / "missing.toml")
        with pytest.raises(NotFound):
            list(acme.watch("s-does-not-exist"))
    with client(api, "not-a-token") as stranger, pytest.raises(Unauthenticated):
        stranger.datasets()


async def test_errors_are_the_clients_with_the_servers_message(api, tmp_path):
    await asyncio.to_thread(_errors, api, tmp_path)


def _rival_sees_nothing(api) -> None:
    with client(api) as acme, client(api, "rival") as rival:
        search_id = acme.submit(CONFIG)
        list(acme.watch(search_id))
        assert rival.list_searches() == []
        with pytest.raises(NotFound):
            rival.get(search_id)
        with pytest.raises(NotFound):
            rival.candidates(search_id)
        with pytest.raises(NotFound):
            rival.pause(search_id)


async def test_another_tenant_sees_nothing(api):
    await asyncio.to_thread(_rival_sees_nothing, api)


def _stop_early(api) -> str:
    with client(api) as acme:
        search_id = acme.submit(CONFIG)
        for event in acme.watch(search_id):
            if event.HasField("state_changed"):
                break  # the generator's stream is cancelled, not left open
        return acme.cancel(search_id)


async def test_a_caller_may_stop_watching_and_cancel(api):
    api.services.train_delay = 60
    assert await asyncio.to_thread(_stop_early, api) == "cancelled"
