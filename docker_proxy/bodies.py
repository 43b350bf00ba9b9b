"""Checks of the JSON bodies of POST /containers/create and POST /volumes/create.

The engine decodes these bodies with Go's encoding/json, which matches field names
case-insensitively (and folds a few non-ASCII letters into ASCII ones) and lets the last
of duplicate keys win. So bodies with non-ASCII or case-insensitively duplicate keys are
refused, and every field is looked up case-insensitively, as the engine would read it.
Unknown fields are refused unless their value is empty: the engine reads fields we did
not think of, and the old create API even reads HostConfig fields from the top level.
"""

import json
from collections.abc import Callable, Iterable

from docker_proxy.config import VolumeRule

MANAGED_BY = "org.nasforge.managed-by"  # sandbox_runner.containers.MANAGED_BY

Check = Callable[[object], str | None]  # a field's value -> why it is refused, or None


class Refused(Exception):
    """The body asks for something the policy does not allow."""


def _pairs(pairs: list[tuple[str, object]]) -> dict:
    seen = set()
    for key, _ in pairs:
        if not key.isascii():
            raise Refused(f"non-ASCII field name {key!r}")
        if key.lower() in seen:
            raise Refused(f"duplicate field {key!r} (field names compare case-insensitively)")
        seen.add(key.lower())
    return dict(pairs)


def load_object(body: bytes) -> dict:
    """The JSON object of a body; Refused when it is not one."""
    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=_pairs)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise Refused("the body is not a JSON object")
    return value


def field(obj: dict, name: str) -> object:
    """obj[name] looked up case-insensitively, as Go's encoding/json does; None if absent."""
    for key, value in obj.items():
        if key.lower() == name.lower():
            return value
    return None


def _empty(value: object) -> bool:
    return value in (None, "", 0, False, [], {})


def _object(value: object, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Refused(f"{what} is not an object")
    return value


def _strings(value: object, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Refused(f"{what} is not a list of strings")
    return value


def _check_fields(obj: dict, checks: dict[str, Check | None], where: str) -> None:
    """Run each field's check on non-empty values; fields without one must be empty."""
    allowed = {name.lower(): check for name, check in checks.items()}
    for key, value in obj.items():
        lowered = key.lower()
        if _empty(value) and lowered not in _MEANINGFUL_EVEN_EMPTY:
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

_NAMESPACE_MODES = ("PidMode", "IpcMode", "UTSMode", "UsernsMode", "CgroupnsMode")
_SAFE_SECURITY_OPTS = frozenset(
    {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}
)
_LOG_DRIVERS = frozenset({"", "json-file", "local", "none"})


def _network_mode(value: object) -> str | None:
    return None if value == "none" else f'NetworkMode {value!r} is not allowed (only "none")'


def _namespace_mode(name: str) -> Check:
    def check(value: object) -> str | None:
        if not isinstance(value, str):
            return f"{name} is not a string"
        if value == "host" or value.startswith("container:") or ":" in value:
            return f"{name} {value!r} is not allowed (host or shared namespaces)"
        return None

    return check


def _security_opt(value: object) -> str | None:
    for option in _strings(value, "SecurityOpt"):
        if option not in _SAFE_SECURITY_OPTS:
            return f"SecurityOpt {option!r} is not allowed"
    return None


def _log_config(value: object) -> str | None:
    driver = field(_object(value, "LogConfig"), "Type") or ""
    if driver not in _LOG_DRIVERS:
        return f"log driver {driver!r} is not allowed"
    return None


def _restart_policy(value: object) -> str | None:
    name = field(_object(value, "RestartPolicy"), "Name") or ""
    return None if name in ("", "no") else f"restart policy {name!r} is not allowed"


class ContainerRules:
    """What a container create may ask for."""

    def __init__(
        self, images: Iterable[str], volumes: Iterable[VolumeRule], allow_gpus: bool
    ) -> None:
        self.images = frozenset(images)
        self.volumes = tuple(volumes)
        self.allow_gpus = allow_gpus

    def volume_rule(self, name: object) -> VolumeRule | None:
        if not isinstance(name, str):
            return None
        return next((rule for rule in self.volumes if rule.matches(name)), None)

    def check_create(self, body: bytes) -> None:
        """Refused when the create body asks for more than the lock-down the launcher uses."""
        config = load_object(body)
        _check_fields(config, self._config_checks(), "")
        for name, check in (("Image", self._image), ("User", _user), ("Labels", _managed)):
            if (reason := check(field(config, name))) is not None:
                raise Refused(reason)
        host_config = field(config, "HostConfig")
        if not isinstance(host_config, dict) or field(host_config, "NetworkMode") != "none":
            raise Refused('HostConfig.NetworkMode "none" is required')
        _check_fields(host_config, self._host_config_checks(), "HostConfig.")

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
            User=_user,
            Labels=_managed,
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
            NetworkMode=_network_mode,
            SecurityOpt=_security_opt,
            LogConfig=_log_config,
            RestartPolicy=_restart_policy,
            Mounts=self._mounts,
            DeviceRequests=self._device_requests,
            **{name: _namespace_mode(name) for name in _NAMESPACE_MODES},
        )
        return checks

    def _image(self, value: object) -> str | None:
        if value not in self.images:
            return f"image {value!r} is not allowed (allowed: {', '.join(sorted(self.images))})"
        return None

    def _mounts(self, value: object) -> str | None:
        if not isinstance(value, list):
            return "Mounts is not a list"
        for mount in value:
            mount = _object(mount, "a mount")
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
            request = _object(request, "a device request")
            if field(request, "Driver") not in (None, "", "nvidia"):
                return f"device driver {field(request, 'Driver')!r} is not allowed"
            if not _empty(field(request, "Options")):
                return "device request options are not allowed"
        return None


def _user(value: object) -> str | None:
    if not isinstance(value, str):
        return "a non-root User is required"
    uid = value.partition(":")[0]
    if uid in ("", "root") or (uid.isdigit() and int(uid) == 0):
        return "containers must run as a non-root User"
    return None


def _managed(value: object) -> str | None:
    """Labels must carry the launcher's managed-by label (Go maps: exact key)."""
    labels = _object(value, "Labels")
    if not isinstance(labels.get(MANAGED_BY), str) or not labels[MANAGED_BY]:
        return f"the {MANAGED_BY} label is required"
    return None


def _networking_config(value: object) -> str | None:
    endpoints = field(_object(value, "NetworkingConfig"), "EndpointsConfig")
    return None if _empty(endpoints) else "NetworkingConfig endpoints are not allowed"


def _volume_options(value: object) -> str | None:
    _check_fields(
        _object(value, "VolumeOptions"), {"NoCopy": _allow, "Labels": _allow}, "VolumeOptions."
    )
    return None


def check_volume_create(body: bytes, rules: ContainerRules) -> None:
    """Refused unless the volume has an allowed name, the managed-by label, the local driver."""
    volume = load_object(body)
    _check_fields(volume, {"Name": _allow, "Labels": _allow, "Driver": _allow}, "volume ")
    name = field(volume, "Name")
    if rules.volume_rule(name) is None:
        raise Refused(f"volume name {name!r} is not allowed")
    if field(volume, "Driver") not in (None, "", "local"):
        raise Refused(f"volume driver {field(volume, 'Driver')!r} is not allowed")
    if (reason := _managed(field(volume, "Labels"))) is not None:
        raise Refused(reason)
