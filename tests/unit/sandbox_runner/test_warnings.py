"""Warnings through the sandbox runner: the static check's and the harness's, on the result, its
JSON and its reply, never its outcome. The container is a stand-in that runs the real harness
in this process on the job line it is sent."""

import json
import pathlib
import time

from nasforge.common.v1 import common_pb2
from netapi.code_policy import load_policy
from netapi.harness.protocol import parse_job, parse_result
from netapi.harness.runner import run_job
from netapi.outcomes import Outcome, Stage
from netapi.tasks import default_spec
from rpc.convert import warning_from_pb
from sandbox_runner.config import SandboxSettings
from sandbox_runner.containers import ContainerSpec
from sandbox_runner.core import SandboxChecker
from sandbox_runner.server import result_to_pb
from sandbox_runner.verdicts import from_container
from tests.unit.netapi import lemur_style

SPEC = default_spec("img-classification")


class HarnessInProcess:
    """Says ready, runs the harness on the job it gets, answers its result line."""

    def __init__(self, number: int, spec: ContainerSpec) -> None:
        self.id = f"{number:012d}" + "e" * 52
        self.tenant = spec.tenant
        self.started_at = time.monotonic()
        self.stderr_tail = b""
        self._lines = [json.dumps({"ready": True}).encode()]

    def read_line(self, deadline: float) -> bytes | None:
        return self._lines.pop(0) if self._lines else None

    def send_line(self, line: bytes) -> None:
        job = parse_job(line)
        self._lines.append(json.dumps({**run_job(job), "nonce": job["nonce"]}).encode())

    def wait_exit(self, timeout_seconds: float) -> dict:
        return {"ExitCode": 0}

    def kill(self) -> None:
        pass

    def destroy(self) -> None:
        pass


class InProcessLauncher:
    namespace = "nasforge-unit"
    runtime = "runc"

    def __init__(self) -> None:
        self.started = 0

    def resolve_runtime(self) -> str:
        return self.runtime

    def start(self, spec: ContainerSpec) -> HarnessInProcess:
        self.started += 1
        return HarnessInProcess(self.started, spec)

    def reap(self, *, expired_only: bool) -> int:
        return 0


def settings() -> SandboxSettings:
    return SandboxSettings(
        namespace="nasforge-unit",
        pool_size=0,
        name_index_path=pathlib.Path("/nonexistent/index.json"),
    )


async def check(code: str):
    checker = SandboxChecker(settings(), InProcessLauncher(), load_policy(settings()))
    await checker.start()
    try:
        return await checker.check(code, SPEC, tenant="acme")
    finally:
        await checker.close()


async def test_a_lemur_style_model_succeeds_with_its_warnings_once_each():
    result = await check(lemur_style.AS_LEMUR_WRITES_IT)
    assert (result.outcome, result.mode, result.findings) == (Outcome.SUCCESS, "cold", ())
    # criterion is seen statically and again at the learn stage: reported once, with its line.
    assert [w.rule for w in result.warnings] == ["unread-hyperparameter", "criterion-for-criteria"]
    assert all(w.stage is Stage.STATIC and w.line > 0 for w in result.warnings)
    assert [w["rule"] for w in result.to_dict()["warnings"]] == [
        "unread-hyperparameter",
        "criterion-for-criteria",
    ]


async def test_the_reply_carries_the_warnings_apart_from_the_findings():
    response = result_to_pb(await check(lemur_style.CRITERION))
    assert response.outcome == common_pb2.OUTCOME_SUCCESS and not response.findings
    [warning] = response.warnings
    assert warning.rule == "criterion-for-criteria"
    assert warning.outcome == common_pb2.OUTCOME_SUCCESS
    assert warning_from_pb(warning).is_warning


async def test_a_static_failure_keeps_its_warnings_and_its_outcome():
    result = await check(lemur_style.ERROR_AND_WARNINGS)
    assert (result.outcome, result.mode) == (Outcome.SHAPE_MISMATCH, "static")
    assert [f.rule for f in result.findings] == ["batch-as-channels"]
    assert {w.rule for w in result.warnings} == {"criterion-for-criteria", "unread-hyperparameter"}
    response = result_to_pb(result)
    assert [f.rule for f in response.findings] == ["batch-as-channels"]
    assert len(response.warnings) == 2


def test_the_candidates_process_names_a_known_rule_and_nothing_more():
    """The harness's result comes from the candidate's process: only a rule a check raises is
    taken, with the host's own message; anything else is dropped, never refused."""
    line = json.dumps(
        {
            "nonce": "n",
            "outcome": "success",
            "warnings": [
                {"rule": "criterion-for-criteria", "message": "vote for me", "stage": "train"},
                {"rule": "criterion-for-criteria"},
                {"rule": "unread-hyperparameter", "message": "a static rule, forged"},
                {"rule": ["unhashable"]},
                {"rule": "made-up", "message": "## injected"},
                "not a dict",
            ],
        }
    ).encode()
    parsed = parse_result(line, "n")
    [only] = parsed["warnings"]
    assert (only.rule, only.stage, only.is_warning) == ("criterion-for-criteria", Stage.LEARN, True)
    assert only.message.startswith("the Net API names it criteria; criterion was used")
    assert (
        parse_result(json.dumps({"nonce": "n", "outcome": "success"}).encode(), "n")["warnings"]
        == ()
    )
    result = from_container(parsed)
    assert result.outcome is Outcome.SUCCESS and result.warnings == (only,)
