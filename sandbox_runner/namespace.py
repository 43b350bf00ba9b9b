"""Label namespaces of managed containers, with `{hostname}` for replicas that must not collide.

A service reaps every container labelled with its namespace at start-up. Replicas that
share one namespace would reap each other's running jobs, so a namespace may name the
host: `nasforge-trainer-{hostname}` becomes `nasforge-trainer-3f2a9c1b7d4e` in a compose
container (whose hostname is its short id, stable across restarts of that container).
"""

import re
import socket

HOSTNAME = "{hostname}"
MAX_NAMESPACE_CHARS = 128
# Safe as a label value and inside a `label=key=value` filter.
_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def expand_namespace(template: str, hostname: str | None = None) -> str:
    """`template` with every `{hostname}` replaced; ValueError for an unusable label value."""
    if HOSTNAME in template:
        host = socket.gethostname() if hostname is None else hostname
        template = template.replace(HOSTNAME, host)
    if len(template) > MAX_NAMESPACE_CHARS or not _VALID.fullmatch(template):
        raise ValueError(
            f"namespace {template!r} must be 1-{MAX_NAMESPACE_CHARS} letters, digits, '_', "
            f"'.' or '-' (starting with a letter or digit); {HOSTNAME} is the only placeholder"
        )
    return template
