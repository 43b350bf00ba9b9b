"""`nasforge check`: the static check of a candidate against the Net API (never runs it)."""

import argparse
import json

from cli.candidate_file import read_candidate
from cli.spec_options import add_spec_arguments, describe_spec, spec_from_args
from netapi.findings import Verdict
from netapi.static_check import check_source
from netapi.tasks import TaskSpec


def register(commands) -> None:
    check = commands.add_parser(
        "check", help="statically check a candidate against the Net API (never runs it)"
    )
    check.add_argument("file", help="candidate Python file, or - for standard input")
    add_spec_arguments(check)
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Exit 0 with a verdict, whatever it is."""
    spec = spec_from_args(args)
    source = read_candidate(args.file)
    _print_verdict(check_source(source, spec.task), spec, args.json)
    return 0


def _print_verdict(verdict: Verdict, spec: TaskSpec, as_json: bool) -> None:
    if as_json:
        document = {"task": spec.task, "spec": spec.to_dict(), "stage": "static"}
        print(json.dumps({**document, **verdict.to_dict()}))
        return
    print(f"outcome: {verdict.outcome.value}")
    for finding in verdict.findings:
        where = f"line {finding.line}" if finding.line else "module"
        print(f"  {where}: [{finding.rule}] {finding.outcome.value}: {finding.message}")
    for warning in verdict.warnings:
        where = f"line {warning.line}" if warning.line else "module"
        print(f"  {where}: [{warning.rule}] warning: {warning.message}")
    print(f"spec: {describe_spec(spec)}")
