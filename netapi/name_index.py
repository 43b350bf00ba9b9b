"""The index of the public names and signatures of the sandbox image's torch, and its resolver.

The index is generated inside the runtime image when it is built
(``python -m netapi.name_index OUT.json``), so services without torch (the gateway) judge
names exactly as the sandbox's torch would. The resolver answers three questions: does a
module exist, does a dotted name exist, and does a callable accept a keyword.
"""

import importlib
import inspect
import json
import pkgutil
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

FORMAT_VERSION = 1

# Modules whose public names are indexed (when importable in the image). Names under
# other modules are not judged.
INDEXED_MODULES = (
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "torch.nn.init",
    "torch.nn.utils",
    "torch.nn.utils.parametrizations",
    "torch.nn.attention",
    "torch.optim",
    "torch.optim.lr_scheduler",
    "torch.utils",
    "torch.utils.data",
    "torch.utils.checkpoint",
    "torch.autograd",
    "torch.linalg",
    "torch.fft",
    "torch.special",
    "torch.distributions",
    "torch.amp",
    "torch.cuda",
    "torch.backends",
    "torch.backends.cudnn",
    "torch.jit",
    "torchvision",
    "torchvision.ops",
    "torchvision.models",
    "torchvision.transforms",
)


class Kind(StrEnum):
    MODULE = "module"
    CLASS = "class"
    FUNCTION = "function"
    OTHER = "other"


def _kind(value: object) -> Kind:
    if inspect.ismodule(value):
        return Kind.MODULE
    if inspect.isclass(value):
        return Kind.CLASS
    if callable(value):
        return Kind.FUNCTION
    return Kind.OTHER


def _signature(value: object) -> dict | None:
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return None  # builtins without text signatures: not judged
    params = [
        p.name
        for p in signature.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    varkw = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    return {"params": params, "varkw": varkw}


def build_index() -> dict:
    """Index the interpreter this runs in (run inside the runtime image)."""
    modules: dict[str, dict[str, str]] = {}
    signatures: dict[str, dict] = {}
    imported = {}
    for module_name in INDEXED_MODULES:  # all first: importing a child adds it to its parent
        try:
            imported[module_name] = importlib.import_module(module_name)
        except Exception:
            continue
    for module_name, module in imported.items():
        names: dict[str, str] = {}
        # Submodules count even when nothing has imported them yet.
        for info in pkgutil.iter_modules(getattr(module, "__path__", None) or []):
            if not info.name.startswith("_"):
                names[info.name] = Kind.MODULE.value
        for name in dir(module):
            if name.startswith("_"):
                continue
            try:
                value = getattr(module, name)
            except Exception:
                continue
            kind = _kind(value)
            names[name] = kind.value
            if kind in (Kind.CLASS, Kind.FUNCTION):
                signature = _signature(value)
                if signature is not None:
                    signatures[f"{module_name}.{name}"] = signature
        modules[module_name] = names
    top_level = sorted(
        set(sys.stdlib_module_names) | {info.name for info in pkgutil.iter_modules()}
    )
    torch = sys.modules.get("torch")
    return {
        "format": FORMAT_VERSION,
        "torch_version": getattr(torch, "__version__", None),
        "python_version": ".".join(map(str, sys.version_info[:3])),
        "top_level_modules": top_level,
        "modules": modules,
        "signatures": signatures,
    }


class Resolution(StrEnum):
    EXISTS = "exists"
    MISSING = "missing"
    NOT_INDEXED = "not_indexed"


@dataclass(frozen=True)
class NameIndex:
    """A loaded index and the questions it answers."""

    torch_version: str | None
    top_level_modules: frozenset[str]
    modules: dict[str, dict[str, str]]
    signatures: dict[str, dict]

    @classmethod
    def from_dict(cls, data: dict) -> "NameIndex":
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"name index format {data.get('format')!r} is not {FORMAT_VERSION}")
        return cls(
            data.get("torch_version"),
            frozenset(data["top_level_modules"]),
            data["modules"],
            data["signatures"],
        )

    @classmethod
    def load(cls, path: Path) -> "NameIndex":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def module_exists(self, module: str) -> bool:
        """Whether ``import module`` can succeed in the image."""
        root, _, _ = module.partition(".")
        if root not in self.top_level_modules:
            return False
        return self.resolve(module) is not Resolution.MISSING

    def resolve(self, dotted: str) -> Resolution:
        """Whether a fully qualified name exists, judged in its deepest indexed module."""
        parts = dotted.split(".")
        for depth in range(len(parts) - 1, 0, -1):
            names = self.modules.get(".".join(parts[:depth]))
            if names is None:
                continue
            if parts[depth] not in names:
                return Resolution.MISSING
            # Deeper parts are attributes of a class, a function or an unindexed module.
            return Resolution.EXISTS if depth + 1 == len(parts) else Resolution.NOT_INDEXED
        return Resolution.NOT_INDEXED

    def rejected_keywords(self, dotted: str, keywords: list[str]) -> list[str]:
        """Keywords the callable ``dotted`` does not accept (empty when unknown)."""
        signature = self.signatures.get(dotted)
        if signature is None or signature["varkw"]:
            return []
        accepted = set(signature["params"])
        return [keyword for keyword in keywords if keyword not in accepted]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m netapi.name_index OUTPUT.json", file=sys.stderr)
        return 2
    Path(args[0]).write_text(json.dumps(build_index(), sort_keys=True), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
