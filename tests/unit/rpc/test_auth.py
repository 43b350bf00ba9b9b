"""rpc.auth.TokenTable: hashed tokens, principals, and malformed configuration."""

import json

import pytest

from rpc.auth import Principal, TokenConfigError, TokenTable, hash_token


def _table(*rows):
    return TokenTable.from_json(json.dumps({"tokens": list(rows)}))


def test_resolves_tenant_and_service_tokens():
    table = _table(
        {"sha256": hash_token("a"), "tenant": "acme"},
        {"sha256": hash_token("b"), "service": "search-core"},
    )
    assert table.resolve("a") == Principal("acme")
    assert table.resolve("b") == Principal("search-core", internal=True)
    assert table.resolve("c") is None
    assert table.resolve("") is None


def test_several_tokens_per_tenant():
    table = _table(
        {"sha256": hash_token("old"), "tenant": "acme"},
        {"sha256": hash_token("new"), "tenant": "acme"},
    )
    assert table.resolve("old") == table.resolve("new") == Principal("acme")


def test_plain_tokens_are_never_accepted_as_digests():
    table = _table({"sha256": hash_token("a"), "tenant": "acme"})
    assert table.resolve(hash_token("a")) is None


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"tokens": 3}',
        '{"tokens": [{"tenant": "acme"}]}',
        json.dumps({"tokens": [{"sha256": "zz", "tenant": "acme"}]}),
        json.dumps({"tokens": [{"sha256": "ab" * 8, "tenant": "acme"}]}),
        json.dumps({"tokens": [{"sha256": hash_token("a"), "tenant": "Bad Name!"}]}),
        json.dumps({"tokens": [{"sha256": hash_token("a")}]}),
    ],
)
def test_malformed_configuration_is_refused(text):
    with pytest.raises(TokenConfigError):
        TokenTable.from_json(text)
