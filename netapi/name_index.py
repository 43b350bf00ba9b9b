"""The names and signatures of the sandbox image's torch and torchvision, and their resolver.

The index is generated inside the runtime image when it is built
(``python -m netapi.name_index OUT.json``), so services without torch (the gateway) judge
names exactly as the sandbox's torch would. The resolver answers three questions: does a
module exist, does a dotted name exist, and does a callable accept a keyword.

Single-underscore names are indexed too: models (LEMUR's among them) import torchvision's
helpers such as `torchvision.models._utils._make_divisible`, and an unindexed private name
would read as invented. Dunders are not indexed, so they are never judged here (the
forbidden-name rules judge the dangerous ones).
"""

import importlib
import inspect
import json
import pkgutil
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

# 2: private names indexed, a version per library ("versions"). Version 1 files still load;
# their private names are not judged, since they were never indexed.
FORMAT_VERSION = 2
_READABLE_FORMATS = (1, FORMAT_VERSION)

# The libraries whose versions the index records, for the messages of hallucinated names.
LIBRARIES = ("torch", "torchvision")

# Modules whose names are indexed (when importable in the image). Names under other
# modules are not judged.
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
    "torchvision.utils",
)

# Packages indexed with every module below them: each model family
# (`torchvision.models.resnet`, `.mobilenetv2`, `.detection.backbone_utils`...) and each
# op module (`torchvision.ops.misc`, `.stochastic_depth`), private ones included.
INDEXED_PACKAGES = ("torchvision.models", "torchvision.ops")


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


def _indexed(name: str) -> bool:
    """Public and single-underscore names; dunders are left to the forbidden-name rules."""
    return not name.startswith("__")


def _import_all() -> dict[str, object]:
    """Every indexed module that imports here, packages' submodules included."""
    imported = {}
    for module_name in INDEXED_MODULES:  # all first: importing a child adds it to its parent
        try:
            imported[module_name] = importlib.import_module(module_name)
        except Exception:
            continue
    for package_name in INDEXED_PACKAGES:
        package = imported.get(package_name)
        path = getattr(package, "__path__", None)
        if path is None:
            continue
        for info in pkgutil.walk_packages(path, f"{package_name}.", onerror=lambda _: None):
            try:
                imported[info.name] = importlib.import_module(info.name)
            except Exception:
                continue
    return imported


def build_index() -> dict:
    """Index the interpreter this runs in (run inside the runtime image)."""
    modules: dict[str, dict[str, str]] = {}
    signatures: dict[str, dict] = {}
    for module_name, module in _import_all().items():
        names: dict[str, str] = {}
        # Submodules count even when nothing has imported them yet.
        for info in pkgutil.iter_modules(getattr(module, "__path__", None) or []):
            if _indexed(info.name):
                names[info.name] = Kind.MODULE.value
        # A module whose class carries properties (torch.backends.cudnn's `benchmark`):
        # dir() of a module lists only its __dict__.
        for name in sorted(set(dir(module)) | set(vars(type(module)))):
            if not _indexed(name):
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
    versions = {
        library: getattr(sys.modules[library], "__version__", None)
        for library in LIBRARIES
        if library in sys.modules
    }
    return {
        "format": FORMAT_VERSION,
        "versions": versions,
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

    versions: dict[str, str]  # library -> version, e.g. {"torch": "2.13.0+cpu"}
    top_level_modules: frozenset[str]
    modules: dict[str, dict[str, str]]
    signatures: dict[str, dict]
    private_names: bool = True  # False for a version-1 file, which never indexed them

    @classmethod
    def from_dict(cls, data: dict) -> "NameIndex":
        version = data.get("format")
        if version not in _READABLE_FORMATS:
            raise ValueError(
                f"name index format {version!r} is not {FORMAT_VERSION}: rebuild it with "
                "`make runtime-image`"
            )
        if version == 1:
            versions = {"torch": data.get("torch_version")}
        else:
            versions = data["versions"]
        return cls(
            {library: v for library, v in versions.items() if v},
            frozenset(data["top_level_modules"]),
            data["modules"],
            data["signatures"],
            private_names=version != 1,
        )

    @classmethod
    def load(cls, path: Path) -> "NameIndex":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def library(self, dotted: str) -> str:
        """The library and version a name is judged in, for messages: 'torchvision 0.28.0'.

        Without the local label (+cpu, +cu130): it says how a wheel was built, not which
        names exist, and the CPU image's torchvision is a +cu130 wheel without its CUDA part.
        """
        root = dotted.partition(".")[0]
        library = root if root in self.versions else "torch"
        version = self.versions.get(library, "(unknown version)").partition("+")[0]
        return f"{library} {version}"

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
            name = parts[depth]
            if not _indexed(name) or (name.startswith("_") and not self.private_names):
                return Resolution.NOT_INDEXED
            if name not in names:
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
