"""`nasforge report` through the public API: a real search_core on loopback, the report
read with a tenant's token, the same Markdown as the one read from the store's file."""

import asyncio

import pytest

from cli.main import main
from nasforge.client import AsyncSearchClient, outcome_name
from netapi.outcomes import Outcome, Stage
from search_core.services import CheckVerdict
from tests.support.search_api import CONFIG, running_api


@pytest.fixture
async def api(tmp_path_factory):
    async with running_api(tmp_path_factory.mktemp("search_core")) as instance:
        yield instance


def _second_check_fails(services) -> None:
    checks = []

    def verdict(code):
        checks.append(code)
        if len(checks) == 2:
            return CheckVerdict(Outcome.SHAPE_MISMATCH, Stage.FORWARD, "RuntimeError", "bad shape")
        return CheckVerdict(Outcome.SUCCESS, parameter_count=100, flops=1000)

    services.verdict = verdict


async def _finished_search(api) -> tuple[str, list]:
    async with AsyncSearchClient(api.target, api.tokens["acme"], tls=None) as acme:
        search_id = await acme.submit(CONFIG)
        async for _ in acme.watch(search_id):
            pass
        return search_id, await acme.candidates(search_id)


def _report(*args: str) -> int:
    return main(["report", *args])


async def test_the_report_through_the_api_is_the_stores(api, tmp_path, capsys):
    _second_check_fails(api.services)
    search_id, candidates = await _finished_search(api)
    token = tmp_path / "acme.token"
    token.write_text(api.tokens["acme"] + "\n")
    through_api = tmp_path / "api"
    code = await asyncio.to_thread(
        _report, search_id, "--out", str(through_api), "--target", api.target,
        "--token-file", str(token), "--plaintext",
    )  # fmt: skip
    assert code == 0
    markdown = (through_api / "report.md").read_text()
    trained = [c.summary.name for c in candidates if outcome_name(c.summary.outcome) == "success"]
    assert len(trained) == 2 and all(f"| {name} |" in markdown for name in trained)  # leaderboard
    assert "| shape_mismatch | 1 (33.3%) |" in markdown and search_id in markdown

    from_store = tmp_path / "store"
    assert _report(search_id, "--out", str(from_store), "--store", api.store_url) == 0
    assert markdown == (from_store / "report.md").read_text()
    assert sorted(p.name for p in through_api.iterdir()) == sorted(
        p.name for p in from_store.iterdir()
    )
    assert f"report: {through_api / 'report.md'}" in capsys.readouterr().out


async def test_an_unknown_or_another_tenants_search_is_a_usage_error(api, tmp_path, capsys):
    search_id, _ = await _finished_search(api)
    token = tmp_path / "rival.token"
    token.write_text(api.tokens["rival"])
    for wanted in (search_id, "s-nope"):
        code = await asyncio.to_thread(
            _report, wanted, "--out", str(tmp_path / "out"), "--target", api.target,
            "--token-file", str(token), "--plaintext",
        )  # fmt: skip
        assert code == 2
        assert f"no search {wanted!r} at {api.target}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    both = _report(search_id, "--target", api.target, "--store", api.store_url)
    assert both == 2
    assert "not both" in capsys.readouterr().err
