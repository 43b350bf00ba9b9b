"""Issue 13's attacks on the policy, each before its defence: bodies the engine would read,
old API versions, root users, a create without the lock-down, other namespaces' things,
volume names that only start right. Each ends in a refusal; the launchers' calls pass."""

import copy
import json
from urllib.parse import quote

import pytest

from docker_proxy.config import Namespace, ProxySettings, VolumeRule
from docker_proxy.policy import Policy
from tests.unit.docker_proxy.conftest import (
    NAMESPACE,
    check_spec,
    launcher_create_body,
    make_policy,
    train_spec,
)

ID = "3f2a9c1b7d4e" * 5 + "abcd"
CREATE = "/v1.41/containers/create"
MANAGED_BY = "org.nasforge.managed-by"


def create(policy: Policy, body: dict, prefix: str = "/v1.41"):
    return policy.check("POST", f"{prefix}/containers/create", json.dumps(body).encode())


def without(body: dict, key: str, host: bool = True) -> dict:
    changed = copy.deepcopy(body)
    del (changed["HostConfig"] if host else changed)[key]
    return changed


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/containers/{ID}/start"),
        ("POST", f"/containers/{ID}/kill"),
        ("DELETE", f"/containers/{ID}"),
        ("POST", f"/containers/{ID}/attach"),
        ("GET", f"/containers/{ID}/json"),
        ("GET", f"/containers/{ID}/archive?path=%2Fout"),
        ("GET", "/_ping"),
        ("DELETE", "/volumes/nasforge-out-0123abcd"),
    ],
)
@pytest.mark.parametrize("prefix", ["", "/v1.41", "/v1.23"])
def test_a_body_on_a_call_that_takes_none_is_refused(policy, method, path, prefix):
    """Attack: a HostConfig (privileged, / bound) in the body of a start, kill, remove...
    Ends refused whatever the version: the engine would read it, the proxy never does."""
    body = json.dumps({"Privileged": True, "Binds": ["/:/host"]}).encode()
    decision = policy.check(method, prefix + path, body)
    assert not decision.allowed
    assert "body" in decision.reason or "older" in decision.reason
    assert not policy.check(method, prefix + path, b" ").allowed


@pytest.mark.parametrize("version", ["1.12", "1.23", "1.24", "1.40", "1.041", "0.41", "2.0"])
def test_api_versions_older_than_the_minimum_are_refused(policy, version):
    """Attack: an old API version, at which the engine reads bodies differently (a start's
    HostConfig, a create's top-level HostConfig fields). Ends refused, even a bodiless ping."""
    for method, path in (("POST", f"/containers/{ID}/start"), ("GET", "/_ping")):
        decision = policy.check(method, f"/v{version}{path}")
        assert not decision.allowed, version
    assert not create(policy, launcher_create_body(check_spec()), f"/v{version}").allowed


def test_the_minimum_is_a_setting_and_unversioned_paths_are_the_engines_own(policy):
    assert policy.check("POST", f"/v1.41/containers/{ID}/start").allowed
    assert policy.check("POST", f"/containers/{ID}/start").allowed  # engine's current version
    strict = make_policy(min_api_version=(1, 44))
    assert not strict.check("GET", "/v1.43/_ping").allowed
    assert strict.check("GET", "/v1.45/_ping").allowed
    settings = ProxySettings(namespace=NAMESPACE, min_api_version="1.43")
    assert Policy.from_settings(settings).min_api_version == (1, 43)
    assert ProxySettings(namespace=NAMESPACE).min_api_version == "1.41"  # docker-py on 20.10
    with pytest.raises(ValueError):
        ProxySettings(namespace=NAMESPACE, min_api_version="1.041")


@pytest.mark.parametrize(
    "user", ["+0", "0", "00", "0:0", "root", "0x0", "10001:0", "0:10001", "-1", "1e3",
             "010001", " 10001", "10001 ", "10001:", ":10001", "nobody", "10001:root",
             "99999999999", "", None, 10001]
)  # fmt: skip
def test_users_that_are_not_plain_numeric_non_root_ids_are_refused(policy, user):
    """Attack: a User the engine resolves to root ("+0", "0x0", "00", names). Ends refused."""
    body = launcher_create_body(check_spec())
    body["User"] = user
    decision = create(policy, body)
    assert not decision.allowed
    assert "User" in decision.reason


@pytest.mark.parametrize("user", ["10001", "10001:10001", "1:2", "65534"])
def test_plain_numeric_users_pass(policy, user):
    body = launcher_create_body(check_spec())
    body["User"] = user
    assert create(policy, body).allowed


@pytest.mark.parametrize(
    ("key", "value", "word"),
    [
        ("CapDrop", None, "CapDrop"),
        ("CapDrop", ["NET_RAW"], "CapDrop"),
        ("CapDrop", "ALL", "CapDrop"),
        ("ReadonlyRootfs", None, "ReadonlyRootfs"),
        ("ReadonlyRootfs", False, "ReadonlyRootfs"),
        ("ReadonlyRootfs", 1, "ReadonlyRootfs"),
        ("SecurityOpt", None, "no-new-privileges"),
        ("SecurityOpt", [], "no-new-privileges"),
        ("SecurityOpt", ["no-new-privileges:false"], "no-new-privileges"),
        ("PidsLimit", None, "PidsLimit"),
        ("PidsLimit", 0, "PidsLimit"),
        ("PidsLimit", -1, "PidsLimit"),
        ("PidsLimit", True, "PidsLimit"),
        ("Memory", None, "Memory"),
        ("Memory", 0, "Memory"),
        ("Memory", 1.5e9, "Memory"),
        ("MemorySwap", -1, "MemorySwap"),
        ("NetworkMode", None, "NetworkMode"),
        ("NetworkMode", "bridge", "NetworkMode"),
    ],
)
def test_a_create_without_the_lock_down_is_refused(policy, key, value, word):
    """Attack: a create that leaves out a restriction (root caps, writable root, setuid,
    no pids or memory limit, a network). Ends refused: the lock-down is required."""
    body = launcher_create_body(check_spec())
    if value is None:
        body = without(body, key)
    else:
        body["HostConfig"][key] = value
    decision = create(policy, body)
    assert not decision.allowed, key
    assert word in decision.reason, decision.reason


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("PidMode", "host"),
        ("PidMode", "container:" + ID),
        ("IpcMode", "host"),
        ("IpcMode", "shareable"),
        ("IpcMode", "container:" + ID),
        ("UTSMode", "host"),
        ("UsernsMode", "host"),
        ("CgroupnsMode", "host"),
        ("NetworkMode", "host"),
        ("NetworkMode", "container:" + ID),
        ("Runtime", "nvidia-unsafe"),
        ("Runtime", "io.containerd.runc.v2"),
        ("Privileged", True),
        ("CapAdd", ["SYS_ADMIN"]),
        ("Binds", ["/:/host"]),
        ("Devices", [{"PathOnHost": "/dev/mem", "PathInContainer": "/dev/mem"}]),
        ("GroupAdd", ["0"]),
    ],
)
def test_host_namespaces_runtimes_and_privileges_are_refused(policy, key, value):
    body = launcher_create_body(check_spec())
    body["HostConfig"][key] = value
    assert not create(policy, body).allowed


def test_the_launchers_runtimes_pass_and_the_allowlist_is_a_setting(policy):
    """gVisor: the launcher sends Runtime "runsc" where the engine has it; that passes."""
    runsc = launcher_create_body(check_spec(), runtimes=("runc", "runsc"))
    assert runsc["HostConfig"].get("Runtime") == "runsc"
    assert create(policy, runsc).allowed
    runc = launcher_create_body(check_spec())
    assert create(policy, runc).allowed
    assert not create(make_policy(runtimes=("runc",)), runsc).allowed
    assert ProxySettings(namespace=NAMESPACE).runtimes == ["runc", "runsc"]


@pytest.mark.parametrize(
    "label",
    ["nasforge-compose-trainer-3f2a9c1b7d4e", "nasforge-test-x", "nasforge-tes", "", None],
)
def test_a_create_in_another_namespace_is_refused(policy, label):
    """Attack: sandbox_runner's proxy asked for a container labelled as a trainer's (which
    the trainer's reaper and archive reads would then trust). Ends refused."""
    body = launcher_create_body(check_spec())
    body["Labels"][MANAGED_BY] = label
    decision = create(policy, body)
    assert not decision.allowed
    assert MANAGED_BY in decision.reason


def test_lists_must_filter_on_this_namespace():
    """Attack: list every nasforge container (any service's) to find one to act on."""
    policy = make_policy(namespace="nasforge-compose-trainer-{hostname}")

    def lists(*labels: str) -> bool:
        query = quote(json.dumps({"label": list(labels)}))
        return policy.check("GET", f"/v1.41/containers/json?all=1&filters={query}").allowed

    assert lists(f"{MANAGED_BY}=nasforge-compose-trainer-3f2a9c1b7d4e")
    assert not lists(MANAGED_BY)
    assert not lists(f"{MANAGED_BY}=nasforge-compose-sandbox")
    assert not lists(f"{MANAGED_BY}=nasforge-compose-trainer-")
    assert not lists(f"{MANAGED_BY}=nasforge-compose-trainer-a/b")
    assert not lists("org.nasforge.tenant=acme")


@pytest.mark.parametrize(
    ("template", "value", "ok"),
    [
        ("nasforge-compose-sandbox", "nasforge-compose-sandbox", True),
        ("nasforge-compose-sandbox", "nasforge-compose-sandbox-x", False),
        ("nasforge-compose-sandbox", "nasforge-compose-sandbo", False),
        ("nasforge-compose-trainer-{hostname}", "nasforge-compose-trainer-3f2a9c1b7d4e", True),
        ("nasforge-k8s-trainer-{hostname}", "nasforge-k8s-trainer-trainer-svc-7d9f-x2b4z", True),
        ("nasforge-compose-trainer-{hostname}", "nasforge-compose-trainer-", False),
        ("nasforge-compose-trainer-{hostname}", "nasforge-compose-trainer-a.b", False),
        ("nasforge-compose-trainer-{hostname}", "nasforge-compose-sandbox", False),
        ("nasforge-compose-trainer-{hostname}", "x-nasforge-compose-trainer-a", False),
        ("nasforge-compose-trainer-{hostname}", "nasforge-compose-trainer-" + "a" * 64, False),
    ],
)
def test_a_namespace_is_a_fixed_pattern_not_a_prefix(template, value, ok):
    assert Namespace(template).matches(value) is ok


@pytest.mark.parametrize("template", ["", "{hostname}-x!", "nasforge-{other}", "-x"])
def test_a_namespace_setting_must_be_a_label_value(template):
    with pytest.raises(ValueError):
        ProxySettings(namespace=template)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("nasforge-out-0123abcd", True),
        ("nasforge-out-" + "f" * 32, True),
        ("nasforge-out-evil", False),
        ("nasforge-out-", False),
        ("nasforge-out-0123ABCD", False),
        ("nasforge-out-0123abcd-x", False),
        ("nasforge-out-0123", False),
        ("nasforge-prepared", True),
        ("nasforge-prepared-evil", False),
        ("nasforge-prepared2", False),
        ("xnasforge-prepared", False),
    ],
)
def test_volume_rules_match_exactly_or_by_the_job_id_pattern(name, ok):
    """Attack: a volume whose name only starts like an allowed one. Ends refused."""
    rules = ProxySettings(namespace=NAMESPACE).volume_rules
    assert any(rule.matches(name) for rule in rules) is ok


def test_volume_creates_need_a_per_job_name_in_this_namespace(policy):
    def volume(name: str, label: str | None = NAMESPACE):
        body = {"Name": name, "Labels": {MANAGED_BY: label} if label else {}}
        return policy.check("POST", "/v1.41/volumes/create", json.dumps(body).encode())

    assert volume("nasforge-out-0123abcd").allowed
    assert not volume("nasforge-out-evil").allowed
    assert not volume("nasforge-out-0123abcd.evil").allowed
    assert not volume("nasforge-prepared").allowed  # shared, read-only: never created here
    assert not volume("nasforge-out-0123abcd", "nasforge-compose-sandbox").allowed
    assert not volume("nasforge-out-0123abcd", None).allowed
    assert not policy.check("DELETE", "/v1.41/volumes/nasforge-out-evil").allowed


def test_per_job_volumes_a_create_mounts_are_named_for_the_ownership_check(policy):
    decision = create(policy, launcher_create_body(train_spec()))
    assert decision.allowed, decision.reason
    assert decision.volumes == ("nasforge-out-0123abcd",)  # not the shared read-only one
    remove = policy.check("DELETE", "/v1.41/volumes/nasforge-out-0123abcd?force=True")
    assert remove.allowed and remove.volumes == ("nasforge-out-0123abcd",)


def test_old_volume_rule_spellings_no_longer_mean_a_prefix():
    assert not VolumeRule.parse("nasforge-out-:rw").matches("nasforge-out-0123abcd")
    with pytest.raises(ValueError):
        VolumeRule.parse("nasforge-out-{job}:rw")


@pytest.mark.parametrize(
    ("driver_opts", "ok"),
    [
        ({"type": "tmpfs", "device": "tmpfs", "o": "size=1024,uid=10001,gid=10001,mode=0700,"
          "nosuid,nodev,noexec"}, True),
        ({"type": "tmpfs", "device": "tmpfs", "o": "size=1024"}, True),
        ({"type": "none", "device": "/", "o": "bind"}, False),
        ({"type": "tmpfs", "device": "/", "o": "bind"}, False),
        ({"type": "tmpfs", "device": "tmpfs", "o": "size=1,bind"}, False),
        ({"type": "nfs", "device": ":/export", "o": "addr=10.0.0.1"}, False),
        ({"type": "tmpfs", "device": "tmpfs", "o": "size=1", "copy": "x"}, False),
    ],
)  # fmt: skip
def test_a_per_job_volume_may_be_a_tmpfs_never_a_host_path(policy, driver_opts, ok):
    """Attack: a local volume that binds a host path (type none, o bind, device /) and is
    then mounted writable. Ends refused; trainer_svc's size-capped tmpfs passes."""
    body = {
        "Name": "nasforge-out-0123abcd",
        "Driver": "local",
        "DriverOpts": driver_opts,
        "Labels": {MANAGED_BY: NAMESPACE},
    }
    decision = policy.check("POST", "/v1.41/volumes/create", json.dumps(body).encode())
    assert decision.allowed is ok, decision.reason
