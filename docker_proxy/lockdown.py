"""The lock-down every container create must ask for, not merely may.

The field checks of bodies.py refuse widenings; these refuse a create that leaves out a
restriction: all capabilities dropped, a read-only root, no-new-privileges, pids and memory
limits, a numeric non-root user written plainly, and a network mode from the allowlist.
"""

import re

from docker_proxy.jsonbody import Refused, field, positive_int, strings

# "uid" or "uid:gid", decimal, no sign, no leading zero, neither 0: the engine (runc) reads
# "+0", "00" or "0x0" as root, and a name as whatever the image's /etc/passwd says.
_USER = re.compile(r"[1-9][0-9]{0,9}(?::[1-9][0-9]{0,9})?")
_MAX_ID = 2**31 - 1
NO_NEW_PRIVILEGES = frozenset(
    {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}
)


def user_problem(value: object) -> str | None:
    """Why ``value`` is not a plain numeric non-root User, or None when it is one."""
    if not isinstance(value, str) or not _USER.fullmatch(value):
        return f"User {value!r} is not allowed: a numeric non-root uid[:gid] is required"
    if any(int(part) > _MAX_ID for part in value.split(":")):
        return f"User {value!r} is out of range"
    return None


def require_lockdown(config: dict, host_config: dict, network_modes: frozenset[str]) -> None:
    """Refused unless the create asks for every restriction of the launcher's lock-down."""
    if (reason := user_problem(field(config, "User"))) is not None:
        raise Refused(reason)
    mode = field(host_config, "NetworkMode")
    if mode not in network_modes:
        allowed = ", ".join(sorted(network_modes))
        raise Refused(f"HostConfig.NetworkMode {mode!r} is not allowed (allowed: {allowed})")
    if "ALL" not in strings(field(host_config, "CapDrop"), "CapDrop"):
        raise Refused('HostConfig.CapDrop "ALL" is required (every capability dropped)')
    if field(host_config, "ReadonlyRootfs") is not True:
        raise Refused("HostConfig.ReadonlyRootfs true is required")
    options = strings(field(host_config, "SecurityOpt"), "SecurityOpt")
    if not NO_NEW_PRIVILEGES.intersection(options):
        raise Refused("HostConfig.SecurityOpt no-new-privileges is required")
    for name in ("PidsLimit", "Memory"):
        if not positive_int(field(host_config, name)):
            raise Refused(f"HostConfig.{name} must be set to a positive limit")
    swap = field(host_config, "MemorySwap")
    if swap is not None and swap != 0 and not positive_int(swap):
        raise Refused("HostConfig.MemorySwap must be a positive limit (not unlimited)")
