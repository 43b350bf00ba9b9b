"""Repair feedback styles and the hyperparameters a model proposes."""

from netapi.findings import Finding
from netapi.outcomes import Outcome, Stage
from search_core.engine.feedback import (
    proposed_hyperparameters,
    repair_feedback,
    training_hyperparameters,
    with_hyperparameters_literal,
)
from search_core.services import CheckVerdict, LayerShapes

VERDICT = CheckVerdict(
    Outcome.SHAPE_MISMATCH,
    stage=Stage.FORWARD,
    error_type="RuntimeError",
    error_message="Traceback ...\nlayer body.3 (Linear) got [2, 512], expects [*, 256]\n"
    "mat1 and mat2 shapes cannot be multiplied (2x512 and 256x10)",
    findings=(
        Finding(
            "unused-parameter",
            Outcome.API_NONCOMPLIANCE,
            "self.extra is never used",
            line=12,
            stage=Stage.FORWARD,
        ),
    ),
    shape_trace=(
        LayerShapes(
            module="body.0",
            type="Conv2d",
            input_shapes=((2, 3, 32, 32),),
            output_shapes=((2, 32, 32, 32),),
        ),
    ),
)

MODULE = """def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


HYPERPARAMETERS = {'lr': 0.05, 'momentum': 1.5, 'dropout': 'high'}


class Net:
    pass
"""


def test_last_line_feedback_is_the_naive_baseline():
    text = repair_feedback(VERDICT, style="last_line", shape_trace=True)
    assert text == "mat1 and mat2 shapes cannot be multiplied (2x512 and 256x10)"


def test_full_feedback_names_stage_layer_shapes_and_other_findings():
    text = repair_feedback(VERDICT, style="full", shape_trace=True)
    assert "shape_mismatch at stage forward" in text
    assert "body.3 (Linear) got [2, 512]" in text
    assert "line 12: self.extra is never used" in text
    assert "body.0 (Conv2d): in [2, 3, 32, 32] -> out [2, 32, 32, 32]" in text
    assert "Shapes seen" not in repair_feedback(VERDICT, style="full", shape_trace=False)


def test_only_valid_proposed_values_are_kept_and_defaults_fill_the_rest():
    assert proposed_hyperparameters(MODULE) == {"lr": 0.05}
    assert training_hyperparameters(MODULE, {}) == {"dropout": 0.2, "lr": 0.05, "momentum": 0.9}
    assert training_hyperparameters(MODULE, {"lr": 0.2})["lr"] == 0.2
    assert proposed_hyperparameters("HYPERPARAMETERS = __import__('os')") == {}
    assert proposed_hyperparameters("def (") == {}


def test_the_literal_is_replaced_or_added_after_supported_hyperparameters():
    replaced = with_hyperparameters_literal(MODULE, {"lr": 0.1, "momentum": 0.8, "dropout": 0.3})
    assert proposed_hyperparameters(replaced) == {"lr": 0.1, "momentum": 0.8, "dropout": 0.3}
    assert replaced.count("HYPERPARAMETERS") == 1
    without = MODULE.replace(
        "HYPERPARAMETERS = {'lr': 0.05, 'momentum': 1.5, 'dropout': 'high'}", ""
    )
    added = with_hyperparameters_literal(without, {"lr": 0.1})
    assert proposed_hyperparameters(added) == {"lr": 0.1}
    assert added.index("HYPERPARAMETERS") > added.index("supported_hyperparameters")


def test_full_feedback_quotes_the_failing_line_and_the_broken_contract_clause():
    code = (
        "import torch\n\ndef supported_hyperparameters():\n    return {'lr'}\n\n"
        "x = prm['dropout']\n"
    )
    verdict = CheckVerdict(
        Outcome.API_NONCOMPLIANCE,
        Stage.STATIC,
        error_message="prm['dropout'] is read but not declared",
        findings=(
            Finding(
                "undeclared-hyperparameter",
                Outcome.API_NONCOMPLIANCE,
                "prm['dropout'] is read but not declared",
                line=6,
            ),
        ),
    )
    text = repair_feedback(verdict, style="full", shape_trace=True, code=code)
    assert "Failing line 6: x = prm['dropout']" in text
    assert "The contract says: Every `prm[...]` key the model reads is in the set" in text
    naive = repair_feedback(verdict, style="last_line", shape_trace=True, code=code)
    assert naive == "prm['dropout'] is read but not declared"
