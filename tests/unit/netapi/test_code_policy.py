"""netapi.code_policy: aliases cannot hide forbidden calls; allowlists can be widened."""

import ast

import pytest

from netapi.code_policy import DEFAULT_ALLOWED_MODULES, CodePolicy, code_policy_findings
from netapi.module_facts import ModuleFacts

DEFAULT = CodePolicy()


def rules(source, policy=DEFAULT):
    return sorted({f.rule for f in code_policy_findings(ModuleFacts.of(ast.parse(source)), policy)})


@pytest.mark.parametrize(
    "source",
    [
        "import torch as T\nT.hub.load('x', 'y')\n",
        "import torch\nm = torch.hub\n",
        "import torch\ntorch.load('weights.pt')\n",
        "import torch.jit as J\nJ.load('m.pt')\n",
        "import torch\ntorch.ops.load_library('/tmp/x.so')\n",
        "from torch import serialization as s\n",
    ],
)
def test_renamed_torch_downloads_and_files_are_forbidden(source):
    assert set(rules(source)) & {"forbidden-torch-api", "forbidden-import"}


@pytest.mark.parametrize(
    "source",
    [
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n",
        "from torch import nn, optim\nfrom torch.nn import functional as F\n",
        "import math, typing, collections, functools, itertools, numbers, dataclasses\n",
        "from __future__ import annotations\n",
        "from typing import Optional\nimport torch.utils.checkpoint\n",
    ],
)
def test_allowlisted_imports_pass(source):
    assert rules(source) == []


@pytest.mark.parametrize(
    ("module", "rule"),
    [
        ("os", "forbidden-import"),
        ("subprocess", "forbidden-import"),
        ("socket", "forbidden-import"),
        ("ctypes", "forbidden-import"),
        ("importlib", "forbidden-import"),
        ("numpy", "forbidden-import"),
        ("PIL", "forbidden-import"),
        ("inspect", "forbidden-import"),
        ("types", "forbidden-import"),
        ("pickle", "forbidden-import"),
        ("io", "forbidden-import"),
        ("logging", "forbidden-import"),
        ("sys", "forbidden-import"),
        ("einops", "unknown-module"),
        ("timm", "unknown-module"),
        ("torch_geometric", "unknown-module"),
    ],
)
def test_modules_outside_the_allowlist(module, rule):
    assert rules(f"import {module}\n") == [rule]


def test_a_deployment_can_widen_the_allowlist():
    widened = CodePolicy(allowed_modules=DEFAULT_ALLOWED_MODULES | {"numpy"})
    assert rules("import numpy\n", widened) == []
    assert rules("import numpy\nx = numpy.load('w.npy')\n", widened) == ["forbidden-torch-api"]


@pytest.mark.parametrize(
    "source",
    [
        "import torch\n_net = torch.importlib.import_module('socket')\n",
        "import torch\ntorch.os.system('true')\n",
        "import torch\n_m = torch.sys.modules\n",
        "from torch import os as _os\n",
        "import typing\n_m = typing.sys.modules\n",
        "from dataclasses import sys as _s\n",
        "import collections\n_m = collections._sys.modules\n",
        "import torch\nm = torch\nm.os.system('true')\n",
        "import torch\n_m = getattr(torch, 'builtins')\n",
        "import functools\n_p = functools.__builtins__\n",
    ],
)
def test_modules_reached_through_an_allowed_module_are_forbidden(source):
    """An allowed module's own imports (os, sys, importlib...) are not a way around the
    allowlist (found by tests/security/test_container_network.py)."""
    assert set(rules(source)) & {"forbidden-module-attribute", "forbidden-attribute"}


@pytest.mark.parametrize(
    "source",
    [
        "import torch\nw = torch.signal.windows.hann(8)\n",
        "import torch\ntorch.random.manual_seed(0)\n",
        "import torch\nx = torch.nn.functional.relu(torch.ones(1))\n",
        "class Net:\n    def f(self):\n        return self.code\n",
    ],
)
def test_ordinary_torch_attributes_are_not_mistaken_for_modules(source):
    assert rules(source) == []
