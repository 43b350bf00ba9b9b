"""`nasforge compare` through real services: a rerun with the same seeds gives the same
figures for the template methods, to the last digit."""

import io
import json

import pytest
from rich.console import Console

from cli.compare import run_compare
from cli.compare.command import connect

pytestmark = pytest.mark.timeout(900)

CONFIG = """
name = "{name}"
seeds = [1, 2]

[budget]
max_candidates = 2
epochs = 1
train_samples = 256
validation_samples = 64
test_samples = 128

[task]
task = "img-classification"
dataset = "fashion-mnist"
in_shape = [32, 1, 28, 28]
out_shape = [10]

[[methods]]
label = "random"
method = "random"
generator = "template"

[[methods]]
label = "evolution"
method = "regularized_evolution"
generator = "template"

[methods.evolution]
population_size = 2
sample_size = 2
"""


def _compare(stack, tmp_path, name):
    path = tmp_path / f"{name}.toml"
    path.write_text(CONFIG.format(name=name))
    factory = connect(stack.target("search_core"), stack.tenant_token, stack.public_tls)
    output = run_compare(path, tmp_path / name, factory, console=Console(file=io.StringIO()))
    assert output.all_succeeded
    return output, json.loads((tmp_path / name / "results.json").read_text())


def test_a_rerun_with_the_same_seeds_reproduces_the_template_figures(stack, tmp_path):
    # Two comparisons under different names are different searches in the same store: each
    # judges duplicates within itself, so the second sees nothing of the first.
    first, figures = _compare(stack, tmp_path, "first")
    _, again = _compare(stack, tmp_path, "second")
    assert figures.pop("name") == "first" and again.pop("name") == "second"
    assert figures == again
    validation = [c.validation for run in first.runs for c in run.candidates]
    assert len(validation) == 8 and any(v is not None for v in validation)
    assert (tmp_path / "first" / "anytime.png").stat().st_size > 0
