"""rpc.tenants: the registry file's format, its in-place writer, and hot reloading."""

import hashlib
import json
import logging
import os
import secrets
import time

import pytest

from rpc import tenants as tenants_module
from rpc.tenants import (
    QUOTA_NAMES,
    Principal,
    Quotas,
    Registry,
    RegistryError,
    TenantDirectory,
    TokenConfigError,
    edit_registry,
    hash_token,
    load_directory,
    read_registry,
)

INTERVAL = 0.05  # seconds between looks at the file, short for tests


def _new_file(path, *, tenant="acme", label="ci", quotas=None):
    with edit_registry(path) as registry:
        registry.add_tenant(tenant, quotas or Quotas())
        issued = registry.add_token(tenant, label=label)
    return issued


def _wait_past_interval():
    time.sleep(INTERVAL * 2)


def test_format_round_trip(tmp_path):
    path = tmp_path / "tokens.json"
    quotas = Quotas(llm_tokens_per_day=2_000_000, concurrent_checks=2, gpu_minutes_per_day=7.5)
    issued = _new_file(path, quotas=quotas)
    with edit_registry(path) as registry:
        service = registry.add_service_token("search-core")
    document = json.loads(path.read_text())
    assert document["tenants"]["acme"]["quotas"] == {
        "llm_tokens_per_day": 2_000_000,
        "concurrent_checks": 2,
        "gpu_minutes_per_day": 7.5,
    }
    tenant_row, service_row = document["tokens"]
    assert tenant_row["id"] == issued.id and tenant_row["id"].startswith("tok-")
    assert len(tenant_row["id"]) == len("tok-") + 10
    assert tenant_row["sha256"] == hashlib.sha256(issued.token.encode()).hexdigest()
    assert tenant_row["tenant"] == "acme" and tenant_row["label"] == "ci"
    assert tenant_row["revoked"] is None and tenant_row["created"].endswith("Z")
    assert service_row["service"] == "search-core" and service_row["id"] == service.id
    assert issued.token not in path.read_text()  # only the digest is stored
    assert len(issued.token) >= 43  # token_urlsafe(32)

    again = Registry.from_json(path.read_text())
    assert again.to_json() == path.read_text()
    directory = TenantDirectory.from_file(path)
    assert directory.resolve(issued.token) == Principal("acme")
    assert directory.resolve(service.token) == Principal("search-core", internal=True)
    assert directory.quotas("acme") == quotas
    assert directory.tenants() == ["acme"]


def test_old_format_files_still_load_and_gain_ids_when_written(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(
        json.dumps(
            {
                "tokens": [
                    {"sha256": hash_token("old-acme"), "tenant": "acme"},
                    {"sha256": hash_token("old-core"), "service": "search-core"},
                ]
            }
        )
    )
    directory = TenantDirectory.from_file(path)
    assert directory.resolve("old-acme") == Principal("acme")
    assert directory.resolve("old-core") == Principal("search-core", internal=True)
    assert directory.tenants() == ["acme"]  # tenants named only by their tokens
    assert directory.quotas("acme") == Quotas()

    with edit_registry(path) as registry:
        registry.add_token("acme", label="new")
    rows = json.loads(path.read_text())["tokens"]
    assert all(tenants_module.TOKEN_ID.match(row["id"]) for row in rows)
    assert len({row["id"] for row in rows}) == 3
    assert TenantDirectory.from_file(path).resolve("old-acme") == Principal("acme")


def test_revoked_tokens_do_not_resolve(tmp_path):
    path = tmp_path / "tokens.json"
    first = _new_file(path)
    with edit_registry(path) as registry:
        second = registry.add_token("acme")
        revoked = registry.revoke_token(first.id)
    assert revoked.revoked is not None
    directory = TenantDirectory.from_file(path)
    assert directory.resolve(first.token) is None
    assert directory.resolve(second.token) == Principal("acme")
    with edit_registry(path) as registry:  # revoking twice keeps the first time
        assert registry.revoke_token(first.id).revoked == revoked.revoked


def test_service_tokens_need_no_tenant_entry():
    registry = Registry()
    issued = registry.add_service_token("search-core")
    table = registry.token_table()
    assert table.resolve(issued.token) == Principal("search-core", internal=True)
    assert "search-core" not in registry.tenants


def test_quotas_of_unknown_tenants_are_the_defaults(tmp_path):
    path = tmp_path / "tokens.json"
    _new_file(path, quotas=Quotas(running_searches=4))
    directory = TenantDirectory.from_file(path)
    assert directory.quotas("acme") == Quotas(running_searches=4)
    assert directory.quotas("nobody") == Quotas()
    assert QUOTA_NAMES == (
        "llm_tokens_per_day",
        "concurrent_checks",
        "concurrent_trainings",
        "gpu_minutes_per_day",
        "running_searches",
    )


def test_quota_changes_set_and_unset():
    registry = Registry()
    registry.add_tenant("acme", Quotas(concurrent_checks=2))
    quotas = registry.set_quotas("acme", {"concurrent_checks": None, "concurrent_trainings": 1})
    assert quotas == Quotas(concurrent_trainings=1)
    with pytest.raises(RegistryError, match="no tenant"):
        registry.set_quotas("nobody", {"concurrent_checks": 1})
    with pytest.raises(TokenConfigError, match="unknown quota"):
        registry.set_quotas("acme", {"bogus": 1})
    with pytest.raises(TokenConfigError, match="non-negative"):
        registry.set_quotas("acme", {"concurrent_checks": -2})
    with pytest.raises(TokenConfigError, match="non-negative"):
        registry.add_tenant("beta", Quotas(running_searches=-1))
    assert registry.tenants["acme"].quotas == Quotas(concurrent_trainings=1)


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("concurrent_checks", "3", 3),
        ("gpu_minutes_per_day", "1.5", 1.5),
        ("gpu_minutes_per_day", "600", 600.0),
        ("running_searches", "", None),
    ],
)
def test_quota_values_from_the_command_line(name, text, expected):
    assert tenants_module.parse_quota(name, text) == expected


@pytest.mark.parametrize(
    "name, text", [("concurrent_checks", "-1"), ("concurrent_checks", "1.5"), ("nope", "1")]
)
def test_bad_quota_values_are_refused(name, text):
    with pytest.raises(TokenConfigError):
        tenants_module.parse_quota(name, text)


def test_registry_refuses_unknown_and_duplicate_names():
    registry = Registry()
    registry.add_tenant("acme")
    with pytest.raises(RegistryError, match="already exists"):
        registry.add_tenant("acme")
    with pytest.raises(RegistryError, match="invalid tenant name"):
        registry.add_tenant("Not A Slug")
    with pytest.raises(RegistryError, match="no tenant"):
        registry.add_token("nobody")
    with pytest.raises(RegistryError, match="no token with id"):
        registry.revoke_token("tok-0123456789")


@pytest.mark.parametrize(
    "document",
    [
        {"tenants": [], "tokens": []},
        {"tenants": {"Bad!": {}}, "tokens": []},
        {"tenants": {"acme": {"quotas": {"bogus": 1}}}, "tokens": []},
        {"tenants": {"acme": {"quotas": {"concurrent_checks": "2"}}}, "tokens": []},
        {"tenants": {"acme": {"quotas": {"concurrent_checks": True}}}, "tokens": []},
        {"tokens": [{"id": "tok-xyz", "sha256": "ab" * 32, "tenant": "acme"}]},
        {"tokens": [{"sha256": "ab" * 32, "tenant": "acme", "service": "search-core"}]},
        {
            "tokens": [
                {"id": "tok-0123456789", "sha256": "ab" * 32, "tenant": "acme"},
                {"id": "tok-0123456789", "sha256": "cd" * 32, "tenant": "acme"},
            ]
        },
    ],
)
def test_malformed_registries_are_refused(document):
    with pytest.raises(TokenConfigError):
        Registry.from_json(json.dumps(document))


def test_failed_edit_writes_nothing(tmp_path):
    path = tmp_path / "tokens.json"
    _new_file(path)
    before = path.read_text()
    with pytest.raises(RegistryError), edit_registry(path) as registry:
        registry.add_token("acme")
        registry.add_token("nobody")
    assert path.read_text() == before
    missing = tmp_path / "new.json"
    with pytest.raises(RegistryError), edit_registry(missing) as registry:
        registry.add_token("nobody")
    assert not missing.exists()  # no empty file left behind


def test_in_place_edit_is_picked_up_on_the_same_inode(tmp_path):
    path = tmp_path / "tokens.json"
    first = _new_file(path)
    inode = path.stat().st_ino
    directory = TenantDirectory.from_file(path, check_interval_seconds=INTERVAL)
    assert directory.resolve(first.token) == Principal("acme")
    with edit_registry(path) as registry:
        registry.revoke_token(first.id)
        second = registry.add_token("acme")
        registry.set_quotas("acme", {"concurrent_checks": 5})
    assert path.stat().st_ino == inode  # a single-file bind mount keeps seeing it
    _wait_past_interval()
    assert directory.resolve(first.token) is None
    assert directory.resolve(second.token) == Principal("acme")
    assert directory.quotas("acme") == Quotas(concurrent_checks=5)


def test_two_quick_edits_of_the_same_size_are_both_seen(tmp_path):
    path = tmp_path / "tokens.json"
    _new_file(path, quotas=Quotas(concurrent_checks=1))
    directory = TenantDirectory.from_file(path, check_interval_seconds=0)
    for value in range(2, 6):  # same length each time, faster than the mtime clock ticks
        with edit_registry(path) as registry:
            registry.set_quotas("acme", {"concurrent_checks": value})
        assert directory.quotas("acme") == Quotas(concurrent_checks=value)


def test_every_edit_moves_the_mtime_forward(tmp_path):
    """Readers key on (mtime, size, inode); the file clock may not tick between two edits
    (a coarse clock, or an mtime set ahead), so the writer moves the mtime forward itself."""
    path = tmp_path / "tokens.json"
    _new_file(path)
    ahead = time.time_ns() + 3600 * 10**9
    os.utime(path, ns=(ahead, ahead))
    with edit_registry(path) as registry:
        registry.set_quotas("acme", {"concurrent_checks": 1})
    assert path.stat().st_mtime_ns > ahead


def test_replaced_file_is_picked_up(tmp_path):
    path = tmp_path / "tokens.json"
    first = _new_file(path)
    directory = TenantDirectory.from_file(path, check_interval_seconds=INTERVAL)
    replacement = tmp_path / "next.json"
    second = _new_file(replacement, tenant="zeta")
    os.replace(replacement, path)
    _wait_past_interval()
    assert directory.resolve(first.token) is None
    assert directory.resolve(second.token) == Principal("zeta")
    assert directory.tenants() == ["zeta"]


def test_changes_are_not_seen_before_the_interval(tmp_path):
    path = tmp_path / "tokens.json"
    first = _new_file(path)
    directory = TenantDirectory.from_file(path, check_interval_seconds=60)
    with edit_registry(path) as registry:
        registry.revoke_token(first.id)
    assert directory.resolve(first.token) == Principal("acme")  # checked once a minute


def test_half_written_file_keeps_the_previous_table(tmp_path, caplog):
    path = tmp_path / "tokens.json"
    first = _new_file(path)
    complete = path.read_text()
    directory = TenantDirectory.from_file(path, check_interval_seconds=INTERVAL)
    caplog.set_level(logging.ERROR, logger="rpc.tenants")
    with path.open("r+") as handle:  # an editor caught half-way, without our lock
        handle.truncate(len(complete) // 2)
    for _ in range(3):
        _wait_past_interval()
        assert directory.resolve(first.token) == Principal("acme")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "keeping the previous tenant table" in errors[0].getMessage()

    with path.open("r+") as handle:
        handle.write(complete)  # the editor finishes: the next change is picked up
    with edit_registry(path) as registry:
        second = registry.add_token("acme")
    _wait_past_interval()
    assert directory.resolve(second.token) == Principal("acme")
    assert directory.resolve(first.token) == Principal("acme")


def test_missing_file_is_an_error_at_start_and_kept_through_later(tmp_path):
    path = tmp_path / "tokens.json"
    with pytest.raises(FileNotFoundError):
        TenantDirectory.from_file(path)
    first = _new_file(path)
    directory = TenantDirectory.from_file(path, check_interval_seconds=INTERVAL)
    path.unlink()
    _wait_past_interval()
    assert directory.resolve(first.token) == Principal("acme")
    assert load_directory(None) is None


def test_read_registry_sees_what_was_written(tmp_path):
    path = tmp_path / "tokens.json"
    issued = _new_file(path)
    assert [t.id for t in read_registry(path).tokens] == [issued.id]


def test_every_digest_is_compared_whatever_matches(monkeypatch):
    """Constant time in the match: no early exit, the match's position does not matter."""
    registry = Registry()
    registry.add_tenant("acme")
    issued = [registry.add_token("acme") for _ in range(5)]
    registry.revoke_token(issued[0].id)
    directory = TenantDirectory(registry)
    calls = []
    real = secrets.compare_digest

    def counting(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tenants_module.secrets, "compare_digest", counting)
    for token in [issued[1].token, issued[4].token, "unknown", issued[0].token]:
        calls.clear()
        directory.resolve(token)
        assert len(calls) == 4  # every active digest, whichever matched
