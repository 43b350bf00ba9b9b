"""A local nasforge: every service as a process on 127.0.0.1, for `nasforge stack`, the demo,
the benchmarks and the tests.

`LocalStack` starts the embedded model server, llm_gateway, sandbox_runner, trainer_svc
and search_core with fresh tokens (only their SHA-256 digests are given to the servers),
waits until each announces its port, and writes `stack.json` so that `nasforge search`
finds it. Transport as in compose: TLS on search_core's public port, mutual TLS between
the services, with a development CA in `<directory>/certs` (rpc.certs; kept across starts);
`LocalStack(plaintext=True)` serves plaintext everywhere (tests that need it). `stop()`
sends SIGTERM to all of them (search_core first, so that its searches stop cleanly and
resume at the next start).

Several search_core replicas (`search_core_replicas=N`: processes `search_core`,
`search_core-2`, ..., each on its own port, `targets()` their addresses) share one store
(`store_url`, e.g. a postgresql:// URL); `quota_ledger_url` gives every gRPC service
NASFORGE_QUOTA_LEDGER. `kill(name)` (SIGKILL), `terminate(name)` (SIGTERM), `restart(name)`
(same port and settings) and `add_replica()` act on one replica.

Modules: stack (LocalStack), environment (the per-service settings table), supervision
(processes), cleanup (leftover containers), description (stack.json), tenants (tokens of a
running stack, for tests and benchmarks).
"""

from localstack.description import read_description
from localstack.environment import CLI_CLIENT, DEFAULT_DIR, SERVICES
from localstack.stack import LocalStack
from localstack.supervision import StackError, StackProcess

__all__ = [
    "CLI_CLIENT",
    "DEFAULT_DIR",
    "SERVICES",
    "LocalStack",
    "StackError",
    "StackProcess",
    "read_description",
]
