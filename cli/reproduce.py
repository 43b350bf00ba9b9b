"""`nasforge reproduce CANDIDATE`: retrain a candidate from its record through the public API
and compare the figures with the ones it was trained to.

search_core does the retraining (ReproduceCandidate: a one-candidate search of the caller's
that trains the code as search_core stored it, with the same hyperparameters, seed, epochs,
sample counts and dataset); this command reads the record, waits for that search, and puts
the two sets of figures side by side. Training on CPU with the same seed is deterministic,
so the default tolerance is tight; a GPU run or another runtime image may move the last
digits (say so with --tolerance).

Exit status: 0 when every figure agrees within the tolerance, 1 when one differs or the
retraining did not succeed, 2 for bad usage.
"""

import argparse
import asyncio
import hashlib
import math
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from cli.common import add_connection_arguments, connection_from_args

DEFAULT_TOLERANCE = 1e-6
# Figures that measure the machine, not the model: never compared.
_NOT_COMPARED = frozenset({"peak_memory_bytes"})


def register(commands) -> None:
    reproduce = commands.add_parser(
        "reproduce", help="retrain a candidate from its record and compare the figures"
    )
    reproduce.add_argument("candidate_id", metavar="CANDIDATE")
    reproduce.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"largest absolute difference that counts as the same (default {DEFAULT_TOLERANCE})",
    )
    reproduce.add_argument(
        "--record-only", action="store_true", help="print the candidate's record; train nothing"
    )
    add_connection_arguments(reproduce, "--target", "search_core", client_certificate=False)
    reproduce.set_defaults(handler=run_reproduce)


@dataclass(frozen=True)
class Row:
    """One compared figure: its name, the recorded value, the reproduced one."""

    figure: str
    recorded: float | None
    reproduced: float | None
    tolerance: float

    @property
    def agrees(self) -> bool:
        if self.recorded is None or self.reproduced is None:
            return self.recorded is None and self.reproduced is None
        if math.isnan(self.recorded) or math.isnan(self.reproduced):
            return math.isnan(self.recorded) and math.isnan(self.reproduced)
        return abs(self.recorded - self.reproduced) <= self.tolerance


@dataclass
class Comparison:
    """The figures side by side, and what differs beyond them (outcome, code, environment)."""

    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # each makes the reproduction fail
    warnings: list[str] = field(default_factory=list)  # told, never a failure

    @property
    def agrees(self) -> bool:
        return not self.problems and all(row.agrees for row in self.rows)


def compare(original, again, tolerance: float) -> Comparison:
    """Compare two pb.Candidate messages: per-epoch train loss and validation, every final
    score either has, the outcome and the code; the runtime image and dataset digests of
    the two records are compared as a warning (the environment moved, not the model)."""
    result = Comparison()
    if again.summary.outcome != original.summary.outcome:
        result.problems.append(
            f"outcome {_outcome(again)} where the record says {_outcome(original)}"
            + (f" ({again.error.message})" if again.error.message else "")
        )
    if again.code != original.code:
        result.problems.append("the retrained code is not the recorded code")
    recorded_hash = original.provenance.code_sha256
    if recorded_hash and recorded_hash != hashlib.sha256(original.code.encode()).hexdigest():
        result.problems.append("the stored code is not the code its record names (code_sha256)")
    recorded = {e.epoch: e for e in original.epochs}
    reproduced = {e.epoch: e for e in again.epochs}
    for epoch in sorted(recorded.keys() | reproduced.keys()):
        for name in ("train_loss", "validation_metric"):
            result.rows.append(
                Row(
                    f"epoch {epoch} {name}",
                    _value(recorded.get(epoch), name),
                    _value(reproduced.get(epoch), name),
                    tolerance,
                )
            )
    scores = {f.name for f, _ in original.summary.scores.ListFields()}
    scores |= {f.name for f, _ in again.summary.scores.ListFields()}
    for name in sorted(scores - _NOT_COMPARED):
        result.rows.append(
            Row(
                name,
                _score(original.summary.scores, name),
                _score(again.summary.scores, name),
                tolerance,
            )
        )
    for name, what in (
        ("runtime_image_digest", "runtime image"),
        ("dataset_digest", "dataset"),
    ):
        before, now = getattr(original.provenance, name), getattr(again.provenance, name)
        if not before:
            result.warnings.append(f"the record names no {what} digest: not compared")
        elif before != now:
            result.warnings.append(f"the {what} differs: recorded {before}, now {now or '?'}")
    return result


def _value(epoch, name: str) -> float | None:
    return None if epoch is None else float(getattr(epoch, name))


def _score(scores, name: str) -> float | None:
    return float(getattr(scores, name)) if scores.HasField(name) else None


def _outcome(candidate) -> str:
    from nasforge.common.v1 import common_pb2

    return common_pb2.Outcome.Name(candidate.summary.outcome).removeprefix("OUTCOME_").lower()


def record_lines(candidate) -> list[tuple[str, str]]:
    """The record in short: what a person checks before trusting a figure."""
    record = candidate.provenance
    lines = []
    if record.prompt_name:
        version = f"@{record.prompt_version}" if record.prompt_version else ""
        digest = f" (sha256 {record.prompt_sha256[:12]})" if record.prompt_sha256 else ""
        lines.append(("prompt", f"{record.prompt_name}{version}{digest}"))
    if record.HasField("model"):
        model = record.model
        parts = [model.name, model.backend, model.served_model]
        if model.revision:
            parts.append(f"revision {model.revision}")
        if model.file_sha256:
            parts.append(f"file sha256 {model.file_sha256[:12]}")
        lines.append(("model", ", ".join(p for p in parts if p)))
    if record.HasField("sampling"):
        sampling = record.sampling
        settings = [f"max_new_tokens {sampling.max_new_tokens}"]
        settings += [
            f"{name} {getattr(sampling, name):g}"
            for name in ("temperature", "top_p", "seed")
            if sampling.HasField(name)
        ]
        lines.append(("sampling", ", ".join(settings)))
    if candidate.fixes:
        lines.append(("fixes", ", ".join(fix.rule for fix in candidate.fixes)))
    lines.append(("code sha256", record.code_sha256 or "(not recorded)"))
    lines.append(("training", f"seed {record.training_seed}, {record.training_epochs} epochs"))
    lines.append(("runtime image", record.runtime_image_digest or "(not recorded)"))
    dataset = record.dataset_name or "(not recorded)"
    if record.dataset_digest:
        dataset += f" {record.dataset_digest}"
    lines.append(("dataset", dataset))
    return lines


def run_reproduce(args: argparse.Namespace) -> int:
    from nasforge.search_core.v1 import search_core_pb2 as pb
    from nasforge.search_core.v1 import search_core_pb2_grpc as pb_grpc
    from rpc.client import open_channel

    target, token, tls = connection_from_args(args, "search_core")
    console = Console()

    async def go() -> int:
        channel = open_channel(target, token=token, tls=tls, default_timeout_seconds=60)
        try:
            stub = pb_grpc.SearchServiceStub(channel)
            original = await _candidate(stub, pb, args.candidate_id)
            _print_record(console, original)
            if args.record_only:
                return 0
            started = await stub.ReproduceCandidate(
                pb.ReproduceCandidateRequest(candidate_id=args.candidate_id)
            )
            console.print(f"retraining in search {started.search_id}")
            state = await _wait(stub, pb, started.search_id)
            page = await stub.ListCandidates(pb.ListCandidatesRequest(search_id=started.search_id))
            if not page.candidates:
                console.print(f"[red]search {started.search_id} ended {state} with no candidate")
                return 1
            again = await _candidate(stub, pb, page.candidates[0].candidate_id)
        finally:
            await channel.close()
        comparison = compare(original, again, args.tolerance)
        _print_comparison(console, comparison, args.tolerance)
        return 0 if comparison.agrees else 1

    return asyncio.run(go())


async def _candidate(stub, pb, candidate_id: str):
    return (await stub.GetCandidate(pb.GetCandidateRequest(candidate_id=candidate_id))).candidate


async def _wait(stub, pb, search_id: str) -> str:
    """The search's final state, once it has one (its events end when it ends)."""
    async for _ in stub.WatchSearch(pb.WatchSearchRequest(search_id=search_id), timeout=24 * 3600):
        pass
    search = (await stub.GetSearch(pb.GetSearchRequest(search_id=search_id))).search
    return pb.SearchState.Name(search.state).removeprefix("SEARCH_STATE_").lower()


def _print_record(console: Console, candidate) -> None:
    """One line per item, never wrapped: digests are copied from here."""
    console.print(f"record of {candidate.summary.name or candidate.summary.candidate_id}")
    for what, value in record_lines(candidate):
        console.print(f"  {what:<14} {value}", soft_wrap=True, highlight=False, markup=False)


def _print_comparison(console: Console, comparison: Comparison, tolerance: float) -> None:
    table = Table(title=f"recorded vs reproduced (tolerance {tolerance:g})")
    for column in ("figure", "recorded", "reproduced", "difference", ""):
        table.add_column(column)
    for row in comparison.rows:
        difference = (
            f"{abs(row.recorded - row.reproduced):.3g}"
            if row.recorded is not None and row.reproduced is not None
            else "missing"
        )
        table.add_row(
            row.figure,
            _shown(row.recorded),
            _shown(row.reproduced),
            difference,
            "same" if row.agrees else "[red]DIFFERS",
        )
    console.print(table)
    for warning in comparison.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    for problem in comparison.problems:
        console.print(f"[red]differs:[/red] {problem}")
    console.print("reproduced" if comparison.agrees else "[red]not reproduced")


def _shown(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"
