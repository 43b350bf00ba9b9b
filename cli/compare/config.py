"""The compare config: which methods, which seeds, and one budget that every method gets.

A compare file names methods and seeds once and states the budget once; each (method, seed)
becomes an ordinary search config. Because the budget lives only in `[budget]` and a method
entry may not set it, the searches of a comparison cannot differ in budget: that is the
point of the format, and the errors below say so when an entry tries.
"""

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli.common import UsageError

BUDGET_FIELDS = ("max_candidates", "epochs", "train_samples", "validation_samples", "test_samples")
TRAINING_FIELDS = BUDGET_FIELDS[1:]
# What a method entry may not set: [budget], [task] and the seeds set them for all methods,
# and every run judges duplicates within its own search, so runs stay independent.
SET_FOR_ALL = ("max_candidates", "training", "seed", "task", "name", "duplicate_scope")
TOP_LEVEL = ("name", "seeds", "budget", "task", "methods")


class CompareConfigError(UsageError):
    """A compare config that cannot describe a fair comparison; says which entry and why."""


@dataclass(frozen=True)
class Budget:
    """The budget of every search of a comparison, in the units every method reports."""

    max_candidates: int
    epochs: int
    train_samples: int
    validation_samples: int
    test_samples: int


@dataclass(frozen=True)
class MethodEntry:
    """One `[[methods]]` entry: a label for the report and the search settings it adds."""

    label: str
    method: str
    settings: dict[str, Any]  # generator and per-method tables, passed through


@dataclass(frozen=True)
class PlannedRun:
    """One search of the comparison: a method with one seed, ready to submit."""

    label: str
    method: str
    seed: int
    search_config: dict[str, Any]
    client_request_id: str


@dataclass(frozen=True)
class CompareConfig:
    name: str
    seeds: tuple[int, ...]
    budget: Budget
    task: dict[str, Any]
    methods: tuple[MethodEntry, ...]

    @property
    def task_name(self) -> str:
        return self.task.get("task", "img-classification")

    def runs(self) -> list[PlannedRun]:
        """Every (method, seed) as a validated search config, methods in file order."""
        return [plan_run(self, entry, seed) for entry in self.methods for seed in self.seeds]


def load_compare_config(path: Path) -> CompareConfig:
    """Read and validate a compare config (TOML); every search it expands to is validated too."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise CompareConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CompareConfigError(f"{path} is not valid TOML: {exc}") from exc
    return parse_compare_config(data)


def parse_compare_config(data: dict[str, Any]) -> CompareConfig:
    unknown = sorted(set(data) - set(TOP_LEVEL))
    if unknown:
        raise CompareConfigError(
            f"unknown setting(s) {', '.join(unknown)} (a compare config has {', '.join(TOP_LEVEL)})"
        )
    config = CompareConfig(
        name=_name(data.get("name")),
        seeds=_seeds(data.get("seeds")),
        budget=_budget(data.get("budget")),
        task=_table(data.get("task", {}), "task"),
        methods=_methods(data.get("methods")),
    )
    config.runs()  # validates every search now, not halfway through submitting them
    return config


def plan_run(config: CompareConfig, entry: MethodEntry, seed: int) -> PlannedRun:
    """The search config of `entry` with `seed`, validated by the search config's own rules."""
    from search_core.search_config import SearchConfigError, parse_config

    budget = config.budget
    document = {
        **entry.settings,
        "name": f"{config.name}/{entry.label}/seed-{seed}",
        "method": entry.method,
        "seed": seed,
        "max_candidates": budget.max_candidates,
        "task": config.task,
        "training": {field: getattr(budget, field) for field in TRAINING_FIELDS},
        "duplicate_scope": "search",
    }
    try:
        search_config = parse_config(document).to_dict()
    except SearchConfigError as exc:
        raise CompareConfigError(f"methods.{entry.label} (seed {seed}): {exc}") from exc
    return PlannedRun(
        entry.label,
        entry.method,
        seed,
        search_config,
        client_request_id(config.name, entry.label, seed, search_config),
    )


def client_request_id(name: str, label: str, seed: int, search_config: dict[str, Any]) -> str:
    """The same id for the same run, so a resumed compare gets its earlier search back
    instead of submitting a second one. The config is part of it: an edited config is a
    new run, not the old results under a new meaning."""
    canonical = json.dumps([name, label, seed, search_config], sort_keys=True)
    return "compare-" + hashlib.sha256(canonical.encode()).hexdigest()


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CompareConfigError("name: give the comparison a name (it keys resumed runs)")
    if len(value) > 100:
        raise CompareConfigError("name: at most 100 characters")
    return value


def _seeds(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise CompareConfigError("seeds: give a list of at least one seed, e.g. [1, 2, 3]")
    if not all(isinstance(seed, int) and not isinstance(seed, bool) for seed in value):
        raise CompareConfigError(f"seeds: whole numbers only, not {value!r}")
    if any(seed < 0 for seed in value):
        raise CompareConfigError("seeds: must not be negative")
    if len(set(value)) != len(value):
        raise CompareConfigError("seeds: each seed once (a repeated seed repeats a run)")
    return tuple(value)


def _budget(value: Any) -> Budget:
    table = _table(value, "budget")
    missing = [field for field in BUDGET_FIELDS if field not in table]
    if missing:
        raise CompareConfigError(f"budget: state {', '.join(missing)} (every method gets it)")
    unknown = sorted(set(table) - set(BUDGET_FIELDS))
    if unknown:
        raise CompareConfigError(
            f"budget: unknown field(s) {', '.join(unknown)} (known: {', '.join(BUDGET_FIELDS)})"
        )
    for field in BUDGET_FIELDS:
        if not isinstance(table[field], int) or isinstance(table[field], bool):
            raise CompareConfigError(f"budget.{field}: a whole number, not {table[field]!r}")
    return Budget(**table)


def _methods(value: Any) -> tuple[MethodEntry, ...]:
    if not isinstance(value, list) or not value:
        raise CompareConfigError("methods: give at least one [[methods]] entry")
    entries = tuple(_method(index, item) for index, item in enumerate(value))
    labels = [entry.label for entry in entries]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise CompareConfigError(f"methods: label(s) {', '.join(repeated)} used more than once")
    return entries


def _method(index: int, item: Any) -> MethodEntry:
    from search_core.domain import Method

    where = f"methods[{index}]"
    table = _table(item, where)
    label, method = table.pop("label", None), table.pop("method", None)
    if not isinstance(label, str) or not label.strip():
        raise CompareConfigError(f"{where}: give a label (how the report names the method)")
    known = [m.value for m in Method]
    if method not in known:
        raise CompareConfigError(
            f"methods.{label}: unknown method {method!r} (known: {', '.join(known)})"
        )
    fixed = sorted(set(table) & set(SET_FOR_ALL))
    if fixed:
        raise CompareConfigError(
            f"methods.{label}: {', '.join(fixed)} is set for every method by the compare "
            "config, so that all methods get the same budget and independent runs"
        )
    return MethodEntry(label, method, table)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CompareConfigError(f"{where}: expected a table")
    return dict(value)
