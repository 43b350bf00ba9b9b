"""Shared helpers for the template tests: the static-check policy and in-process models."""

import json
import pathlib
import types

import pytest
import torch

from netapi.code_policy import CodePolicy
from netapi.name_index import NameIndex, build_index
from netapi.static_check import check_source
from netapi.tasks import IMG_CLASSIFICATION, TaskSpec, default_spec

INDEX = pathlib.Path(__file__).resolve().parents[4] / "var" / "torch_index.json"
SPECS = (
    default_spec(IMG_CLASSIFICATION),
    TaskSpec(IMG_CLASSIFICATION, "fashion-mnist", (2, 1, 28, 28), (10,)),
)
PRM = {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.5, "dropout": 0.2}


@pytest.fixture(scope="session")
def policy():
    """The sandbox's policy with a torch name index (the image's, else the host torch's)."""
    if INDEX.exists():
        return CodePolicy(index=NameIndex.load(INDEX))
    return CodePolicy(index=NameIndex.from_dict(json.loads(json.dumps(build_index()))))


def static_findings(code: str, policy: CodePolicy) -> list:
    """Findings of the plain and the index-backed static check (empty: it passes)."""
    findings = []
    for spec in SPECS:
        findings += check_source(code, spec.task).findings
    return findings + list(check_source(code, IMG_CLASSIFICATION, policy).findings)


def load_net_class(code: str) -> type:
    """Net from rendered code, run in-process (the code is ours, not a candidate's)."""
    module = types.ModuleType("rendered_candidate")
    exec(compile(code, "<rendered>", "exec"), module.__dict__)
    return module.Net


@pytest.fixture
def one_thread():
    """One torch thread: two spinning threads crawl on a loaded 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
