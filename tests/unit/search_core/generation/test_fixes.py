"""Deterministic fixes: each rule on the slips a small model makes to VGG, and never any harm."""

import json
import pathlib

import pytest

from llm_gateway.domain import FinishReason
from llm_gateway.extraction import extract_code
from netapi.code_policy import CodePolicy
from netapi.name_index import NameIndex, build_index
from netapi.outcomes import Outcome
from netapi.static_check import check_source
from netapi.tasks import IMG_CLASSIFICATION
from search_core.generation.fixes import FIX_RULES, AppliedFix, Fixed, apply_fixes
from search_core.zoo.registry import builtin_models

ZOO = {model.name: model for model in builtin_models()}
VGG = ZOO["VGG"].code
SUPPORTED = 'def supported_hyperparameters():\n    return {"lr", "momentum", "dropout"}\n'
ANSWERS = sorted((pathlib.Path(__file__).parents[3] / "fixtures" / "llm_answers").rglob("*.json"))


def vgg_with(*replacements: tuple[str, str]) -> str:
    """VGG with each (old, new) replaced once; every old text must be there."""
    code = VGG
    for old, new in replacements:
        assert code.count(old) == 1, old
        code = code.replace(old, new)
    return code


def passes(code: str) -> bool:
    return check_source(code, IMG_CLASSIFICATION).outcome is Outcome.SUCCESS


def clean(code: str) -> bool:
    """Passes without a warning (`self.criterion` passes, with one: LEMUR trains it)."""
    verdict = check_source(code, IMG_CLASSIFICATION)
    return verdict.outcome is Outcome.SUCCESS and not verdict.warnings


def assert_idempotent(fixed: Fixed, parent_code: str = "") -> None:
    assert apply_fixes(fixed.code, parent_code) == Fixed(fixed.code, ())


def fixes_of(fixed: Fixed) -> list[tuple[str, str]]:
    return [(fix.rule, fix.detail) for fix in fixed.fixes]


SLIPS = {
    "star-import": (
        vgg_with(
            ("import torch.nn as nn\n", "import torch.nn as nn\nfrom typing import *\n"),
            ("def forward(self, x):", "def forward(self, x) -> Optional[torch.Tensor]:"),
        ),
        [("star-import", "from typing import Optional")],
        "from typing import Optional\n",
    ),
    "hyperparameters-function (a module-level set)": (
        vgg_with((SUPPORTED, "supported_hyperparameters = {'lr', 'momentum', 'dropout'}\n")),
        [
            (
                "hyperparameters-function",
                "supported_hyperparameters = ... -> def supported_hyperparameters()",
            )
        ],
        "def supported_hyperparameters():\n    return {'lr', 'momentum', 'dropout'}\n",
    ),
    "hyperparameters-function (a method of Net only)": (
        vgg_with(
            (SUPPORTED, ""),
            (
                "    def train_setup(",
                "    @staticmethod\n    def supported_hyperparameters():\n"
                "        return ['lr', 'momentum', 'dropout']\n\n    def train_setup(",
            ),
        ),
        [
            (
                "hyperparameters-function",
                "module-level supported_hyperparameters() from Net's method",
            )
        ],
        "import torch.nn as nn\n\n\ndef supported_hyperparameters():\n"
        "    return {'lr', 'momentum', 'dropout'}\n",
    ),
    "hyperparameters-from-parent (no parent: built from the keys read)": (
        vgg_with((SUPPORTED, "")),
        [
            (
                "hyperparameters-from-parent",
                "built from the prm keys read: {'dropout', 'lr', 'momentum'}",
            )
        ],
        "def supported_hyperparameters():\n    return {'dropout', 'lr', 'momentum'}\n",
    ),
    "undeclared-hyperparameter": (
        vgg_with(
            ('return {"lr", "momentum", "dropout"}', 'return {"lr", "momentum"}'),
            ("\n\n# A VGG", "\n\nHYPERPARAMETERS = {'lr': 0.01, 'momentum': 0.9}\n\n\n# A VGG"),
        ),
        [("undeclared-hyperparameter", "'dropout'")],
        'return {"lr", "momentum", "dropout"}\n\n\n'
        "HYPERPARAMETERS = {'lr': 0.01, 'momentum': 0.9, 'dropout': 0.2}\n",
    ),
    "criterion-to-criteria": (
        vgg_with(
            (
                "self.criteria = (nn.CrossEntropyLoss().to(self.device),)",
                "self.criterion = nn.CrossEntropyLoss().to(self.device)",
            ),
            ("self.criteria[0](self(inputs), labels)", "self.criterion(self(inputs), labels)"),
        ),
        [("criterion-to-criteria", "self.criterion -> self.criteria")],
        "self.criteria = (nn.CrossEntropyLoss().to(self.device),)",
    ),
    "in-shape-channels (a layer's first argument)": (
        vgg_with(
            (
                "        self.features = nn.Sequential(*layers)\n",
                "        self.stem = nn.Conv2d(in_shape[0], 3, 1)\n"
                "        self.features = nn.Sequential(*layers)\n",
            )
        ),
        [("in-shape-channels", "in_shape[0] -> in_shape[1] (line 31)")],
        "self.stem = nn.Conv2d(in_shape[1], 3, 1)",
    ),
    "in-shape-channels (a variable named for channels)": (
        vgg_with(("channels = in_shape[1]", "channels = in_shape[0]")),
        [("in-shape-channels", "in_shape[0] -> in_shape[1] (line 19)")],
        "channels = in_shape[1]",
    ),
}


@pytest.mark.parametrize("slip", SLIPS)
def test_a_slip_is_fixed_into_a_module_the_checker_accepts(slip: str) -> None:
    broken, expected_fixes, expected_text = SLIPS[slip]
    assert not clean(broken)
    fixed = apply_fixes(broken)
    assert fixes_of(fixed) == expected_fixes
    assert expected_text in fixed.code
    assert clean(fixed.code), check_source(fixed.code, IMG_CLASSIFICATION).to_dict()
    assert_idempotent(fixed)


def test_missing_imports_are_added_after_the_last_import() -> None:
    # The checker does not judge unbound names: the proof is that the module now runs.
    torch = pytest.importorskip("torch")
    broken = vgg_with(
        ("x = self.avgpool(self.features(x))", "x = F.relu(self.avgpool(self.features(x)))"),
        ("    def learn(self, train_data):", "    def learn(self, train_data: List) -> None:"),
        ("layers = []", "layers = OrderedDict()\n        layers = []"),
    )
    fixed = apply_fixes(broken)
    assert fixes_of(fixed) == [
        ("missing-import", "import torch.nn.functional as F"),
        ("missing-import", "from collections import OrderedDict"),
        ("missing-import", "from typing import List"),
    ]
    assert fixed.code.startswith(
        VGG.split("\n\n\ndef")[0] + "\nimport torch.nn.functional as F\n"
        "from collections import OrderedDict\nfrom typing import List\n\n\ndef"
    )
    assert passes(fixed.code)
    assert_idempotent(fixed)
    namespace: dict = {}
    exec(compile(fixed.code, "<fixed>", "exec"), namespace)  # our own fixture, not a candidate
    net = namespace["Net"]((2, 3, 32, 32), (10,), {"dropout": 0.1}, torch.device("cpu"))
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_the_parents_supported_hyperparameters_is_copied_verbatim() -> None:
    broken = vgg_with((SUPPORTED, ""), ('prm["dropout"]', "0.1"))
    assert not passes(broken)
    fixed = apply_fixes(broken, parent_code=ZOO["ResNet"].code)
    parents = ZOO["ResNet"].code.split("def supported_hyperparameters")[1].split("\n\n")[0]
    assert fixes_of(fixed) == [("hyperparameters-from-parent", "copied from the parent")]
    assert "def supported_hyperparameters" + parents in fixed.code
    assert_idempotent(fixed, ZOO["ResNet"].code)


def test_a_new_hyperparameter_takes_the_parents_proposed_value() -> None:
    parent = VGG + "\nHYPERPARAMETERS = {'lr': 0.05, 'momentum': 0.8, 'dropout': 0.35}\n"
    broken = vgg_with(
        ('return {"lr", "momentum", "dropout"}', 'return {"lr", "momentum"}'),
        ("\n\n# A VGG", "\n\nHYPERPARAMETERS = {'lr': 0.01, 'momentum': 0.9}\n\n\n# A VGG"),
    )
    fixed = apply_fixes(broken, parent)
    assert "HYPERPARAMETERS = {'lr': 0.01, 'momentum': 0.9, 'dropout': 0.35}" in fixed.code


def test_supported_hyperparameters_returning_a_variable_returns_the_literal() -> None:
    broken = vgg_with(
        (
            SUPPORTED,
            'def supported_hyperparameters():\n    names = ["lr", "momentum"]\n    return names\n',
        ),
    )
    fixed = apply_fixes(broken)
    assert fixes_of(fixed) == [
        ("hyperparameters-function", "supported_hyperparameters() returns a literal set"),
        ("undeclared-hyperparameter", "'dropout'"),
    ]
    assert 'return {"lr", "momentum", "dropout"}' in fixed.code
    assert passes(fixed.code)


def test_several_slips_at_once_are_fixed_in_the_documented_order() -> None:
    broken = vgg_with(
        ("import torch.nn as nn\n", "from torch.nn import *\n"),
        (SUPPORTED, "supported_hyperparameters = {'lr', 'momentum'}\n"),
        ("channels = in_shape[1]", "channels = in_shape[0]"),
        (
            "self.criteria = (nn.CrossEntropyLoss().to(self.device),)",
            "self.criterion = CrossEntropyLoss().to(self.device)",
        ),
        ("self.criteria[0](self(inputs), labels)", "self.criterion(self(inputs), labels)"),
        ("x = self.avgpool(self.features(x))", "x = F.relu(self.avgpool(self.features(x)))"),
    )
    fixed = apply_fixes(broken)
    rules = [fix.rule for fix in fixed.fixes]
    assert rules == sorted(rules, key=FIX_RULES.index)
    # Not applicable here: those that need a parent, and the one applied after a check.
    needing_more = {"hyperparameters-from-parent", "parent-local-binding", "layer-size-from-error"}
    needing_more |= {"super-init-first", "torch-misspelling", "flatten-keeps-batch"}  # below
    needing_more.add("alias-from-its-module")
    assert set(rules) == set(FIX_RULES) - needing_more
    assert passes(fixed.code)
    assert_idempotent(fixed)


def test_comments_formatting_and_other_lines_survive_byte_for_byte() -> None:
    broken = vgg_with(("channels = in_shape[1]", "channels = in_shape[0]"))
    fixed = apply_fixes(broken.replace("\n", "\r\n").replace("# VGG", "# VGG — ünïcode"))
    assert fixed.code == VGG.replace("\n", "\r\n").replace("# VGG", "# VGG — ünïcode")


def test_unparseable_code_is_returned_unchanged() -> None:
    for code in (VGG[: len(VGG) // 2], "", "# only a comment\n", "def f(:\n    F.relu(x)\n"):
        assert apply_fixes(code) == Fixed(code, ())


def test_what_is_not_a_known_slip_is_left_alone() -> None:
    untouched = (
        vgg_with(("import torch.nn as nn\n", "import torch.nn as nn\nfrom os import *\n")),
        vgg_with(('prm["dropout"]', "prm.get('dropout_kind', 'spatial') and 0.1")),
        "{\n" + '  "model": "a JSON document, not a model"\n}\n',
    )
    for code in untouched:
        assert apply_fixes(code).fixes == ()


@pytest.mark.parametrize("name", sorted(ZOO))
def test_a_valid_zoo_model_gets_no_fixes(name: str) -> None:
    assert apply_fixes(ZOO[name].code) == Fixed(ZOO[name].code, ())


def test_fixes_serialise_with_a_stable_rule_id() -> None:
    assert AppliedFix("missing-import", "import math").to_dict() == {
        "rule": "missing-import",
        "detail": "import math",
    }
    assert len(set(FIX_RULES)) == len(FIX_RULES) == 13


def _recorded(path: pathlib.Path) -> tuple[str, str]:
    """A recorded answer's code, and its parent zoo model's code ('' when not in the zoo)."""
    answer = json.loads(path.read_text(encoding="utf-8"))
    finish = FinishReason(answer.get("finish_reason") or FinishReason.EOS)
    parent = ZOO.get(answer.get("parent", ""))
    return extract_code(answer["answer"], finish).code, parent.code if parent else ""


@pytest.mark.skipif(not ANSWERS, reason="no recorded answers in tests/fixtures/llm_answers")
def test_recorded_llm_answers_are_never_made_worse() -> None:
    passed_before = passed_after = 0
    for path in ANSWERS:
        code, parent = _recorded(path)
        fixed = apply_fixes(code, parent)
        assert_idempotent(fixed, parent)
        before, after = passes(code), passes(fixed.code)
        assert after or not before, path.name
        passed_before += before
        passed_after += after
    print(f"recorded answers passing the checker: {passed_before} -> {passed_after}")
    assert passed_after >= passed_before


def test_a_local_the_rewritten_method_reads_but_lost_is_bound_as_the_parent_bound_it() -> None:
    # As the 1.5B model wrote it: `__init__` rewritten, `nn.Dropout(dropout)` kept, and the
    # parent's `dropout = prm["dropout"]` gone (a NameError at instantiation).
    broken = vgg_with(('        dropout = prm["dropout"]\n', ""))
    fixed = apply_fixes(broken, VGG)
    assert fixes_of(fixed) == [("parent-local-binding", 'Net.__init__: dropout = prm["dropout"]')]
    assert "        super().__init__()\n" in fixed.code
    super_init = fixed.code.index("super().__init__()")
    assert (
        super_init < fixed.code.index('dropout = prm["dropout"]') < fixed.code.index("self.device")
    )
    assert passes(fixed.code)
    assert_idempotent(fixed, VGG)


def test_a_lost_local_is_not_restored_without_the_parent_or_when_its_value_needs_more() -> None:
    broken = vgg_with(('        dropout = prm["dropout"]\n', ""))
    assert apply_fixes(broken).fixes == ()  # no parent: nothing to take the binding from
    parent = VGG.replace('dropout = prm["dropout"]', 'dropout = rate * prm["dropout"]')
    assert "parent-local-binding" not in {fix.rule for fix in apply_fixes(broken, parent).fixes}


def test_torch_nn_classes_used_bare_are_imported_from_torch_nn() -> None:
    # As the 0.5B model wrote it: `class Net(Module)` with no import of Module.
    broken = vgg_with(
        ("class Net(nn.Module):", "class Net(Module):"),
        ("self.avgpool = nn.AdaptiveAvgPool2d(2)", "self.avgpool = AdaptiveAvgPool2d(2)"),
    )
    fixed = apply_fixes(broken)
    assert fixes_of(fixed) == [("missing-import", "from torch.nn import AdaptiveAvgPool2d, Module")]
    assert passes(fixed.code)
    assert_idempotent(fixed)


def test_super_init_goes_first_in_a_module_init() -> None:
    # As the 0.5B model wrote it: a submodule assigned before nn.Module's own __init__ ran.
    late = vgg_with(
        (
            "        super().__init__()\n        self.device = device\n",
            "        self.device = device\n",
        ),
        (
            "        self.features = nn.Sequential(*layers)\n",
            "        self.features = nn.Sequential(*layers)\n        super().__init__()\n",
        ),
    )
    fixed = apply_fixes(late)
    assert fixes_of(fixed) == [("super-init-first", "Net.__init__: super().__init__() moved first")]
    assert fixed.code == VGG
    missing = vgg_with(("        super().__init__()\n", ""))
    fixed = apply_fixes(missing)
    assert fixes_of(fixed) == [("super-init-first", "Net.__init__: super().__init__() added")]
    assert fixed.code == VGG
    assert_idempotent(fixed)


def test_misspelt_torch_names_are_renamed_through_the_import_aliases() -> None:
    # As the 0.5B model wrote them: nn.HardSwish and F.Swish do not exist.
    broken = vgg_with(
        ("nn.ReLU(inplace=True),\n                ]", "nn.HardSwish(),\n                ]"),
        ("x = self.avgpool(self.features(x))", "x = F.Swish(self.avgpool(self.features(x)))"),
        ("import torch.nn as nn\n", "import torch.nn as nn\nimport torch.nn.functional as F\n"),
    )
    # Judged against this machine's torch, as the sandbox judges against its image's.
    policy = CodePolicy(index=NameIndex.from_dict(build_index()))
    assert check_source(broken, IMG_CLASSIFICATION, policy).outcome is Outcome.HALLUCINATED_API
    fixed = apply_fixes(broken)
    assert [fix.detail for fix in fixed.fixes] == [
        "nn.HardSwish -> nn.Hardswish (line 29)",
        "F.Swish -> F.silu (line 61)",
    ]
    assert check_source(fixed.code, IMG_CLASSIFICATION, policy).outcome is Outcome.SUCCESS
    assert_idempotent(fixed)


@pytest.mark.parametrize(
    ("written", "fixed_as"),
    [
        ("torch.flatten(x)", "torch.flatten(x, 1)"),
        ("x.flatten()", "x.flatten(1)"),
        ("x.view(-1)", "x.view(x.size(0), -1)"),
        ("x.reshape(-1)", "x.reshape(x.size(0), -1)"),
    ],
)
def test_a_forward_that_flattens_the_batch_away_keeps_it(written, fixed_as) -> None:
    # As the 0.5B model wrote it: the head got (1 x batch*features) and raised.
    broken = vgg_with(("torch.flatten(x, 1)", written))
    fixed = apply_fixes(broken)
    assert fixes_of(fixed) == [
        ("flatten-keeps-batch", f"Net.forward: {written} -> {fixed_as} (line 61)")
    ]
    assert passes(fixed.code) and fixed_as in fixed.code
    assert_idempotent(fixed)


def test_a_flatten_that_keeps_the_batch_or_is_outside_forward_is_left_alone() -> None:
    kept = vgg_with(("torch.flatten(x, 1)", "x.view(x.size(0), -1)"))
    assert apply_fixes(kept).fixes == ()
    helper = VGG + "\n\ndef flat(x):\n    return torch.flatten(x)\n"
    assert apply_fixes(helper).fixes == ()


def test_a_module_imported_from_itself_is_imported_as_its_alias() -> None:
    # As the 0.5B model wrote them (bench-repair, 20 ideas): both raise at import.
    broken = vgg_with(
        ("import torch.nn as nn\n", "from torch.nn import Module, nn\n"),
        ("import torch\n", "import torch\nfrom torch.nn.functional import F\n"),
    )
    fixed = apply_fixes(broken)
    assert fixes_of(fixed) == [
        ("alias-from-its-module", "import torch.nn.functional as F"),
        ("alias-from-its-module", "import torch.nn as nn"),
    ]
    assert "from torch.nn import Module\nimport torch.nn as nn\n" in fixed.code
    assert passes(fixed.code)
    assert_idempotent(fixed)
