"""`stack.json`: where a running local stack listens, its token and client TLS files, for
`nasforge search` and `nasforge knowledge` run without an address (they use the first
replica's; `replicas` lists every replica's address)."""

import json
from pathlib import Path

from localstack.environment import DEFAULT_DIR
from localstack.supervision import StackError
from rpc.client import ClientTLS

FILE_NAME = "stack.json"


def write_description(
    directory: Path,
    targets: dict[str, str],
    replicas: dict[str, list[str]],
    tenant: str,
    token: str,
    tls: ClientTLS | None,
    pids: dict[str, int],
) -> None:
    """Write ``directory``/stack.json (0600: it holds the tenant's token)."""
    description = directory / FILE_NAME
    description.write_text(
        json.dumps(
            {
                **targets,
                "replicas": replicas,
                "tenant": tenant,
                "token": token,
                "tls": None
                if tls is None
                else {
                    "ca_file": str(tls.ca_file),
                    "cert_file": str(tls.cert_file),
                    "key_file": str(tls.key_file),
                },
                "pids": pids,
            },
            indent=2,
        )
    )
    description.chmod(0o600)


def read_description(directory: Path = DEFAULT_DIR) -> dict:
    """The target and token of the running local stack (written by LocalStack.start)."""
    path = directory / FILE_NAME
    if not path.is_file():
        raise StackError(f"no local stack is running ({path} is missing): start one first")
    return json.loads(path.read_text())
