"""Attacks on docker_proxy by a compromised sandbox_runner or trainer_svc, against the real
engine (Docker 20.10 here, minimum API 1.12): each test's docstring states the attack and
how it must end. Traffic goes only to the proxies on 127.0.0.1 (and the engine's unix
socket, to see what really happened), and only to containers and volumes made here.
"""

import json
import socket
import uuid

import docker
import docker.errors
import pytest

from sandbox_runner.containers import CONTAINER_USER, MANAGED_BY
from tests.integration.docker_proxy.conftest import ProxyProcess
from tests.support.docker_lockdown import LOCKDOWN

pytestmark = pytest.mark.timeout(300)

IMAGE = "nasforge-runtime:cpu"
MARKER = "org.nasforge.test-marker"
RUN = uuid.uuid4().hex[:8]
SANDBOX = f"nasforge-sec-proxy-sandbox-{RUN}"  # sandbox_runner's: one fixed name
TRAINER_TEMPLATE = f"nasforge-sec-proxy-trainer-{RUN}-{{hostname}}"  # trainer_svc's replicas
TRAINER = TRAINER_TEMPLATE.replace("{hostname}", "3f2a9c1b7d4e")


@pytest.fixture(scope="module")
def engine():
    """The engine itself (unix socket): to see what really happened, and to clean up."""
    client = docker.DockerClient(base_url="unix:///var/run/docker.sock")
    yield client
    for namespace in (SANDBOX, TRAINER):
        selector = {"label": f"{MANAGED_BY}={namespace}"}
        for container in client.containers.list(all=True, filters=selector):
            container.remove(force=True, v=True)
        for volume in client.volumes.list(filters=selector):
            volume.remove(force=True)
    client.close()


@pytest.fixture(scope="module")
def sandbox_proxy(engine):
    """sandbox_runner's proxy, as compose runs it: its namespace, no volumes."""
    running = ProxyProcess(SANDBOX, NASFORGE_DOCKER_PROXY_VOLUMES="[]")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def trainer_proxy(engine):
    """trainer_svc's proxy: its replicas' namespace pattern, per-job output volumes."""
    running = ProxyProcess(TRAINER_TEMPLATE)
    yield running
    running.stop()


def client_of(proxy: ProxyProcess) -> docker.DockerClient:
    return docker.DockerClient(base_url=proxy.url, timeout=60)


def raw(proxy: ProxyProcess, method: str, target: str, body: bytes = b"") -> tuple[int, str]:
    """One hand-written request (what docker-py would never send): status and body."""
    head = f"{method} {target} HTTP/1.1\r\nHost: docker\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    status_line, _, rest = response.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode(errors="replace")


def create(client: docker.DockerClient, namespace: str, marker: str, user=CONTAINER_USER,
           **host_config) -> str:  # fmt: skip
    """The launcher's locked-down create; ``host_config`` changes it (None drops a key)."""
    options = {k: v for k, v in {**LOCKDOWN, **host_config}.items() if v is not None}
    return client.api.create_container(
        IMAGE,
        command=["sleep", "60"],
        user=user,
        labels={MANAGED_BY: namespace, MARKER: marker},
        network_disabled=True,
        host_config=client.api.create_host_config(**options),
    )["Id"]


def created(engine: docker.DockerClient, marker: str) -> list:
    return engine.containers.list(all=True, filters={"label": f"{MARKER}={marker}"})


def refused(call) -> str:
    with pytest.raises(docker.errors.APIError) as caught:
        call()
    assert caught.value.status_code == 403, caught.value
    return str(caught.value.explanation)


def test_an_old_api_start_with_a_privileged_host_config_is_refused(sandbox_proxy, engine):
    """Attack: create a locked-down container, then `POST /v1.23/containers/<id>/start` with
    a HostConfig body (privileged, the host's / bound at /host), which the engine applies at
    API < 1.24. Ends: 403 at every version, and the container never runs privileged."""
    client = client_of(sandbox_proxy)
    container_id = create(client, SANDBOX, uuid.uuid4().hex)
    body = json.dumps({"Privileged": True, "Binds": ["/:/host"], "CapAdd": ["ALL"]}).encode()
    for version in ("/v1.23", "/v1.12", "/v1.41", ""):
        status, message = raw(sandbox_proxy, "POST", f"{version}/containers/{container_id}/start",
                              body)  # fmt: skip
        assert status == 403, (version, message)
    status, message = raw(sandbox_proxy, "POST", f"/v1.23/containers/{container_id}/start")
    assert status == 403 and "older" in message  # no body, but an old version: refused too
    inspected = engine.api.inspect_container(container_id)
    assert inspected["State"]["Running"] is False
    assert inspected["HostConfig"]["Privileged"] is False
    assert not inspected["HostConfig"]["Binds"] and not inspected["Mounts"]
    client.api.start(container_id)  # the launcher's own start still works
    inspected = engine.api.inspect_container(container_id)
    assert inspected["State"]["Running"] is True
    assert inspected["HostConfig"]["Privileged"] is False and not inspected["Mounts"]
    client.api.remove_container(container_id, force=True)


def test_a_body_on_kill_or_remove_is_refused(sandbox_proxy, engine):
    """Attack: a body smuggled on kill and remove (the engine may read what the proxy did
    not check). Ends: 403, and the container is still there, untouched."""
    client = client_of(sandbox_proxy)
    container_id = create(client, SANDBOX, uuid.uuid4().hex)
    client.api.start(container_id)
    body = json.dumps({"HostConfig": {"Privileged": True}}).encode()
    for method, path in (
        ("POST", f"/v1.41/containers/{container_id}/kill?signal=KILL"),
        ("DELETE", f"/v1.41/containers/{container_id}?force=1"),
        ("GET", f"/v1.41/containers/{container_id}/json"),
    ):
        status, _ = raw(sandbox_proxy, method, path, body)
        assert status == 403, path
    assert engine.api.inspect_container(container_id)["State"]["Running"] is True
    client.api.remove_container(container_id, force=True)


@pytest.mark.parametrize("user", ["+0", "0", "root", "0:0", "00", "10001:0", "0x0"])
def test_a_root_user_is_refused(sandbox_proxy, engine, user):
    """Attack: a create whose User the engine resolves to root ("+0" passed the old check).
    Ends: 403, nothing created."""
    marker = uuid.uuid4().hex
    message = refused(lambda: create(client_of(sandbox_proxy), SANDBOX, marker, user=user))
    assert "User" in message
    assert created(engine, marker) == []


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"cap_drop": None}, "CapDrop"),
        ({"cap_drop": ["NET_RAW"]}, "CapDrop"),
        ({"read_only": None}, "ReadonlyRootfs"),
        ({"security_opt": None}, "no-new-privileges"),
        ({"pids_limit": None}, "PidsLimit"),
        ({"mem_limit": None}, "Memory"),
        ({"network_mode": None}, "NetworkMode"),
        ({"runtime": "io.containerd.runc.v2"}, "Runtime"),
    ],
)
def test_a_create_without_the_lock_down_is_refused(sandbox_proxy, engine, change, word):
    """Attack: a create that leaves one restriction out (capabilities, writable root,
    setuid, fork bombs, memory, network). Ends: 403 naming it, nothing created."""
    marker = uuid.uuid4().hex
    message = refused(lambda: create(client_of(sandbox_proxy), SANDBOX, marker, **change))
    assert word in message
    assert created(engine, marker) == []


def test_the_sandbox_cannot_touch_a_trainers_container(sandbox_proxy, trainer_proxy, engine):
    """Attack: sandbox_runner's proxy used on a container of trainer_svc's namespace
    (inspect, start, kill, remove, read its /out, list it, create in its name). Ends: 403
    for each, and the trainer's container is still there."""
    trainer = client_of(trainer_proxy)
    sandbox = client_of(sandbox_proxy)
    victim = create(trainer, TRAINER, uuid.uuid4().hex)
    api = sandbox.api
    for call in (
        lambda: api.inspect_container(victim),
        lambda: api.start(victim),
        lambda: api.kill(victim),
        lambda: api.remove_container(victim, force=True),
        lambda: api.get_archive(victim, "/tmp"),
        lambda: api.containers(all=True, filters={"label": f"{MANAGED_BY}={TRAINER}"}),
        lambda: api.containers(all=True, filters={"label": MANAGED_BY}),
        lambda: create(sandbox, TRAINER, uuid.uuid4().hex),
    ):
        refused(call)
    assert engine.api.inspect_container(victim)["State"]["Running"] is False
    # The reverse: the trainer's proxy refuses the sandbox's containers just the same.
    own = create(sandbox, SANDBOX, uuid.uuid4().hex)
    refused(lambda: trainer.api.remove_container(own, force=True))
    assert [c["Id"] for c in api.containers(all=True, filters={"label": f"{MANAGED_BY}={SANDBOX}"})
            ] == [own]  # fmt: skip
    trainer.api.remove_container(victim, force=True)
    api.remove_container(own, force=True)


@pytest.mark.parametrize(
    "name",
    [
        "nasforge-out-evil",
        f"nasforge-out-{RUN}{RUN}-evil",
        f"nasforge-out-{RUN}{RUN}x",
        "nasforge-prepared",  # the shared read-only data: never created through a proxy
        "nasforge-prepared-evil",
        "nasforge-outside",
    ],
)
def test_volume_names_that_only_start_right_are_refused(trainer_proxy, engine, name):
    """Attack: volume names the old prefix rules let through. Ends: 403, no volume."""
    trainer = client_of(trainer_proxy)
    existed = bool(engine.volumes.list(filters={"name": f"^{name}$"}))
    refused(lambda: trainer.volumes.create(name=name, labels={MANAGED_BY: TRAINER}))
    if not existed:
        assert engine.volumes.list(filters={"name": f"^{name}$"}) == []


def test_a_trainers_volume_is_out_of_the_sandboxs_reach(sandbox_proxy, trainer_proxy, engine):
    """Attack: sandbox_runner's proxy removes, mounts or re-labels a trainer job's output
    volume. Ends: 403 each; the volume stays, and its own proxy can remove it."""
    name = f"nasforge-out-{uuid.uuid4().hex}"
    trainer = client_of(trainer_proxy)
    trainer.volumes.create(name=name, labels={MANAGED_BY: TRAINER})
    sandbox = client_of(sandbox_proxy)
    refused(lambda: sandbox.api.remove_volume(name, force=True))
    mount = docker.types.Mount("/out", name, type="volume")
    refused(lambda: create(sandbox, SANDBOX, uuid.uuid4().hex, mounts=[mount]))
    refused(lambda: sandbox.volumes.create(name=name, labels={MANAGED_BY: SANDBOX}))
    assert engine.volumes.get(name).attrs["Labels"][MANAGED_BY] == TRAINER
    other = f"nasforge-out-{uuid.uuid4().hex}"  # of another namespace: the trainer may not
    engine.volumes.create(name=other, labels={MANAGED_BY: SANDBOX})
    marker = uuid.uuid4().hex
    mount = docker.types.Mount("/out", other, type="volume")
    refused(lambda: create(trainer, TRAINER, marker, mounts=[mount]))
    assert created(engine, marker) == []
    engine.volumes.get(other).remove(force=True)
    trainer.api.remove_volume(name, force=True)
    assert engine.volumes.list(filters={"name": f"^{name}$"}) == []
