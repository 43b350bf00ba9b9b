"""Import models from a LEMUR SQLite database: what LEMUR could run and nasforge accepts.

LEMUR (github.com/ABrain-One/nn-dataset) keeps code tables `nn`, `transform`, `metric`
(name, code, id), hyperparameter sets `prm` (uid, name, value) and the trials in `stat`
(accuracy, epoch, duration, task, dataset, nn, transform, metric, prm; `transform` names a
row of the `transform` table). Each `nn` row with a trial of a task nasforge knows is checked
as a candidate of that task at the resolution of its best trial's transform (norm_299 ->
299x299, netapi.tasks.spec_for): statically here (parsed with `ast`, never run), then, when
the caller passes a checker, in a sandbox container under a parameter budget. Every row ends
imported or refused with its reason; nothing is dropped silently.
"""

import asyncio
import pathlib
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from netapi.code_policy import CodePolicy
from netapi.outcomes import Outcome, Stage
from netapi.static_check import DEFAULT_POLICY, check_source
from netapi.tasks import IMG_CAPTIONING, IMG_CLASSIFICATION, TaskSpec, TaskSpecError, spec_for
from search_core.domain import ZooModel
from search_core.identity import family_of, normalised_md5, split_captioner

# LEMUR task name -> netapi task (the spellings agree; other LEMUR tasks are skipped).
TASKS = {"img-classification": IMG_CLASSIFICATION, "img-captioning": IMG_CAPTIONING}
_TASK_ORDER = (IMG_CLASSIFICATION, IMG_CAPTIONING)

IMPORTED = "imported"
SKIPPED = "skipped"  # LEMUR's data gives no task or resolution nasforge can check it at
STATIC, SANDBOX = "static", "sandbox"  # how far an import checks each model
_REASON_CHARS = 200


class LemurFormatError(ValueError):
    """The file cannot be opened as SQLite or lacks LEMUR's `nn` table."""


class CheckOutcome(Protocol):
    """What an import reads of a sandbox check (sandbox_runner.verdicts.CheckResult)."""

    outcome: Outcome
    stage: Stage | None
    error_message: str
    parameter_count: int


# (code, spec, parameter budget) -> the verdict of a full check in a container.
Checker = Callable[[str, TaskSpec, int], Awaitable[CheckOutcome]]


@dataclass(frozen=True)
class Entry:
    """One `nn` row: where it would run and what became of it."""

    name: str
    task: str = ""  # the netapi task; LEMUR's own task names when nasforge knows none
    transform: str = ""  # the best trial's, as LEMUR trained it
    spec: TaskSpec | None = None  # what it is checked at
    outcome: str = IMPORTED  # imported, skipped, or the check outcome that refused it
    reason: str = ""  # why it was not imported
    model: ZooModel | None = None  # set when imported

    def to_dict(self) -> dict:
        row = {
            "name": self.name,
            "task": self.task,
            "transform": self.transform,
            "in_shape": list(self.spec.in_shape) if self.spec else [],
            "outcome": self.outcome,
            "reason": self.reason,
        }
        return row | (self.model.metrics if self.model else {})


@dataclass
class ImportReport:
    """What an import read, how far it checked, and what became of each `nn` row."""

    source: str  # "lemur:<file name>"
    rows: int = 0  # rows of the nn table
    entries: list[Entry] = field(default_factory=list)
    checked: str = STATIC
    parameter_budget: int | None = None  # applied by the sandbox check only

    @property
    def models(self) -> list[ZooModel]:
        return [entry.model for entry in self.entries if entry.model is not None]

    @property
    def refused(self) -> list[Entry]:
        return [entry for entry in self.entries if entry.model is None]

    @property
    def imported(self) -> int:
        return len(self.models)

    def totals(self) -> dict[str, int]:
        """Rows per outcome, imported first, then the most frequent refusals."""
        counts = Counter(entry.outcome for entry in self.entries)
        imported = {IMPORTED: counts.pop(IMPORTED, 0)}
        return imported | dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def put_into(self, store) -> None:
        """Put the imported models into ``store``'s zoo, replacing same-named ones."""
        for model in self.models:
            store.put_zoo_model(model)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "rows": self.rows,
            "imported": self.imported,
            "refused": len(self.refused),
            "checked": self.checked,
            "parameter_budget": self.parameter_budget,
            "totals": self.totals(),
            "models": [entry.to_dict() for entry in self.entries],
        }


@dataclass
class _Best:
    """The best trial of one (nn, task) pair, and where it ran."""

    trials: int = 0
    accuracy: float | None = None
    epoch: float | None = None
    transform: str = ""
    dataset: str = ""

    def add(self, accuracy, epoch, transform, dataset) -> None:
        self.trials += 1
        better = isinstance(accuracy, int | float) and (
            self.accuracy is None or accuracy > self.accuracy
        )
        if better:
            self.accuracy = float(accuracy)
            self.epoch = float(epoch) if isinstance(epoch, int | float) else None
        if better or self.trials == 1:  # with no accuracy at all, the first trial's
            self.transform = transform if isinstance(transform, str) else ""
            self.dataset = dataset if isinstance(dataset, str) else ""


def _connect(path: pathlib.Path) -> sqlite3.Connection:
    if not path.is_file():
        raise LemurFormatError(f"{path}: no such file")
    try:  # mode=ro: the import can never write to the user's LEMUR database
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise LemurFormatError(f"{path}: cannot open as SQLite: {exc}") from exc


def _columns(connection: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}


def _select(connection: sqlite3.Connection, table: str, wanted: tuple[str, ...]) -> list[tuple]:
    """Rows of ``wanted`` columns; a column the table lacks reads as NULL.

    Table and column names are this module's constants, never taken from the file.
    """
    present = _columns(connection, table)
    expressions = ", ".join(name if name in present else "NULL" for name in wanted)
    return connection.execute(f"SELECT {expressions} FROM {table}").fetchall()


def _best_trials(connection: sqlite3.Connection) -> dict[str, dict[str, _Best]]:
    """nn name -> LEMUR task -> its best trial; empty when there is no usable stat table."""
    if not {"nn", "task"} <= _columns(connection, "stat"):
        return {}
    best: dict[str, dict[str, _Best]] = {}
    for nn, task, *trial in _select(
        connection, "stat", ("nn", "task", "accuracy", "epoch", "transform", "dataset")
    ):
        best.setdefault(str(nn), {}).setdefault(str(task), _Best()).add(*trial)
    return best


def _choose_task(trials: dict[str, _Best]) -> str:
    """The LEMUR task, among those nasforge knows, with the most trials; '' when none."""
    known = [task for task in trials if task in TASKS]
    if not known:
        return ""
    return max(known, key=lambda task: (trials[task].trials, -_TASK_ORDER.index(TASKS[task])))


def _model(name: str, code: str, task: str, best: _Best, source: str) -> ZooModel:
    family = family_of(name)
    encoder, decoder = split_captioner(family) if task == IMG_CAPTIONING else ("", "")
    metrics = {} if best.accuracy is None else {"accuracy": best.accuracy}
    if best.epoch is not None:
        metrics["epoch"] = best.epoch
    return ZooModel(
        name=name,
        task=task,
        code=code,
        family=family,
        encoder=encoder,
        decoder=decoder,
        source=source,
        code_md5=normalised_md5(code),
        metrics=metrics,
    )


def _short(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= _REASON_CHARS else line[: _REASON_CHARS - 3] + "..."


def _entry(
    name: str, code: object, trials: dict[str, _Best], source: str, policy: CodePolicy
) -> Entry:
    """A row checked statically at its best trial's resolution."""
    task = _choose_task(trials)
    if not trials:
        return Entry(name, outcome=SKIPPED, reason="no trial in stat, so its task is unknown")
    if not task:
        unknown = ", ".join(sorted(trials))
        return Entry(name, unknown, outcome=SKIPPED, reason=f"unknown task {unknown}")
    best = trials[task]
    entry = Entry(name, TASKS[task], best.transform)
    try:
        spec = spec_for(entry.task, transform=best.transform, dataset=best.dataset)
    except TaskSpecError as exc:
        return replace(entry, outcome=SKIPPED, reason=f"cannot check at its transform: {exc}")
    entry = replace(entry, spec=spec)
    if not isinstance(code, str):
        code = ""
    verdict = check_source(code, entry.task, policy)
    if verdict.outcome is not Outcome.SUCCESS:
        first = verdict.findings[0]
        where = f"line {first.line}: " if first.line else ""
        return replace(entry, outcome=verdict.outcome.value, reason=_short(where + first.message))
    return replace(entry, model=_model(name, code, entry.task, best, source))


def read_lemur(path: str | pathlib.Path, policy: CodePolicy = DEFAULT_POLICY) -> ImportReport:
    """Every `nn` row of a LEMUR database, checked statically at its best trial's resolution."""
    path = pathlib.Path(path)
    report = ImportReport(source=f"lemur:{path.name}")
    connection = _connect(path)
    try:
        if not {"name", "code"} <= _columns(connection, "nn"):
            raise LemurFormatError(f"{path}: no LEMUR nn table with name and code columns")
        rows = _select(connection, "nn", ("name", "code"))
        trials = _best_trials(connection)
    except sqlite3.DatabaseError as exc:  # e.g. "file is not a database"
        raise LemurFormatError(f"{path}: {exc}") from exc
    finally:
        connection.close()
    report.rows = len(rows)
    for name, code in rows:
        name = str(name)
        report.entries.append(_entry(name, code, trials.get(name, {}), report.source, policy))
    return report


def budget_reason(parameter_count: int, budget: int) -> str:
    return f"{parameter_count:,} parameters over the budget of {budget:,} (--parameter-budget)"


def _refusal(result: CheckOutcome, budget: int) -> str:
    if result.outcome is Outcome.TOO_LARGE:
        return budget_reason(result.parameter_count, budget)
    stage = f"{result.stage.value}: " if result.stage else ""
    message = _short(result.error_message) or result.outcome.value
    if result.outcome is Outcome.INFRA_ERROR:
        return f"not checked, our side failed: {message}"
    return stage + message


async def check_in_sandbox(
    report: ImportReport, check: Checker, parameter_budget: int, jobs: int = 1
) -> None:
    """Run every statically accepted model through ``check`` at its resolution and budget;
    refuse each that fails with the check's reason. ``jobs`` checks run at once."""
    report.checked, report.parameter_budget = SANDBOX, parameter_budget
    slots = asyncio.Semaphore(jobs)

    async def one(index: int, entry: Entry, code: str, spec: TaskSpec) -> None:
        async with slots:
            result = await check(code, spec, parameter_budget)
        if result.outcome is not Outcome.SUCCESS:
            reason = _refusal(result, parameter_budget)
            report.entries[index] = replace(
                entry, outcome=result.outcome.value, reason=reason, model=None
            )

    await asyncio.gather(
        *(
            one(index, entry, entry.model.code, entry.spec)
            for index, entry in enumerate(report.entries)
            if entry.model is not None and entry.spec is not None
        )
    )


def import_lemur(path: str | pathlib.Path, store) -> ImportReport:
    """Read a LEMUR database and put what passes the static check into ``store``."""
    report = read_lemur(path)
    report.put_into(store)
    return report
