"""`nasforge` console script: subcommands over the Net API and, later, the services.

Exit status: 0 when a verdict was produced (whatever it is), 2 for bad usage or an
unreadable input, 1 only for an internal failure.
"""

import argparse
import json
import sys
import traceback

import grpc

from cli.audit import add_parser as add_audit_parser
from cli.candidate_file import CandidateFileError, read_candidate
from cli.knowledge import add_parser as add_knowledge_parser
from cli.search import add_parsers as add_search_parsers
from cli.secrets import add_parser as add_deploy_parser
from cli.stack import StackError
from cli.tenant import add_parser as add_tenant_parser
from cli.train import UsageError
from cli.train import add_parser as add_train_parser
from cli.zoo import add_parser as add_zoo_parser
from netapi.findings import Verdict
from netapi.static_check import check_source
from netapi.tasks import TASKS
from rpc.errors import NasforgeError, Unavailable

EXIT_VERDICT, EXIT_INTERNAL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"nasforge: error: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nasforge", description="LLM-guided neural architecture search.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = commands.add_parser(
        "check", help="statically check a candidate against the Net API (never runs it)"
    )
    check.add_argument("file", help="candidate Python file, or - for standard input")
    check.add_argument("--task", required=True, choices=TASKS, help="LEMUR task name")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=_run_check)

    sandbox = commands.add_parser("sandbox", help="run checks in real containers")
    sandbox_commands = sandbox.add_subparsers(
        dest="sandbox_command", required=True, parser_class=_Parser
    )
    sandbox_check = sandbox_commands.add_parser(
        "check", help="full check of a candidate in a locked-down container (needs Docker)"
    )
    sandbox_check.add_argument("file", help="candidate Python file, or - for standard input")
    sandbox_check.add_argument("--task", required=True, choices=TASKS, help="LEMUR task name")
    sandbox_check.add_argument("--json", action="store_true", help="print one JSON object")
    sandbox_check.set_defaults(handler=_run_sandbox_check)
    add_train_parser(commands)
    add_zoo_parser(commands)
    add_search_parsers(commands)
    add_knowledge_parser(commands)
    add_deploy_parser(commands)
    add_tenant_parser(commands)
    add_audit_parser(commands)
    return parser


def _run_sandbox_check(args: argparse.Namespace) -> int:
    from cli.sandbox import run_sandbox_check  # docker and the launcher load only when needed

    return run_sandbox_check(args)


def _print_verdict(verdict: Verdict, task: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"task": task, "stage": "static", **verdict.to_dict()}))
        return
    print(f"outcome: {verdict.outcome.value}")
    for finding in verdict.findings:
        where = f"line {finding.line}" if finding.line else "module"
        print(f"  {where}: [{finding.rule}] {finding.outcome.value}: {finding.message}")


def _run_check(args: argparse.Namespace) -> int:
    source = read_candidate(args.file)
    _print_verdict(check_source(source, args.task), args.task, args.json)
    return EXIT_VERDICT


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CandidateFileError as exc:
        print(f"nasforge: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Unavailable as exc:  # e.g. the Docker engine does not answer
        print(f"nasforge: error: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except NasforgeError as exc:  # bad values the services would answer INVALID_ARGUMENT
        print(f"nasforge: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, StackError) as exc:
        print(f"nasforge: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except grpc.aio.AioRpcError as exc:  # a service refused or could not answer
        print(f"nasforge: error: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return EXIT_USAGE if exc.code() == grpc.StatusCode.INVALID_ARGUMENT else EXIT_INTERNAL
    except Exception as exc:  # the CLI's last line of defence: one line, status 1
        print(f"nasforge: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if "--debug" in sys.argv:
            traceback.print_exc()
        return EXIT_INTERNAL
