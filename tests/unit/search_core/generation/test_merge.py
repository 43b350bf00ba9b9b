"""Merging an edit answer into its parent: what is replaced, added and kept, and that it runs."""

import ast
import json
from pathlib import Path

import pytest

from llm_gateway.domain import FinishReason
from llm_gateway.extraction import extract_code
from netapi.outcomes import Outcome
from netapi.static_check import check_source
from search_core.generation import merge
from search_core.generation.merge import Merged, NotMergeable, merge_into_parent

ZOO = Path(merge.__file__).parents[1] / "zoo" / "models"
ANSWERS = Path(__file__).parents[3] / "fixtures" / "llm_answers"
VGG = (ZOO / "VGG.py").read_text()

SE_EDIT = '''\
import torch.nn.functional as F


class SEBlock(nn.Module):
    """Squeeze-and-excitation: reweight channels by a gate computed from their means."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    def forward(self, x):
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3))))))  # (B, C)
        return x * gate[:, :, None, None]


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        channels = in_shape[1]
        layers = []
        for item in CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(), SEBlock(item)]
                channels = item
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(prm["dropout"]), nn.Linear(channels, out_shape[0]))

    def forward(self, x):
        # the SE gates sit after every convolution
        return self.head(self.features(x).mean((2, 3)))
'''

WHOLE = '''\
"""A tiny MLP, written whole."""

import torch
import torch.nn as nn


def supported_hyperparameters():
    return {"lr"}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.fc = nn.Linear(in_shape[1] * in_shape[2] * in_shape[3], out_shape[0])

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(),)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=prm["lr"])

    def learn(self, train_data):
        for inputs, labels in train_data:
            self.optimizer.zero_grad()
            self.criteria[0](self(inputs), labels).backward()
            self.optimizer.step()

    def forward(self, x):
        return self.fc(x.flatten(1))


if __name__ == "__main__":
    print(Net((1, 1, 28, 28), (10,), {"lr": 0.1}, torch.device("cpu")))
'''

BARE_METHODS = """\
def __init__(self, in_shape, out_shape, prm, device):
    super().__init__()
    self.device = device
    self.body = nn.Sequential(nn.Conv2d(in_shape[1], 8, 3), nn.Dropout(prm["dropout"]))
    self.fc = nn.Linear(8, out_shape[0])

def forward(self, x):
    return self.fc(self.body(x).mean((2, 3)))
"""

PRM = {"lr": 0.01, "momentum": 0.9, "dropout": 0.2}


def test_an_edit_answer_becomes_a_whole_compliant_module():
    merged = merge_into_parent(VGG, SE_EDIT)

    assert check_source(merged.code, "img-classification").outcome is Outcome.SUCCESS
    assert not merged.whole_module
    assert merged.replaced == ("Net.__init__", "Net.forward")
    assert merged.added == ("SEBlock",)
    assert merged.kept == ("supported_hyperparameters", "CONFIG", "Net.train_setup", "Net.learn")
    classes = [n.name for n in ast.parse(merged.code).body if isinstance(n, ast.ClassDef)]
    assert classes == ["SEBlock", "Net"]
    # text of both survives: the parent's comments and docstring, the answer's comments
    assert merged.code.startswith('"""VGG family')
    assert "# A VGG-11-style configuration" in merged.code
    assert "# the SE gates sit after every convolution" in merged.code
    assert "nn.utils.clip_grad_norm_(self.parameters(), 3)" in merged.code
    assert merged_net_methods(merged) == ["__init__", "train_setup", "learn", "forward"]


def test_the_merged_module_runs():
    torch = pytest.importorskip("torch")
    namespace: dict = {}
    exec(compile(merge_into_parent(VGG, SE_EDIT).code, "merged.py", "exec"), namespace)
    model = namespace["Net"]((2, 1, 28, 28), (10,), PRM, torch.device("cpu"))
    model.train_setup(PRM)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    model.learn([(torch.zeros(2, 1, 28, 28), torch.tensor([0, 1]))])


def test_a_whole_module_answer_is_taken_as_it_is():
    merged = merge_into_parent(VGG, WHOLE)

    assert merged.whole_module
    assert merged.replaced == ("supported_hyperparameters", "Net")
    assert merged.added == ()
    assert merged.kept == ()
    assert merged.code.startswith('"""A tiny MLP, written whole."""')
    assert "CONFIG" not in merged.code and "SGD" not in merged.code
    assert "__main__" not in merged.code
    assert check_source(merged.code, "img-classification").outcome is Outcome.SUCCESS


def test_a_whole_module_receives_what_it_uses_but_lacks_from_the_parent():
    answer = WHOLE.replace("import torch\n", "").replace(
        "self.fc = nn.Linear(", "self.sizes = CONFIG\n        self.fc = nn.Linear("
    )
    merged = merge_into_parent(VGG, answer)

    assert merged.whole_module
    assert merged.kept == ("CONFIG",)
    assert "import torch\n" in merged.code
    assert check_source(merged.code, "img-classification").outcome is Outcome.SUCCESS


def test_bare_methods_are_net_methods():
    merged = merge_into_parent(VGG, "import torch.nn as nn\n\n" + BARE_METHODS)

    assert merged.replaced == ("Net.__init__", "Net.forward")
    assert merged.kept == ("supported_hyperparameters", "CONFIG", "Net.train_setup", "Net.learn")
    assert merged_net_methods(merged) == ["__init__", "train_setup", "learn", "forward"]
    assert check_source(merged.code, "img-classification").outcome is Outcome.SUCCESS


def test_indented_bare_methods_are_dedented():
    indented = "\n".join("    " + line if line else "" for line in BARE_METHODS.splitlines())
    merged = merge_into_parent(VGG, indented)

    assert merged.replaced == ("Net.__init__", "Net.forward")
    assert check_source(merged.code, "img-classification").outcome is Outcome.SUCCESS


def test_new_imports_are_merged_and_duplicates_are_not_repeated():
    answer = (
        "import torch\nfrom torch import nn\nimport math\nimport torch.nn.functional as F\n\n"
        + SE_EDIT.replace("import torch.nn.functional as F\n", "")
    )
    merged = merge_into_parent(VGG, answer)
    imports = [ast.unparse(n) for n in ast.parse(merged.code).body if isinstance(n, ast.Import)]

    assert imports == [
        "import torch",
        "import torch.nn as nn",
        "import math",
        "import torch.nn.functional as F",
    ]
    assert "from torch import nn" not in merged.code


def test_a_partly_new_import_keeps_only_its_new_names():
    answer = "from torch import nn, Tensor\n\n\nclass Gate(nn.Module):\n    pass\n"
    merged = merge_into_parent(VGG, answer)

    assert "from torch import Tensor\n" in merged.code
    assert merged.added == ("Gate",)


def test_a_deliberate_supported_hyperparameters_wins():
    answer = 'def supported_hyperparameters():\n    return {"lr", "momentum"}\n\n\n' + SE_EDIT
    merged = merge_into_parent(VGG, answer)

    assert merged.replaced == ("supported_hyperparameters", "Net.__init__", "Net.forward")
    assert '{"lr", "momentum"}' in merged.code
    assert '"dropout"}' not in merged.code
    assert not merged.whole_module


def test_a_stub_standing_for_a_parent_method_keeps_the_parent_method():
    answer = SE_EDIT + "\n    def learn(self, train_data):\n        ...  # unchanged\n"
    merged = merge_into_parent(VGG, answer)

    assert "Net.learn" in merged.kept
    assert "clip_grad_norm_" in merged.code


def test_a_demo_at_top_level_is_dropped():
    demo = (
        "\n\nmodel = Net((1, 1, 28, 28), (10,), {}, None)\nx = torch.randn(1, 1, 28, 28)\n"
        "out = model(x)\nprint(Net(1, 2, 3, 4))\nif __name__ == '__main__':\n    print(out)\n"
    )
    merged = merge_into_parent(VGG, SE_EDIT + demo)

    assert merged == merge_into_parent(VGG, SE_EDIT)


def test_a_constant_that_the_answer_reads_is_a_definition():
    answer = SE_EDIT.replace("reduction: int = 4", "reduction: int = REDUCTION").replace(
        "class SEBlock", "REDUCTION = 4\nUNUSED = 5\n\n\nclass SEBlock"
    )
    merged = merge_into_parent(VGG, answer)

    assert merged.added == ("REDUCTION", "SEBlock")
    assert "UNUSED" not in merged.code


def test_a_replaced_class_stays_in_place_and_a_new_helper_goes_before_its_first_user():
    parent = VGG.replace("class Net(", "class Stem(nn.Module):\n    pass\n\n\nclass Net(")
    answer = (
        "class Stem(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.act = Swish()\n\n\nclass Swish(nn.Module):\n"
        "    def forward(self, x):\n        return x * torch.sigmoid(x)\n"
    )
    merged = merge_into_parent(parent, answer)
    classes = [n.name for n in ast.parse(merged.code).body if isinstance(n, ast.ClassDef)]

    assert classes == ["Swish", "Stem", "Net"]
    assert merged.replaced == ("Stem",)
    assert merged.added == ("Swish",)
    assert "Net" in merged.kept


def test_a_net_without_bases_keeps_the_parent_header():
    answer = (
        "class Net:\n    def forward(self, x):\n        return self.classifier(x.mean((2, 3)))\n"
    )
    merged = merge_into_parent(VGG, answer)

    assert "class Net(nn.Module):\n" in merged.code
    assert merged.replaced == ("Net.forward",)


def test_statements_sharing_a_line_are_split():
    answer = "import math; import random\nclass Gate(nn.Module): pass\n"
    merged = merge_into_parent(VGG, answer)

    assert "import math\nimport random\n" in merged.code
    assert "class Gate(nn.Module): pass\n" in merged.code


@pytest.mark.parametrize("name", sorted(p.stem for p in ZOO.glob("*.py")))
def test_a_module_merged_into_itself_is_itself(name):
    source = (ZOO / f"{name}.py").read_text()
    merged = merge_into_parent(source, source)

    assert merged.code == source
    assert merged.replaced == merged.added == ()


def test_merging_is_deterministic():
    assert merge_into_parent(VGG, SE_EDIT) == merge_into_parent(VGG, SE_EDIT)


@pytest.mark.parametrize("answer", ["class Net(nn.Module:\n    pass\n", "def forward(self, x)\n"])
def test_an_unparseable_answer_is_not_mergeable(answer):
    with pytest.raises(NotMergeable, match="does not parse"):
        merge_into_parent(VGG, answer)


@pytest.mark.parametrize("answer", ["x = 1\n", "import torch\n", "", "print('done')\n"])
def test_an_answer_without_a_class_or_function_is_not_mergeable(answer):
    with pytest.raises(NotMergeable, match="no class and no function"):
        merge_into_parent(VGG, answer)


def test_an_unparseable_parent_is_a_value_error():
    with pytest.raises(ValueError, match="parent"):
        merge_into_parent("class Net(:\n", SE_EDIT)


def merged_net_methods(merged: Merged) -> list[str]:
    net = next(n for n in ast.parse(merged.code).body if getattr(n, "name", "") == "Net")
    return [n.name for n in net.body if isinstance(n, ast.FunctionDef)]


# --- recorded answers of real models --------------------------------------------------------------

RECORDED = sorted(ANSWERS.glob("**/*.json")) if ANSWERS.is_dir() else []


def recorded_code(path: Path) -> tuple[dict, str]:
    record = json.loads(path.read_text())
    return record, extract_code(record["answer"], FinishReason.EOS).code


@pytest.mark.parametrize("path", RECORDED, ids=[str(p.relative_to(ANSWERS)) for p in RECORDED])
def test_every_recorded_answer_merges_into_a_module_that_parses(path):
    record, code = recorded_code(path)
    parent = (ZOO / f"{record['parent']}.py").read_text()
    try:
        merged = merge_into_parent(parent, code)
    except NotMergeable:
        return
    ast.parse(merged.code)
