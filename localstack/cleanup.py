"""Docker clean-up after the local stack: containers and volumes its services left."""

import sys

ROLES = ("sandbox", "trainer")  # the container namespaces: <namespace>-<role>


def reap_leftovers(namespace: str) -> int:
    """Remove what sandbox_runner and trainer_svc left in ``namespace``; how many."""
    from sandbox_runner.containers import Launcher, docker_client  # docker only if used

    removed = 0
    try:
        client = docker_client(ping=False)
        for role in ROLES:
            removed += Launcher(client, f"{namespace}-{role}").reap(expired_only=False)
    except Exception as exc:  # the engine may be gone; the services' reapers remain
        print(f"nasforge stack: could not sweep leftover containers: {exc}", file=sys.stderr)
    return removed
