"""Escape routes an attacker found past the static checker, each refused with a precise finding,
and the ordinary model code next to each route that must still pass.

The checker is a lint, not the boundary (the container is): these tests pin its feedback.
"""

import ast
import textwrap

import pytest

from netapi.code_policy import CodePolicy, code_policy_findings
from netapi.module_facts import ModuleFacts


def findings(source: str) -> list[tuple[str, int, int, str]]:
    tree = ast.parse(textwrap.dedent(source))
    found = code_policy_findings(ModuleFacts.of(tree), CodePolicy())
    return sorted((f.rule, f.line, f.column, f.message) for f in found)


# (source, rule, line, column, a piece of the message); the first finding must match.
ATTACKS = {
    "builtin-as-default": (
        "def f(x, exec=exec):\n    return exec('import os')\n",
        ("forbidden-call", 1, 14, "'exec' is not allowed"),
    ),
    "dunder-builtins-as-default": (
        "def f(x, __builtins__=__builtins__):\n    return __builtins__\n",
        ("forbidden-call", 1, 22, "'__builtins__' is not allowed"),
    ),
    "getattr-as-default": (
        "def f(x, g=getattr):\n    return g(x, 'anything')\n",
        ("forbidden-call", 1, 11, "'getattr' may only be called directly"),
    ),
    "lambda-default": (
        "f = lambda eval=eval: eval('1')\n",
        ("forbidden-call", 1, 16, "'eval' is not allowed"),
    ),
    "class-scope-binding": (
        "class A:\n    exec = None\n    def f(self):\n        return exec('x')\n",
        ("forbidden-call", 2, 4, "bound at module or class level"),
    ),
    "dead-branch-binding": (
        "if False:\n    exec = None\nexec('import os')\n",
        ("forbidden-call", 2, 4, "a dead branch, a del"),
    ),
    "deleted-binding": (
        "compile = None\ndel compile\ncompile('1', 'f', 'exec')\n",
        ("forbidden-call", 1, 0, "rename it"),
    ),
    "global-declaration": (
        "def f():\n    global open\n    if False:\n        open = None\n"
        "    return open('/etc/passwd')\n",
        ("forbidden-call", 4, 8, "bound at module or class level"),
    ),
    "locals": (
        "x = locals()['__builtins__']\n",
        ("forbidden-call", 1, 4, "'locals' is not allowed"),
    ),
    "vars": ("x = vars()\n", ("forbidden-call", 1, 4, "'vars' is not allowed")),
    "globals": ("x = globals()\n", ("forbidden-call", 1, 4, "'globals' is not allowed")),
    "getattr-concatenated-name": (
        "import torch\nf = getattr(torch, 'e' + 'xec')\n",
        ("forbidden-attribute", 2, 4, "getattr(..., 'exec') reaches a forbidden name"),
    ),
    "getattr-name-from-a-variable": (
        "def f(x, name):\n    return getattr(x, name)\n",
        ("computed-attribute", 2, 11, "may spell a dunder attribute"),
    ),
    "getattr-literal-through-a-variable": (
        "def f(fn):\n    name = '__glo' + 'bals__'\n    return getattr(fn, name)\n",
        ("forbidden-attribute", 3, 11, "'__globals__'"),
    ),
    "getattr-prefix-of-a-module": (
        "import typing\ndef f(tail):\n    return getattr(typing, 's' + tail)\n",
        ("computed-attribute", 3, 11, "starting 's' may spell"),
    ),
    "getattr-starred": (
        "import torch\nf = getattr(*(torch, 'hub'))\n",
        ("computed-attribute", 2, 4, "hides the attribute name"),
    ),
    "setattr-computed": (
        "import torch\ndef f(name, value):\n    setattr(torch, name, value)\n",
        ("computed-attribute", 3, 4, "setattr() with a computed name"),
    ),
    "match-class-pattern": (
        "def f(x):\n    match x:\n        case object(__globals__=g):\n            return g\n",
        ("forbidden-attribute", 3, 13, "the class pattern reads __globals__="),
    ),
    "match-args": (
        "class P:\n    __match_args__ = ('__globals__',)\n",
        ("forbidden-attribute", 2, 4, "'__match_args__'"),
    ),
    "get-type-hints": (
        "import typing\ndef f(x: int):\n    pass\nh = typing.get_type_hints(f)\n",
        ("string-evaluation", 4, 4, "'typing.get_type_hints' evaluates strings as code"),
    ),
    "string-annotation": (
        "def f(x: \"__import__('os').system('id')\"):\n    pass\n",
        ("string-annotation", 1, 9, "must name a type, and it contains call"),
    ),
    "torch-alias-by-assignment": (
        "import torch\nT = torch\nT.hub.load('a', 'b')\n",
        ("forbidden-torch-api", 3, 0, "'torch.hub.load' downloads"),
    ),
    "torch-alias-as-attribute": (
        "import torch\nclass A:\n    def __init__(self):\n        self.t = torch.utils\n"
        "    def f(self):\n        return self.t.benchmark.Timer('import os')\n",
        ("forbidden-torch-api", 6, 15, "'torch.utils.benchmark.Timer'"),
    ),
    "torch-alias-as-default": (
        "import torch\ndef f(m=torch.utils):\n    return m.benchmark\n",
        ("forbidden-torch-api", 3, 11, "'torch.utils.benchmark'"),
    ),
    "torch-alias-in-a-dead-branch": (
        "import torch\nif False:\n    import math as torch\ntorch.utils.benchmark.Timer('x')\n",
        ("forbidden-torch-api", 4, 0, "'torch.utils.benchmark.Timer'"),
    ),
    "torch-load-function-alias": (
        "import torch\nf = torch.load\n",
        ("forbidden-torch-api", 2, 4, "'torch.load'"),
    ),
    "torch-in-a-container": (
        "import torch\nm = [torch][0]\nm.load('weights.pt')\n",
        ("forbidden-torch-api", 3, 0, "'.load' loads, writes or executes"),
    ),
    "storage-load-from-bytes": (
        "import torch\ntorch.storage._load_from_bytes(b'')\n",
        ("forbidden-torch-api", 2, 0, "'torch.storage._load_from_bytes'"),
    ),
    "collect-env-run": (
        "import torch\ntorch.utils.collect_env.run('id')\n",
        ("forbidden-torch-api", 2, 0, "'torch.utils.collect_env.run'"),
    ),
    "fx-exec-with-source": (
        "import torch\ntorch.fx.graph_module._exec_with_source('x', {})\n",
        ("forbidden-torch-api", 2, 0, "'torch.fx.graph_module._exec_with_source'"),
    ),
    "untyped-storage-from-file": (
        "import torch\ns = torch.UntypedStorage.from_file('/etc/passwd', False, 10)\n",
        ("forbidden-torch-api", 2, 4, "'.from_file'"),
    ),
    "torch-C": ("import torch\nc = torch._C\n", ("forbidden-torch-api", 2, 4, "'torch._C'")),
    "from-torch-import-C": (
        "from torch import _C\n",
        ("forbidden-import", 1, 0, "import of 'torch._C' is not allowed"),
    ),
    "ops-load-library": (
        "import torch\ntorch.ops.load_library('/tmp/x.so')\n",
        ("forbidden-torch-api", 2, 0, "'torch.ops.load_library'"),
    ),
    "cpp-extension": (
        "import torch.utils.cpp_extension as ext\next.load_inline('m', 'int x;')\n",
        ("forbidden-import", 1, 0, "'torch.utils.cpp_extension'"),
    ),
    "jit-compilation-unit": (
        "import torch\ncu = torch.jit.CompilationUnit('def f(x):\\n    return x')\n",
        ("forbidden-torch-api", 2, 5, "'torch.jit.CompilationUnit'"),
    ),
    "format-attribute-chain": (
        "s = '{0.__class__.__init__.__globals__}'.format(x)\n",
        ("forbidden-attribute", 1, 4, "format template field reads '__globals__'"),
    ),
    "format-first-attribute-of-a-chain": (
        "s = '{0.__globals__.keys}'.format(f)\n",
        ("forbidden-attribute", 1, 4, "format template field reads '__globals__'"),
    ),
    "format-map-key": (
        "s = '{0[__builtins__]}'.format_map(d)\n",
        ("forbidden-attribute", 1, 4, "format template field reads '__builtins__'"),
    ),
    "format-nested-spec": (
        "s = '{0:{1.__globals__}}'.format(1, f)\n",
        ("forbidden-attribute", 1, 4, "format template field reads '__globals__'"),
    ),
    "builtin-self": (
        "e = print.__self__\n",
        ("forbidden-attribute", 1, 4, "'.__self__' reaches interpreter internals"),
    ),
    "module-getattr": (
        "import torch\nf = torch.__getattr__\n",
        ("forbidden-attribute", 1 + 1, 4, "'.__getattr__'"),
    ),
    "sympy-through-torch": (
        "import torch\ns = torch.utils._sympy.functions.sympy\n",
        ("forbidden-module-attribute", 2, 4, "reaches the module 'sympy'"),
    ),
}


@pytest.mark.parametrize(("source", "expected"), ATTACKS.values(), ids=ATTACKS.keys())
def test_escape_route_is_refused_precisely(source, expected):
    found = findings(source)
    assert found, "the route passed the checker"
    rule, line, column, message = (
        found[0]
        if found[0][0] == expected[0]
        else next((f for f in found if f[0] == expected[0]), found[0])
    )
    assert (rule, line, column) == expected[:3], found
    assert expected[3] in message, found


LEGITIMATE = {
    "layer-names-by-number": """
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                for i in range(4):
                    setattr(self, f'layer{i + 1}', nn.Conv2d(8, 8, 3))
                    setattr(self, 'bn%d' % i, nn.BatchNorm2d(8))
                    setattr(self, 'fc' + str(i), nn.Linear(8, 8))
            def forward(self, x):
                for i in range(4):
                    x = getattr(self, f'layer{i + 1}')(x)
                    x = getattr(self, 'bn%d' % i)(x)
                for idx, _ in enumerate(self.children()):
                    name = 'stage%d' % idx
                    if hasattr(self, name):
                        x = getattr(self, name)(x)
                for name in ('fc0', 'fc1'):
                    x = getattr(self, name)(x)
                return getattr(self, 'drop', nn.Identity())(x)
        """,
    "hasattr-with-any-name": """
        def has(module, name):
            return hasattr(module, name)
        """,
    "functional-and-common-torch": """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from torch.nn.modules.utils import _pair
        torch.backends.cudnn.benchmark = True
        def block(x, kernel):
            torch._assert(x.dim() == 4, 'NCHW')
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(x)
            if torch.jit.is_scripting():
                return x
            return F.relu(F.conv2d(x, kernel, padding=_pair(1)))
        """,
    "dataclass-and-annotations": """
        from __future__ import annotations
        from dataclasses import dataclass, field
        from typing import ClassVar, Literal, Optional
        import torch
        @dataclass(frozen=True)
        class Config:
            width: int = 32
            kinds: list[str] = field(default_factory=list)
            act: Literal['relu', 'gelu (tanh)'] = 'relu'
            registry: ClassVar[dict[str, int]] = {}
        def forward(
            x: "torch.Tensor", cfg: Optional["Config"] = None
        ) -> "list[torch.Tensor] | None":
            return [x]
        """,
    "match-on-ordinary-values": """
        import torch.nn as nn
        def make(kind, layer):
            match kind:
                case 'relu':
                    return nn.ReLU()
                case ('conv', width):
                    return nn.Conv2d(width, width, 3)
            match layer:
                case nn.Conv2d(in_channels=c, out_channels=o):
                    return c, o
                case _:
                    return None
        """,
    "parameters-named-like-builtins": """
        def helper(input, compile=False, vars=None, open=None):
            eval = input
            return eval, compile, vars, open
        """,
    "format-templates": """
        def describe(self, t, loss):
            a = '{:.2f} {name}: {value!r}'.format(loss, name='x', value=1)
            b = '{0.shape} {0.dtype}'.format(t)
            c = '{0.__class__.__name__}'.format(self)
            return a + b + c + f'{t.shape}'
        """,
    "model-eval-and-state": """
        import torch.nn as nn
        def snapshot(model: nn.Module):
            model.eval()
            return {k: v.clone() for k, v in model.state_dict().items()}
        """,
}


@pytest.mark.parametrize("source", LEGITIMATE.values(), ids=LEGITIMATE.keys())
def test_ordinary_model_code_passes(source):
    assert findings(source) == []


NUMBERED = """
    def f(self, x):
        for i in range(3):
            x = getattr(self, 'o' + str(i))(x)
            x = getattr(self, f'o{len(x)}')(x)
        return x
    """


def test_a_name_that_is_a_prefix_and_a_number_passes():
    """'o' + a number can never spell 'os'."""
    assert findings(NUMBERED) == []


@pytest.mark.parametrize("rebound", ["str", "range", "len"])
def test_a_rebound_builtin_does_not_make_a_name_numeric(rebound):
    """`str = lambda i: 's'` at module level: 'o' + str(i) may spell 'os'."""
    source = f"{rebound} = lambda *a: 's'\n" + textwrap.dedent(NUMBERED)
    assert "computed-attribute" in {finding[0] for finding in findings(source)}
