"""`nasforge sandbox check`: the full check of a candidate through a real container, no service."""

import argparse
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from cli.candidate_file import read_candidate
from cli.spec_options import (
    add_parameter_budget_argument,
    add_spec_arguments,
    describe_spec,
    spec_from_args,
)
from netapi.outcomes import Outcome
from netapi.tasks import TaskSpec

if TYPE_CHECKING:  # docker and the launcher load only when a check runs
    from sandbox_runner.config import SandboxSettings
    from sandbox_runner.core import SandboxChecker
    from sandbox_runner.verdicts import CheckResult

CLI_TENANT = "cli"


def register(commands) -> None:
    sandbox = commands.add_parser("sandbox", help="run checks in real containers")
    sandbox_commands = sandbox.add_subparsers(
        dest="sandbox_command", required=True, parser_class=type(sandbox)
    )
    check = sandbox_commands.add_parser(
        "check", help="full check of a candidate in a locked-down container (needs Docker)"
    )
    check.add_argument("file", help="candidate Python file, or - for standard input")
    add_spec_arguments(check)
    add_parameter_budget_argument(check)
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=run_sandbox_check)


def cli_settings(**overrides) -> "SandboxSettings":
    """Settings of the CLI's checks: cold containers (no warm pool, so no reaping of a
    service's pool), NASFORGE_SANDBOX_* from the environment."""
    from sandbox_runner.config import SandboxSettings

    return SandboxSettings(pool_size=0, namespace="nasforge-cli", **overrides)


@contextlib.asynccontextmanager
async def cli_checker(settings: "SandboxSettings") -> AsyncIterator["SandboxChecker"]:
    """A checker on the local Docker engine, closed on the way out."""
    from netapi.code_policy import load_policy
    from sandbox_runner.containers import Launcher, docker_client
    from sandbox_runner.core import SandboxChecker

    launcher = Launcher(
        docker_client(settings.docker_timeout_seconds),
        settings.namespace,
        settings.output_cap_bytes,
        settings.runtime,
    )
    checker = SandboxChecker(settings, launcher, load_policy(settings))
    try:
        yield checker
    finally:
        await checker.close()


async def _check(
    source: str, spec: TaskSpec, budget: int, settings: "SandboxSettings"
) -> "CheckResult":
    async with cli_checker(settings) as checker:
        return await checker.check(source, spec, tenant=CLI_TENANT, parameter_budget=budget)


def _print(result: "CheckResult", spec: TaskSpec, budget: int, as_json: bool) -> None:
    if as_json:
        document = {"task": spec.task, "spec": spec.to_dict(), "parameter_budget": budget}
        print(json.dumps({**document, **result.to_dict()}))
        return
    print(f"outcome: {result.outcome.value} ({result.mode}, {result.wall_time_ms:.0f} ms)")
    if result.stage:
        print(f"stage: {result.stage.value}")
    for finding in result.findings:
        where = f"line {finding.line}" if finding.line else "module"
        print(f"  {where}: [{finding.rule}] {finding.outcome.value}: {finding.message}")
    for warning in result.warnings:
        where = f"line {warning.line}" if warning.line else "module"
        print(f"  {where}: [{warning.rule}] warning: {warning.message}")
    if result.parameter_count:
        print(
            f"parameters: {result.parameter_count:,}  FLOPs: {result.flops:,}  "
            f"peak memory: {result.peak_memory_bytes / 2**20:.0f} MiB"
        )
    print(f"spec: {describe_spec(spec)}")
    print(f"parameter budget: {budget:,} (--parameter-budget)")


def run_sandbox_check(args: argparse.Namespace) -> int:
    """Exit 0 with a verdict; 1 when our side failed (infra_error)."""
    spec = spec_from_args(args)
    source = read_candidate(args.file)
    settings = cli_settings()
    budget = args.parameter_budget or settings.parameter_budget
    result = asyncio.run(_check(source, spec, budget, settings))
    _print(result, spec, budget, args.json)
    return 1 if result.outcome is Outcome.INFRA_ERROR else 0
