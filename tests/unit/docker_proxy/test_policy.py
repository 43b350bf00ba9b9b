"""The allowlist: the calls of the launcher, reaper and trainer pass; everything else is refused."""

import json
from urllib.parse import quote

import pytest

from docker_proxy.policy import ENDPOINT_NAMES, OTHER
from tests.unit.docker_proxy.conftest import make_policy

ID = "3f2a9c1b7d4e" * 5 + "abcd"
LABEL_FILTER = quote(json.dumps({"label": ["org.nasforge.managed-by=nasforge-test"]}))
VOLUME = "nasforge-out-0123abcd"
VOLUME_BODY = json.dumps(
    {"Name": VOLUME, "Labels": {"org.nasforge.managed-by": "nasforge-test"}}
).encode()

ALLOWED = [
    ("GET", "/_ping", "ping"),
    ("HEAD", "/_ping", "ping_head"),
    ("GET", "/version", "version"),
    ("GET", f"/containers/json?all=1&filters={LABEL_FILTER}", "container_list"),
    ("GET", f"/containers/{ID}/json", "container_inspect"),
    ("POST", f"/containers/{ID}/attach?stdin=1&stdout=1&stderr=1&stream=1", "container_attach"),
    ("POST", f"/containers/{ID}/start", "container_start"),
    ("POST", f"/containers/{ID}/kill", "container_kill"),
    ("DELETE", f"/containers/{ID}?v=True&link=False&force=True", "container_remove"),
    ("GET", f"/containers/{ID}/archive?path=%2Fout%2Fbest.pt", "container_archive_get"),
    ("GET", f"/volumes?filters={LABEL_FILTER}", "volume_list"),
    ("DELETE", f"/volumes/{VOLUME}?force=True", "volume_remove"),
]


@pytest.mark.parametrize("prefix", ["", "/v1.41", "/v1.45", "/v1.100"])
@pytest.mark.parametrize(("method", "target", "endpoint"), ALLOWED)
def test_the_services_calls_are_allowed_with_or_without_a_version(
    policy, prefix, method, target, endpoint
):
    decision = policy.check(method, prefix + target)
    assert decision.allowed, decision.reason
    assert decision.endpoint == endpoint


def test_container_calls_name_the_container_the_proxy_must_find_managed(policy):
    assert policy.check("POST", f"/v1.41/containers/{ID}/kill").container == ID
    assert policy.check("GET", "/v1.41/_ping").container is None


def test_creates_of_the_launcher_and_volumes_of_the_trainer_are_allowed(
    policy, check_body, train_body
):
    for body in (check_body, train_body):
        decision = policy.check("POST", "/v1.41/containers/create", json.dumps(body).encode())
        assert decision.allowed, decision.reason
    assert policy.check(
        "POST", "/v1.41/containers/create?name=nf-1", json.dumps(check_body).encode()
    ).allowed
    assert policy.check("POST", "/v1.41/volumes/create", VOLUME_BODY).allowed


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/containers/{ID}/exec"),
        ("POST", "/exec/abc/start"),
        ("POST", "/build"),
        ("POST", "/images/create?fromImage=alpine&tag=latest"),
        ("POST", "/images/nasforge-runtime/push"),
        ("DELETE", "/images/nasforge-runtime:cpu"),
        ("GET", "/images/json"),
        ("POST", "/swarm/init"),
        ("GET", "/plugins"),
        ("POST", "/plugins/pull"),
        ("GET", "/system/df"),
        ("GET", "/info"),
        ("GET", "/events"),
        ("POST", f"/commit?container={ID}"),
        ("GET", f"/containers/{ID}/export"),
        ("POST", f"/containers/{ID}/update"),
        ("PUT", f"/containers/{ID}/archive?path=/"),
        ("HEAD", f"/containers/{ID}/archive?path=/"),
        ("GET", f"/containers/{ID}/logs"),
        ("POST", f"/containers/{ID}/stop"),
        ("POST", f"/containers/{ID}/rename?name=x"),
        ("POST", "/networks/create"),
        ("POST", "/networks/bridge/connect"),
        ("GET", "/secrets"),
        ("POST", "/session"),
        ("GET", f"/volumes/{VOLUME}"),
        ("POST", "/volumes/prune"),
        ("POST", "/containers/prune"),
        ("GET", "/containers/create"),  # right path, wrong method
        ("PUT", "/_ping"),
    ],
)
def test_everything_else_is_refused(policy, method, path):
    for prefix in ("", "/v1.41"):
        decision = policy.check(method, prefix + path)
        assert not decision.allowed
        assert decision.endpoint == OTHER
        assert decision.reason


@pytest.mark.parametrize(
    "path",
    [
        "/containers/../images/create",
        "/v1.41/containers/../build",
        "/containers/%2e%2e/images/create",
        "/containers/abc%2Fexec",
        f"/containers/{ID}/%61ttach",
        "/v1.41/./containers/create",
        "//containers/create",
        "/containers//create",
        "/containers/create/",
        "/v1.41/../v1.41/build",
        "/containers/.hidden/start",
        "/containers/a\\b/start",
        "/v1.41/../../images/create",
        "/V1.41/_ping",
        "/v2.0/_ping",
        "/v1.41x/_ping",
        "/v1.41/v1.41/_ping",
    ],
)
def test_encoded_dotted_and_odd_paths_are_refused(policy, path):
    assert not policy.check("POST" if "create" in path else "GET", path).allowed


@pytest.mark.parametrize("path", ["/containers/../images/create", "/containers/%2e%2e/x/start"])
def test_traversal_is_named_as_such(policy, path):
    assert "not a plain path" in policy.check("POST", path).reason


def test_the_query_string_does_not_change_the_path_checked(policy):
    assert policy.check("GET", "/_ping?/../build").endpoint == "ping"
    assert not policy.check("POST", "/build?x=/_ping").allowed


def test_lists_must_filter_on_the_managed_by_label(policy):
    assert not policy.check("GET", "/containers/json?all=1").allowed
    other = quote(json.dumps({"label": ["com.example=x"]}))
    assert not policy.check("GET", f"/containers/json?filters={other}").allowed
    assert not policy.check("GET", "/volumes").allowed
    assert not policy.check("GET", "/volumes?filters=%7Bnot-json").allowed
    both = f"/volumes?filters={LABEL_FILTER}&filters={other}"
    assert not policy.check("GET", both).allowed
    legacy = quote(json.dumps({"label": {"org.nasforge.managed-by=nasforge-test": True}}))
    assert policy.check("GET", f"/containers/json?filters={legacy}").allowed


def test_malformed_query_strings_are_refused(policy):
    assert not policy.check("POST", f"/containers/{ID}/start?a&&b").allowed


def test_volume_calls_need_an_allowed_name(policy):
    assert not policy.check("DELETE", "/volumes/postgres-data").allowed
    decision = policy.check(
        "POST", "/volumes/create", VOLUME_BODY.replace(VOLUME.encode(), b"postgres")
    )
    assert not decision.allowed and "postgres" in decision.reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"Name": VOLUME}, "label"),
        ({"Name": VOLUME, "Labels": {"other": "x"}}, "label"),
        ({"Labels": {"org.nasforge.managed-by": "nasforge-test"}}, "None"),
        (
            {
                "Name": VOLUME,
                "Labels": {"org.nasforge.managed-by": "nasforge-test"},
                "DriverOpts": {"type": "none", "o": "bind", "device": "/"},
            },
            "DriverOpts",
        ),
        (
            {
                "Name": VOLUME,
                "Labels": {"org.nasforge.managed-by": "nasforge-test"},
                "Driver": "nfs",
            },
            "nfs",
        ),
    ],
)
def test_volume_creates_are_checked(policy, body, reason):
    decision = policy.check("POST", "/volumes/create", json.dumps(body).encode())
    assert not decision.allowed
    assert reason in decision.reason


def test_the_endpoint_names_are_a_closed_set():
    assert len(set(ENDPOINT_NAMES)) == len(ENDPOINT_NAMES)
    assert OTHER in ENDPOINT_NAMES
    policy = make_policy()
    assert {policy.check(m, p).endpoint for m, p, _ in ALLOWED} < set(ENDPOINT_NAMES)
