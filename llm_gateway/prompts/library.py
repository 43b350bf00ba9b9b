"""The versioned prompt library: templates are TOML files, rendered with escaped variables.

A template (``templates/<name>.v<N>.toml``) declares its variables with a kind, and its
messages with ``{{variable}}`` placeholders and ``{{> partial}}`` includes (shared text in
``templates/_partials/<partial>.md``). Rendering is a single pass, so a value is never read
as a placeholder, and every value is escaped for where it goes:

- ``text`` (user text, error messages, earlier model prose): tag-like sequences such as
  ``</error>`` become ``&lt;/error&gt;``, so a value cannot close the section it sits in;
- ``code`` / ``json`` / ``code_list``: the value goes into a fenced block whose fence is
  longer than any backtick run inside it, so it cannot close its fence;
- ``integer`` / ``number``: parsed and range-checked, then printed by us.

Chat control tokens (``<|im_end|>``) are defused later, when the conversation is rendered
for a model (llm_gateway.chat_templates).
"""

import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from llm_gateway.domain import AnswerKind, ChatTurn
from netapi.tasks import TASKS
from rpc.errors import InvalidArgument, NotFound

BUILTIN_DIR = Path(__file__).resolve().parent / "templates"
KINDS = ("text", "code", "json", "integer", "number", "code_list")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_PARTIAL = re.compile(r"\{\{>\s*([a-z_][a-z0-9_]*)\s*\}\}")
_FILE_NAME = re.compile(r"^([a-z][a-z0-9_]*)\.v([1-9][0-9]*)\.toml$")
_TAG = re.compile(r"<(/?[A-Za-z_][\w.-]*\s*/?)>")
_DEFAULT_MAX_CHARS = {"text": 20_000, "code": 64_000, "json": 64_000, "code_list": 64_000}


class PromptLibraryError(ValueError):
    """A template file is malformed (found when the library is loaded, never at request time)."""


@dataclass(frozen=True)
class Variable:
    """A declared variable of a template."""

    name: str
    kind: str
    description: str = ""
    required: bool = True
    default: str = ""
    max_chars: int = 20_000
    minimum: float | None = None
    maximum: float | None = None
    lengths: tuple[int, ...] = ()  # code_list: allowed numbers of items (empty: any, >= 1)
    item_label: str = "Item"  # code_list: heading of each item
    language: str = "python"  # code: the fence's info string


def escape_text(value: str) -> str:
    """Text for inside a tagged section: tag-like sequences cannot open or close sections."""
    return _TAG.sub(lambda match: f"&lt;{match.group(1)}&gt;", value)


def fence(value: str, language: str) -> str:
    """A fenced block that ``value`` cannot close: the fence outgrows every backtick run."""
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{value.rstrip()}\n{ticks}"


@dataclass(frozen=True)
class PromptTemplate:
    """One version of one template."""

    name: str
    version: int
    description: str
    answer_kind: AnswerKind
    task: str | None
    json_schema: str | None
    variables: dict[str, Variable]
    messages: tuple[tuple[str, str], ...]  # (role, text with placeholders)
    path: Path = field(compare=False, default=Path())

    @property
    def id(self) -> str:
        return f"{self.name}@v{self.version}"

    def render(
        self, values: dict[str, str], lists: dict[str, tuple[str, ...]] | None = None
    ) -> tuple[ChatTurn, ...]:
        """The conversation with every variable escaped and in place; INVALID_ARGUMENT if bad."""
        lists = lists or {}
        unknown = sorted((set(values) | set(lists)) - set(self.variables))
        if unknown:
            raise InvalidArgument(f"prompt {self.id} has no variable(s) {', '.join(unknown)}")
        rendered = {name: self._value(var, values, lists) for name, var in self.variables.items()}
        return tuple(
            ChatTurn(role, _PLACEHOLDER.sub(lambda match: rendered[match.group(1)], text))
            for role, text in self.messages
        )

    def _value(self, var: Variable, values: dict[str, str], lists: dict) -> str:
        if var.kind == "code_list":
            if var.name in values:
                raise InvalidArgument(f"{self.id}: {var.name} is a list variable")
            items = lists.get(var.name)
            if items is None:
                raise InvalidArgument(f"{self.id}: list variable {var.name} is required")
            return _render_list(self.id, var, items)
        if var.name in lists:
            raise InvalidArgument(f"{self.id}: {var.name} is not a list variable")
        if var.name not in values:
            if var.required:
                raise InvalidArgument(f"{self.id}: variable {var.name} is required")
            value = var.default
        else:
            value = values[var.name]
        return _render_scalar(self.id, var, value)


def _check_chars(prompt_id: str, var: Variable, value: str) -> None:
    if len(value) > var.max_chars:
        raise InvalidArgument(f"{prompt_id}: {var.name} is over {var.max_chars} characters")
    if "\x00" in value:
        raise InvalidArgument(f"{prompt_id}: {var.name} contains a NUL character")


def _render_scalar(prompt_id: str, var: Variable, value: str) -> str:
    _check_chars(prompt_id, var, value)
    if var.kind == "text":
        return escape_text(value)
    if var.kind == "code":
        if var.required and not value.strip():
            raise InvalidArgument(f"{prompt_id}: {var.name} is empty")
        return fence(value, var.language)
    if var.kind == "json":
        try:
            document = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"{prompt_id}: {var.name} is not JSON: {exc}") from exc
        return fence(json.dumps(document, indent=2, ensure_ascii=False), "json")
    try:
        number = int(value) if var.kind == "integer" else float(value)
    except ValueError:
        raise InvalidArgument(f"{prompt_id}: {var.name} must be an {var.kind}") from None
    if not math.isfinite(number):
        raise InvalidArgument(f"{prompt_id}: {var.name} must be finite")
    if (var.minimum is not None and number < var.minimum) or (
        var.maximum is not None and number > var.maximum
    ):
        raise InvalidArgument(
            f"{prompt_id}: {var.name}={value} is outside [{var.minimum}, {var.maximum}]"
        )
    return str(number) if var.kind == "integer" else f"{number:g}"


def _render_list(prompt_id: str, var: Variable, items: tuple[str, ...]) -> str:
    if var.lengths and len(items) not in var.lengths:
        allowed = " or ".join(str(n) for n in var.lengths)
        raise InvalidArgument(f"{prompt_id}: {var.name} needs {allowed} items, got {len(items)}")
    if not items:
        raise InvalidArgument(f"{prompt_id}: {var.name} needs at least one item")
    blocks = []
    for number, item in enumerate(items, start=1):
        _check_chars(prompt_id, var, item)
        if not item.strip():
            raise InvalidArgument(f"{prompt_id}: item {number} of {var.name} is empty")
        blocks.append(f"### {var.item_label} {number}\n{fence(item, var.language)}")
    return "\n\n".join(blocks)


def _variable(name: str, spec: dict, where: Path) -> Variable:
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        raise PromptLibraryError(f"{where}: variable {name} needs a kind in {KINDS}")
    known = set(Variable.__dataclass_fields__) - {"name"}
    if set(spec) - known:
        raise PromptLibraryError(f"{where}: variable {name} has unknown keys {set(spec) - known}")
    kind = spec["kind"]
    options = {**spec, "lengths": tuple(spec.get("lengths", ()))}
    options.setdefault("max_chars", _DEFAULT_MAX_CHARS.get(kind, 100))
    if "default" in spec:
        options["required"] = False
    return Variable(name=name, **options)


def _expand_partials(text: str, partials_dir: Path, where: Path) -> str:
    def include(match: re.Match) -> str:
        path = partials_dir / f"{match.group(1)}.md"
        if not path.is_file():
            raise PromptLibraryError(f"{where}: no partial {match.group(1)!r} in {partials_dir}")
        return path.read_text(encoding="utf-8").strip()

    return _PARTIAL.sub(include, text)


def load_template(path: Path) -> PromptTemplate:
    """Read and validate one template file."""
    match = _FILE_NAME.match(path.name)
    if not match:
        raise PromptLibraryError(f"{path}: file names are <name>.v<N>.toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PromptLibraryError(f"{path}: {exc}") from exc
    if data.get("name") != match.group(1) or data.get("version") != int(match.group(2)):
        raise PromptLibraryError(f"{path}: name and version must match the file name")
    try:
        answer_kind = AnswerKind(data.get("answer_kind", "text"))
    except ValueError:
        raise PromptLibraryError(f"{path}: unknown answer_kind") from None
    task = data.get("task")
    if task is not None and task not in TASKS:
        raise PromptLibraryError(f"{path}: unknown task {task!r}")
    schema = data.get("json_schema")
    if schema is not None:
        try:
            json.loads(schema)
        except json.JSONDecodeError as exc:
            raise PromptLibraryError(f"{path}: json_schema is not JSON: {exc}") from exc
    variables = {n: _variable(n, s, path) for n, s in data.get("variables", {}).items()}
    messages = []
    for message in data.get("messages", []):
        role, text = message.get("role"), message.get("text")
        if role not in ("system", "user", "assistant") or not isinstance(text, str):
            raise PromptLibraryError(f"{path}: every message needs a role and a text")
        messages.append((role, _expand_partials(text.strip(), path.parent / "_partials", path)))
    if not messages:
        raise PromptLibraryError(f"{path}: a template needs messages")
    used = {name for _, text in messages for name in _PLACEHOLDER.findall(text)}
    if used != set(variables):
        raise PromptLibraryError(
            f"{path}: undeclared placeholders {sorted(used - set(variables))}, "
            f"unused variables {sorted(set(variables) - used)}"
        )
    return PromptTemplate(
        name=data["name"],
        version=data["version"],
        description=data.get("description", ""),
        answer_kind=answer_kind,
        task=task,
        json_schema=schema,
        variables=variables,
        messages=tuple(messages),
        path=path,
    )


class PromptLibrary:
    """Every template version in a folder; the newest version is the default."""

    def __init__(self, templates: list[PromptTemplate]) -> None:
        self._templates = {(t.name, t.version): t for t in templates}

    @classmethod
    def load(cls, directory: Path = BUILTIN_DIR) -> "PromptLibrary":
        return cls([load_template(path) for path in sorted(directory.glob("*.toml"))])

    def templates(self) -> list[PromptTemplate]:
        return [self._templates[key] for key in sorted(self._templates)]

    def get(self, name: str, version: str = "") -> PromptTemplate:
        """A template by name and version ("v2", "2" or "" for the newest); NOT_FOUND if none."""
        versions = sorted(v for (n, v) in self._templates if n == name)
        if not versions:
            raise NotFound(f"no prompt template named {name!r}")
        if not version:
            return self._templates[(name, versions[-1])]
        number = version.removeprefix("v")
        if not number.isdigit() or (name, int(number)) not in self._templates:
            raise NotFound(f"prompt template {name!r} has no version {version!r}")
        return self._templates[(name, int(number))]
