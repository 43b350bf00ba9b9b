"""Import models from a LEMUR SQLite database: read-only, code parsed with `ast`, never run.

LEMUR (github.com/ABrain-One/nn-dataset) keeps code tables `nn`, `transform`, `metric`
(name, code, id), hyperparameter sets `prm` (uid, name, value) and the trials in `stat`
(accuracy, epoch, duration, task, dataset, nn, transform, metric, prm). Each `nn` row with
a trial of a task nasforge knows becomes a ZooModel carrying its best accuracy.
"""

import ast
import pathlib
import sqlite3
from dataclasses import dataclass, field

from netapi.outcomes import MAX_CANDIDATE_BYTES
from netapi.tasks import IMG_CAPTIONING, IMG_CLASSIFICATION
from search_core.domain import ZooModel
from search_core.identity import family_of, normalised_md5, split_captioner

# LEMUR task name -> netapi task (the spellings agree; other LEMUR tasks are skipped).
TASKS = {"img-classification": IMG_CLASSIFICATION, "img-captioning": IMG_CAPTIONING}
_TASK_ORDER = (IMG_CLASSIFICATION, IMG_CAPTIONING)


class LemurFormatError(ValueError):
    """The file cannot be opened as SQLite or lacks LEMUR's `nn` table."""


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass
class ImportReport:
    """What an import read, what it made of each `nn` row, and why rows were skipped."""

    source: str  # "lemur:<file name>"
    rows: int = 0  # rows of the nn table
    models: list[ZooModel] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return len(self.models)

    def put_into(self, store) -> None:
        """Put the models read into ``store``'s zoo, replacing same-named ones."""
        for model in self.models:
            store.put_zoo_model(model)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "rows": self.rows,
            "imported": self.imported,
            "skipped": [{"name": s.name, "reason": s.reason} for s in self.skipped],
            "models": [{"name": m.name, "task": m.task, **m.metrics} for m in self.models],
        }


@dataclass
class _Best:
    """The best trial of one (nn, task) pair."""

    trials: int = 0
    accuracy: float | None = None
    epoch: float | None = None

    def add(self, accuracy, epoch) -> None:
        self.trials += 1
        if isinstance(accuracy, int | float) and (
            self.accuracy is None or accuracy > self.accuracy
        ):
            self.accuracy = float(accuracy)
            self.epoch = float(epoch) if isinstance(epoch, int | float) else None


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
    for nn, task, accuracy, epoch in _select(
        connection, "stat", ("nn", "task", "accuracy", "epoch")
    ):
        best.setdefault(str(nn), {}).setdefault(str(task), _Best()).add(accuracy, epoch)
    return best


def _parse_problem(code: object) -> str:
    """Why the code cannot be a zoo model, or '' when it parses."""
    if not isinstance(code, str) or not code.strip():
        return "no code"
    if len(code.encode("utf-8", errors="surrogatepass")) > MAX_CANDIDATE_BYTES:
        return f"code over {MAX_CANDIDATE_BYTES} bytes"
    try:
        ast.parse(code)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        where = f" at line {line}" if line else ""
        return f"code does not parse{where}: {getattr(exc, 'msg', None) or exc}"
    return ""


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


def read_lemur(path: str | pathlib.Path) -> ImportReport:
    """Zoo models from a LEMUR database file, with the rows skipped and why."""
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
        problem = _parse_problem(code)
        by_task = trials.get(name, {})
        task = _choose_task(by_task)
        if not problem and not by_task:
            problem = "no trial in stat, so its task is unknown"
        elif not problem and not task:
            problem = f"unknown task {', '.join(sorted(by_task))}"
        if problem:
            report.skipped.append(Skipped(name, problem))
            continue
        report.models.append(_model(name, code, TASKS[task], by_task[task], report.source))
    return report


def import_lemur(path: str | pathlib.Path, store) -> ImportReport:
    """Read a LEMUR database and put its models into ``store`` (replacing same-named ones)."""
    report = read_lemur(path)
    report.put_into(store)
    return report
