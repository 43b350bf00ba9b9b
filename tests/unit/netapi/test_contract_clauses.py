"""Every contract rule of the static checker has the clause a repair prompt reminds of."""

import re
from pathlib import Path

import netapi.api_contract
from netapi.contract_clauses import CLAUSES, clause_for


def test_every_api_contract_rule_has_a_clause():
    source = Path(netapi.api_contract.__file__).read_text()
    rules = set(re.findall(r'"([a-z]+(?:-[a-z]+)+)"', source))
    assert rules and rules <= set(CLAUSES), rules - set(CLAUSES)


def test_an_unknown_rule_has_no_clause():
    assert clause_for("import-failure") == ""
    assert "in_shape[1]" in clause_for("batch-as-channels")
