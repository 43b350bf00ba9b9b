"""netapi.name_index: built from a real torch, then used to judge names and keywords."""

import json

import pytest

from netapi.code_policy import CodePolicy
from netapi.name_index import NameIndex, Resolution, build_index
from netapi.static_check import check_source


@pytest.fixture(scope="module")
def index():
    return NameIndex.from_dict(json.loads(json.dumps(build_index())))  # through JSON, as shipped


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("torch.nn.Conv2d", Resolution.EXISTS),
        ("torch.nn.functional.gelu", Resolution.EXISTS),
        ("torch.optim.AdamW", Resolution.EXISTS),
        ("torch.zeros", Resolution.EXISTS),
        ("torch.nn.Swish", Resolution.MISSING),
        ("torch.nn.functional.swish", Resolution.MISSING),
        ("torch.optim.Lion", Resolution.MISSING),
        ("torch._assert", Resolution.EXISTS),  # private names are indexed
        ("torch.nn.modules", Resolution.EXISTS),
        ("torch._assert_everything", Resolution.MISSING),
        ("torch.__version__", Resolution.NOT_INDEXED),  # dunders are never judged here
        ("torchvision.models._utils._make_divisible", Resolution.EXISTS),
        ("torchvision.ops.misc.Conv2dNormActivationX", Resolution.MISSING),
        ("torch.nn.Conv2d.forward", Resolution.NOT_INDEXED),
        ("torch.nn.modules.conv.Conv2d", Resolution.NOT_INDEXED),
        ("mymodule.thing", Resolution.NOT_INDEXED),
    ],
)
def test_resolves_names(index, name, expected):
    assert index.resolve(name) is expected


def test_modules_exist_only_where_installed(index):
    assert index.module_exists("torch.nn.functional")
    assert index.module_exists("torch.utils.checkpoint")
    assert index.module_exists("os")
    assert not index.module_exists("einops")
    assert not index.module_exists("torch.nn.fancy")


def test_keywords_are_judged_by_signature(index):
    assert index.rejected_keywords("torch.nn.Conv2d", ["bias", "padding_mode"]) == []
    assert index.rejected_keywords("torch.nn.Conv2d", ["bias_init"]) == ["bias_init"]
    assert index.rejected_keywords("torch.nn.Module", ["anything"]) == []  # unknown: not judged


def test_checker_with_index_reports_hallucinated_names(index):
    source = (
        "import torch\nimport torch.nn as nn\nfrom torch.nn import Swish\n"
        "layer = nn.Conv2d(3, 8, 3, bias_init=0.1)\nact = torch.nn.functional.swish\n"
    )
    verdict = check_source(source, "img-classification", CodePolicy(index=index))
    found = {
        (f.rule, f.message.split("'")[1])
        for f in verdict.findings
        if f.rule in ("unknown-name", "unknown-keyword")
    }
    assert ("unknown-name", "torch.nn.Swish") in found
    assert ("unknown-name", "torch.nn.functional.swish") in found
    assert any(rule == "unknown-keyword" for rule, _ in found)
    assert verdict.outcome.value == "hallucinated_api"


def test_refuses_an_index_of_another_format():
    with pytest.raises(ValueError, match="make runtime-image"):
        NameIndex.from_dict({"format": 999})


def test_reads_a_version_1_index_without_judging_private_names():
    """A file built before private names were indexed: `_make_divisible` was never in it, so
    its absence says nothing."""
    old = {
        "format": 1,
        "torch_version": "2.13.0+cpu",
        "top_level_modules": ["torch", "torchvision"],
        "modules": {"torch": {"nn": "module"}, "torchvision.models": {"resnet18": "function"}},
        "signatures": {},
    }
    index = NameIndex.from_dict(old)
    assert index.versions == {"torch": "2.13.0+cpu"}
    assert index.resolve("torchvision.models._utils") is Resolution.NOT_INDEXED
    assert index.resolve("torchvision.models.resnet99") is Resolution.MISSING
    assert index.library("torch.nn.Swish") == "torch 2.13.0"  # the public version


def test_properties_of_a_module_class_are_indexed():
    """torch.backends.cudnn is a module subclass whose settings are class properties."""
    index = NameIndex.from_dict(build_index())
    assert index.resolve("torch.backends.cudnn.benchmark") is Resolution.EXISTS
    assert index.resolve("torch.backends.cudnn.benchmarkk") is Resolution.MISSING
