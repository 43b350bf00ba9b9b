"""The comparison report: table contents, the PNG, and JSON that reruns can diff."""

import json

from cli.compare.config import parse_compare_config
from cli.compare.records import CandidateResult, RunResult
from cli.compare.render import RESULTS, TIMINGS, markdown, write_report
from cli.compare.stats import compare

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def config():
    return parse_compare_config(
        {
            "name": "render",
            "seeds": [1, 2, 3],
            "budget": {
                "max_candidates": 2,
                "epochs": 1,
                "train_samples": 100,
                "validation_samples": 10,
                "test_samples": 10,
            },
            "task": {},
            "methods": [
                {"label": "fair", "method": "fairnad", "generator": "template"},
                {"label": "rand", "method": "random"},
            ],
        }
    )


def runs(seconds=1.0, id_suffix=""):
    """fair: validation winners test 0.8/0.7/0.9; rand: 0.5/0.6 and one seed with no success."""

    def candidate(name, validation, test, outcome="success"):
        return CandidateResult(name, outcome, validation, test, 1, seconds, 0.5)

    fair = [
        (candidate("f1a", 0.9, 0.8), candidate("f1b", 0.5, 0.95)),
        (candidate("f2a", 0.7, 0.7), candidate("f2b", None, None, "shape_mismatch")),
        (candidate("f3a", 0.6, 0.5), candidate("f3b", 0.95, 0.9)),
    ]
    rand = [
        (candidate("r1a", 0.4, 0.5),),
        (candidate("r2a", 0.6, 0.6),),
        (candidate("r3a", None, None, "runtime_error"),),
    ]
    return [
        RunResult(label, method, seed, f"s-{label}{seed}{id_suffix}", "succeeded", candidates)
        for label, method, per_seed in (("fair", "fairnad", fair), ("rand", "random", rand))
        for seed, candidates in zip((1, 2, 3), per_seed, strict=True)
    ]


def test_the_table_shows_each_method_with_its_figures():
    text = markdown(compare(config(), runs()))
    fair_row = next(line for line in text.splitlines() if line.startswith("| fair |"))
    cells = [cell.strip() for cell in fair_row.strip("|").split("|")]
    assert cells[:4] == ["fair", "3", "2", "1.6667"]  # seeds, candidates, successes (means)
    assert cells[4].startswith("0.8500 [")  # best validation: 0.9, 0.7, 0.95
    assert cells[5].startswith("0.8000 [")  # test of best: 0.8, 0.7, 0.9 (never 0.95)
    assert cells[6] == "3.0 s"  # 2 candidates x (1 s training + 0.5 s LLM)
    assert "| fair vs rand | 3 vs 2 |" in text
    assert "smallest reachable p with 3 vs 2 seeds: 0.2" in text
    assert "Friedman test: needs 3 methods or more." in text
    assert "| rand | 3 | succeeded | — | — | — |" in text  # the seed with no success


def test_write_report_writes_markdown_png_and_json(tmp_path):
    report = write_report(compare(config(), runs()), tmp_path)
    assert report == tmp_path / "report.md"
    assert "![best validation vs budget](anytime.png)" in report.read_text()
    assert (tmp_path / "anytime.png").read_bytes().startswith(PNG_MAGIC)
    results = json.loads((tmp_path / RESULTS).read_text())
    fair = results["methods"][0]
    assert [seed["test_of_best"] for seed in fair["seeds"]] == [0.8, 0.7, 0.9]
    assert [seed["best_name"] for seed in fair["seeds"]] == ["f1a", "f2a", "f3b"]
    assert fair["seeds"][1]["curve"] == [0.7, 0.7]
    assert results["mann_whitney"][0]["n_second"] == 2
    timings = json.loads((tmp_path / TIMINGS).read_text())
    assert timings["methods"][0]["seeds"][0]["search_id"] == "s-fair1"


def test_results_json_is_byte_identical_when_only_times_and_ids_differ(tmp_path):
    write_report(compare(config(), runs()), tmp_path / "first")
    write_report(compare(config(), runs(seconds=7.0, id_suffix="-rerun")), tmp_path / "second")
    first, second = (tmp_path / name / RESULTS for name in ("first", "second"))
    assert first.read_bytes() == second.read_bytes()
    assert b"s-fair1" not in first.read_bytes()  # ids live in timings.json
    assert (tmp_path / "first" / TIMINGS).read_bytes() != (
        tmp_path / "second" / TIMINGS
    ).read_bytes()
