"""The standard-library modules allowed by default, and the doors each of them still has.

Attack before defence: each door below was reachable once `re`, `gc`, `copy`, `random`,
`enum`, `operator`... were allowed, and must be refused precisely, while the ordinary use
of the same module passes.
"""

import ast
import importlib
import textwrap
import types

import pytest

from netapi.code_policy import DEFAULT_ALLOWED_MODULES, CodePolicy, code_policy_findings
from netapi.module_facts import ModuleFacts

DEFAULT = CodePolicy()
STDLIB_ALLOWED = sorted(
    m for m in DEFAULT_ALLOWED_MODULES if m not in ("torch", "torchvision", "__future__")
)
# Reachable as an attribute of an allowed module (dataclasses.keyword), and harmless:
# kwlist and iskeyword are data about Python's grammar.
HARMLESS_REACHABLE = frozenset({"keyword"})


def findings(source: str) -> list[tuple[str, str]]:
    tree = ast.parse(textwrap.dedent(source))
    return sorted((f.rule, f.message) for f in code_policy_findings(ModuleFacts.of(tree), DEFAULT))


def rules(source: str) -> set[str]:
    return {rule for rule, _ in findings(source)}


ORDINARY = {
    "lemur-style-imports": "import re, gc, copy, random\n",
    "every-new-module": (
        "import re, gc, copy, random, warnings, enum, abc, operator, string, statistics\n"
        "import heapq, bisect\n"
    ),
    "gc-collect": "import gc\ngc.collect()\n",
    "copy-a-block": """
        import copy
        import torch.nn as nn
        block = nn.Conv2d(3, 3, 3)
        blocks = nn.ModuleList([copy.deepcopy(block) for _ in range(3)])
        shallow = copy.copy(block)
        """,
    "random-seed-and-choice": """
        import random
        random.seed(0)
        width = random.choice([16, 32, 64])
        rng = random.Random(1)
        drop = rng.uniform(0.0, 0.2)
        """,
    "re-layer-names": """
        import re
        def stage_of(name):
            match = re.fullmatch(r"layer(\\d+)\\.(\\d+)", name)
            return int(match.group(1)) if match else re.sub(r"\\W", "_", name)
        """,
    "warnings-warn": """
        import warnings
        def check(prm):
            if prm["lr"] > 1:
                warnings.warn("a large learning rate", RuntimeWarning, stacklevel=2)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
        """,
    "enum-and-abc": """
        import abc
        import enum
        class Act(enum.Enum):
            RELU = "relu"
            GELU = enum.auto()
        class Block(abc.ABC):
            @abc.abstractmethod
            def forward(self, x): ...
        """,
    "operator-and-functools": """
        import functools
        import operator
        from operator import itemgetter, mul
        numel = functools.reduce(operator.mul, (2, 3, 4), 1)
        first = itemgetter(0)
        """,
    "heapq-bisect-statistics-string": """
        import bisect, heapq, statistics, string
        best = heapq.nlargest(2, [0.1, 0.5, 0.3])
        slot = bisect.bisect_left([8, 16, 32], 20)
        mean = statistics.mean([1.0, 2.0])
        letters = string.ascii_lowercase
        """,
}


@pytest.mark.parametrize("source", ORDINARY.values(), ids=ORDINARY.keys())
def test_ordinary_use_passes(source):
    assert findings(source) == []


# (source, rule, a piece of the message)
DOORS = {
    "gc-get-objects": ("import gc\nobjs = gc.get_objects()\n", "forbidden-attribute", "every"),
    "gc-referrers-from-import": (
        "from gc import get_referrers\n",
        "forbidden-import",
        "'gc.get_referrers' hands out any object",
    ),
    "gc-referents-through-an-alias": (
        "import gc\ng = gc\nr = g.get_referents\n",
        "forbidden-attribute",
        "'gc.get_referents'",
    ),
    "gc-renamed-at-import": ("import gc as G\nG.garbage.clear()\n", "forbidden-attribute", ""),
    "gc-callbacks": ("import gc\ngc.callbacks.append(print)\n", "forbidden-attribute", ""),
    "gc-getattr-literal": (
        "import gc\nf = getattr(gc, 'get_objects')\n",
        "forbidden-attribute",
        "'gc.get_objects'",
    ),
    "gc-getattr-computed": (
        "import gc\ndef f(tail):\n    return getattr(gc, 'get_' + tail)\n",
        "computed-attribute",
        "may spell",
    ),
    "operator-attrgetter": (
        "import operator\ng = operator.attrgetter('__globals__')\n",
        "computed-attribute",
        "'operator.attrgetter' reads attributes by computed name",
    ),
    "operator-methodcaller-from-import": (
        "from operator import methodcaller\n",
        "forbidden-import",
        "'operator.methodcaller'",
    ),
    "string-formatter": (
        "import string\nv = string.Formatter().get_field('0.x', [1], {})\n",
        "computed-attribute",
        "'string.Formatter'",
    ),
    "copy-private-dispatch": (
        "import copy\nd = copy._deepcopy_dispatch\n",
        "forbidden-attribute",
        "'copy._deepcopy_dispatch' is private plumbing of the module 'copy'",
    ),
    "copy-dispatch-table": ("import copy\nt = copy.dispatch_table\n", "forbidden-attribute", ""),
    "abc-get-dump": ("import abc\nd = abc._get_dump\n", "forbidden-attribute", "private"),
    "random-os": ("import random\nr = random._os\n", "forbidden-module-attribute", "'os'"),
    "random-private-from-import": (
        "from random import _inst\n",
        "forbidden-import",
        "'random._inst' is private",
    ),
    "enum-builtins": (
        "import enum\nb = enum.bltns\n",
        "forbidden-module-attribute",
        "'bltns'",
    ),
    "enum-private": ("import enum\nf = enum._simple_enum\n", "forbidden-attribute", "private"),
    "enum-global-enum": (
        "import enum\nenum.global_enum(object)\n",
        "forbidden-attribute",
        "writes into any module's globals",
    ),
    "enum-convert-on-a-subclass": (
        "import enum\nclass E(enum.IntEnum):\n    A = 1\nE._convert_('X', 'builtins', bool)\n",
        "forbidden-attribute",
        "'._convert_' reaches interpreter internals",
    ),
    "warnings-reads-a-file": (
        "import warnings\ns = warnings.formatwarning('m', UserWarning, '/etc/passwd', 1)\n",
        "forbidden-attribute",
        "reads lines of any file",
    ),
    "re-copyreg": ("import re\nc = re.copyreg\n", "forbidden-module-attribute", "'copyreg'"),
    "re-private-compiler": ("import re\nc = re._compiler\n", "forbidden-attribute", "private"),
    "statistics-random-os": (
        "import statistics\no = statistics.random._os\n",
        "forbidden-module-attribute",
        "'os'",
    ),
    "typing-contextlib": (
        "import typing\nc = typing.contextlib\n",
        "forbidden-module-attribute",
        "'contextlib'",
    ),
    "warnings-sys": ("import warnings\ns = warnings.sys\n", "forbidden-module-attribute", "'sys'"),
}


@pytest.mark.parametrize(("source", "rule", "message"), DOORS.values(), ids=DOORS.keys())
def test_doors_of_allowed_modules_are_refused(source, rule, message):
    found = findings(source)
    assert any(r == rule and message in m for r, m in found), found


@pytest.mark.parametrize(
    "source",
    [
        "import torch\nc = torch.gc\n",
        "from torch import gc\n",
        "import typing\no = typing.operator\n",
        "from torch import operator as op\n",
    ],
)
def test_gc_and_operator_stay_forbidden_as_attributes_of_other_modules(source):
    assert "forbidden-module-attribute" in rules(source)


@pytest.mark.parametrize(
    "module", ["inspect", "types", "importlib", "sys", "os", "pickle", "io", "logging"]
)
def test_the_modules_that_are_doors_stay_out(module):
    assert rules(f"import {module}\n") == {"forbidden-import"}


def _module_attributes() -> list[tuple[str, str, str]]:
    """(allowed module, attribute, the module it holds) for every module-valued attribute."""
    found = []
    for name in STDLIB_ALLOWED:
        module = importlib.import_module(name)
        for attribute in dir(module):
            value = getattr(module, attribute)
            if isinstance(value, types.ModuleType):
                found.append((name, attribute, value.__name__))
    return found


@pytest.mark.parametrize(("owner", "attribute", "reached"), _module_attributes())
def test_every_module_an_allowed_module_holds_is_allowed_or_refused(owner, attribute, reached):
    """`enum.bltns` is builtins, `re.copyreg` is pickle's table: a module reached through an
    allowed one must be allowed itself, or refused as an attribute and as a from-import."""
    if DEFAULT.allows(reached) and not attribute.startswith("_"):
        return
    if reached in HARMLESS_REACHABLE:
        return
    assert rules(f"import {owner}\nx = {owner}.{attribute}\n"), (owner, attribute)
    assert rules(f"from {owner} import {attribute}\n"), (owner, attribute)
