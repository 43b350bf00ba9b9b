"""The share of LEMUR's public models that nasforge runs, with the reason for every refusal.

    make lemur-share NN_DATASET=DIR [LEMUR_SHARE_ARGS="--sample 200"]
    (or: .venv/bin/python -m bench.lemur_share DIR [--sample N] [--time-budget S] [--seed N]
         [--limit N | --only NAME...] [--out DIR] [--jobs N] [--parameter-budget N]
         [--runner pool|cli] [--fresh])

From a checkout of LEMUR's nn-dataset (models in ab/nn/nn/*.py, trials in
ab/nn/stat/<task>_<dataset>_<metric>_<nn>/<epoch>.json, transforms in ab/nn/transform/*.py)
it builds a database of LEMUR's own shape (tables nn, transform, metric, prm, stat, as
ab/nn/util/db/Write.py fills them) in a temporary folder. search_core's LEMUR reader gives
each model its task and the spec of its best trial (transform -> resolution); models of other
tasks are counted and skipped. Every image classification and captioning model then gets
the sandbox's static check, and those it accepts a full check in a locked-down container,
all through one SandboxChecker with a warm pool (--runner cli: one `nasforge sandbox check`
process per model). Container checks go in a seeded random order; --sample N stops after N
of them, --time-budget S starts none after S seconds, and the share is then estimated from
that simple random sample, with a 95% interval.

It prints the share and writes results.json and report.md under --out (default
docs/results/lemur-share/): every model's outcome, stage, reason and wall time, and the
refusals grouped by reason. Container checks are remembered in var/lemur-share/checks.jsonl,
keyed by the model's code and trial, the budget, the runtime image and sandbox_runner's code
(container_digest), so an interrupted run resumes; --fresh forgets them. The static checks
run again on every invocation, with the rules of the working tree.
"""

import argparse
import asyncio
import hashlib
import itertools
import json
import math
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from netapi.code_policy import load_policy
from netapi.outcomes import Outcome
from netapi.static_check import check_source
from netapi.tasks import TASKS, TaskSpec
from sandbox_runner.config import SandboxSettings
from search_core.zoo.lemur import read_lemur

REPO_ROOT = Path(__file__).resolve().parents[1]
NASFORGE = REPO_ROOT / ".venv" / "bin" / "nasforge"
DEFAULT_OUT = REPO_ROOT / "docs" / "results" / "lemur-share"
CACHE = REPO_ROOT / "var" / "lemur-share" / "checks.jsonl"
CHECK_TIMEOUT_SECONDS = 600


# -- the checkout -> a LEMUR-shaped database -------------------------------------------------


@dataclass(frozen=True)
class Trial:
    task: str
    dataset: str
    metric: str
    nn: str
    epoch: int
    values: dict  # the trial's JSON object: accuracy, duration, transform, uid, batch, lr...


def read_trials(checkout: Path) -> list[Trial]:
    """Every trial under ab/nn/stat, as LEMUR's json_n_code_to_db reads them."""
    trials = []
    for folder in sorted((checkout / "ab" / "nn" / "stat").iterdir()):
        if not folder.is_dir():
            continue
        # LEMUR splits the folder name on "_"; a model name never holds one, maxsplit keeps
        # any that did whole.
        task, dataset, metric, nn = folder.name.split("_", 3)
        for epoch_file in folder.glob("*.json"):
            for values in json.loads(epoch_file.read_text()):
                trials.append(Trial(task, dataset, metric, nn, int(epoch_file.stem), values))
    return trials


def write_database(checkout: Path, trials: list[Trial], path: Path) -> None:
    """A database as LEMUR's Init.py/Write.py build it, holding ``trials`` and their code."""
    code_dir = checkout / "ab" / "nn"
    connection = sqlite3.connect(path)
    with connection:
        for table in ("nn", "transform", "metric"):
            connection.execute(
                f"CREATE TABLE {table}"
                " (name TEXT PRIMARY KEY, code TEXT NOT NULL, id TEXT NOT NULL)"
            )
        connection.execute("CREATE TABLE prm (uid TEXT NOT NULL, name TEXT NOT NULL, value)")
        connection.execute(
            "CREATE TABLE stat (id TEXT PRIMARY KEY, accuracy REAL, epoch INTEGER,"
            " duration INTEGER, task TEXT, dataset TEXT, nn TEXT, transform TEXT,"
            " metric TEXT, prm TEXT)"
        )
        stored: set[tuple[str, str]] = set()
        for trial in trials:
            values = dict(trial.values)
            uid = str(values.pop("uid", ""))
            accuracy, duration = values.pop("accuracy", None), values.pop("duration", None)
            transform = str(values.get("transform", ""))
            for table, name in (
                ("nn", trial.nn),
                ("metric", trial.metric),
                ("transform", transform),
            ):
                if (table, name) not in stored:  # each file read once, not once per trial
                    stored.add((table, name))
                    _put_code(connection, table, name, code_dir / table / f"{name}.py")
            for name, value in values.items():
                if isinstance(value, int | float | str):
                    connection.execute("INSERT INTO prm VALUES (?, ?, ?)", (uid, name, value))
            row = (trial.task, trial.dataset, trial.metric, trial.nn, trial.epoch, uid, transform)
            connection.execute(
                "INSERT OR IGNORE INTO stat VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _md5(repr(row)),
                    accuracy,
                    trial.epoch,
                    duration,
                    trial.task,
                    trial.dataset,
                    trial.nn,
                    transform,
                    trial.metric,
                    uid,
                ),
            )
        for column in ("accuracy", "task", "dataset", "nn", "transform", "metric", "prm"):
            connection.execute(f"CREATE INDEX idx_{column} ON stat ({column})")  # as LEMUR's
    connection.close()


def _put_code(connection: sqlite3.Connection, table: str, name: str, file: Path) -> None:
    if not name or not file.is_file():
        return
    code = file.read_text()
    connection.execute(f"INSERT OR IGNORE INTO {table} VALUES (?, ?, ?)", (name, code, _md5(code)))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


# -- which models, at which trial ------------------------------------------------------------


@dataclass
class Model:
    """One model to check, at the spec search_core's LEMUR reader gives it (its task's best
    trial's transform and dataset), or the reason the reader cannot give one."""

    name: str
    task: str
    dataset: str
    transform: str
    code_md5: str
    file: str
    spec: TaskSpec | None = None
    spec_problem: str = ""


@dataclass
class Selection:
    models: list[Model]
    other_task: dict[str, int] = field(default_factory=dict)  # LEMUR task -> models skipped
    no_trial: int = 0  # model files that no trial names


def select(checkout: Path, database: Path) -> Selection:
    """Every model the LEMUR reader (search_core.zoo.lemur) gives a task nasforge knows, at
    the spec it would be imported at; models of other tasks are counted, not checked."""
    report = read_lemur(database)
    selection = Selection(models=[])
    codes = dict(sqlite3.connect(database).execute("SELECT name, code FROM nn"))
    for entry in report.entries:
        if entry.task not in TASKS:  # "unknown task a, b": LEMUR's tasks, none nasforge's
            for task in filter(None, entry.task.split(", ")):
                selection.other_task[task] = selection.other_task.get(task, 0) + 1
            continue
        selection.models.append(
            Model(
                name=entry.name,
                task=entry.task,
                dataset=entry.spec.dataset if entry.spec else "",
                transform=entry.transform,
                code_md5=_md5(codes[entry.name]),
                file=str(checkout / "ab" / "nn" / "nn" / f"{entry.name}.py"),
                spec=entry.spec,
                spec_problem="" if entry.spec else entry.reason,
            )
        )
    files = {p.stem for p in (checkout / "ab" / "nn" / "nn").glob("*.py")} - {"__init__"}
    selection.no_trial = len(files - set(codes))
    selection.models.sort(key=lambda model: model.name)
    return selection


def subset(models: list[Model], limit: int | None, only: list[str]) -> list[Model]:
    """The models named by --only, else --limit of them spread evenly over the sorted names
    (the first N would all be one family)."""
    if only:
        wanted = set(only)
        return [model for model in models if model.name in wanted]
    if limit is None or limit >= len(models):
        return models
    return [models[i * len(models) // limit] for i in range(limit)]


# -- checking --------------------------------------------------------------------------------


@dataclass
class Checked:
    """One model's verdict, as results.json holds it."""

    name: str
    task: str
    dataset: str
    transform: str
    outcome: str
    stage: str
    rule: str
    reason: str
    warnings: list[str]
    wall_time_ms: float
    parameter_count: int = 0

    @property
    def passed(self) -> bool:
        return self.outcome == "success"


def cli_flags(*command: str) -> str:
    """The --help text of a nasforge subcommand, to learn which flags this checkout has."""
    result = subprocess.run(
        [str(NASFORGE), *command, "--help"], capture_output=True, text=True, check=False
    )
    return result.stdout


def checked_from(model: Model, answer: dict, wall_time_ms: float) -> Checked:
    """A Checked from one `sandbox check --json` object (or an import's per-model entry)."""
    outcome = str(answer.get("outcome", "infra_error"))
    findings = answer.get("findings") or []
    deciding = [f for f in findings if f.get("outcome") == outcome and outcome != "success"]
    error = answer.get("error") or {}
    if deciding:
        rule, reason = deciding[0].get("rule", ""), deciding[0].get("message", "")
    else:
        rule, reason = error.get("type", ""), error.get("message", answer.get("reason", ""))
    warned = [f for f in findings if f.get("outcome") == "warning"] + list(
        answer.get("warnings") or []
    )
    warnings = [f"{f.get('rule', '')}: {f.get('message', '')}" for f in warned]
    return Checked(
        name=model.name,
        task=model.task,
        dataset=model.dataset,
        transform=model.transform,
        outcome=outcome,
        stage=str(answer.get("stage") or ""),
        rule=str(rule),
        reason=str(reason) if outcome != "success" else "",
        warnings=warnings,
        wall_time_ms=float(answer.get("wall_time_ms") or wall_time_ms),
        parameter_count=int(answer.get("parameter_count") or 0),
    )


class CliRunner:
    """One `nasforge sandbox check` per model, ``jobs`` at once; the transform and the
    parameter budget are passed when this checkout's CLI takes them."""

    def __init__(self, jobs: int, parameter_budget: int | None):
        self.jobs = jobs
        flags = cli_flags("sandbox", "check")
        self.transform = "--transform" in flags
        self.budget = parameter_budget if "--parameter-budget" in flags else None

    def describe(self) -> str:
        passed = ["--transform"] if self.transform else []
        passed += ["--parameter-budget"] if self.budget else []
        given = ", ".join(passed) or "no trial flags"
        return f"nasforge sandbox check per model, {self.jobs} at once, passing {given}"

    def check(self, model: Model) -> Checked:
        command = [str(NASFORGE), "sandbox", "check", model.file, "--task", model.task, "--json"]
        if self.transform and model.transform:
            command += ["--transform", model.transform]
        if self.budget:
            command += ["--parameter-budget", str(self.budget)]
        started = time.monotonic()
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=CHECK_TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            answer = {"outcome": "infra_error", "reason": "the CLI ran past the bench's timeout"}
        else:
            answer = _last_json(result.stdout) or {
                "outcome": "infra_error",
                "reason": f"no JSON from the CLI (exit {result.returncode}): "
                + (result.stderr.strip().splitlines() or [""])[-1][:300],
            }
        return checked_from(model, answer, (time.monotonic() - started) * 1000)

    def run(self, models: list[Model], done, deadline: float | None) -> None:
        def check_in_time(model: Model) -> Checked | None:
            if deadline is not None and time.monotonic() > deadline:
                return None  # out of time: left unchecked, so out of the sample
            return self.check(model)

        with ThreadPoolExecutor(self.jobs) as pool:
            for checked in pool.map(check_in_time, models):
                if checked is not None:
                    done(checked)


class PoolRunner:
    """Every check through one SandboxChecker with a warm pool of ``jobs`` containers: the
    service's own path (static checks, then a locked-down container), at about 1 check/s on
    2 cores where a cold `nasforge sandbox check` takes 4-5 s."""

    TENANT = "lemur-share"

    def __init__(self, jobs: int, parameter_budget: int | None):
        self.jobs = jobs
        self.budget = parameter_budget

    def describe(self) -> str:
        budget = f"parameter budget {self.budget:,}" if self.budget else "the default budget"
        return f"sandbox_runner's SandboxChecker, warm pool of {self.jobs}, {budget}"

    def run(self, models: list[Model], done, deadline: float | None) -> None:
        codes = {model.name: Path(model.file).read_text() for model in models}
        asyncio.run(self._run(models, codes, done, deadline))

    async def _run(self, models: list[Model], codes: dict[str, str], done, deadline) -> None:
        from cli.sandbox import cli_checker
        from sandbox_runner.containers import InfraError

        settings = SandboxSettings(
            namespace="nasforge-lemur-share",
            pool_size=self.jobs,
            pool_per_tenant=self.jobs,
            max_concurrent_checks=self.jobs,
            per_tenant_concurrency=self.jobs,
        )
        slots = asyncio.Semaphore(self.jobs)

        async def check(model: Model) -> None:
            async with slots:
                started = time.monotonic()
                if deadline is not None and started > deadline:
                    return  # out of time: left unchecked, so out of the sample
                try:
                    result = await checker.check(
                        codes[model.name],
                        model.spec,
                        tenant=self.TENANT,
                        parameter_budget=self.budget,
                    )
                    answer = result.to_dict()
                except InfraError as exc:  # our side: recorded, and checked again on resume
                    answer = {"outcome": "infra_error", "reason": str(exc)}
                done(checked_from(model, answer, (time.monotonic() - started) * 1000))

        async with cli_checker(settings) as checker:
            await checker.start()  # the warm pool of `jobs` containers
            await asyncio.gather(*(check(model) for model in models))


RUNNERS = {"pool": PoolRunner, "cli": CliRunner}


def _last_json(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


# -- the run ---------------------------------------------------------------------------------


def nasforge_commit() -> str:
    """HEAD, with a digest of the uncommitted changes to tracked code when there are any."""

    def git(*command: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *command], capture_output=True, text=True, check=False
        )
        return result.stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changes = git("diff", "HEAD", "--", ".", ":!docs")  # results being rewritten are no change
    return f"{commit}+dirty.{_md5(changes)[:8]}" if changes else commit


def container_digest() -> str:
    """What a container verdict depends on besides the model and its spec: the runtime image
    (which carries netapi's harness) and sandbox_runner's code, uncommitted changes included.
    The static rules are not in it: they run in this process on every invocation."""
    settings = SandboxSettings()
    image = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", settings.image],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    tree = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD:sandbox_runner"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    changes = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "diff", "HEAD", "--", "sandbox_runner"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return _md5(f"{image}:{tree}:{changes}")[:12]


def cache_key(model: Model, digest: str, budget: int | None) -> str:
    return f"{digest}:{budget}:{model.name}:{model.code_md5}:{model.task}:{model.transform}"


def load_cache(fresh: bool) -> dict[str, dict]:
    if fresh or not CACHE.is_file():
        return {}
    entries = {}
    for line in CACHE.read_text().splitlines():
        entry = json.loads(line)
        entries[entry["key"]] = entry["checked"]
    return entries


def static_refusal(model: Model, policy) -> dict | None:
    """The static verdict the sandbox would give first (no container), None when it passes."""
    verdict = check_source(Path(model.file).read_text(), model.task, policy)
    if verdict.outcome is Outcome.SUCCESS:
        return None
    return {"stage": "static", **verdict.to_dict()}


def wilson(passed: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a pass rate from ``passed`` of ``n``."""
    if n == 0:
        return 0.0, 1.0
    p = passed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a checkout of LEMUR's nn-dataset")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    parser.add_argument("--limit", type=int, help="only N models, spread over the names")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="these models")
    parser.add_argument(
        "--sample",
        type=int,
        help="every model checked statically, N of those it accepts (a seeded random sample) "
        "in a container; the share is then an estimate with its 95%% interval",
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="start no container check after this long; what was checked is the sample",
    )
    parser.add_argument("--seed", type=int, default=17, help="the sample's seed (default 17)")
    parser.add_argument(
        "--cross-check",
        type=int,
        default=0,
        metavar="N",
        help="also run `nasforge zoo import-lemur --sandbox` on N of the container-checked "
        "models and compare its verdicts with this bench's",
    )
    parser.add_argument("--jobs", type=int, default=2, help="containers at once (default 2)")
    parser.add_argument("--parameter-budget", type=int, help="default: the sandbox's")
    parser.add_argument(
        "--runner",
        choices=RUNNERS,
        default="pool",
        help="pool: one checker with a warm pool (default); cli: one CLI process per model",
    )
    parser.add_argument("--fresh", action="store_true", help="forget remembered checks")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    trials = read_trials(args.checkout)
    with tempfile.TemporaryDirectory(prefix="lemur-share-") as folder:
        database = Path(folder) / "ab.nn.db"
        write_database(args.checkout, trials, database)
        selection = select(args.checkout, database)
    models = subset(selection.models, args.limit, args.only)
    policy = load_policy(SandboxSettings())  # the policy the sandbox's own static check uses
    results: dict[str, Checked] = {}
    candidates = []  # statically accepted: the container decides
    for model in models:
        if model.spec is None:  # the reader found no spec to check it at: refused, unrun
            answer = {"outcome": "skipped", "stage": "spec", "reason": model.spec_problem}
            results[model.name] = checked_from(model, answer, 0.0)
            continue
        static_started = time.monotonic()
        refusal = static_refusal(model, policy)
        if refusal:
            elapsed_ms = (time.monotonic() - static_started) * 1000
            results[model.name] = checked_from(model, refusal, elapsed_ms)
        else:
            candidates.append(model)
    # A seeded random order, each model's place drawn from its name alone: any prefix is a
    # simple random sample of the candidates, and a change of the candidates (a static rule
    # relaxed) leaves the others' order, and so the checks already made, as they were.
    order = sorted(candidates, key=lambda model: _md5(f"{args.seed}:{model.name}"))
    commit = nasforge_commit()  # once: what was checked, even if HEAD moves during the run
    digest = container_digest()
    to_check = order[: args.sample] if args.sample else order
    attempted = run_containers(args, to_check, len(models), digest)
    sampled = list(itertools.takewhile(lambda model: model.name in attempted, order))
    infra = [model.name for model in sampled if attempted[model.name].outcome == "infra_error"]
    sampled = [model for model in sampled if model.name not in infra]  # unknown, not refused
    container_results = {model.name: attempted[model.name] for model in sampled}
    results.update(container_results)
    checked = [results[model.name] for model in models if model.name in results]
    container_passed = sum(c.passed for c in container_results.values())
    summary = {
        "nn_dataset_commit": _checkout_commit(args.checkout),
        "nasforge_commit": commit,
        "container_digest": digest,
        "runner": RUNNERS[args.runner](args.jobs, args.parameter_budget).describe(),
        "model_files": len(list((args.checkout / "ab" / "nn" / "nn").glob("*.py"))) - 1,
        "with_trials": len(selection.models) + sum(selection.other_task.values()),
        "skipped_other_task": selection.other_task,
        "skipped_no_trial": selection.no_trial,
        "subset": bool(args.limit or args.only),
        "tried": len(models),
        "refused_before_a_container": len(models) - len(candidates),
        "container_candidates": len(candidates),
        "container_checked": len(sampled),
        "container_infra_errors": infra,
        "sample_seed": args.seed,
        "container_passed": container_passed,
        "run_seconds": round(time.monotonic() - started, 1),
        "wall_time_ms": _wall_summary(list(container_results.values())),
    }
    rate = container_passed / len(sampled) if sampled else 0.0
    low, high = wilson(container_passed, len(sampled))
    fraction = len(candidates) / len(models) if models else 0.0
    summary |= {
        "sampled": len(sampled) < len(candidates),
        "passed": round(fraction * rate * len(models)) if sampled else 0,
        "share": fraction * rate,
        "share_interval_95": [fraction * low, fraction * high],
    }
    if args.cross_check:
        names = [model.name for model in sampled[: args.cross_check]]
        summary["cross_check"] = cross_check(args, trials, results, names)
    write_report(args.out, summary, checked)
    estimate = "estimated " if summary["sampled"] else ""
    interval = f" (95% interval {fraction * low:.1%}-{fraction * high:.1%})" if estimate else ""
    print(
        f"{estimate}passed {summary['passed']}/{summary['tried']} = {summary['share']:.1%}"
        f"{interval}; written to {args.out}"
    )
    return 0


def cross_check(args, trials: list[Trial], results: dict[str, "Checked"], names: list[str]):
    """`nasforge zoo import-lemur --sandbox --json` on a database of ``names`` only: the
    CLI's own import, to confirm it agrees with this bench's checks model by model."""
    wanted = set(names)
    with tempfile.TemporaryDirectory(prefix="lemur-share-cross-") as folder:
        database = Path(folder) / "ab.nn.db"
        write_database(args.checkout, [t for t in trials if t.nn in wanted], database)
        command = [str(NASFORGE), "zoo", "import-lemur", str(database), "--sandbox", "--json"]
        command += ["--store", f"sqlite:///{folder}/store.db", "--jobs", str(args.jobs)]
        if args.parameter_budget:
            command += ["--parameter-budget", str(args.parameter_budget)]
        started = time.monotonic()
        answer = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.monotonic() - started
    report = _last_json(answer.stdout) or {}
    rows = []
    for entry in report.get("models", []):
        ours = results.get(entry["name"])
        if ours is None:
            continue
        theirs_passed = entry.get("outcome") == "imported"
        rows.append(
            {
                "name": entry["name"],
                "import_outcome": entry.get("outcome", ""),
                "bench_outcome": ours.outcome,
                "agree": theirs_passed == ours.passed,
            }
        )
    if not rows:
        tail = (answer.stderr.strip().splitlines() or [""])[-1][:300]
        print(f"cross-check: no report from import-lemur (exit {answer.returncode}): {tail}")
    return {
        "models": len(rows),
        "agree": sum(r["agree"] for r in rows),
        "seconds": round(seconds),
        "rows": rows,
    }


def run_containers(args: argparse.Namespace, models: list[Model], total: int, digest: str) -> dict:
    """Container checks of ``models``, remembered ones reused, each new one remembered."""
    cache = load_cache(args.fresh)
    runner = RUNNERS[args.runner](args.jobs, args.parameter_budget)
    results: dict[str, Checked] = {}
    todo = []
    for model in models:
        remembered = cache.get(cache_key(model, digest, args.parameter_budget))
        if remembered:
            results[model.name] = Checked(**remembered)
        else:
            todo.append(model)
    print(
        f"{total} models, {len(models)} for a container ({len(results)} remembered, "
        f"{len(todo)} to check); {runner.describe()}",
        flush=True,
    )
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    by_name = {model.name: model for model in models}
    with CACHE.open("a") as log:

        def done(checked: Checked) -> None:
            results[checked.name] = checked
            if checked.outcome != "infra_error":  # our side failed: check it again next time
                key = cache_key(by_name[checked.name], digest, args.parameter_budget)
                log.write(json.dumps({"key": key, "checked": asdict(checked)}) + "\n")
                log.flush()
            mark = "ok " if checked.passed else "NO "
            print(
                f"[{len(results)}/{len(models)}] {mark}{checked.name} {checked.outcome} "
                f"{checked.stage} {checked.wall_time_ms:.0f} ms {checked.reason[:100]}",
                flush=True,
            )

        deadline = time.monotonic() + args.time_budget if args.time_budget else None
        runner.run(todo, done, deadline)
    return results


def _checkout_commit(checkout: Path) -> str:
    marker = checkout / "COMMIT"  # written by whoever exported the checkout, when not a clone
    if marker.is_file():
        return marker.read_text().strip()
    result = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"


def _wall_summary(checked: list[Checked]) -> dict:
    times = sorted(c.wall_time_ms for c in checked)
    if not times:
        return {}
    return {
        "total": round(sum(times)),
        "median": round(statistics.median(times)),
        "p90": round(times[int(0.9 * (len(times) - 1))]),
        "max": round(times[-1]),
    }


# -- the report ------------------------------------------------------------------------------


def reason_group(checked: Checked) -> str:
    """Refusals that differ only in numbers (shapes, counts, line numbers) share a group."""
    reason = re.sub(r"\d[\d,.]*", "N", checked.reason.splitlines()[0] if checked.reason else "")
    return f"{checked.outcome} · {checked.stage or '-'} · {checked.rule or '-'} · {reason[:140]}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_report(out: Path, summary: dict, checked: list[Checked]) -> None:
    """results.json (every model) and report.md (the share, the refusals grouped by reason)."""
    refused = [c for c in checked if not c.passed]
    groups: dict[str, list[Checked]] = {}
    for c in sorted(refused, key=lambda c: c.name):
        groups.setdefault(reason_group(c), []).append(c)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    summary = {
        **summary,
        "refused": len(refused),
        "reasons": [
            {"group": g, "count": len(cs), "models": [c.name for c in cs]} for g, cs in ordered
        ],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps({"summary": summary, "models": [asdict(c) for c in checked]}, indent=1) + "\n"
    )
    wall = summary["wall_time_ms"]
    other = ", ".join(f"{task} {n}" for task, n in sorted(summary["skipped_other_task"].items()))
    low, high = summary["share_interval_95"]
    sampled = summary["sampled"]
    estimate = " (estimate: static stage exact, container stage sampled)" if sampled else ""
    lines = [
        "# The share of LEMUR's public models that nasforge runs",
        "",
        "Written by `bench/lemur_share.py` (`make lemur-share`): our own measurement of LEMUR's",
        "model files, no LEMUR code. A model runs when nasforge's full sandbox check (static",
        "rules, then a locked-down container: instantiate, forward, a learning step) succeeds at",
        "the transform resolution of the model's best LEMUR trial; warnings are allowed.",
        "",
        "| | |",
        "|---|---|",
        f"| nn-dataset | `{summary['nn_dataset_commit']}` |",
        f"| nasforge commit (static rules) | `{summary['nasforge_commit']}` |",
        f"| container digest (runtime image, sandbox_runner) | `{summary['container_digest']}` |",
        f"| checked by | {summary['runner']} |",
        f"| model files in ab/nn/nn | {summary['model_files']} |",
        f"| of them with a trial in ab/nn/stat | {summary['with_trials']} |",
        f"| skipped: no trial, so no task | {summary['skipped_no_trial']} |",
        f"| skipped: another task only | {sum(summary['skipped_other_task'].values())}"
        f" ({other or 'none'}) |",
        f"| **tried**: image classification and captioning"
        f"{' (a subset)' if summary['subset'] else ''} | **{summary['tried']}** |",
        f"| refused before a container (no spec, static rules), every model checked"
        f" | {summary['refused_before_a_container']} |",
        f"| statically accepted | {summary['container_candidates']} |",
        f"| of them checked in a container | {summary['container_checked']}"
        f"{' (a random sample, seed ' + str(summary['sample_seed']) + ')' if sampled else ''} |",
        f"| of them passed | {summary['container_passed']} |",
        f"| **passed**{estimate} | **{summary['passed']}** |",
        f"| **share**{estimate} | **{summary['share']:.1%}**"
        + (f" (95% interval {low:.1%}-{high:.1%})" if sampled else "")
        + " |",
        f"| run time of this invocation (remembered checks not rerun)"
        f" | {summary['run_seconds']:.0f} s |",
    ]
    if wall:
        lines.append(
            f"| container check wall time: median / p90 / max / sum | {wall['median']} /"
            f" {wall['p90']} / {wall['max']} / {wall['total']} ms |"
        )
    cross = summary.get("cross_check")
    if cross:
        lines += [
            "",
            "## Cross-check with `nasforge zoo import-lemur --sandbox`",
            "",
            f"The CLI's own import of a database holding only {cross['models']} of the"
            f" container-checked models ({cross['seconds']} s) agrees with this bench on"
            f" {cross['agree']} of them (imported = passed).",
        ]
        disagree = [row for row in cross["rows"] if not row["agree"]]
        if disagree:
            lines += ["", "| model | import-lemur | bench |", "|---|---|---|"]
            lines += [
                f"| {r['name']} | {r['import_outcome']} | {r['bench_outcome']} |" for r in disagree
            ]
    lines += [
        "",
        "## Refusals by reason",
        "",
        "Static and spec refusals are counted over every model tried; container refusals over",
        "the models checked in a container.",
        "",
        "| count | outcome · stage · rule · reason | examples |",
        "|---|---|---|",
    ]
    for group, members in ordered:
        examples = ", ".join(c.name for c in members[:3])
        lines.append(f"| {len(members)} | {_cell(group)} | {_cell(examples)} |")
    lines += ["", "## Every refused model, grouped by reason", ""]
    for group, members in ordered:
        lines += [
            f"### {_cell(group)} ({len(members)})",
            "",
            "| model | task | dataset | transform | outcome | stage | reason | wall ms |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in members:
            lines.append(
                f"| {c.name} | {c.task} | {c.dataset} | {c.transform} | {c.outcome} | {c.stage}"
                f" | {_cell(c.reason[:300])} | {c.wall_time_ms:.0f} |"
            )
        lines.append("")
    warned: dict[str, int] = {}
    for c in (c for c in checked if c.passed):
        for warning in c.warnings:
            key = re.sub(r"'[^']*'", "'…'", warning)[:120]
            warned[key] = warned.get(key, 0) + 1
    if warned:
        lines += ["## Warnings on models that ran", "", "| models | warning |", "|---|---|"]
        lines += [f"| {n} | {_cell(w)} |" for w, n in sorted(warned.items(), key=lambda i: -i[1])]
        lines.append("")
    slowest = sorted(checked, key=lambda c: -c.wall_time_ms)[:10]
    lines += ["## Slowest checks", "", "| model | outcome | wall ms |", "|---|---|---|"]
    lines += [f"| {c.name} | {c.outcome} | {c.wall_time_ms:.0f} |" for c in slowest]
    (out / "report.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
