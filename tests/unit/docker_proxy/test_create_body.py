"""POST /containers/create bodies: the launcher's lock-down passes, every widening is refused."""

import copy
import json

import pytest

from docker_proxy.bodies import Refused, load_object
from docker_proxy.policy import Policy
from tests.unit.docker_proxy.conftest import launcher_create_body, make_policy, train_spec


def decide(policy: Policy, body: dict | bytes):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return policy.check("POST", "/v1.41/containers/create", raw)


def with_host(body: dict, **host_config) -> dict:
    changed = copy.deepcopy(body)
    changed["HostConfig"].update(host_config)
    return changed


def assert_refused(policy, body, *words):
    decision = decide(policy, body)
    assert not decision.allowed, "allowed, should be refused"
    assert decision.endpoint == "container_create"
    for word in words:
        assert word in decision.reason, decision.reason


@pytest.mark.parametrize(
    ("host_config", "words"),
    [
        ({"Privileged": True}, ["privileged"]),
        ({"CapAdd": ["SYS_ADMIN"]}, ["CapAdd"]),
        ({"NetworkMode": "host"}, ["NetworkMode"]),
        ({"NetworkMode": "bridge"}, ["NetworkMode"]),
        ({"NetworkMode": "container:postgres"}, ["NetworkMode"]),
        ({"NetworkMode": ""}, ["NetworkMode"]),
        ({"PidMode": "host"}, ["PidMode"]),
        ({"PidMode": "container:abc"}, ["PidMode"]),
        ({"IpcMode": "host"}, ["IpcMode"]),
        ({"UTSMode": "host"}, ["UTSMode"]),
        ({"UsernsMode": "host"}, ["UsernsMode"]),
        ({"CgroupnsMode": "host"}, ["CgroupnsMode"]),
        ({"Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}]}, ["devices"]),
        ({"SecurityOpt": ["seccomp=unconfined"]}, ["seccomp=unconfined"]),
        ({"SecurityOpt": ["apparmor=unconfined"]}, ["apparmor=unconfined"]),
        ({"SecurityOpt": ["label=disable"]}, ["label=disable"]),
        ({"SecurityOpt": ["label:disable"]}, ["label:disable"]),
        ({"SecurityOpt": ["systempaths=unconfined"]}, ["systempaths"]),
        ({"Binds": ["/:/host"]}, ["Binds"]),
        ({"Binds": ["nasforge-out-1:/out"]}, ["Binds"]),
        ({"VolumesFrom": ["postgres"]}, ["VolumesFrom"]),
        ({"Mounts": [{"Type": "bind", "Source": "/", "Target": "/host"}]}, ["host path"]),
        ({"Mounts": [{"Type": "volume", "Source": "postgres", "Target": "/x"}]}, ["postgres"]),
        ({"Mounts": [{"Type": "volume", "Target": "/x"}]}, ["None"]),
        (
            {"Mounts": [{"Type": "volume", "Source": "nasforge-prepared", "Target": "/data"}]},
            ["read-only"],
        ),
        (
            {
                "Mounts": [
                    {
                        "Type": "volume",
                        "Source": "nasforge-out-1",
                        "Target": "/out",
                        "VolumeOptions": {
                            "DriverConfig": {"Name": "local", "Options": {"device": "/"}}
                        },
                    }
                ]
            },
            ["DriverConfig"],
        ),
        ({"Mounts": [{"Type": "npipe", "Source": "x", "Target": "/x"}]}, ["npipe"]),
        ({"DeviceRequests": [{"Count": -1, "Capabilities": [["gpu"]]}]}, ["GPUs"]),
        ({"MaskedPaths": []}, ["MaskedPaths"]),
        ({"ReadonlyPaths": []}, ["ReadonlyPaths"]),
        ({"Sysctls": {"kernel.shmmax": "1"}}, ["Sysctls"]),
        ({"CgroupParent": "/"}, ["CgroupParent"]),
        ({"Runtime": "runsc-unsafe"}, ["Runtime"]),
        ({"PortBindings": {"80/tcp": [{"HostPort": "80"}]}}, ["PortBindings"]),
        ({"LogConfig": {"Type": "syslog", "Config": {"syslog-address": "tcp://x:1"}}}, ["syslog"]),
        ({"RestartPolicy": {"Name": "always"}}, ["always"]),
        ({"OomScoreAdj": -1000}, ["OomScoreAdj"]),
    ],
)
def test_host_config_widenings_are_refused(policy, check_body, host_config, words):
    assert_refused(policy, with_host(check_body, **host_config), *words)


def test_harmless_empty_values_of_unknown_fields_pass(policy, check_body):
    body = with_host(check_body, Privileged=False, CapAdd=[], Binds=None, Devices=[])
    assert decide(policy, body).allowed


def test_a_create_without_host_config_is_refused(policy, check_body):
    del check_body["HostConfig"]
    assert_refused(policy, check_body, "HostConfig")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"Image": "alpine"}, ["alpine", "not allowed"]),
        ({"Image": "docker.io/library/nasforge-runtime:cpu"}, ["image"]),
        ({"Image": None}, ["image"]),
        ({"Labels": {"org.nasforge.role": "check"}}, ["managed-by"]),
        ({"Labels": None}, ["managed-by"]),
        ({"Labels": {"org.nasforge.managed-by": ""}}, ["managed-by"]),
        ({"User": "root"}, ["non-root"]),
        ({"User": "0:0"}, ["non-root"]),
        ({"User": "00"}, ["non-root"]),
        ({"User": ""}, ["non-root"]),
        ({"Volumes": {"/x": {}}}, ["Volumes"]),
        ({"ExposedPorts": {"80/tcp": {}}}, ["ExposedPorts"]),
        ({"NetworkingConfig": {"EndpointsConfig": {"bridge": {}}}}, ["NetworkingConfig"]),
        # The old API reads HostConfig fields from the top level of the body.
        ({"Privileged": True}, ["privileged"]),
        ({"Binds": ["/:/host"]}, ["Binds"]),
    ],
)
def test_config_widenings_are_refused(policy, check_body, change, words):
    assert_refused(policy, {**check_body, **change}, *words)


def test_a_missing_user_is_refused(policy, check_body):
    del check_body["User"]
    assert_refused(policy, check_body, "non-root")


def test_field_names_are_read_case_insensitively_like_the_engine(policy, check_body):
    assert_refused(policy, with_host(check_body, privileged=True), "privileged")
    assert_refused(policy, with_host(check_body, PRIVILEGED=True), "privileged")
    body = copy.deepcopy(check_body)
    body["hostconfig"] = body.pop("HostConfig")
    body["hostconfig"]["networkmode"] = "host"
    del body["hostconfig"]["NetworkMode"]
    assert_refused(policy, body, "NetworkMode")


def test_a_lowercase_spelling_of_the_launchers_body_passes(policy, check_body):
    body = {key.lower(): value for key, value in check_body.items()}
    body["hostconfig"] = {key.lower(): value for key, value in body["hostconfig"].items()}
    assert decide(policy, body).allowed
    body["image"] = "alpine"
    assert_refused(policy, body, "alpine")


def test_duplicate_keys_cannot_hide_a_value_from_the_check(policy, check_body):
    text = json.dumps(check_body)
    twice = text.replace('"NetworkMode": "none"', '"NetworkMode": "none", "networkmode": "host"')
    assert twice != text
    assert_refused(policy, twice.encode(), "duplicate")
    exact = text.replace('"NetworkMode": "none"', '"NetworkMode": "host", "NetworkMode": "none"')
    assert_refused(policy, exact.encode(), "duplicate")


def test_non_ascii_field_names_are_refused(policy, check_body):
    # Go folds the Kelvin sign into "k": "Networ\u212aMode" would set NetworkMode.
    body = with_host(check_body, **{"Networ\u212aMode": "host"})
    assert_refused(policy, body, "non-ASCII")


@pytest.mark.parametrize("raw", [b"", b"[]", b"{not json", b"\xff\xfe", b'"text"', b"null"])
def test_bodies_that_are_not_json_objects_are_refused(policy, raw):
    assert not decide(policy, raw).allowed


def test_load_object_refuses_duplicates_at_any_depth():
    with pytest.raises(Refused):
        load_object(b'{"Labels": {"a": "1", "A": "2"}}')


def test_gpus_only_when_allowed():
    spec = train_spec(gpu=True)
    body = launcher_create_body(spec)
    assert body["HostConfig"]["DeviceRequests"]
    assert not decide(make_policy(), body).allowed
    assert decide(make_policy(allow_gpus=True), body).allowed
    odd = with_host(body, DeviceRequests=[{"Driver": "evil", "Count": 1}])
    assert not decide(make_policy(allow_gpus=True), odd).allowed


def test_only_rw_rules_may_be_mounted_writable():
    policy = make_policy(volumes=())
    assert_refused(policy, launcher_create_body(train_spec()), "nasforge-prepared")
