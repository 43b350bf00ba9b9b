"""The search core does not know its transport: engine and methods import no grpc, no
generated stubs and no prometheus, neither directly nor through what they import."""

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import search_core.engine
import search_core.methods

TRANSPORT = ("grpc", "nasforge", "prometheus_client")
CORE_PACKAGES = (search_core.engine, search_core.methods)


def _core_modules() -> list[str]:
    return [
        info.name
        for package in CORE_PACKAGES
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
    ]


def _is_transport(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in TRANSPORT)


def test_importing_the_core_loads_no_transport_module():
    modules = [package.__name__ for package in CORE_PACKAGES] + _core_modules()
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)
    assert len(modules) > 10  # the walk found the modules
    assert [name for name in loaded if _is_transport(name)] == []


def test_no_core_module_imports_a_transport_module():
    offenders = []
    for package in CORE_PACKAGES:
        for path in Path(package.__path__[0]).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                offenders += [f"{path.name}: {name}" for name in names if _is_transport(name)]
    assert offenders == []
