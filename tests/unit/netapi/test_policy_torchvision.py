"""torchvision allowed by default: LEMUR-style building blocks pass, invented names are
hallucinated, and everything that fetches pretrained weights, loads native code or touches
files is refused, through every alias.

The index is built from this interpreter's torch and torchvision, as test_name_index does
(the image's is built the same way, with its own versions).
"""

import ast
import importlib
import json
import pkgutil
import textwrap
import types

import pytest

from netapi.code_policy import CodePolicy, code_policy_findings
from netapi.module_facts import ModuleFacts
from netapi.name_index import NameIndex, build_index
from netapi.outcomes import Outcome
from netapi.static_check import check_source

torchvision = pytest.importorskip("torchvision")

DEFAULT = CodePolicy()
PUBLIC_TORCHVISION = torchvision.__version__.partition("+")[0]  # messages drop +cu130

# Written in the style of LEMUR's models (ABrain-One/nn-dataset): torchvision's building
# blocks and private helpers, re/gc/copy/random beside torch. Also run in a real container
# by tests/integration/sandbox/test_torchvision_models.py.
LEMUR_STYLE = """
import copy
import gc
import math
import random
import re
from functools import partial
from typing import Any, Callable, Optional

import torch
import torch.nn as nn
from torchvision.models._api import Weights, WeightsEnum
from torchvision.models._utils import _make_divisible, _ovewrite_named_param
from torchvision.models.resnet import BasicBlock
from torchvision.ops.misc import MLP, Conv2dNormActivation, Permute
from torchvision.ops.stochastic_depth import StochasticDepth, stochastic_depth


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, expand: int, p_drop: float) -> None:
        super().__init__()
        hidden = _make_divisible(cin * expand, 8)
        norm: Callable[..., nn.Module] = partial(nn.BatchNorm2d, eps=0.001)
        self.use_res = cin == cout
        self.block = nn.Sequential(
            Conv2dNormActivation(cin, hidden, kernel_size=1, norm_layer=norm,
                                 activation_layer=nn.ReLU6),
            Conv2dNormActivation(hidden, hidden, kernel_size=3, groups=hidden,
                                 norm_layer=norm, activation_layer=nn.ReLU6),
            Conv2dNormActivation(hidden, cout, kernel_size=1, norm_layer=norm,
                                 activation_layer=None),
        )
        self.stochastic_depth = StochasticDepth(p_drop, "row")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_res:
            out = x + self.stochastic_depth(out)
        return out


class ChannelsLastNorm(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.to_last = Permute([0, 2, 3, 1])
        self.norm = nn.LayerNorm(channels)
        self.to_first = Permute([0, 3, 1, 2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_first(self.norm(self.to_last(x)))


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        random.seed(0)
        kwargs: dict[str, Any] = {}
        _ovewrite_named_param(kwargs, "num_classes", out_shape[0])
        widths = [_make_divisible(w * 1.0, 8) for w in (16, 24, 24)]
        self.stem = Conv2dNormActivation(in_shape[1], widths[0], stride=2)
        stages = []
        for i, (cin, cout) in enumerate(zip(widths, widths[1:])):
            stages.append(InvertedResidual(cin, cout, 4, 0.1 * i))
        self.stages = nn.Sequential(*stages)
        self.extra = copy.deepcopy(self.stages[-1])
        self.residual = BasicBlock(widths[-1], widths[-1])
        self.norm = ChannelsLastNorm(widths[-1])
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(1),
            MLP(widths[-1], [64, kwargs["num_classes"]], dropout=prm["dropout"]),
        )
        self.depth = math.ceil(len(stages) / 2)

    def train_setup(self, prm: dict) -> None:
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])

    def learn(self, train_data) -> None:
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            self.optimizer.step()
        gc.collect()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        x = self.residual(self.extra(x))
        x = stochastic_depth(self.norm(x), 0.0, "row", self.training)
        return self.head(x)


def stage_names(model: nn.Module) -> list:
    return [name for name, _ in model.named_modules() if re.fullmatch(r"stages\\.\\d+", name)]
"""


@pytest.fixture(scope="module")
def index():
    return NameIndex.from_dict(json.loads(json.dumps(build_index())))  # through JSON, as shipped


def findings(source: str) -> list[tuple[str, str]]:
    tree = ast.parse(textwrap.dedent(source))
    return sorted((f.rule, f.message) for f in code_policy_findings(ModuleFacts.of(tree), DEFAULT))


def test_a_lemur_style_model_passes_the_static_check_with_the_index(index):
    for policy in (DEFAULT, CodePolicy(index=index)):
        verdict = check_source(LEMUR_STYLE, "img-classification", policy)
        assert verdict.outcome is Outcome.SUCCESS, verdict.findings


@pytest.mark.parametrize(
    "source",
    [
        "from torchvision.ops.misc import Conv2dNormActivation, MLP, Permute\n",
        "from torchvision.ops.stochastic_depth import StochasticDepth\n",
        "from torchvision.models._utils import _make_divisible\n",
        "from torchvision.models._api import WeightsEnum, Weights\n",
        "from torchvision.models import _utils\nd = _utils._make_divisible(30, 8)\n",
        "import torchvision.models.mobilenetv2 as m\nb = m.InvertedResidual(8, 8, 1, 2)\n",
        "from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1\n",
        "from torchvision.utils import _log_api_usage_once\n",
        "import torchvision\nn = torchvision.ops.misc.Conv2dNormActivation(3, 8)\n",
        "import torchvision\nm = torchvision.models.resnet18(weights=None, num_classes=10)\n",
        "from torchvision.models import get_model\nm = get_model('resnet18', weights=None)\n",
    ],
)
def test_torchvision_building_blocks_pass(index, source):
    verdict = check_source(source, "img-classification", CodePolicy(index=index))
    assert [f for f in verdict.findings if f.stage.value == "static" and f.rule in RULES] == []


RULES = {
    "unknown-name",
    "unknown-module",
    "unknown-keyword",
    "forbidden-import",
    "forbidden-attribute",
    "forbidden-module-attribute",
    "forbidden-torch-api",
    "pretrained-weights",
    "computed-attribute",
}


@pytest.mark.parametrize(
    ("source", "subject"),
    [
        (
            "from torchvision.ops.misc import Conv2dNormActivationX\n",
            "torchvision.ops.misc.Conv2dNormActivationX",
        ),
        (
            "import torchvision\nb = torchvision.ops.misc.Conv2dNormActivationX(3, 8)\n",
            "torchvision.ops.misc.Conv2dNormActivationX",
        ),
        ("from torchvision.models._utils import _make_divisable\n", None),
        ("import torchvision.models.resnet50x\n", "torchvision.models.resnet50x"),
        ("from torchvision.models.efficientnetv9 import Block\n", None),
    ],
)
def test_an_invented_torchvision_name_is_hallucinated(index, source, subject):
    verdict = check_source(source, "img-classification", CodePolicy(index=index))
    assert verdict.outcome is Outcome.HALLUCINATED_API, verdict.findings
    finding = next(f for f in verdict.findings if f.rule == "unknown-name")
    assert f"does not exist in torchvision {PUBLIC_TORCHVISION}" in finding.message
    assert subject is None or finding.subject == subject


def test_a_hallucinated_torch_name_names_torch_and_its_version(index):
    verdict = check_source(
        "import torch\nx = torch.nn.Swish()\n", "img-classification", CodePolicy(index=index)
    )
    import torch

    assert f"does not exist in torch {torch.__version__.partition('+')[0]} " in (
        verdict.findings[0].message + " "
    )


def test_a_torchvision_keyword_is_judged_by_its_signature(index):
    source = "from torchvision.ops.misc import MLP\nm = MLP(8, [4], drop=0.1)\n"
    verdict = check_source(source, "img-classification", CodePolicy(index=index))
    assert verdict.findings[0].rule == "unknown-keyword"
    assert "in torchvision" in verdict.findings[0].message


# (source, rule, a piece of the message)
WEIGHTS = {
    "weights-default": (
        "from torchvision.models import resnet18\nm = resnet18(weights='DEFAULT')\n",
        "pretrained-weights",
        "the sandbox has no network: train from scratch",
    ),
    "weights-of-a-submodule-builder": (
        "import torchvision.models.resnet as R\n"
        "m = R.resnet18(weights=R.ResNet18_Weights.DEFAULT)\n",
        "pretrained-weights",
        "torchvision.models.resnet.resnet18(weights=...)",
    ),
    "pretrained-true": (
        "import torchvision\nm = torchvision.models.vgg11(pretrained=True)\n",
        "pretrained-weights",
        "downloads or loads pretrained weights",
    ),
    "get-model": (
        "from torchvision.models import get_model\nm = get_model('resnet18', weights='DEFAULT')\n",
        "pretrained-weights",
        "get_model(weights=...)",
    ),
    "backbone-weights": (
        "from torchvision.models.detection import fasterrcnn_resnet50_fpn as f\n"
        "m = f(weights=None, weights_backbone='DEFAULT')\n",
        "pretrained-weights",
        "(weights_backbone=...)",
    ),
    "weights-in-a-dict-splat": (
        "from torchvision.models import resnet18\nm = resnet18(**{'weights': 'DEFAULT'})\n",
        "pretrained-weights",
        "",
    ),
    "weights-through-an-assigned-alias": (
        "import torchvision\nM = torchvision.models\nm = M.resnet50(weights='IMAGENET1K_V2')\n",
        "pretrained-weights",
        "torchvision.models.resnet50",
    ),
    "weights-through-partial": (
        "import functools\nimport torchvision\n"
        "b = functools.partial(torchvision.models.resnet18, weights='DEFAULT')\n",
        "pretrained-weights",
        "",
    ),
    "utils-aliased-legacy-interface": (
        "from torchvision.models import _utils as U\n"
        "w = U.handle_legacy_interface(weights=('pretrained', 'DEFAULT'))\n",
        "pretrained-weights",
        "",
    ),
    "weights-enum-get-state-dict": (
        "def load(model, weights):\n"
        "    model.load_state_dict(weights.get_state_dict(progress=True))\n"
        "loaded = load(None, None)\n",  # reached (dead code warns: test_weights_reachability)
        "pretrained-weights",
        "'.get_state_dict' downloads or loads pretrained weights",
    ),
    "hub-load-state-dict-from-url": (
        "import torch\ns = torch.hub.load_state_dict_from_url('https://x/w.pth')\n",
        "pretrained-weights",
        "'torch.hub.load_state_dict_from_url'",
    ),
    "api-load-state-dict-from-url-imported": (
        "from torchvision.models._api import load_state_dict_from_url\n",
        "pretrained-weights",
        "",
    ),
    "api-load-state-dict-from-url-attribute": (
        "from torchvision.models import _api\ns = _api.load_state_dict_from_url('u')\n",
        "pretrained-weights",
        "",
    ),
    "internally-replaced-utils": (
        "import torchvision._internally_replaced_utils as u\n",
        "forbidden-import",
        "downloads or loads pretrained weights",
    ),
    "internally-replaced-utils-attribute": (
        "import torchvision\nf = torchvision._internally_replaced_utils._get_extension_path\n",
        "pretrained-weights",
        "",
    ),
    "extension-load-library": (
        "from torchvision.extension import _load_library\n",
        "forbidden-import",
        "torchvision.extension",
    ),
    "extension-attribute": (
        "import torchvision\ntorchvision.extension._load_library('x')\n",
        "forbidden-torch-api",
        "",
    ),
    "save-image": (
        "import torchvision\ntorchvision.utils.save_image(x, '/tmp/x.png')\n",
        "forbidden-torch-api",
        "'torchvision.utils.save_image'",
    ),
    "datasets": ("from torchvision.datasets import CIFAR10\n", "forbidden-import", ""),
    "io": ("import torchvision.io as tio\n", "forbidden-import", ""),
    "numpy-through-torchvision": (
        "import torchvision\nn = torchvision.utils.np\n",
        "forbidden-module-attribute",
        "'np'",
    ),
    "pil-through-torchvision": (
        "from torchvision.utils import Image\n",
        "forbidden-module-attribute",
        "'Image'",
    ),
    "importlib-through-api": (
        "from torchvision.models import _api\ni = _api.importlib\n",
        "forbidden-module-attribute",
        "'importlib'",
    ),
    "getattr-weights-loader": (
        "from torchvision.models import _api\nf = getattr(_api, 'load_state_dict_from_url')\n",
        "forbidden-attribute",
        "",
    ),
}


@pytest.mark.parametrize(("source", "rule", "message"), WEIGHTS.values(), ids=WEIGHTS.keys())
def test_weights_native_code_and_files_are_refused(source, rule, message):
    found = findings(source)
    assert any(r == rule and message in m for r, m in found), found


@pytest.mark.parametrize(
    "source",
    [
        "from torchvision.models import resnet18\nm = resnet18(weights=None)\n",
        "from torchvision.models import resnet18\nm = resnet18(pretrained=False, num_classes=3)\n",
        "from torchvision.models import ResNet18_Weights\nw = ResNet18_Weights.verify(None)\n",
        "from torchvision.models.detection import fasterrcnn_resnet50_fpn as f\n"
        "m = f(weights=None, weights_backbone=None)\n",
    ],
)
def test_building_from_scratch_passes(source):
    assert findings(source) == []


def _torchvision_modules() -> list[str]:
    names = ["torchvision", "torchvision.utils", "torchvision.transforms"]
    for package in ("torchvision.models", "torchvision.ops"):
        path = importlib.import_module(package).__path__
        names += [package] + [
            info.name for info in pkgutil.walk_packages(path, f"{package}.", onerror=print)
        ]
    return names


def _reached_modules() -> list[tuple[str, str, str]]:
    """(torchvision module, attribute, the module it holds), outside torch and torchvision."""
    found = set()
    for name in _torchvision_modules():
        module = importlib.import_module(name)
        for attribute in dir(module):
            value = getattr(module, attribute, None)
            if isinstance(value, types.ModuleType):
                found.add((name, attribute, value.__name__))
    return sorted(found)


def test_every_module_torchvision_holds_is_allowed_or_refused():
    """torchvision's modules import numpy, PIL, inspect, importlib, sys, pathlib for
    themselves: reaching any of those through torchvision is refused."""
    passed = []
    for owner, attribute, reached in _reached_modules():
        if DEFAULT.allows(reached):
            continue
        if not findings(f"import {owner}\nx = {owner}.{attribute}\n"):
            passed.append(f"{owner}.{attribute} ({reached})")
    assert passed == []


def test_the_index_records_versions_and_private_names_but_not_dunders(index):
    assert index.versions["torchvision"] == torchvision.__version__
    assert index.library("torchvision.ops.misc.MLP") == f"torchvision {PUBLIC_TORCHVISION}"
    assert "_make_divisible" in index.modules["torchvision.models._utils"]
    assert "_utils" in index.modules["torchvision.models"]
    assert "misc" in index.modules["torchvision.ops"]
    for arch in ("resnet", "mobilenetv2", "efficientnet", "vision_transformer", "convnext"):
        assert f"torchvision.models.{arch}" in index.modules
    assert not any(name.startswith("__") for names in index.modules.values() for name in names)
