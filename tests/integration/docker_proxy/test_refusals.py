"""Refusals through docker-py against the real engine: 403s, and nothing created."""

import io
import socket
import tarfile
import uuid

import docker
import docker.errors
import pytest

from sandbox_runner.containers import CONTAINER_USER, MANAGED_BY
from tests.support.docker_lockdown import LOCKDOWN

pytestmark = pytest.mark.docker

IMAGE = "nasforge-runtime:cpu"
MARKER = "org.nasforge.test-marker"


def create(client: docker.DockerClient, namespace: str, marker: str, **host_config) -> str:
    """A create with the launcher's lock-down (no network, non-root, no capabilities,
    read-only, no-new-privileges, limits, labelled), widened by host_config."""
    api = client.api
    return api.create_container(
        IMAGE,
        command=["true"],
        user=CONTAINER_USER,
        labels={MANAGED_BY: namespace, MARKER: marker},
        network_disabled=True,
        host_config=api.create_host_config(**{**LOCKDOWN, **host_config}),
    )["Id"]


def created(engine: docker.DockerClient, marker: str) -> list:
    return engine.containers.list(all=True, filters={"label": f"{MARKER}={marker}"})


def assert_403(call, *words: str) -> None:
    with pytest.raises(docker.errors.APIError) as caught:
        call()
    assert caught.value.status_code == 403, caught.value
    for word in words:
        assert word in str(caught.value.explanation), caught.value.explanation


def test_the_locked_down_create_itself_passes(proxied, engine, namespace):
    """The control: without a widening the same create goes through."""
    marker = uuid.uuid4().hex
    create(proxied, namespace, marker)
    assert len(created(engine, marker)) == 1


@pytest.mark.parametrize(
    ("host_config", "words"),
    [
        ({"privileged": True}, ["privileged"]),
        ({"binds": {"/": {"bind": "/host", "mode": "ro"}}}, ["Binds"]),
        ({"mounts": [docker.types.Mount("/host", "/", type="bind")]}, ["host path"]),
        ({"network_mode": "host"}, ["NetworkMode"]),
        ({"cap_add": ["SYS_ADMIN"]}, ["CapAdd"]),
        ({"pid_mode": "host"}, ["PidMode"]),
        ({"security_opt": ["seccomp=unconfined"]}, ["seccomp"]),
        ({"devices": ["/dev/null:/dev/x"]}, ["devices"]),
        ({"mounts": [docker.types.Mount("/x", "nasforge-secrets", type="volume")]}, ["volume"]),
    ],
)
def test_widened_creates_are_refused_and_create_nothing(
    proxied, engine, namespace, host_config, words
):
    marker = uuid.uuid4().hex
    assert_403(lambda: create(proxied, namespace, marker, **host_config), *words)
    assert created(engine, marker) == []


def test_a_create_of_another_image_is_refused(proxied, engine, namespace):
    marker = uuid.uuid4().hex
    engine_image = engine.images.get(IMAGE)  # the same image, under its id: still refused
    assert_403(
        lambda: proxied.api.create_container(
            engine_image.id,
            user=CONTAINER_USER,
            labels={MANAGED_BY: namespace, MARKER: marker},
            host_config=proxied.api.create_host_config(network_mode="none"),
        ),
        "image",
    )
    assert created(engine, marker) == []


def test_exec_is_refused(proxied, engine, namespace):
    container_id = create(proxied, namespace, uuid.uuid4().hex)
    engine.api.start(container_id)
    assert_403(lambda: proxied.api.exec_create(container_id, ["id"]), "not an allowed")
    assert engine.api.inspect_container(container_id)["ExecIDs"] is None


def test_image_pull_and_build_are_refused(proxied, engine):
    images_before = {image.id for image in engine.images.list(all=True)}
    assert_403(lambda: proxied.api.pull("alpine", tag="latest"), "not an allowed")
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        dockerfile = b"FROM nasforge-runtime:cpu\nUSER root\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    assert_403(
        lambda: list(proxied.api.build(fileobj=context.getvalue(), custom_context=True)),
        "not an allowed",
    )
    assert {image.id for image in engine.images.list(all=True)} == images_before


def test_volumes_outside_the_allowed_names_are_refused(proxied, engine, namespace):
    name = f"not-nasforge-{uuid.uuid4().hex[:8]}"
    assert_403(lambda: proxied.volumes.create(name=name, labels={MANAGED_BY: namespace}), name)
    assert engine.volumes.list(filters={"name": name}) == []
    allowed = f"nasforge-out-{uuid.uuid4().hex}"
    proxied.volumes.create(name=allowed, labels={MANAGED_BY: namespace})
    assert engine.volumes.get(allowed).attrs["Labels"][MANAGED_BY] == namespace


def test_containers_not_managed_by_nasforge_cannot_be_touched(proxied, engine):
    foreign = engine.containers.create(IMAGE, command=["true"], labels={MARKER: "foreign"})
    try:
        assert_403(lambda: proxied.api.remove_container(foreign.id, force=True), "namespace")
        assert_403(lambda: proxied.api.inspect_container(foreign.id), "namespace")
        foreign.reload()
    finally:
        foreign.remove(force=True)


def test_a_pipelined_second_request_never_reaches_the_engine(proxy, engine, namespace):
    name = f"nasforge-smuggled-{uuid.uuid4().hex[:8]}"
    body = (
        b'{"Image": "nasforge-runtime:cpu", "User": "10001", "Labels": {"'
        + MANAGED_BY.encode()
        + b'": "'
        + namespace.encode()
        + b'"}, "HostConfig": {"NetworkMode": "none", "Privileged": true}}'
    )
    second = (
        f"POST /v1.41/containers/create?name={name} HTTP/1.1\r\nHost: docker\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"GET /v1.41/_ping HTTP/1.1\r\nHost: docker\r\n\r\n" + second)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert response.endswith(b"OK")
    assert response.count(b"HTTP/1.1 ") == 1
    assert engine.containers.list(all=True, filters={"name": name}) == []
