"""render(): Net API code that passes the static checks, runs, and is the same every time."""

import math
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from netapi.tasks import IMG_CAPTIONING, IMG_CLASSIFICATION, default_spec
from search_core.template.cost import cost
from search_core.template.genome import BLOCKS, Genome, Stage
from search_core.template.operators import random_genome
from search_core.template.render import RenderError, render
from tests.unit.search_core.template.conftest import PRM, load_net_class, static_findings

RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent))


def random_genomes(count: int, seed: int) -> list[Genome]:
    rng = random.Random(seed)
    return [random_genome(rng) for _ in range(count)]


def test_200_random_genomes_pass_the_static_checks(policy):
    genomes = random_genomes(200, seed=1)
    assert Counter(stage.block for g in genomes for stage in g.stages).keys() == set(BLOCKS)
    for genome in genomes:
        code = render(genome)
        assert static_findings(code, policy) == [], code


def test_render_is_deterministic_and_distinguishes_genomes():
    genomes = random_genomes(100, seed=2)
    codes = [render(genome) for genome in genomes]
    assert codes == [render(genome) for genome in random_genomes(100, seed=2)]
    assert len(set(codes)) == len(set(genomes))
    assert render(Genome()) == render(
        Genome(stages=tuple(Stage(**vars(s)) for s in Genome().stages))
    )


def test_render_accepts_a_task_spec_and_refuses_captioning():
    assert render(Genome(), default_spec(IMG_CLASSIFICATION)) == render(Genome())
    with pytest.raises(RenderError):
        render(Genome(), IMG_CAPTIONING)


def test_every_declared_hyperparameter_is_read_and_imports_are_minimal():
    code = render(Genome())
    assert 'return {"dropout", "lr", "momentum", "weight_decay"}' in code
    for name in ("dropout", "lr", "momentum", "weight_decay"):
        assert f'prm["{name}"]' in code
    imports = [line for line in code.splitlines() if line.startswith(("import", "from"))]
    assert imports == ["import torch", "import torch.nn as nn"]
    assert "import math" in render(Genome(norm="group"))


@pytest.mark.usefixtures("one_thread")
def test_30_random_genomes_run_forward_and_learn_on_any_input_shape():
    rng = random.Random(4)
    shapes = [(2, 3, 32, 32), (2, 1, 28, 28), (1, 3, 64, 64), (3, 1, 40, 40), (2, 3, 28, 28)]
    for index, genome in enumerate(random_genomes(30, seed=5)):
        in_shape = shapes[index % len(shapes)]
        classes = rng.choice((10, 100))
        torch.manual_seed(index)
        net = load_net_class(render(genome))(in_shape, (classes,), dict(PRM), torch.device("cpu"))
        count = sum(p.numel() for p in net.parameters())
        assert count == cost(genome, in_shape[1], in_shape[2], classes).parameters
        assert count < 2_000_000
        inputs = torch.randn(in_shape)
        labels = torch.randint(0, classes, (in_shape[0],))
        net.train_setup(dict(PRM))
        net.learn([(inputs, labels)])
        unused = [name for name, p in net.named_parameters() if p.grad is None]
        assert unused == [], (genome, unused)
        net.eval()
        with torch.no_grad():
            logits = net(inputs)
            loss = net.criteria[0](logits, labels)
        assert logits.shape == (in_shape[0], classes)
        assert math.isfinite(loss.item()), genome


def test_parameter_count_matches_torch_for_every_block_and_option():
    genomes = [
        Genome(
            stages=(Stage(block, 2, 48, 1, 5), Stage(block, 1, 64, 2, 3)),
            norm=norm,
            attention=attention,
            branch_scale=scale,
            head=head,
            stem=stem,
            fusion="multiscale",
        )
        for block, norm, attention, scale, head, stem in zip(
            BLOCKS,
            ("batch", "group", "layer", "instance", "none", "batch", "group"),
            ("none", "se", "eca", "cbam", "spatial", "se", "cbam"),
            ("none", "layerscale", "rezero", "layerscale", "rezero", "none", "layerscale"),
            ("avg", "avg_max", "avg_mlp", "avg", "avg_max", "avg_mlp", "avg"),
            ("conv3", "conv5", "deep", "patchify", "coord", "conv3", "deep"),
            strict=True,
        )
    ]
    for genome in genomes:
        net = load_net_class(render(genome))((2, 3, 32, 32), (10,), dict(PRM), torch.device("cpu"))
        assert sum(p.numel() for p in net.parameters()) == cost(genome).parameters, genome


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed beside this Python")
def test_rendered_code_is_ruff_clean(tmp_path):
    for index, genome in enumerate(random_genomes(20, seed=6)):
        (tmp_path / f"candidate_{index}.py").write_text(render(genome))
    for command in (["format", "--check"], ["check", "--select", "E,F,W,B,I,UP"]):
        done = subprocess.run(
            [RUFF, *command, "--line-length", "100", "--isolated", str(tmp_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
