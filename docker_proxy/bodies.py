"""Checks of the JSON bodies of POST /containers/create and POST /volumes/create.

Bodies are read as the engine reads them (jsonbody.py). Unknown fields are refused unless
their value is empty: the engine reads fields we did not think of, and the old create API
even reads HostConfig fields from the top level. What a create must ask for (the lock-down
itself) is lockdown.py's; what it may ask for is here.
"""

import re
from collections.abc import Iterable

from docker_proxy.config import Namespace, VolumeRule
from docker_proxy.jsonbody import (
    Check,
    Refused,
    empty,
    field,
    load_object,
    object_of,
    strings,
)
from docker_proxy.lockdown import NO_NEW_PRIVILEGES, require_lockdown

__all__ = ["MANAGED_BY", "ContainerRules", "Refused", "check_volume_create", "load_object"]

MANAGED_BY = "org.nasforge.managed-by"  # sandbox_runner.containers.MANAGED_BY


def _check_fields(obj: dict, checks: dict[str, Check | None], where: str) -> None:
    """Run each field's check on non-empty values; fields without one must be empty."""
    allowed = {name.lower(): check for name, check in checks.items()}
    for key, value in obj.items():
        lowered = key.lower()
        if empty(value) and lowered not in _MEANINGFUL_EVEN_EMPTY:
            continue
        check = allowed.get(lowered)
        if check is None:
            raise Refused(_DENIED.get(lowered, f"{where}{key} is not allowed"))
        if (reason := check(value)) is not None:
            raise Refused(reason)


def _allow(_value: object) -> None:
    return None


# An empty list here is not harmless: it unmasks /proc and /sys paths.
_MEANINGFUL_EVEN_EMPTY = frozenset({"maskedpaths", "readonlypaths"})

_DENIED = {
    "privileged": "privileged containers are not allowed",
    "capadd": "added capabilities (CapAdd) are not allowed",
    "binds": "Binds are not allowed (no host paths, no volume binds)",
    "volumesfrom": "VolumesFrom is not allowed",
    "devices": "host devices are not allowed",
}

# The values each namespace mode may take (empty: the engine's private default); "host",
# "container:<id>" and anything else share a namespace with the host or another container.
_NAMESPACE_MODES = {
    "PidMode": ("private",),
    "IpcMode": ("private", "none"),
    "UTSMode": (),
    "UsernsMode": (),
    "CgroupnsMode": ("private",),
}
_LOG_DRIVERS = frozenset({"", "json-file", "local", "none"})


def _namespace_mode(name: str, allowed: tuple[str, ...]) -> Check:
    def check(value: object) -> str | None:
        if value not in allowed:
            return f"{name} {value!r} is not allowed (host or shared namespaces)"
        return None

    return check


def _security_opt(value: object) -> str | None:
    for option in strings(value, "SecurityOpt"):
        if option not in NO_NEW_PRIVILEGES:
            return f"SecurityOpt {option!r} is not allowed"
    return None


def _log_config(value: object) -> str | None:
    driver = field(object_of(value, "LogConfig"), "Type") or ""
    if driver not in _LOG_DRIVERS:
        return f"log driver {driver!r} is not allowed"
    return None


def _restart_policy(value: object) -> str | None:
    name = field(object_of(value, "RestartPolicy"), "Name") or ""
    return None if name in ("", "no") else f"restart policy {name!r} is not allowed"


class ContainerRules:
    """What a container create may (bodies.py) and must (lockdown.py) ask for."""

    def __init__(
        self,
        images: Iterable[str],
        volumes: Iterable[VolumeRule],
        allow_gpus: bool,
        *,
        namespace: Namespace,
        runtimes: Iterable[str] = ("runc", "runsc"),
        network_modes: Iterable[str] = ("none",),
    ) -> None:
        self.images = frozenset(images)
        self.volumes = tuple(volumes)
        self.allow_gpus = allow_gpus
        self.namespace = namespace
        self.runtimes = frozenset(runtimes)
        self.network_modes = frozenset(network_modes)

    def volume_rule(self, name: object) -> VolumeRule | None:
        return next((rule for rule in self.volumes if rule.matches(name)), None)

    def check_create(self, body: bytes) -> tuple[str, ...]:
        """Refused unless the body asks for the lock-down and nothing more.

        Returns the per-job (writable-rule) volumes it mounts: the caller must find each
        owned by this namespace before it forwards the create.
        """
        config = load_object(body)
        _check_fields(config, self._config_checks(), "")
        for name, check in (("Image", self._image), ("Labels", self.owned_labels)):
            if (reason := check(field(config, name))) is not None:
                raise Refused(reason)
        host_config = field(config, "HostConfig")
        if not isinstance(host_config, dict):
            raise Refused("HostConfig with the lock-down is required")
        _check_fields(host_config, self._host_config_checks(), "HostConfig.")
        require_lockdown(config, host_config, self.network_modes)
        return self._per_job_volumes(field(host_config, "Mounts") or [])

    def _per_job_volumes(self, mounts: list[dict]) -> tuple[str, ...]:
        """The mounted volumes of writable rules (all mounts were checked by _mounts)."""
        sources = [field(m, "Source") for m in mounts if field(m, "Type") == "volume"]
        return tuple(name for name in sources if self.volume_rule(name).writable)

    def owned_labels(self, value: object) -> str | None:
        """Why ``value`` (Labels) does not mark a thing of this namespace, or None."""
        labels = object_of(value, "Labels")
        if not self.namespace.matches(labels.get(MANAGED_BY)):  # Go maps: exact key
            return (
                f"the {MANAGED_BY} label must name this proxy's namespace "
                f"{self.namespace.template!r}, not {labels.get(MANAGED_BY)!r}"
            )
        return None

    def _config_checks(self) -> dict[str, Check | None]:
        checks: dict[str, Check | None] = {
            name: _allow
            for name in (
                "Hostname", "Domainname", "AttachStdin", "AttachStdout", "AttachStderr",
                "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Entrypoint", "WorkingDir",
                "NetworkDisabled", "StopSignal", "StopTimeout", "Healthcheck", "ArgsEscaped",
                "HostConfig",
            )
        }  # fmt: skip
        checks.update(
            Image=self._image,
            User=_allow,  # lockdown.py: a numeric non-root user is required
            Labels=_allow,  # must name this namespace: owned_labels
            NetworkingConfig=_networking_config,
            Volumes=None,
        )
        return checks

    def _host_config_checks(self) -> dict[str, Check | None]:
        checks: dict[str, Check | None] = {
            name: _allow
            for name in (
                "CapDrop", "ReadonlyRootfs", "Tmpfs", "ShmSize", "Memory", "MemorySwap",
                "MemoryReservation", "NanoCpus", "CpuShares", "CpuPeriod", "CpuQuota",
                "CpusetCpus", "PidsLimit", "Ulimits", "Init", "AutoRemove", "ConsoleSize",
                "Isolation",
            )
        }  # fmt: skip
        checks.update(
            NetworkMode=_allow,  # lockdown.py: one of network_modes is required
            Runtime=self._runtime,
            SecurityOpt=_security_opt,
            LogConfig=_log_config,
            RestartPolicy=_restart_policy,
            Mounts=self._mounts,
            DeviceRequests=self._device_requests,
            **{name: _namespace_mode(name, allowed) for name, allowed in _NAMESPACE_MODES.items()},
        )
        return checks

    def _image(self, value: object) -> str | None:
        if value not in self.images:
            return f"image {value!r} is not allowed (allowed: {', '.join(sorted(self.images))})"
        return None

    def _runtime(self, value: object) -> str | None:
        if value not in self.runtimes:
            return f"Runtime {value!r} is not allowed (allowed: {', '.join(sorted(self.runtimes))})"
        return None

    def _mounts(self, value: object) -> str | None:
        if not isinstance(value, list):
            return "Mounts is not a list"
        for mount in value:
            mount = object_of(mount, "a mount")
            kind = field(mount, "Type")
            target = field(mount, "Target")
            if kind == "tmpfs":
                _check_fields(
                    mount, {"Type": _allow, "Target": _allow, "TmpfsOptions": _allow}, "mount."
                )
            elif kind == "volume":
                _check_fields(
                    mount,
                    {
                        "Type": _allow,
                        "Target": _allow,
                        "Source": _allow,
                        "ReadOnly": _allow,
                        "Consistency": _allow,
                        "VolumeOptions": _volume_options,
                    },
                    "mount.",
                )
                source = field(mount, "Source")
                rule = self.volume_rule(source)
                if rule is None:
                    return f"volume {source!r} is not allowed (mounted at {target!r})"
                if not rule.writable and field(mount, "ReadOnly") is not True:
                    return f"volume {source!r} may only be mounted read-only"
            elif kind == "bind":
                return f"host path mounts are not allowed ({field(mount, 'Source')!r})"
            else:
                return f"mount type {kind!r} is not allowed"
        return None

    def _device_requests(self, value: object) -> str | None:
        if not self.allow_gpus:
            return "DeviceRequests (GPUs) are not allowed (allow_gpus is off)"
        if not isinstance(value, list):
            return "DeviceRequests is not a list"
        for request in value:
            request = object_of(request, "a device request")
            if field(request, "Driver") not in (None, "", "nvidia"):
                return f"device driver {field(request, 'Driver')!r} is not allowed"
            if not empty(field(request, "Options")):
                return "device request options are not allowed"
        return None


def _networking_config(value: object) -> str | None:
    endpoints = field(object_of(value, "NetworkingConfig"), "EndpointsConfig")
    return None if empty(endpoints) else "NetworkingConfig endpoints are not allowed"


def _volume_options(value: object) -> str | None:
    _check_fields(
        object_of(value, "VolumeOptions"), {"NoCopy": _allow, "Labels": _allow}, "VolumeOptions."
    )
    return None


# A per-job volume may be a size-capped tmpfs (trainer_svc's output volumes), never a bind
# of a host path (type none, o bind, device /) or a network filesystem.
_TMPFS_OPTION = re.compile(
    r"(?:size|nr_inodes|uid|gid)=[0-9]{1,20}|mode=[0-7]{3,4}|nosuid|nodev|noexec"
)


def _driver_opts(value: object) -> str | None:
    opts = object_of(value, "DriverOpts")
    if {key.lower() for key in opts} - {"type", "device", "o"}:
        return f"volume DriverOpts {sorted(opts)} are not allowed (only a tmpfs: type, device, o)"
    if field(opts, "type") != "tmpfs" or field(opts, "device") not in (None, "tmpfs"):
        return "volume DriverOpts may only ask for a tmpfs"
    options = field(opts, "o") or ""
    if not isinstance(options, str) or not all(
        _TMPFS_OPTION.fullmatch(option) for option in options.split(",")
    ):
        return f"tmpfs options {options!r} are not allowed"
    return None


def check_volume_create(body: bytes, rules: ContainerRules) -> None:
    """Refused unless a per-job volume: a writable rule's name, this namespace, local driver
    (a tmpfs at most)."""
    volume = load_object(body)
    checks = {"Name": _allow, "Labels": _allow, "Driver": _allow, "DriverOpts": _driver_opts}
    _check_fields(volume, checks, "volume ")
    name = field(volume, "Name")
    rule = rules.volume_rule(name)
    if rule is None or not rule.writable:
        raise Refused(f"volume name {name!r} is not allowed (only per-job volumes are created)")
    if field(volume, "Driver") not in (None, "", "local"):
        raise Refused(f"volume driver {field(volume, 'Driver')!r} is not allowed")
    if (reason := rules.owned_labels(field(volume, "Labels"))) is not None:
        raise Refused(reason)
