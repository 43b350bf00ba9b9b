"""`nasforge audit verify|show`: check an audit log's hash chain, and read its records.

`verify` exits 0 when every file's chain is whole and 1 at the first broken one (naming
the line); `show` prints the records (one JSON object a line), filtered by tenant or event.
"""

import argparse
import json
from pathlib import Path

from cli.candidate_file import CandidateFileError
from rpc.audit import read_records, verify

EXIT_OK, EXIT_BROKEN = 0, 1


def register(commands) -> None:
    audit = commands.add_parser("audit", help="verify and read the services' audit logs")
    audit_commands = audit.add_subparsers(
        dest="audit_command", required=True, parser_class=type(audit)
    )
    check = audit_commands.add_parser("verify", help="check the hash chain of audit log files")
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    check.set_defaults(handler=run_verify)
    show = audit_commands.add_parser("show", help="print audit records, optionally filtered")
    show.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    show.add_argument("--tenant", help="only this tenant's records")
    show.add_argument("--event", help="only this event (e.g. check_ran)")
    show.set_defaults(handler=run_show)


def _readable(path: Path) -> None:
    if not path.is_file():
        raise CandidateFileError(f"no audit log at {path}")


def run_verify(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.paths:
        _readable(path)
        records, bad_line = verify(path)
        if bad_line is None:
            print(f"{path}: ok, {records} records")
        else:
            print(f"{path}: BROKEN at line {bad_line} ({records} records verified before it)")
            status = EXIT_BROKEN
    return status


def run_show(args: argparse.Namespace) -> int:
    for path in args.paths:
        _readable(path)
        for record in read_records(path):
            if args.tenant is not None and record.get("tenant") != args.tenant:
                continue
            if args.event is not None and record.get("event") != args.event:
                continue
            print(json.dumps(record, sort_keys=False))
    return EXIT_OK
