"""The names a candidate may not reach, and why: the lists every static rule judges against.

A lint's lists, not a boundary (the container is): they name what an ordinary-looking model
has no reason to touch, so that the obvious routes get a precise refusal.
"""

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
        "torchvision.models.utils",
        "torchvision.datasets",
        "torchvision.io",
    }
)

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
FORBIDDEN_ANYWHERE = frozenset(
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
    }
)

# Modules an allowed module imported for itself (`torch.os`, `typing.sys`,
# `collections._sys`, `from torch import importlib`): reaching one of them through an
# attribute or a from-import is forbidden code, whatever the owner and with or without
# leading underscores. Only names no model has a reason to use as an attribute.
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
    }
)

REFLECTION_CALLS = frozenset({"getattr", "setattr", "delattr", "hasattr"})


def reached_module(name: str) -> str | None:
    """The forbidden module an attribute or imported name stands for, if any."""
    module = name.lstrip("_")
    return module if module in FORBIDDEN_MODULE_ATTRIBUTES else None


def forbidden_dotted(dotted: str) -> str | None:
    """The forbidden torch name or string evaluator that ``dotted`` is or lies under."""
    for name in FORBIDDEN_TORCH_NAMES | STRING_EVALUATORS:
        if dotted == name or dotted.startswith(name + "."):
            return name
    return None


def forbidden_attribute(name: str) -> str | None:
    """Why the attribute ``name`` is refused on any owner, in words; None when it is not."""
    if name in FORBIDDEN_ATTRIBUTES:
        return f"'.{name}' reaches interpreter internals"
    if module := reached_module(name):
        return f"'.{name}' reaches the module '{module}', which candidates may not use"
    if name in FORBIDDEN_ANYWHERE:
        return f"'.{name}' loads, writes or executes code outside the model, on any object"
    return None


# Every name a computed attribute name must not be able to spell (see reflection.py).
SPELLABLE = frozenset(
    FORBIDDEN_ATTRIBUTES
    | FORBIDDEN_MODULE_ATTRIBUTES
    | FORBIDDEN_ANYWHERE
    | FORBIDDEN_BUILTINS
    | REFLECTION_CALLS
    | {name.rsplit(".", 1)[1] for name in FORBIDDEN_TORCH_NAMES | STRING_EVALUATORS}
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
