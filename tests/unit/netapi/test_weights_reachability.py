"""A weight fetch the model can run is refused; one in a function nothing reaches is a warning.

LEMUR's models keep torchvision's builders (`densenet121`, `_densenet`, `_load_state_dict`)
beside `Net`; LEMUR trains them from scratch. The attacks: reaching such a function from
code that runs, by every route a module offers (a call in `Net`, an alias, a decorator, a
default value, a class body, `supported_hyperparameters`).
"""

import ast
import textwrap

import pytest

from netapi.code_policy import CodePolicy, code_policy_findings
from netapi.module_facts import ModuleFacts
from netapi.reachability import dead_functions

LOADER = """
import torch.nn as nn
from torchvision.models import resnet18
from torchvision.models._api import WeightsEnum

def _load_state_dict(model, weights: WeightsEnum, progress: bool):
    state = weights.get_state_dict(progress=progress, check_hash=True)
    model.load_state_dict(state)

def _build(weights, progress, **kwargs):
    model = nn.Linear(2, 2)
    if weights is not None:
        _load_state_dict(model, weights, progress)
    return model

def builder(*, weights=None, progress=True, **kwargs):
    return _build(weights, progress, **kwargs)

def pretrained_resnet():
    return resnet18(weights="DEFAULT")
"""


def rules(source: str) -> list[tuple[str, bool]]:
    tree = ast.parse(textwrap.dedent(source))
    found = code_policy_findings(ModuleFacts.of(tree), CodePolicy())
    return sorted((f.rule, f.is_warning) for f in found)


def test_fetches_in_functions_nothing_reaches_are_warnings():
    source = LOADER + "\nclass Net(nn.Module):\n    def forward(self, x):\n        return x\n"
    assert rules(source) == [("unreachable-weights", True)] * 2


@pytest.mark.parametrize(
    "route",
    [
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.body = builder(weights=object())\n",
        "make = builder\n",
        "@builder\ndef head():\n    pass\n",
        "def head(model=_build(None, True)):\n    return model\n",
        "class Holder:\n    build = _load_state_dict\n",
        "def supported_hyperparameters():\n    _load_state_dict(None, None, True)\n"
        "    return {'lr'}\n",
        "class Net(nn.Module):\n    def train_setup(self, prm):\n"
        "        self.net = pretrained_resnet()\n",
    ],
)
def test_a_fetch_that_running_code_reaches_stays_refused(route):
    found = rules(LOADER + "\n" + route)
    assert ("pretrained-weights", False) in found, found


def test_dead_functions_are_those_no_running_identifier_names():
    tree = ast.parse(textwrap.dedent(LOADER + "\nentry = builder\n"))
    assert sorted(f.name for f in dead_functions(tree)) == ["pretrained_resnet"]
