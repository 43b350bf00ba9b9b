"""ContainerSpec refuses what the lock-down forbids, before any engine is involved."""

import pytest
from docker.types import Mount

from sandbox_runner.containers import ContainerSpec, Limits


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
