"""The one place that turns the domain records into table rows and back, for every backend."""

import dataclasses
import enum
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, TypeVar

from netapi.outcomes import Outcome
from search_core.domain import (
    CandidateRecord,
    CandidateStatus,
    EpochMetrics,
    Generator,
    KnowledgeTreeRecord,
    Method,
    SearchEvent,
    SearchRecord,
    SearchState,
    Tenant,
    ZooModel,
)

R = TypeVar("R")


def _to_json(value: Any) -> str:
    # Key order is kept (no sort_keys) so that a record reads back exactly as it was written.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _epochs_to_json(epochs: list[EpochMetrics]) -> str:
    return _to_json([dataclasses.asdict(epoch) for epoch in epochs])


def _epochs_from_json(text: str) -> list[EpochMetrics]:
    return [EpochMetrics(**item) for item in json.loads(text)]


def _score_to_column(score: float | None) -> float | None:
    # SQLite stores NaN as NULL while PostgreSQL sorts it above every number: a NaN score
    # is no score on both, so the leaderboard means the same thing everywhere.
    if score is not None and math.isnan(score):
        return None
    return score


def search_task(search: SearchRecord) -> str:
    """The netapi task of a search, from config["task"]["task"] ("" when absent)."""
    task = search.config.get("task")
    if isinstance(task, Mapping):
        value = task.get("task", "")
        return value if isinstance(value, str) else ""
    return ""


def _optional_bool(value: Any) -> bool | None:
    """SQLite keeps a BOOLEAN as 0/1, PostgreSQL as a bool: both read back as bool or None."""
    return None if value is None else bool(value)


def _identity(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class RecordCodec(Generic[R]):
    """How one record type maps to one table: a column per dataclass field, plus extras.

    Enum fields are stored as their values, list/dict fields as JSON text (None as NULL,
    for the optional ones); `converters`
    hold (to_column, from_column) pairs for anything else; `extra` are columns computed
    from the record on write and not read back (e.g. a search's task).
    """

    record: type[R]
    table: str
    key: str
    enums: Mapping[str, type[enum.Enum]] = field(default_factory=dict)
    json_fields: frozenset[str] = frozenset()
    converters: Mapping[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = field(
        default_factory=dict
    )
    extra: Mapping[str, Callable[[R], Any]] = field(default_factory=dict)

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The columns read back into the record, in the order rows come back."""
        return tuple(f.name for f in dataclasses.fields(self.record))  # type: ignore[arg-type]

    @cached_property
    def write_columns(self) -> tuple[str, ...]:
        return self.columns + tuple(self.extra)

    def select_list(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + column for column in self.columns)

    def encode(self, record: R) -> tuple[Any, ...]:
        """The record's values in the order of write_columns."""
        values = []
        for name in self.columns:
            value = getattr(record, name)
            if name in self.converters:
                value = self.converters[name][0](value)
            elif name in self.json_fields:
                value = None if value is None else _to_json(value)
            elif isinstance(value, enum.Enum):
                value = value.value
            values.append(value)
        values.extend(compute(record) for compute in self.extra.values())
        return tuple(values)

    def decode(self, row: Sequence[Any]) -> R:
        """A record from a row selected with select_list()."""
        kwargs: dict[str, Any] = {}
        for name, value in zip(self.columns, row, strict=True):
            if name in self.converters:
                value = self.converters[name][1](value)
            elif name in self.json_fields:
                value = None if value is None else json.loads(value)
            elif name in self.enums and value is not None:
                value = self.enums[name](value)
            kwargs[name] = value
        return self.record(**kwargs)


TENANTS = RecordCodec(Tenant, "tenants", "tenant_id")

SEARCHES = RecordCodec(
    SearchRecord,
    "searches",
    "search_id",
    enums={"method": Method, "state": SearchState},
    json_fields=frozenset({"config"}),
    extra={"task": search_task},
)

EVENTS = RecordCodec(SearchEvent, "events", "sequence", json_fields=frozenset({"payload"}))

CANDIDATES = RecordCodec(
    CandidateRecord,
    "candidates",
    "candidate_id",
    enums={"status": CandidateStatus, "generator": Generator, "outcome": Outcome},
    json_fields=frozenset(
        {
            "snippets",
            "idea",
            "genome",
            "findings",
            "hyperparameters",
            "scores",
            "history",
            "fixes",
            "generation",
            "unused_parameters",
            "llm_usage",
            "signature",
            "warnings",
            "weights",
            "provenance",
        }
    ),
    converters={
        "epochs": (_epochs_to_json, _epochs_from_json),
        "score": (_score_to_column, _identity),
        "idea_applied": (_optional_bool, _optional_bool),
    },
)

ZOO_MODELS = RecordCodec(ZooModel, "zoo_models", "name", json_fields=frozenset({"metrics"}))

KNOWLEDGE_TREES = RecordCodec(
    KnowledgeTreeRecord, "knowledge_trees", "name", json_fields=frozenset({"document"})
)
