"""`nasforge tenant` and `nasforge deploy secrets` as a user runs them: the real console
script on a temporary token file, its output, its exit status, and what services would read.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from rpc.tenants import Principal, Quotas, TenantDirectory

NASFORGE = pathlib.Path(sys.executable).parent / "nasforge"


def nasforge(*args, env=None):
    environment = {k: v for k, v in os.environ.items() if k != "NASFORGE_TENANTS_FILE"}
    environment.update(env or {})
    return subprocess.run(
        [str(NASFORGE), *args], capture_output=True, text=True, timeout=60, env=environment
    )


@pytest.fixture
def registry_file(tmp_path):
    return tmp_path / "tokens.json"


def tenant(path, *args):
    return nasforge("tenant", "--file", str(path), *args)


def ok(result):
    assert result.returncode == 0, result.stderr
    return result.stdout


def add_token(path, name, *extra):
    out = ok(tenant(path, "token-add", name, *extra))
    token_id = re.search(r"^token id: (tok-[0-9a-f]{10})$", out, re.M).group(1)
    token = re.search(r"^token: (\S+)$", out, re.M).group(1)
    return token_id, token


def test_create_quota_token_add_revoke_and_list(registry_file):
    out = ok(tenant(registry_file, "create", "acme", "--quota", "concurrent_checks=2"))
    assert "tenant acme created" in out
    directory = TenantDirectory.from_file(registry_file, check_interval_seconds=0)
    assert directory.tenants() == ["acme"]
    assert json.loads(registry_file.read_text())["tokens"] == []  # create issues no token
    assert directory.quotas("acme") == Quotas(concurrent_checks=2)

    out = ok(
        tenant(registry_file, "quota", "acme", "gpu_minutes_per_day=90.5", "concurrent_checks=")
    )
    assert "gpu_minutes_per_day=90.5" in out and "concurrent_checks" not in out
    assert directory.quotas("acme") == Quotas(gpu_minutes_per_day=90.5)

    ci_id, ci_token = add_token(registry_file, "acme", "--label", "ci")
    laptop_id, laptop_token = add_token(registry_file, "acme")
    assert ci_token not in registry_file.read_text()
    assert directory.resolve(ci_token) == directory.resolve(laptop_token) == Principal("acme")

    out = ok(tenant(registry_file, "token-revoke", ci_id))
    assert f"token {ci_id} (acme) revoked" in out
    assert directory.resolve(ci_token) is None
    assert directory.resolve(laptop_token) == Principal("acme")

    text = ok(tenant(registry_file, "list"))
    assert "tenant acme" in text and "gpu_minutes_per_day=90.5" in text
    assert re.search(rf"token {ci_id} label=ci created \S+Z revoked \S+Z", text)
    assert re.search(rf"token {laptop_id} created \S+Z active", text)
    digests = [row["sha256"] for row in json.loads(registry_file.read_text())["tokens"]]
    listing = ok(tenant(registry_file, "list", "--json"))
    assert not any(digest in text or digest in listing for digest in digests)
    document = json.loads(listing)
    assert document["tenants"]["acme"]["quotas"] == {"gpu_minutes_per_day": 90.5}
    assert [(t["id"], t["label"] if "label" in t else None) for t in document["tokens"]] == [
        (ci_id, "ci"),
        (laptop_id, None),
    ]
    assert document["tokens"][0]["revoked"] and document["tokens"][1]["revoked"] is None


def test_file_from_the_environment_and_after_the_subcommand(tmp_path):
    env_file = tmp_path / "env.json"
    ok(nasforge("tenant", "create", "acme", env={"NASFORGE_TENANTS_FILE": str(env_file)}))
    assert TenantDirectory.from_file(env_file).tenants() == ["acme"]
    other = tmp_path / "other.json"
    ok(nasforge("tenant", "create", "zeta", "--file", str(other)))
    assert TenantDirectory.from_file(other).tenants() == ["zeta"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["create", "acme"], "tenant 'acme' already exists"),
        (["create", "Not A Slug"], "invalid tenant name"),
        (["create", "zeta", "--quota", "bogus=1"], "unknown quota 'bogus'"),
        (["create", "zeta", "--quota", "concurrent_checks"], "is not KEY=VALUE"),
        (["quota", "nobody", "concurrent_checks=1"], "no tenant named 'nobody'"),
        (["quota", "acme", "concurrent_checks=-1"], "must be a non-negative integer"),
        (["quota", "acme", "running_searches=many"], "must be a non-negative integer"),
        (["quota", "acme", "gpu_minutes_per_day=lots"], "must be a non-negative number"),
        (["token-add", "nobody"], "no tenant named 'nobody'"),
        (["token-revoke", "tok-0123456789"], "no token with id 'tok-0123456789'"),
    ],
)
def test_errors_are_one_line_with_status_2_and_change_nothing(registry_file, args, message):
    ok(tenant(registry_file, "create", "acme"))
    before = registry_file.read_text()
    result = tenant(registry_file, *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stderr.startswith("nasforge: error: ")
    assert registry_file.read_text() == before


def test_missing_or_malformed_file_is_a_usage_error(tmp_path):
    missing = tmp_path / "missing.json"
    for args in (["list"], ["token-revoke", "tok-0123456789"]):
        result = tenant(missing, *args)
        assert result.returncode == 2 and "nasforge: error:" in result.stderr
    assert not missing.exists()
    broken = tmp_path / "broken.json"
    broken.write_text('{"tokens": [')
    result = tenant(broken, "create", "acme")
    assert result.returncode == 2 and "token file is not of the form" in result.stderr
    assert broken.read_text() == '{"tokens": ['


def test_deploy_secrets_writes_the_registry_and_keeps_existing_tokens(tmp_path):
    secrets_dir = tmp_path / "secrets"
    out = ok(nasforge("deploy", "secrets", "--dir", str(secrets_dir), "--tenant", "acme"))
    assert "tenant acme: token in" in out
    table = secrets_dir / "tokens.json"
    acme_token = (secrets_dir / "tenant-acme.token").read_text().strip()
    service_token = (secrets_dir / "service-token").read_text().strip()
    directory = TenantDirectory.from_file(table, check_interval_seconds=0)
    assert directory.resolve(acme_token) == Principal("acme")
    assert directory.resolve(service_token) == Principal("search-core", internal=True)
    inode = table.stat().st_ino

    ok(
        nasforge(
            "deploy", "secrets", "--dir", str(secrets_dir), "--tenant", "acme", "--tenant", "zeta"
        )
    )
    zeta_token = (secrets_dir / "tenant-zeta.token").read_text().strip()
    assert table.stat().st_ino == inode  # edited in place: compose's bind mount sees it
    assert directory.resolve(zeta_token) == Principal("zeta")
    assert directory.resolve(acme_token) == Principal("acme")
    assert (secrets_dir / "tenant-acme.token").read_text().strip() == acme_token
    listing = json.loads(ok(tenant(table, "list", "--json")))
    assert sorted(listing["tenants"]) == ["acme", "zeta"]
    assert [t.get("service") for t in listing["tokens"]].count("search-core") == 1
