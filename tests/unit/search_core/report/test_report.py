"""write_report end to end: table numbers against hand counts, plots, escaping, empty input."""

import random
from pathlib import Path

import matplotlib.image
import pytest

from netapi.outcomes import Outcome
from search_core.domain import Method, SearchState
from search_core.report import write_report
from tests.unit.search_core.report.mdparse import (
    IMAGE,
    PNG_MAGIC,
    cells,
    rows_by_first_cell,
    section,
    table_rows,
)
from tests.unit.search_core.report.records import (
    BASELINES,
    campaign,
    candidate,
    md5,
    search,
    trio,
)


@pytest.fixture
def campaign_report(tmp_path: Path) -> str:
    return write_report(campaign(), tmp_path, baselines=BASELINES).read_text()


def test_returns_the_markdown_path(tmp_path: Path) -> None:
    path = write_report(trio(), tmp_path / "out")
    assert path == tmp_path / "out" / "report.md"
    assert path.read_text().startswith("# Search report\n")


def test_campaign_success_rate_k5_vs_k10(campaign_report: str) -> None:
    rows = rows_by_first_cell(
        section(campaign_report, "### Success rate by snippets per prompt (k)")
    )
    # Attempts, successes, image-blind, meaningful, success rate, meaningful rate, best
    # (validation), its test BLEU-4, infra errors, outcomes.
    # k=5: 11 candidates, one infra error listed but not counted, 5 of 10 passed, 1 blind.
    assert rows["5"][:9] == ["10", "5", "1", "4", "50.0%", "40.0%", "0.1200", "0.1100", "1"]
    assert "infra_error 1" in rows["5"][9]
    # k=10: the prompt refused for length is an attempt with its own outcome.
    assert rows["10"][:9] == ["11", "4", "2", "2", "36.4%", "18.2%", "0.1150", "0.1050", "0"]
    assert "prompt_too_long 1" in rows["10"][9]


def test_campaign_per_decoder_and_prefix(campaign_report: str) -> None:
    decoders = rows_by_first_cell(section(campaign_report, "### Models per decoder"))
    assert decoders["LSTM"] == ["5", "2", "0", "2", "40.0%", "40.0%", "0.1100", "0.1000"]
    assert decoders["GRU"][:4] == ["6", "3", "2", "1"]
    assert decoders["Transformer"][:4] == ["9", "4", "1", "3"]
    assert decoders["unknown"][:2] == ["1", "0"]  # refused: no code to read
    assert "other" not in decoders

    prefixes = section(campaign_report, "### Models per prefix")
    # The name says LSTM; the code says Transformer: a row of its own.
    assert "| C5C-ResNetLSTM | 5 | Transformer | 1 | 1 |" in prefixes
    assert "| C5C-ResNetLSTM | 5 | LSTM | 2 | 1 |" in prefixes
    assert "| C10C-RESNETLSTM | 10 | LSTM | 1 | 1 |" in prefixes


def test_campaign_families_next_to_baselines(campaign_report: str) -> None:
    families = rows_by_first_cell(
        section(campaign_report, "### Best BLEU-4 per family vs baselines")
    )
    # RESNETLSTM and ResNetLSTM are one family, shown in its most common spelling; the
    # baseline is the one trained in the campaign, compared on the test split.
    assert families["ResNetLSTM"][0] == "LSTM, Transformer, unknown"
    assert families["ResNetLSTM"][-3:] == ["ResNetLSTM", "0.3246", "-0.2246"]
    assert families["ResNetGRU"][-3:] == ["ResNetGRU", "0.3000", "-0.2300"]
    assert families["ResNetTransformer"][-3:] == ["ResNetTransformer", "0.3400", "-0.2300"]

    trained = section(campaign_report, "### Baselines trained in the campaign")
    assert trained.count("| nnc-k5 | ResNet") == 3 and trained.count("| nnc-k10 | ResNet") == 3
    assert "| Transformer | success | 0.3300 | 0.3400 | 0.0500 | no |" in trained


def test_campaign_failures_and_repairs(campaign_report: str) -> None:
    failures = rows_by_first_cell(section(campaign_report, "### Failure modes"))
    # 12 failed attempts: 3 shape mismatches (2 at k=5, 1 at k=10), 2 hallucinations...
    assert failures["shape_mismatch"][:2] == ["3", "25.0%"]
    assert failures["shape_mismatch"][2].startswith("RuntimeError: mat1 and mat2 shapes")
    assert "\n" not in failures["shape_mismatch"][2]
    assert failures["hallucinated_api"][:3] == [
        "2",
        "16.7%",
        "ModuleNotFoundError: No module named 'einops'",
    ]
    assert failures["prompt_too_long"][:2] == ["1", "8.3%"]
    assert "infra_error" not in failures

    repairs = rows_by_first_cell(section(campaign_report, "### Repairs needed"))
    assert repairs["0"] == ["8", "3", "37.5%", "33.3%"]
    assert repairs["1"] == ["5", "3", "60.0%", "33.3%"]
    assert repairs["2"] == ["3", "1", "33.3%", "11.1%"]
    assert repairs["3+"] == ["5", "2", "40.0%", "22.2%"]


def test_summary_of_the_trio_with_the_same_budget(tmp_path: Path) -> None:
    report = write_report(trio(), tmp_path).read_text()
    rows = rows_by_first_cell(section(report, "## Summary"))
    assert rows[""] == ["#1 fairnad", "#2 random", "#3 regularized_evolution"]
    assert rows["Budget (max candidates)"] == ["12", "12", "12"]
    assert rows["Task"] == ["img-classification"] * 3
    assert rows["Dataset"] == ["cifar-10"] * 3
    # FairNAD: 12 evaluated, 1 infra error excluded -> 7/11 successes, 1/11 hallucinated,
    # shape_mismatch + api_noncompliance = 2/11 compliance failures, 1 duplicate.
    assert rows["Candidates evaluated"] == ["12", "12", "12"]
    assert rows["Infra errors (excluded from rates)"] == ["1", "0", "0"]
    assert rows["Success rate"] == ["63.6% (7/11)", "66.7% (8/12)", "75.0% (9/12)"]
    assert rows["Hallucination rate"][0] == "9.1% (1/11)"
    assert rows["Compliance-failure rate"][0] == "18.2% (2/11)"
    assert rows["Duplicates"] == ["1", "0", "0"]
    assert rows["Best validation score"] == ["0.9340", "0.9000", "0.9150"]
    assert rows["Its test score (held out)"] == ["0.9140", "0.8800", "0.8950"]
    assert rows["Candidates trained"] == ["7", "8", "9"]
    assert rows["Epochs trained"] == ["21", "24", "27"]
    assert rows["Wall time"] == ["1h 00m 00s"] * 3
    assert "excluded from the model's rates" in section(report, "## Summary")

    outcomes = rows_by_first_cell(section(report, "## Outcomes"))
    assert set(outcomes) == {"Outcome", "total", *(o.value for o in Outcome)}
    assert outcomes["success"] == ["7 (58.3%)", "8 (66.7%)", "9 (75.0%)"]
    assert outcomes["total"] == ["12", "12", "12"]


def test_fairnad_section(tmp_path: Path) -> None:
    report = write_report(trio(), tmp_path).read_text()
    fair = section(report, "## FairNAD: #1 fairnad")
    categories = rows_by_first_cell(section(fair, "### Ideas sampled per category"))
    # The infra error (normalization / batch norm) is not counted.
    assert categories["normalization"] == ["2", "1", "50.0%", "0.9120"]
    assert categories["activation"] == ["3", "1", "33.3%", "0.9050"]
    assert categories["(none)"] == ["2", "2", "100.0%", "0.9300"]
    operators = rows_by_first_cell(section(fair, "### Mutation operators"))
    assert operators["fair\\_idea"] == ["7", "4", "57.1%", "0.9210"]
    assert operators["llm\\_refine"] == ["2", "1", "50.0%", "0.9340"]
    assert operators["scale\\_up"] == ["1", "1", "100.0%", "0.9300"]
    attributes = table_rows(section(fair, "### Ideas sampled per attribute"))
    assert ["activation", "GELU", "2", "1", "50.0%", "0.9050"] in attributes
    assert "## FairNAD: #2" not in report  # random and evolution have no such section


def test_running_best_table(tmp_path: Path) -> None:
    report = write_report(trio(), tmp_path).read_text()
    rows = rows_by_first_cell(section(report, "## Best score vs candidates evaluated"))
    assert rows["#2 random"] == ["12", "1", "0.9000", "6"]
    assert rows["#3 regularized_evolution"] == ["12", "1", "0.9150", "10"]


def test_leaderboard(tmp_path: Path) -> None:
    report = write_report(trio(), tmp_path).read_text()
    rows = table_rows(section(report, "### #3 regularized_evolution"))
    assert rows[0] == [
        "Rank",
        "Name",
        "Validation",
        "Test (held out)",
        "Parameters",
        "FLOPs",
        "Outcome",
        "Generator",
        "Parent",
        "Warnings",
    ]
    assert len(rows) == 1 + 9
    assert rows[1][0] == "1"
    assert rows[1][2:] == [
        "0.9150",
        "0.8950",
        "3,250,000",
        "29,000,000",
        "success",
        "template",
        "n/a",
        "",
    ]
    # Equal scores: the smaller model ranks first.
    assert rows[5][2:5] == ["0.9000", "0.8800", "2,750,000"]
    assert rows[6][2:5] == ["0.9000", "0.8800", "3,500,000"]


def test_warnings_are_named_on_the_leaderboard_and_counted_under_outcomes(tmp_path: Path) -> None:
    """Warnings (what LEMUR accepts but the Net API spells otherwise) never change an outcome:
    shown beside the candidate, counted apart."""
    searches = trio()
    _, candidates = searches[2]
    criterion = {"rule": "criterion-for-criteria", "severity": "warning", "message": "m"}
    unread = {"rule": "unread-hyperparameter", "severity": "warning", "message": "m"}
    best = max(candidates, key=lambda c: c.score or 0.0)
    best.warnings = [unread, criterion, dict(criterion)]
    candidates[0].warnings = [{"rule": "evil|rule", "severity": "warning", "message": "m"}]
    report = write_report(searches, tmp_path).read_text()
    rows = table_rows(section(report, "### #3 regularized_evolution"))
    assert rows[1][-1] == "criterion-for-criteria, unread-hyperparameter"
    assert rows[1][6] == "success"
    outcomes = section(report, "## Outcomes")
    assert (
        "Warnings (recorded on the candidate, never an outcome): criterion-for-criteria on 1, "
        "evil\\|rule on 1, unread-hyperparameter on 1." in outcomes
    )


def _check_pngs(report: Path) -> list[str]:
    names = IMAGE.findall(report.read_text())
    for name in names:
        path = report.parent / name
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert len(data) > 5_000, name
        height, width, _ = matplotlib.image.imread(path).shape
        assert height > 200 and width > 400
    return names


def test_every_referenced_png_is_valid(tmp_path: Path) -> None:
    report = write_report(campaign() + trio(), tmp_path, baselines=BASELINES)
    names = _check_pngs(report)
    # Captioning and classification never share axes: one plot per score.
    assert sorted(names) == sorted(
        [
            "outcomes.png",
            "best_vs_candidates_bleu-4.png",
            "best_vs_candidates_accuracy.png",
            "pareto_bleu-4.png",
            "pareto_accuracy.png",
            *(f"curves_{i}.png" for i in range(1, 6)),
        ]
    )


def test_one_metric_gives_one_plot_each(tmp_path: Path) -> None:
    names = _check_pngs(write_report(trio(), tmp_path))
    assert {"outcomes.png", "best_vs_candidates.png", "pareto.png"} <= set(names)


HOSTILE = "evil|name\n## injected | `code` <script>x</script> [link](http://x) *bold*"


def test_hostile_text_stays_in_its_cell(tmp_path: Path) -> None:
    searches = trio()
    fair_search, fair = searches[0]
    fair_search.search_id = "id|with\npipe"
    fair_search.config["task"]["dataset"] = "cifar|10\n# heading"
    winner = fair[8]  # the best candidate: it shows up in every table
    winner.name = f"{HOSTILE}-{md5('hostile')}"
    fair_search.state = SearchState.FAILED
    fair_search.error_type = "Runtime|Error"
    fair_search.error_message = "line one | two\n" + "x" * 300
    report = write_report(searches, tmp_path).read_text()

    for line in report.splitlines():
        assert not line.startswith("## injected")
        assert not line.startswith("# heading")
    assert "<script>" not in report
    assert "evil\\|name \\#\\# injected \\| \\`code\\` \\<script\\>" in report

    leaderboard = table_rows(section(report, "### #1 fairnad"))
    assert all(len(row) == 10 for row in leaderboard)
    assert leaderboard[1][1].startswith("evil\\|name")
    summary = table_rows(section(report, "## Summary"))
    assert all(len(row) == 4 for row in summary)
    assert ["Search id", "id\\|with pipe", "random-1", "evolution-1"] in summary
    rows = rows_by_first_cell(section(report, "## Summary"))
    assert rows["Dataset"] == ["cifar\\|10 \\# heading", "cifar-10", "cifar-10"]
    assert rows["State"] == ["failed", "succeeded", "succeeded"]
    error = rows["Search error"][0]
    assert error.startswith("Runtime\\|Error: line one \\| two xxx")
    assert len(error) <= 120 and error.endswith("…")
    assert rows["Search error"][1:] == ["n/a", "n/a"]
    assert rows["Best candidate"][0].startswith("evil\\|name \\#\\# injected")
    for heading in (
        "## Pareto front: validation score vs parameters",
        "### #1 fairnad: validation accuracy per epoch",
    ):
        assert all(
            len(row) == len(table_rows(section(report, heading))[0])
            for row in table_rows(section(report, heading))
        )
    _check_pngs(tmp_path / "report.md")


def test_error_excerpts_are_one_bounded_line(tmp_path: Path) -> None:
    searches = campaign()
    first = searches[0][1][2]  # a shape mismatch
    first.error_message = "a|b\n" + "`" * 200
    report = write_report(searches, tmp_path).read_text()
    errors = table_rows(section(report, "### Failure modes"))
    for row in errors:
        assert all(len(cell) <= 120 for cell in row)
    # The hostile message is not the most common shape error, so it is in the second table.
    excerpts = [cell for row in errors for cell in row if cell.startswith("a\\|b")]
    assert len(excerpts) == 1
    assert excerpts[0].endswith("…")
    assert excerpts[0].startswith("a\\|b \\`\\`")


def test_search_without_candidates_or_successes(tmp_path: Path) -> None:
    config = {"task": {"task": "img-classification", "dataset": "fashion-mnist"}}
    empty = search("empty", Method.RANDOM, config)
    empty.state = SearchState.RUNNING
    empty.finished_at = None
    failing = search("failing", Method.FAIRNAD, {})  # no task, no budget: still a report
    failures = [
        candidate("failing", 0, "f-0", Outcome.SHAPE_MISMATCH),
        candidate("failing", 1, "f-1", Outcome.HALLUCINATED_API),
        candidate("failing", 2, "f-2", Outcome.INFRA_ERROR),
        candidate("failing", 3, "f-3", None),  # unfinished
    ]
    report_path = write_report([(empty, []), (failing, failures)], tmp_path)
    report = report_path.read_text()
    rows = rows_by_first_cell(section(report, "## Summary"))
    assert rows["Success rate"] == ["n/a (0/0)", "0.0% (0/2)"]
    assert rows["Best validation score"] == ["n/a", "n/a"]
    assert rows["Its test score (held out)"] == ["n/a", "n/a"]
    assert rows["Unfinished"] == ["0", "1"]
    assert rows["Task"] == ["img-classification", "n/a"]
    assert rows["Budget (max candidates)"] == ["n/a", "n/a"]
    assert rows["Wall time"][0] == "n/a"
    assert "No accuracy plot: no search has a successful candidate with a score." in report
    assert (
        "No accuracy plot: no search has a successful candidate with a parameter count." in report
    )
    assert "No plot: no candidate of this search reported epoch metrics." in report
    assert "(no successful candidates)" in section(
        report, "## Pareto front: validation score vs parameters"
    )
    assert _check_pngs(report_path) == ["outcomes.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outcomes.png", "report.md"]


def test_all_empty(tmp_path: Path) -> None:
    report = write_report([], tmp_path).read_text()
    assert report == "# Search report\n\nNo searches given.\n"
    only_empty = write_report([(search("s", Method.RANDOM, {}), [])], tmp_path / "e").read_text()
    assert "No outcome plot: no search has an evaluated candidate." in only_empty
    assert IMAGE.findall(only_empty) == []


def test_deterministic(tmp_path: Path) -> None:
    first = write_report(campaign() + trio(), tmp_path / "a", baselines=BASELINES)
    shuffled = []
    for record, candidates in campaign() + trio():
        candidates = list(candidates)
        random.Random(7).shuffle(candidates)
        shuffled.append((record, candidates))
    second = write_report(shuffled, tmp_path / "b", baselines=dict(reversed(BASELINES.items())))
    assert first.read_text() == second.read_text()
    for name in IMAGE.findall(first.read_text()):
        assert (first.parent / name).read_bytes() == (second.parent / name).read_bytes(), name


def test_table_rows_have_the_header_width(tmp_path: Path) -> None:
    report = write_report(campaign() + trio(), tmp_path, baselines=BASELINES).read_text()
    table: list[list[str]] = []
    for line in [*report.splitlines(), ""]:
        if line.startswith("|"):
            table.append(cells(line))
        elif table:
            assert {len(row) for row in table} == {len(table[0])}, table[0]
            table = []
