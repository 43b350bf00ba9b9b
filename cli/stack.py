"""`nasforge stack`: every service as a local process (the localstack library) until Ctrl-C."""

import argparse
import json
import os
import signal

from cli.common import DEFAULT_STORE_URL, STORE_URL_ENV


def register(commands) -> None:
    stack = commands.add_parser("stack", help="run every service locally until Ctrl-C")
    stack.add_argument("--model", default="qwen2.5-coder-0.5b")
    stack.add_argument("--no-llm", action="store_true", help="no embedded model server")
    stack.set_defaults(handler=run_stack)


def run_stack(args: argparse.Namespace) -> int:
    from localstack import LocalStack

    url = os.environ.get(STORE_URL_ENV, DEFAULT_STORE_URL)
    stack = LocalStack(model=args.model, store_url=url).start(with_llm=not args.no_llm)
    print(json.dumps({n: p.port for n, p in stack.processes.items()}), flush=True)
    print("local stack up; Ctrl-C stops it", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        stack.stop()
    return 0
