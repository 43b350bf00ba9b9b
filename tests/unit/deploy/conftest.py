"""Fixtures of the deployment tests."""

import os

import pytest

from tests.unit.deploy.test_kubernetes_manifests import OTHER_ENV


@pytest.fixture
def clean_environment(monkeypatch):
    """No NASFORGE_* (or other service) variable of this machine leaks into a manifest's
    settings; returns the monkeypatch that _settings sets the manifest's values with."""
    for name in list(os.environ):
        if name.startswith("NASFORGE_") or name in OTHER_ENV:
            monkeypatch.delenv(name)
    return monkeypatch
