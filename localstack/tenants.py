"""Tenants of a running local stack, managed as an operator would: `nasforge tenant`."""

import subprocess
import sys
import time
from pathlib import Path

from localstack.environment import REPO_ROOT
from localstack.supervision import StackError
from rpc.client import ClientTLS


def manage_tenants(tokens_file: Path, *args: str) -> str:
    """Run `nasforge tenant --file TOKENS_FILE ARGS` (the services pick the change up within
    a second or two); its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "cli", "tenant", "--file", str(tokens_file), *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if done.returncode != 0:
        raise StackError(f"nasforge tenant {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def wait_until_accepted(
    target: str, tls: ClientTLS | None, token: str, seconds: float = 15.0
) -> None:
    """Until a call to search_core with ``token`` gets past authentication (NOT_FOUND for a
    search that does not exist). A blocking channel: callers may be in any event loop or
    none."""
    import grpc

    from nasforge.search_core.v1 import search_core_pb2 as pb
    from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc

    channel = (
        grpc.secure_channel(target, grpc.ssl_channel_credentials(tls.ca_file.read_bytes()))
        if tls is not None
        else grpc.insecure_channel(target)
    )
    deadline = time.monotonic() + seconds
    with channel:
        probe = pb_grpc.SearchServiceStub(channel)
        while True:
            try:
                probe.GetSearch(
                    pb.GetSearchRequest(search_id="s-none"),
                    metadata=(("authorization", f"Bearer {token}"),),
                    timeout=10,
                )
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return
                if time.monotonic() > deadline:
                    raise StackError(f"new token not accepted: {exc.code().name}") from exc
            time.sleep(0.2)
