"""The names a candidate may not reach, and why: the lists every static rule judges against.

A lint's lists, not a boundary (the container is): they name what an ordinary-looking model
has no reason to touch, so that the obvious routes get a precise refusal.
"""

import sys

# Parts of torch that download, load native code, spawn processes, open sockets, touch
# files or execute source text. Importing or naming any of them (or anything below them)
# is forbidden code.
FORBIDDEN_TORCH_NAMES = frozenset(
    {
        "torch.hub",
        "torch.utils.model_zoo",
        "torch.utils.cpp_extension",
        "torch.utils.tensorboard",
        "torch.utils.collect_env",  # run() spawns a shell
        "torch.utils.benchmark",  # Timer(stmt=...) executes source text
        "torch.utils.bottleneck",
        "torch.distributed",
        "torch.multiprocessing",
        "torch.package",
        "torch.serialization",
        "torch.onnx",
        "torch.load",
        "torch.save",
        "torch.from_file",
        "torch.storage",  # _load_from_bytes unpickles, UntypedStorage.from_file maps files
        "torch.jit.load",
        "torch.jit.save",
        "torch.jit.CompilationUnit",  # compiles TorchScript source text
        "torch.jit.annotations",  # evaluates type comments
        "torch.fx.graph_module",  # _exec_with_source
        "torch.ops",  # load_library, and every native op by name
        "torch.classes",
        "torch.library",
        "torch.profiler",  # export_* write files
        "torch.autograd.profiler",
        "torch.testing._internal",
        "torch._C",
        "torch._ops",
        "torch._classes",
        "torch._dynamo",
        "torch._inductor",
        "torch._export",
        "torch._library",
        "torch._jit_internal",
        "torchvision.datasets",  # downloads and reads files
        "torchvision.io",  # reads and writes image and video files
        "torchvision.extension",  # _load_library loads native code
        "torchvision.ops._register_onnx_ops",  # holds torch.onnx's opsets
        "torchvision.utils.save_image",  # writes a file
    }
)

PRETRAINED_WEIGHTS = (
    "downloads or loads pretrained weights, and the sandbox has no network: train from scratch"
)

# Parts of torchvision that fetch pretrained weights (the rule pretrained-weights). The
# builders themselves are allowed: code_policy refuses their weights=/pretrained= arguments.
PRETRAINED_WEIGHT_NAMES = frozenset(
    {
        "torchvision._internally_replaced_utils",  # load_state_dict_from_url and downloads
        "torchvision.models.utils",  # the old home of load_state_dict_from_url
    }
)

# Attributes that fetch weights on any owner: a WeightsEnum member's get_state_dict, and
# load_state_dict_from_url wherever it is re-exported (torch.hub, torchvision.models._api).
PRETRAINED_ANYWHERE = frozenset({"get_state_dict", "load_state_dict_from_url"})

# Standard-library names of allowed modules that open a door the rest of the module does
# not: each with its rule and why. The modules themselves are allowed (code_policy).
STDLIB_DOORS = {
    "gc.get_objects": ("forbidden-attribute", "hands out every object the interpreter tracks"),
    "gc.get_referrers": ("forbidden-attribute", "hands out any object, module globals included"),
    "gc.get_referents": ("forbidden-attribute", "hands out any object, module globals included"),
    "gc.garbage": ("forbidden-attribute", "hands out objects the collector could not free"),
    "gc.callbacks": ("forbidden-attribute", "hooks code into every collection"),
    "operator.attrgetter": ("computed-attribute", "reads attributes by computed name"),
    "operator.methodcaller": ("computed-attribute", "calls methods by computed name"),
    "string.Formatter": ("computed-attribute", "reads attributes named by a computed field"),
    "copy.dispatch_table": ("forbidden-attribute", "is copyreg's table, shared with pickle"),
    "enum.global_enum": ("forbidden-attribute", "writes into any module's globals"),
    "warnings.showwarning": ("forbidden-attribute", "reads lines of any file and writes them"),
    "warnings.formatwarning": ("forbidden-attribute", "reads lines of any file"),
    "warnings.warn_explicit": ("forbidden-attribute", "reads lines of any file"),
}

# Standard-library functions of allowed modules that evaluate a string as code.
STRING_EVALUATORS = frozenset(
    {
        "typing.get_type_hints",  # evaluates string annotations
        "typing.ForwardRef",
        "typing._eval_type",
        "typing.evaluate_forward_ref",
    }
)

# Attributes distinctive enough to refuse on any owner: whatever a candidate renamed or
# stored torch under (`T = [torch][0]`), these names lead only to loading, writing or
# executing. Ordinary methods such as `.eval` or `.compile` are not here.
FORBIDDEN_ANYWHERE = PRETRAINED_ANYWHERE | frozenset(
    {
        "hub",
        "model_zoo",
        "cpp_extension",
        "collect_env",
        "load",
        "save",
        "from_file",
        "load_library",
        "_load_from_bytes",
        "_exec_with_source",
        "_C",
        "_dynamo",
        "_inductor",
        "CompilationUnit",
        "_load_for_lite_interpreter",
        "_eval_no_call",
        "export_chrome_trace",
        "export_stacks",
        "export_memory_timeline",
        "_dump_snapshot",
        "get_type_hints",
        "ForwardRef",
        "_eval_type",
        "evaluate_forward_ref",
    }
)

# Builtins that execute code, reach the interpreter's internals, or do I/O.
FORBIDDEN_BUILTINS = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "__import__",
        "open",
        "breakpoint",
        "help",  # pydoc may start a pager process
        "globals",
        "locals",
        "vars",
        "__builtins__",
        "__loader__",
        "__spec__",
    }
)

# Attributes that lead from any object to the interpreter's internals (sandbox escapes).
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "__subclasses__",
        "__globals__",
        "__builtins__",
        "__code__",
        "__closure__",
        "__mro__",
        "__bases__",
        "__base__",
        "__loader__",
        "__spec__",
        "__import__",
        "__reduce__",
        "__reduce_ex__",
        "__getattribute__",
        "__getattr__",  # a module's __getattr__ takes a computed name
        "__self__",  # a builtin function's __self__ is the builtins module
        "__dict__",
        "__match_args__",  # lets a class pattern read attributes by computed name
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "ag_frame",
        "tb_frame",
        "co_code",
        "_convert_",  # Enum._convert_ reads any module's globals (sys.modules[name].__dict__)
    }
)

# Modules an allowed module imported for itself (`torch.os`, `typing.sys`,
# `collections._sys`, `from torch import importlib`): reaching one of them through an
# attribute or a from-import is forbidden code, whatever the owner and with or without
# leading underscores. Only names no model has a reason to use as an attribute. gc and
# operator may be imported (code_policy) but not reached this way (`torch.gc`): the
# import is where their doors (STDLIB_DOORS) are judged.
FORBIDDEN_MODULE_ATTRIBUTES = frozenset(
    {
        "os",
        "sys",
        "subprocess",
        "importlib",
        "imp",
        "socket",
        "ssl",
        "shutil",
        "ctypes",
        "builtins",
        "pathlib",
        "pickle",
        "marshal",
        "multiprocessing",
        "threading",
        "thread",
        "posix",
        "nt",
        "pty",
        "fcntl",
        "mmap",
        "runpy",
        "zipimport",
        "pkgutil",
        "sysconfig",
        "tempfile",
        "urllib",
        "http",
        "asyncio",
        "io",  # io.open, io.FileIO
        "codecs",  # codecs.open
        "gc",  # gc.get_referrers reaches any module's globals
        "inspect",
        "operator",  # attrgetter takes computed names
        "types",  # CodeType builds bytecode
        "sympy",  # sympify evaluates strings
        "timeit",  # executes source text
        "pydoc",
        "logging",  # FileHandler writes files
        "platform",
        "webbrowser",
        "zipfile",
        "tarfile",
        "bltns",  # enum's name for builtins
        "copyreg",  # re.copyreg: pickle's reducer table
        "contextlib",  # typing.contextlib: redirect_stdout and friends, nothing a model needs
        "fnmatch",  # torchvision.models._api.fnmatch leads to posixpath
        "posixpath",
        "numpy",  # numpy.load, fromfile, memmap: files (torchvision and torch import it)
        "np",
        "PIL",  # Image.open and ImageFont read files (torchvision.utils imports them)
        "Image",
        "ImageColor",
        "ImageDraw",
        "ImageFont",
        "ImageOps",
        "ImageEnhance",
    }
)

REFLECTION_CALLS = frozenset({"getattr", "setattr", "delattr", "hasattr"})


def reached_module(name: str) -> str | None:
    """The forbidden module an attribute or imported name stands for, if any."""
    module = name.lstrip("_")
    return module if module in FORBIDDEN_MODULE_ATTRIBUTES else None


_DOTTED = FORBIDDEN_TORCH_NAMES | STRING_EVALUATORS | PRETRAINED_WEIGHT_NAMES | set(STDLIB_DOORS)


def _stdlib_private(dotted: str) -> str | None:
    """`copy._deepcopy_dispatch`, `random._os`: a standard-library module's private plumbing."""
    root, *rest = dotted.split(".")
    if root not in sys.stdlib_module_names:
        return None
    for depth, part in enumerate(rest, start=2):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(dotted.split(".")[:depth])
    return None


def forbidden_dotted(dotted: str) -> str | None:
    """The forbidden name that ``dotted`` is or lies under: a torch or torchvision part, a
    string evaluator, a standard-library door or private name."""
    for name in _DOTTED:
        if dotted == name or dotted.startswith(name + "."):
            return name
    return _stdlib_private(dotted)


def dotted_reason(dotted: str) -> tuple[str, str] | None:
    """The rule and the message that refuse the fully qualified name ``dotted``, if any."""
    name = forbidden_dotted(dotted)
    if name is None:
        return None
    if name in PRETRAINED_WEIGHT_NAMES or PRETRAINED_ANYWHERE & set(dotted.split(".")):
        return "pretrained-weights", f"'{dotted}' {PRETRAINED_WEIGHTS}"
    if name in STRING_EVALUATORS:
        return "string-evaluation", f"'{dotted}' evaluates strings as code and is not allowed"
    if name in STDLIB_DOORS:
        rule, why = STDLIB_DOORS[name]
        return rule, f"'{name}' {why} and is not allowed"
    if name not in FORBIDDEN_TORCH_NAMES:
        module = name.rsplit(".", 1)[0]
        return "forbidden-attribute", f"'{name}' is private plumbing of the module '{module}'"
    return (
        "forbidden-torch-api",
        f"'{dotted}' downloads, loads, writes or executes outside the model and is not allowed",
    )


def forbidden_attribute(name: str) -> str | None:
    """Why the attribute ``name`` is refused on any owner, in words; None when it is not."""
    if name in FORBIDDEN_ATTRIBUTES:
        return f"'.{name}' reaches interpreter internals"
    if module := reached_module(name):
        return f"'.{name}' reaches the module '{module}', which candidates may not use"
    if name in PRETRAINED_ANYWHERE:
        return f"'.{name}' {PRETRAINED_WEIGHTS}"
    if name in FORBIDDEN_ANYWHERE:
        return f"'.{name}' loads, writes or executes code outside the model, on any object"
    return None


def anywhere_rule(name: str) -> str:
    """The rule of an attribute refused on any owner (FORBIDDEN_ANYWHERE)."""
    if name in PRETRAINED_ANYWHERE:
        return "pretrained-weights"
    if name in {evaluator.rsplit(".", 1)[1] for evaluator in STRING_EVALUATORS}:
        return "string-evaluation"
    return "forbidden-torch-api"


# Every name a computed attribute name must not be able to spell (see reflection.py).
SPELLABLE = frozenset(
    FORBIDDEN_ATTRIBUTES
    | FORBIDDEN_MODULE_ATTRIBUTES
    | FORBIDDEN_ANYWHERE
    | FORBIDDEN_BUILTINS
    | REFLECTION_CALLS
    | {name.rsplit(".", 1)[1] for name in _DOTTED}
)


def spellable_from(prefix: str) -> str | None:
    """A forbidden name that a string known only to start with ``prefix`` may spell.

    Any prefix that can still become a dunder (empty, '_' or '__...') may spell anything.
    """
    bare = prefix.lstrip("_")
    if not bare or prefix.startswith("__"):
        return "a dunder attribute"
    for name in sorted(SPELLABLE):
        if name.startswith(prefix) or name.lstrip("_").startswith(bare):
            return repr(name)
    return None
