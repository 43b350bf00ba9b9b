"""`nasforge` console script: assembles one parser from the command modules and maps errors
to exit statuses.

Exit status: 0 when a verdict was produced (whatever it is), 2 for bad usage or an
unreadable input, 1 only for an internal failure.
"""

import argparse
import sys

import grpc

from cli import (
    audit,
    check,
    compare,
    data,
    demo,
    deploy,
    export,
    knowledge,
    report,
    reproduce,
    sandbox,
    search,
    stack,
    tenant,
    train,
    zoo,
)
from cli.candidate_file import CandidateFileError
from cli.common import EXIT_USAGE, UsageError
from localstack import StackError
from rpc.errors import NasforgeError, Unavailable

EXIT_INTERNAL = 1
# In the order `nasforge --help` lists them; each module has register(subparsers).
COMMANDS = (check, sandbox, train, zoo, data, search, export, report, reproduce, compare,
            stack, demo, knowledge, deploy, tenant, audit)  # fmt: skip


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"nasforge: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nasforge", description="LLM-guided neural architecture search.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
        return EXIT_INTERNAL
