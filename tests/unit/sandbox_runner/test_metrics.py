"""The runtime info metric follows the launcher's choice at every scrape."""

from prometheus_client import CollectorRegistry

from sandbox_runner.metrics import SandboxMetrics


def test_runtime_info_is_one_for_the_runtime_in_use_and_zero_before_a_choice():
    registry = CollectorRegistry()
    metrics = SandboxMetrics(registry)
    chosen: list[str | None] = [None]
    metrics.follow_runtime(lambda: chosen[0])

    def value(runtime: str) -> float:
        return registry.get_sample_value(
            "nasforge_sandbox_container_runtime_info", {"runtime": runtime}
        )

    assert (value("runsc"), value("runc")) == (0.0, 0.0)
    chosen[0] = "runsc"
    assert (value("runsc"), value("runc")) == (1.0, 0.0)
    chosen[0] = "runc"
    assert (value("runsc"), value("runc")) == (0.0, 1.0)
