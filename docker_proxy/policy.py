"""The policy: which (method, path) the proxy forwards, and what their bodies may ask for.

Pure: a request in, a Decision out. The allowlist holds exactly the calls of
sandbox_runner's launcher, warm pool and reaper and of trainer_svc's container runs
(docker-py 7), each under an optional /v1.NN version prefix no older than the minimum.
Paths are matched raw and whole: no percent-encoding, no dot segments, no doubled slashes,
no trailing slash, so the engine's router sees the very path that was checked. Only the
two creates take a body: any other call with one is refused, since the engine reads
bodies the proxy would never see (a HostConfig at start, at old API versions).

Each proxy serves one namespace (config.Namespace): creates must carry its label, lists
must filter on it, and the calls on a container or volume name one the server must find
labelled with it (Decision.container, Decision.volumes).
"""

import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from docker_proxy.bodies import MANAGED_BY, ContainerRules, Refused, check_volume_create
from docker_proxy.config import Namespace, ProxySettings, VolumeRule, api_version

_VERSION = r"(?:/v(?P<version>\d{1,3}\.\d{1,3}))?"
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"  # container ids/names, volume names
_SAFE_PATH = re.compile(r"(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)+")


@dataclass(frozen=True)
class Endpoint:
    """One allowed call; ``owned`` ones act on a container the proxy must find managed."""

    name: str
    method: str
    path: re.Pattern
    owned: bool = False


def _endpoint(name: str, method: str, path: str, owned: bool = False) -> Endpoint:
    return Endpoint(name, method, re.compile(_VERSION + path), owned)


_ID = f"/containers/(?P<container>{_NAME})"
ENDPOINTS = (
    _endpoint("ping", "GET", "/_ping"),
    _endpoint("ping_head", "HEAD", "/_ping"),
    _endpoint("version", "GET", "/version"),
    _endpoint("container_create", "POST", "/containers/create"),
    _endpoint("container_list", "GET", "/containers/json"),
    _endpoint("container_inspect", "GET", f"{_ID}/json", owned=True),
    _endpoint("container_attach", "POST", f"{_ID}/attach", owned=True),
    _endpoint("container_start", "POST", f"{_ID}/start", owned=True),
    _endpoint("container_kill", "POST", f"{_ID}/kill", owned=True),
    _endpoint("container_remove", "DELETE", _ID, owned=True),
    _endpoint("container_archive_get", "GET", f"{_ID}/archive", owned=True),
    _endpoint("volume_create", "POST", "/volumes/create"),
    _endpoint("volume_list", "GET", "/volumes"),
    _endpoint("volume_remove", "DELETE", f"/volumes/(?P<volume>{_NAME})"),
)
_TAKES_BODY = frozenset({"container_create", "volume_create"})
OTHER = "other"
ENDPOINT_NAMES = (*(e.name for e in ENDPOINTS), OTHER)
_LISTS = frozenset({"container_list", "volume_list"})


@dataclass(frozen=True)
class Decision:
    """Whether to forward; ``container`` and ``volumes`` must then be found in the namespace."""

    allowed: bool
    endpoint: str
    reason: str = ""
    container: str | None = None
    volumes: tuple[str, ...] = ()


def _deny(endpoint: str, reason: str) -> Decision:
    return Decision(False, endpoint, reason)


def _query(text: str) -> dict[str, list[str]] | None:
    try:
        return parse_qs(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        return None


def _label_filtered(query: dict[str, list[str]], namespace: Namespace) -> bool:
    """The list call filters on this namespace's managed-by label, as the reapers' do.

    The engine returns only what matches every label filter, so one such filter suffices.
    """
    if len(query.get("filters", [])) != 1:
        return False
    try:
        filters = json.loads(query["filters"][0])
    except json.JSONDecodeError:
        return False
    labels = filters.get("label") if isinstance(filters, dict) else None
    if isinstance(labels, dict):  # the engine's older map form {"k=v": true}
        labels = [k for k, v in labels.items() if v is True]
    if not isinstance(labels, list):
        return False
    for label in labels:
        key, equals, value = label.partition("=") if isinstance(label, str) else ("", "", "")
        if key == MANAGED_BY and equals and namespace.matches(value):
            return True
    return False


class Policy:
    """The allowlist plus body rules, for one namespace's images, volumes and runtimes."""

    def __init__(
        self,
        images: tuple[str, ...],
        volumes: tuple[VolumeRule, ...],
        allow_gpus: bool,
        *,
        namespace: Namespace,
        runtimes: tuple[str, ...] = ("runc", "runsc"),
        network_modes: tuple[str, ...] = ("none",),
        min_api_version: tuple[int, int] = (1, 41),
    ) -> None:
        self.rules = ContainerRules(
            images,
            volumes,
            allow_gpus,
            namespace=namespace,
            runtimes=runtimes,
            network_modes=network_modes,
        )
        self.namespace = namespace
        self.min_api_version = min_api_version

    @classmethod
    def from_settings(cls, settings: ProxySettings) -> "Policy":
        return cls(
            tuple(settings.images),
            settings.volume_rules,
            settings.allow_gpus,
            namespace=Namespace(settings.namespace),
            runtimes=tuple(settings.runtimes),
            network_modes=tuple(settings.network_modes),
            min_api_version=api_version(settings.min_api_version),
        )

    def owns(self, labels: object) -> bool:
        """Whether labels (of an inspected container or volume) name this namespace."""
        return isinstance(labels, dict) and self.namespace.matches(labels.get(MANAGED_BY))

    def check(self, method: str, target: str, body: bytes = b"") -> Decision:
        path, _, query_text = target.partition("?")
        if not _SAFE_PATH.fullmatch(path):
            return _deny(OTHER, f"path {path!r} is not a plain path (encoded or dot segments)")
        endpoint, match = self._match(method, path)
        if endpoint is None:
            return _deny(OTHER, f"{method} {path} is not an allowed Docker API call")
        if (reason := self._version_problem(match["version"])) is not None:
            return _deny(endpoint.name, reason)
        if body and endpoint.name not in _TAKES_BODY:
            return _deny(endpoint.name, f"{endpoint.name} takes no request body")
        query = _query(query_text)
        if query is None:
            return _deny(endpoint.name, "malformed query string")
        if endpoint.name in _LISTS and not _label_filtered(query, self.namespace):
            return _deny(
                endpoint.name,
                f"list calls must filter on {MANAGED_BY}={self.namespace.template}",
            )
        volumes: tuple[str, ...] = ()
        try:
            if endpoint.name == "container_create":
                volumes = self.rules.check_create(body)
            elif endpoint.name == "volume_create":
                check_volume_create(body, self.rules)
        except Refused as exc:
            return _deny(endpoint.name, str(exc))
        if endpoint.name == "volume_remove":
            if self.rules.volume_rule(match["volume"]) is None:
                return _deny(endpoint.name, f"volume {match['volume']!r} is not allowed")
            volumes = (match["volume"],)
        container = match["container"] if endpoint.owned else None
        return Decision(True, endpoint.name, container=container, volumes=volumes)

    def _version_problem(self, version: str | None) -> str | None:
        """Why a /vN.M path prefix is refused; None for none (the engine's own version)."""
        if version is None:
            return None
        try:
            parsed = api_version(version)
        except ValueError:
            return f"API version {version!r} is not 1.NN"
        if parsed < self.min_api_version:
            minimum = ".".join(map(str, self.min_api_version))
            return f"API version {version} is older than {minimum}, the oldest forwarded"
        return None

    @staticmethod
    def _match(method: str, path: str) -> tuple[Endpoint | None, re.Match | None]:
        for endpoint in ENDPOINTS:
            if endpoint.method == method and (match := endpoint.path.fullmatch(path)):
                return endpoint, match
        return None, None
