"""The compose Prometheus config: every service scraped by its compose name, every replica
of trainer_svc through DNS, each target labelled with its service."""

from pathlib import Path

from tests.integration.observability.conftest import load_prometheus_config, repo_rule_files

SERVICES = {
    "search_core",
    "llm_gateway",
    "sandbox_runner",
    "trainer_svc",
    "model_server",
    "docker_proxy_sandbox",
    "docker_proxy_trainer",
}


def _jobs() -> dict[str, dict]:
    return {job["job_name"]: job for job in load_prometheus_config()["scrape_configs"]}


def test_intervals_and_rule_files():
    config = load_prometheus_config()
    assert config["global"]["scrape_interval"] == "5s"
    assert config["global"]["evaluation_interval"] == "5s"
    for path in repo_rule_files(config):
        assert Path(path).is_file(), path


def test_every_service_is_a_job_on_its_compose_name():
    jobs = _jobs()
    assert SERVICES <= jobs.keys()
    for name in SERVICES - {"trainer_svc"}:
        (static,) = jobs[name]["static_configs"]
        (target,) = static["targets"]
        assert target.split(":")[0] == name
        assert static["labels"] == {"component": name}
    python_services = {
        "search_core",
        "llm_gateway",
        "sandbox_runner",
        "docker_proxy_sandbox",
        "docker_proxy_trainer",
    }
    for name in python_services:
        assert jobs[name]["static_configs"][0]["targets"][0].endswith(":9100")


def test_trainer_replicas_are_found_through_dns():
    trainer = _jobs()["trainer_svc"]
    assert "static_configs" not in trainer
    assert trainer["dns_sd_configs"] == [
        {"names": ["trainer_svc"], "type": "A", "port": 9100, "refresh_interval": "15s"}
    ]
    assert trainer["relabel_configs"] == [
        {"target_label": "component", "replacement": "trainer_svc"}
    ]
