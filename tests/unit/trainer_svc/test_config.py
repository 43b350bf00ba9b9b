"""Trainer settings: `{hostname}` in the container namespace, the prepared-data volume."""

import socket

import pytest
from pydantic import ValidationError

from sandbox_runner.config import SandboxSettings
from sandbox_runner.namespace import expand_namespace
from trainer_svc.config import TrainerSettings


@pytest.fixture
def hostname(monkeypatch):
    """A compose container's hostname: its short id."""
    monkeypatch.setattr(socket, "gethostname", lambda: "3f2a9c1b7d4e")
    return "3f2a9c1b7d4e"


def test_hostname_is_expanded_everywhere_it_appears():
    assert expand_namespace("trainer-{hostname}", "abc") == "trainer-abc"
    assert expand_namespace("{hostname}.{hostname}", "h-1") == "h-1.h-1"


def test_a_namespace_without_placeholder_is_kept_and_asks_for_no_hostname(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", pytest.fail)
    assert expand_namespace("nasforge-trainer") == "nasforge-trainer"


def test_the_default_hostname_is_this_machines(hostname):
    assert expand_namespace("nasforge-trainer-{hostname}") == f"nasforge-trainer-{hostname}"


@pytest.mark.parametrize(
    ("template", "host"),
    [
        ("", "h"),
        ("trainer {hostname}", "h"),  # a space
        ("trainer-{host}", "h"),  # an unknown placeholder stays, braces and all
        ("trainer=x", "h"),  # '=' would split a label filter
        ("-trainer", "h"),
        ("trainer-{hostname}", "bad,host"),
        ("t-{hostname}", "x" * 200),  # too long once expanded
    ],
)
def test_unusable_label_values_are_refused(template, host):
    with pytest.raises(ValueError, match="namespace"):
        expand_namespace(template, host)


def test_trainer_expands_its_namespace_from_the_environment(monkeypatch, hostname):
    monkeypatch.setenv("NASFORGE_TRAINER_NAMESPACE", "nasforge-trainer-{hostname}")
    assert TrainerSettings().namespace == f"nasforge-trainer-{hostname}"
    assert TrainerSettings(namespace="t.{hostname}").namespace == f"t.{hostname}"


def test_sandbox_runner_expands_its_namespace_too(monkeypatch, hostname):
    monkeypatch.setenv("NASFORGE_SANDBOX_NAMESPACE", "nasforge-sandbox-{hostname}")
    assert SandboxSettings().namespace == f"nasforge-sandbox-{hostname}"


def test_defaults_are_unchanged(monkeypatch):
    for name in ("NASFORGE_TRAINER_NAMESPACE", "NASFORGE_SANDBOX_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("NASFORGE_TRAINER_PREPARED_VOLUME", raising=False)
    assert TrainerSettings().namespace == "nasforge-trainer"
    assert SandboxSettings().namespace == "nasforge-sandbox"
    assert TrainerSettings().prepared_volume is None


@pytest.mark.parametrize("settings_class", [TrainerSettings, SandboxSettings])
def test_a_bad_namespace_fails_at_start_up(settings_class):
    with pytest.raises(ValidationError, match="namespace"):
        settings_class(namespace="no spaces {hostname}")


def test_prepared_volume_from_the_environment(monkeypatch):
    monkeypatch.setenv("NASFORGE_TRAINER_PREPARED_VOLUME", "nasforge_prepared")
    assert TrainerSettings().prepared_volume == "nasforge_prepared"
    monkeypatch.setenv("NASFORGE_TRAINER_PREPARED_VOLUME", "")  # compose's ${X:-}
    assert TrainerSettings().prepared_volume is None


@pytest.mark.parametrize("name", ["/var/lib/prepared", "a", "two words"])
def test_a_host_path_is_not_a_volume_name(name):
    with pytest.raises(ValidationError, match="prepared_volume"):
        TrainerSettings(prepared_volume=name)
