"""ContainerSpec refuses what the lock-down forbids, and the launcher picks its runtime from
the setting and the engine, before any real engine is involved."""

import docker.errors
import pytest
from docker.types import Mount

from sandbox_runner.containers import (
    ContainerSpec,
    Launcher,
    Limits,
    RuntimeUnavailable,
    choose_runtime,
)


def spec(**overrides):
    fields = {"image": "img", "role": "check", "limits": Limits(), "lifetime_seconds": 60}
    return ContainerSpec(**{**fields, **overrides})


def test_only_allowlisted_environment_passes():
    assert spec(environment={"OMP_NUM_THREADS": "1"}).environment == {"OMP_NUM_THREADS": "1"}
    with pytest.raises(ValueError, match="not allowed"):
        spec(environment={"AWS_SECRET_ACCESS_KEY": "x"})


def test_host_paths_only_read_only():
    spec(mounts=(Mount("/data", "/srv/data", type="bind", read_only=True),))
    with pytest.raises(ValueError, match="read-only"):
        spec(mounts=(Mount("/data", "/srv/data", type="bind"),))


def test_threads_follow_the_cpu_quota():
    assert Limits(cpus=0.5).threads == "1"
    assert Limits(cpus=2).threads == "2"


class _Engine:
    """A client whose engine lists ``runtimes`` in /info (None: refuses /info) and records
    the HostConfig.Runtime of each create (refusing runsc when it does not know it)."""

    def __init__(self, runtimes: list[str] | None, knows_runsc: bool = True) -> None:
        self.api = self
        self.runtimes = runtimes
        self.knows_runsc = knows_runsc
        self.created: list[str | None] = []

    def info(self) -> dict:
        if self.runtimes is None:
            raise docker.errors.APIError("403 Client Error: Forbidden (docker_proxy)")
        return {"Runtimes": {name: {} for name in self.runtimes}}

    def create_host_config(self, **fields) -> dict:
        return {"Runtime": fields.get("runtime")}

    def create_container(self, image, host_config, **_fields) -> dict:
        if host_config["Runtime"] == "runsc" and not self.knows_runsc:
            raise docker.errors.APIError("400 Client Error: Unknown runtime specified runsc")
        self.created.append(host_config["Runtime"])
        return {"Id": f"c{len(self.created)}"}

    def attach_socket(self, container_id, params):
        return object()

    def start(self, container_id) -> None:
        pass


@pytest.mark.parametrize(
    ("setting", "listed", "chosen"),
    [
        ("auto", {"runc", "runsc"}, "runsc"),
        ("auto", {"runc", "io.containerd.runc.v2"}, "runc"),
        ("auto", None, "runsc"),  # unknown: tried, the first create tells
        ("runc", {"runc", "runsc"}, "runc"),
        ("runsc", {"runc", "runsc"}, "runsc"),
        ("runsc", None, "runsc"),
    ],
)
def test_the_runtime_follows_the_setting_and_the_engine(setting, listed, chosen):
    assert choose_runtime(setting, None if listed is None else frozenset(listed)) == chosen


def test_an_explicit_runsc_the_engine_lacks_is_a_clear_error():
    with pytest.raises(RuntimeUnavailable, match="install it with `make docker`"):
        choose_runtime("runsc", frozenset({"runc"}))
    launcher = Launcher(_Engine(["runc"]), "nasforge-unit", runtime="runsc")
    with pytest.raises(RuntimeUnavailable):
        launcher.resolve_runtime()


def test_auto_without_runsc_warns_once_and_uses_runc(caplog):
    engine = _Engine(["runc"])
    launcher = Launcher(engine, "nasforge-unit")
    launcher.start(spec())
    launcher.start(spec())
    assert engine.created == ["runc", "runc"] and launcher.runtime == "runc"
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 1


def test_every_container_gets_the_runtime_chosen_and_gpu_jobs_runc_under_auto():
    engine = _Engine(["runc", "runsc"])
    launcher = Launcher(engine, "nasforge-unit")
    launcher.start(spec())
    launcher.start(spec(gpu=True))
    assert engine.created == ["runsc", "runc"]
    forced = Launcher(engine, "nasforge-unit", runtime="runsc")
    forced.start(spec(gpu=True))
    assert engine.created[-1] == "runsc"


def test_auto_behind_a_proxy_that_refuses_info_falls_back_at_the_first_create():
    engine = _Engine(None, knows_runsc=False)
    launcher = Launcher(engine, "nasforge-unit")
    launcher.start(spec())
    assert engine.created == ["runc"] and launcher.runtime == "runc"
    forced = Launcher(_Engine(None, knows_runsc=False), "nasforge-unit", runtime="runsc")
    with pytest.raises(RuntimeUnavailable):
        forced.start(spec())


def test_an_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="unknown container runtime"):
        Launcher(_Engine(["runc"]), "nasforge-unit", runtime="kata")
