"""NN-Caption name parsing and campaign tables; FairNAD idea and operator tables."""

from netapi.outcomes import Outcome
from search_core.domain import Method
from search_core.report.methods import (
    campaign_tables,
    fairnad_tables,
    prefix_label,
    repair_bucket,
    snippets_per_prompt,
)
from search_core.report.tables import GroupStats
from tests.unit.search_core.report.records import BASELINES, campaign, candidate, md5, search, trio

MD5 = md5("x")


def test_table_rows_name_unnamed_and_spaced_candidates() -> None:
    assert prefix_label(f"  C5C-ResNetLSTM-{MD5} ") == "C5C-ResNetLSTM"
    assert prefix_label("") == "(unnamed)"


def test_k_from_name_then_config() -> None:
    record = search("s", Method.NN_CAPTION, {"nn_caption": {"snippets_per_prompt": 10}})
    assert snippets_per_prompt(record, candidate("s", 0, f"C5C-ResNetGRU-{MD5}", None)) == 5
    assert snippets_per_prompt(record, candidate("s", 0, f"ResNetGRU-{MD5}", None)) == 10
    bare = search("s", Method.NN_CAPTION, {"nn_caption": "oops"})
    assert snippets_per_prompt(bare, candidate("s", 0, f"ResNetGRU-{MD5}", None)) is None


def test_repair_buckets() -> None:
    tries = [0, 1, 2, 3, 7, -1]
    buckets = [repair_bucket(candidate("s", 0, "a", None, repair_attempts=t)) for t in tries]
    assert buckets == ["0", "1", "2", "3+", "3+", "0"]


def test_campaign_tables() -> None:
    tables = campaign_tables(campaign(), BASELINES)
    assert (tables.searches, tables.attempts, tables.infra_errors) == (2, 20, 1)
    assert tables.per_k == {5: GroupStats(10, 5, 0.12), 10: GroupStats(10, 4, 0.115)}
    assert list(tables.per_decoder) == ["LSTM", "GRU", "Transformer"]
    assert sum(s.attempts for s in tables.per_prefix.values()) == 20
    assert [row.family for row in tables.per_family] == [
        "ResNetGRU",
        "ResNetLSTM",
        "ResNetTransformer",
    ]
    assert sum(row.count for row in tables.failures) == 11
    assert tables.failures[0].outcome is Outcome.SHAPE_MISMATCH
    assert tables.top_errors[0].count == 3
    assert tables.repairs == {"0": (7, 3), "1": (5, 3), "2": (3, 1), "3+": (5, 2)}


def test_campaign_tables_empty() -> None:
    tables = campaign_tables([(search("s", Method.NN_CAPTION, {}), [])], {})
    assert tables.attempts == 0
    assert tables.per_k == {} and tables.per_family == [] and tables.failures == []
    assert tables.repairs == {"0": (0, 0), "1": (0, 0), "2": (0, 0), "3+": (0, 0)}


def test_fairnad_tables() -> None:
    _, fair = trio()[0]
    tables = fairnad_tables(fair)
    assert list(tables.per_category) == sorted(tables.per_category)
    assert tables.per_category["feature fusion"] == GroupStats(2, 1, 0.934)
    assert tables.per_attribute[("normalization", "layer norm")] == GroupStats(1, 0, None)
    assert tables.per_mutation["hp_tune"] == GroupStats(1, 1, 0.925)
    assert sum(s.attempts for s in tables.per_mutation.values()) == 11  # one infra error
