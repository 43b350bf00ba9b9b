"""NN-Caption name parsing and campaign tables; FairNAD idea and operator tables."""

from netapi.outcomes import Outcome
from search_core.domain import Method
from search_core.report.methods import (
    campaign_tables,
    caption_stats,
    counted_in_campaign,
    fairnad_tables,
    held_out_bleu4,
    is_meaningful,
    outcome_label,
    prefix_label,
    repair_bucket,
    snippets_per_prompt,
)
from search_core.report.tables import GroupStats
from tests.unit.search_core.report.records import (
    BASELINES,
    campaign,
    candidate,
    md5,
    search,
    trio,
)

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
    # 22 generated candidates: one infra error excluded, one prompt_too_long counted.
    assert (tables.searches, tables.attempts) == (2, 21)
    assert (tables.infra_errors, tables.prompt_too_long) == (1, 1)
    k5, k10 = tables.per_k[5], tables.per_k[10]
    assert (k5.stats.attempts, k5.stats.successes, k5.stats.meaningful, k5.infra_errors) == (
        10, 5, 4, 1
    )  # fmt: skip
    assert (k10.stats.attempts, k10.stats.successes, k10.stats.meaningful) == (11, 4, 2)
    assert k10.outcomes["prompt_too_long"] == 1 and "infra_error" not in k10.outcomes
    assert k5.outcomes["infra_error"] == 1
    assert sum(sum(row.outcomes.values()) for row in tables.per_k.values()) == 22
    # Chosen by validation, shown with its test figure.
    assert k5.stats.best_score == 0.12 and held_out_bleu4(k5.stats.best) == 0.11
    assert list(tables.per_decoder) == ["LSTM", "GRU", "Transformer", "unknown"]
    assert sum(s.attempts for s in tables.per_prefix.values()) == 21
    assert [row.family for row in tables.per_family] == [
        "ResNetGRU",
        "ResNetLSTM",
        "ResNetTransformer",
    ]
    assert sum(row.count for row in tables.failures) == 12
    assert tables.failures[0].outcome == "shape_mismatch"
    assert tables.top_errors[0].count == 3
    assert tables.repairs == {"0": (8, 3), "1": (5, 3), "2": (3, 1), "3+": (5, 2)}


def test_the_decoder_comes_from_the_code_not_the_name() -> None:
    tables = campaign_tables(campaign(), BASELINES)
    # C5C slot 1 is named ResNetLSTM but wrote a Transformer decoder.
    assert tables.per_prefix[("C5C-ResNetLSTM", 5, "Transformer")].attempts == 1
    assert tables.per_prefix[("C5C-ResNetLSTM", 5, "LSTM")].attempts == 2
    lstm = next(row for row in tables.per_family if row.family == "ResNetLSTM")
    assert lstm.decoders == ("LSTM", "Transformer", "unknown")


def test_the_baselines_trained_in_the_campaign_fill_the_baseline_column() -> None:
    tables = campaign_tables(campaign(), {"ResNetLSTM": 0.9})
    assert len(tables.baselines) == 6  # three per search, never counted as attempts
    assert [row.decoder for row in tables.baselines[:3]] == ["GRU", "LSTM", "Transformer"]
    rows = {row.family: row for row in tables.per_family}
    assert rows["ResNetLSTM"].baseline_trained
    assert rows["ResNetLSTM"].baseline_score == 0.3246  # its test figure, not the zoo's
    assert round(rows["ResNetLSTM"].delta, 4) == round(0.10 - 0.3246, 4)
    assert rows["ResNetTransformer"].baseline_score == 0.34


def test_without_trained_baselines_the_zoo_record_is_the_fallback() -> None:
    searches = [
        (record, [c for c in candidates if c.mutation != "baseline"])
        for record, candidates in campaign()
    ]
    tables = campaign_tables(searches, BASELINES)
    rows = {row.family: row for row in tables.per_family}
    assert (rows["ResNetLSTM"].baseline_score, rows["ResNetLSTM"].baseline_trained) == (
        0.3246,
        False,
    )
    assert rows["ResNetTransformer"].baseline_score is None
    assert tables.baselines == []


def test_an_image_blind_success_is_not_meaningful() -> None:
    blind = candidate(
        "s",
        0,
        f"C5C-ResNetGRU-{MD5}",
        Outcome.SUCCESS,
        0.4,
        scores={"validation": 0.4, "bleu4_corpus": 0.055, "bleu4_constant_baseline": 0.05},
    )
    stats = caption_stats([blind])
    assert (stats.successes, stats.image_blind, stats.meaningful) == (1, 1, 0)
    assert not is_meaningful(blind)


def test_prompt_too_long_is_an_attempt_and_an_infra_error_is_not() -> None:
    refused = candidate("s", 0, "C10C-ResNetLSTM", Outcome.PROMPT_TOO_LONG)
    broke = candidate("s", 1, "C10C-ResNetLSTM", Outcome.INFRA_ERROR)
    assert counted_in_campaign(refused) and outcome_label(refused) == "prompt_too_long"
    assert not counted_in_campaign(broke) and outcome_label(broke) == "infra_error"
    # An infra error whose message reads like a length refusal is still ours, not the prompt's.
    broke.error_message = "the prompt (about 9120 tokens) plus max_new_tokens is over the limit"
    assert not counted_in_campaign(broke)


def test_campaign_tables_empty() -> None:
    tables = campaign_tables([(search("s", Method.NN_CAPTION, {}), [])], {})
    assert tables.attempts == 0
    assert tables.per_k == {} and tables.per_family == [] and tables.failures == []
    assert tables.baselines == []
    assert tables.repairs == {"0": (0, 0), "1": (0, 0), "2": (0, 0), "3+": (0, 0)}


def test_fairnad_tables() -> None:
    _, fair = trio()[0]
    tables = fairnad_tables(fair)
    assert list(tables.per_category) == sorted(tables.per_category)
    assert tables.per_category["feature fusion"] == GroupStats(2, 1, 0.934)
    assert tables.per_attribute[("normalization", "layer norm")] == GroupStats(1, 0, None)
    assert tables.per_mutation["hp_tune"] == GroupStats(1, 1, 0.925)
    assert sum(s.attempts for s in tables.per_mutation.values()) == 11  # one infra error
