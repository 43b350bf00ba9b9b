"""search_core's records and configs to and from its wire messages (no grpc here, only pb2)."""

import json
from collections.abc import Callable, Iterable

from google.protobuf.timestamp_pb2 import Timestamp

from nasforge.common.v1 import common_pb2
from nasforge.llm_gateway.v1 import llm_gateway_pb2
from nasforge.search_core.v1 import search_core_pb2 as pb
from netapi.findings import Finding
from netapi.outcomes import Outcome
from rpc.convert import finding_to_pb, outcome_to_pb
from rpc.errors import InvalidArgument
from search_core.domain import (
    CandidateRecord,
    Generator,
    Method,
    SearchEvent,
    SearchRecord,
    SearchState,
)
from search_core.scores import headline_score, image_blind
from search_core.search_config import SearchConfig, SearchConfigError, parse_config

_METHODS = {
    pb.SEARCH_METHOD_NN_CAPTION: Method.NN_CAPTION,
    pb.SEARCH_METHOD_FAIRNAD: Method.FAIRNAD,
    pb.SEARCH_METHOD_RANDOM: Method.RANDOM,
    pb.SEARCH_METHOD_REGULARIZED_EVOLUTION: Method.REGULARIZED_EVOLUTION,
    pb.SEARCH_METHOD_REFERENCE: Method.REFERENCE,
    pb.SEARCH_METHOD_REPRODUCE: Method.REPRODUCE,
}
_METHODS_TO_PB = {method: value for value, method in _METHODS.items()}
_GENERATORS = {pb.GENERATOR_LLM: Generator.LLM, pb.GENERATOR_TEMPLATE: Generator.TEMPLATE}
_GENERATORS_TO_PB = {generator: value for value, generator in _GENERATORS.items()}
_STATES_TO_PB = {
    SearchState.QUEUED: pb.SEARCH_STATE_QUEUED,
    SearchState.RUNNING: pb.SEARCH_STATE_RUNNING,
    SearchState.PAUSED: pb.SEARCH_STATE_PAUSED,
    SearchState.SUCCEEDED: pb.SEARCH_STATE_SUCCEEDED,
    SearchState.FAILED: pb.SEARCH_STATE_FAILED,
    SearchState.CANCELLED: pb.SEARCH_STATE_CANCELLED,
}
_SCORE_FIELDS = frozenset(common_pb2.Scores.DESCRIPTOR.fields_by_name)


def timestamp(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def state_to_pb(state: SearchState) -> int:
    return _STATES_TO_PB[state]


_STATES = {value: state for state, value in _STATES_TO_PB.items()}


def states_from_pb(values: Iterable[int]) -> list[SearchState]:
    """The states a filter names; INVALID_ARGUMENT for an unknown or unspecified one."""
    try:
        return [_STATES[value] for value in values]
    except KeyError as exc:
        raise InvalidArgument(f"states: {exc.args[0]} is not a SearchState") from None


def methods_from_pb(values: Iterable[int]) -> list[Method]:
    """The methods a filter names; INVALID_ARGUMENT for an unknown or unspecified one."""
    try:
        return [_METHODS[value] for value in values]
    except KeyError as exc:
        raise InvalidArgument(f"methods: {exc.args[0]} is not a SearchMethod") from None


def _generator_of(spec: pb.SearchSpec) -> str:
    """The generator a spec names ("" for the method's default): the enum, or the deprecated
    string of v1 clients; both set and different is INVALID_ARGUMENT."""
    if spec.generator_kind not in (pb.GENERATOR_UNSPECIFIED, *_GENERATORS):
        raise InvalidArgument(f"spec.generator_kind {spec.generator_kind} is not a Generator")
    kind = _GENERATORS[spec.generator_kind].value if spec.generator_kind else ""
    if kind and spec.generator and spec.generator != kind:
        raise InvalidArgument(
            f"spec.generator {spec.generator!r} and spec.generator_kind {kind!r} disagree"
        )
    return kind or spec.generator


def config_from_spec(
    spec: pb.SearchSpec, amend: Callable[[dict], dict] = lambda data: data
) -> SearchConfig:
    """A validated SearchConfig from the wire spec; INVALID_ARGUMENT names what is wrong.

    ``amend`` sees the config as the caller gave it, before defaults are filled in (search
    submission adds the dataset's shapes there, where the caller gave none).
    """
    data = config_data(spec)
    where = "spec.config_json" if spec.config_json else "spec"
    try:
        config = parse_config(amend(data))
    except SearchConfigError as exc:
        raise InvalidArgument(f"{where}: {exc}") from exc
    if config.method != _METHODS[spec.method]:
        raise InvalidArgument(f"spec.method and config_json's method ({config.method}) differ")
    return config


def config_data(spec: pb.SearchSpec) -> dict:
    """The config a wire spec describes, as given (defaults not filled in)."""
    if spec.method not in _METHODS:
        raise InvalidArgument("spec.method must be set to one of the SearchMethod values")
    method = _METHODS[spec.method]
    if method == Method.REPRODUCE:
        raise InvalidArgument(
            "spec.method: a reproduction is started with ReproduceCandidate, which reads "
            "what to train from the candidate's record"
        )
    if spec.config_json:
        return _json_config(spec.config_json)
    data: dict = {"method": method.value}
    generator = _generator_of(spec)
    if generator:
        data["generator"] = generator
    if spec.HasField("task"):
        task = {"task": spec.task.task or "img-classification"}
        if spec.task.dataset:
            task["dataset"] = spec.task.dataset
        if spec.task.in_shape:
            task["in_shape"] = list(spec.task.in_shape)
        if spec.task.out_shape:
            task["out_shape"] = list(spec.task.out_shape)
        if spec.task.transform:
            task["transform"] = spec.task.transform
        data["task"] = task
    for name in (
        "max_candidates",
        "model",
        "prompt_variant",
        "seed",
        "samples_per_step",
        "parameter_budget",
    ):
        value = getattr(spec, name)
        if value:
            data[name] = value
    data["repair_attempts"] = spec.repair_attempts
    training = {}
    if spec.train_epochs:
        training["epochs"] = spec.train_epochs
    if spec.train_samples:
        training["train_samples"] = spec.train_samples
    if training:
        data["training"] = training
    settings = spec.WhichOneof("settings")
    if settings == "nn_caption":
        caption = {"baseline": spec.nn_caption.baseline}
        if spec.nn_caption.snippets_per_prompt:
            caption["snippets_per_prompt"] = spec.nn_caption.snippets_per_prompt
        data["nn_caption"] = caption
    elif settings == "fairnad":
        fairnad = {"knowledge_tree": spec.fairnad.knowledge_tree}
        if spec.fairnad.population_size:
            fairnad["population_size"] = spec.fairnad.population_size
        data["fairnad"] = fairnad
    return data


def _json_config(text: str) -> dict:
    if len(text) > 64 * 1024:
        raise InvalidArgument("spec.config_json is larger than 64 KiB")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"spec.config_json is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidArgument("spec.config_json is nested too deeply") from exc
    if not isinstance(data, dict):
        raise InvalidArgument("spec.config_json must be one JSON object")
    return data


def spec_from_config(config: dict) -> pb.SearchSpec:
    """The wire spec of a stored search (the fields the wire carries)."""
    task = config.get("task", {})
    spec = pb.SearchSpec(
        method=_METHODS_TO_PB.get(Method(config.get("method", "fairnad")), 0),
        task=common_pb2.TaskSpec(
            task=task.get("task", ""),
            dataset=task.get("dataset", ""),
            in_shape=task.get("in_shape", []),
            out_shape=task.get("out_shape", []),
            transform=task.get("transform", ""),
        ),
        max_candidates=config.get("max_candidates", 0),
        model=config.get("model", ""),
        prompt_variant=config.get("prompt_variant", ""),
        repair_attempts=config.get("repair_attempts", 0),
        train_epochs=config.get("training", {}).get("epochs", 0),
        seed=config.get("seed", 0),
        generator=config.get("generator", ""),
        generator_kind=_generator_to_pb(config.get("generator", "")),
        samples_per_step=config.get("samples_per_step", 0),
        train_samples=config.get("training", {}).get("train_samples", 0),
        parameter_budget=config.get("parameter_budget", 0),
        config_json=json.dumps(config, sort_keys=True),
    )
    if config.get("method") == Method.NN_CAPTION.value:
        caption = config.get("nn_caption", {})
        spec.nn_caption.CopyFrom(
            pb.NnCaptionSettings(
                snippets_per_prompt=caption.get("snippets_per_prompt", 0),
                baseline=caption.get("baseline", ""),
            )
        )
    elif config.get("method") == Method.FAIRNAD.value:
        fairnad = config.get("fairnad", {})
        spec.fairnad.CopyFrom(
            pb.FairNadSettings(
                population_size=fairnad.get("population_size", 0),
                knowledge_tree=fairnad.get("knowledge_tree", ""),
            )
        )
    return spec


def search_to_pb(search: SearchRecord, counts: dict[str, int]) -> pb.Search:
    message = pb.Search(
        search_id=search.search_id,
        spec=spec_from_config(search.config),
        state=state_to_pb(search.state),
        candidates_evaluated=sum(counts.values()),
        outcome_counts=counts,
        created_at=timestamp(search.created_at),
        status_message=search.status_message,
    )
    if search.finished_at is not None:
        message.finished_at.CopyFrom(timestamp(search.finished_at))
    if search.error_message:
        message.error.CopyFrom(
            common_pb2.ErrorDetail(type=search.error_type, message=search.error_message)
        )
    return message


def scores_to_pb(candidate: CandidateRecord) -> common_pb2.Scores:
    scores = common_pb2.Scores(
        **{
            name: value
            for name, value in candidate.scores.items()
            if name in _SCORE_FIELDS
            and name not in ("parameter_count", "flops", "peak_memory_bytes")
        }
    )
    if candidate.parameter_count is not None:
        scores.parameter_count = candidate.parameter_count
    if candidate.flops is not None:
        scores.flops = candidate.flops
    return scores


def _generator_to_pb(name: str) -> int:
    return _GENERATORS_TO_PB[Generator(name)] if name else pb.GENERATOR_UNSPECIFIED


def summary_to_pb(candidate: CandidateRecord) -> pb.CandidateSummary:
    message = pb.CandidateSummary(
        candidate_id=candidate.candidate_id,
        name=candidate.name,
        outcome=outcome_to_pb(candidate.outcome or Outcome.INFRA_ERROR),
        scores=scores_to_pb(candidate),
        parent=candidate.parent,
        generator=candidate.generator.value,
        generator_kind=_GENERATORS_TO_PB[candidate.generator],
        image_blind=bool(image_blind(candidate.scores)),
        slot=candidate.slot,
        warnings=[finding_to_pb(Finding.from_dict(w)) for w in candidate.warnings],
    )
    if candidate.finished_at is not None:
        message.finished_at.CopyFrom(timestamp(candidate.finished_at))
    return message


def leaderboard_entry_to_pb(
    rank: int, candidate: CandidateRecord, task: str
) -> pb.LeaderboardEntry:
    """A ranked candidate: ranked by its validation score, its held-out test score beside."""
    entry = pb.LeaderboardEntry(
        rank=rank, candidate=summary_to_pb(candidate), score=candidate.score or 0.0
    )
    test = headline_score(task, candidate.scores)
    if test is not None:
        entry.test_score = test
    return entry


_IDEA_APPLICATION_TO_PB = {
    None: pb.IDEA_APPLICATION_UNSPECIFIED,
    True: pb.IDEA_APPLICATION_APPLIED,
    False: pb.IDEA_APPLICATION_NOT_APPLIED,
}


def candidate_to_pb(candidate: CandidateRecord) -> pb.Candidate:
    usage = candidate.llm_usage
    message = pb.Candidate(
        summary=summary_to_pb(candidate),
        search_id=candidate.search_id,
        code=candidate.code,
        code_md5=candidate.code_md5,
        prompt_variant=candidate.prompt_variant,
        snippets=candidate.snippets,
        findings=[
            common_pb2.Finding(
                rule=f.get("rule", ""),
                line=int(f.get("line", 0) or 0),
                message=f.get("message", ""),
                outcome=outcome_to_pb(Outcome(f["outcome"]))
                if f.get("outcome") in Outcome._value2member_map_
                else 0,
            )
            for f in candidate.findings
        ],
        epochs=[
            common_pb2.EpochResult(
                epoch=e.epoch,
                train_loss=e.train_loss,
                validation_metric=e.validation_metric,
                samples_per_second=e.samples_per_second,
                wall_time_ms=e.wall_time_ms,
            )
            for e in candidate.epochs
        ],
        hyperparameters=candidate.hyperparameters,
        repair_attempts=candidate.repair_attempts,
        mutation=candidate.mutation,
        idea=candidate.idea,
        model=candidate.model,
        history_json=[json.dumps(entry, sort_keys=True) for entry in candidate.history],
        fixes=[pb.AppliedFix(rule=f["rule"], detail=f.get("detail", "")) for f in candidate.fixes],
        generation_mode=candidate.generation.get("mode", ""),
        idea_application=_IDEA_APPLICATION_TO_PB[candidate.idea_applied],
        unused_parameters=candidate.unused_parameters,
        llm_usage=pb.LlmUsage(
            calls=int(usage.get("calls", 0)),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            generated_tokens=int(usage.get("generated_tokens", 0)),
            seconds=float(usage.get("seconds", 0.0)),
        ),
        provenance=provenance_to_pb(candidate.provenance),
        weights=weights_to_pb(candidate.weights),
    )
    if candidate.error_message:
        message.error.CopyFrom(
            common_pb2.ErrorDetail(type=candidate.error_type, message=candidate.error_message)
        )
    return message


def weights_to_pb(weights: dict) -> pb.CandidateWeights | None:
    """The weights the trainer kept, as recorded when it finished (None: none were kept).
    Whether retention has removed them since is the trainer's to say: DownloadWeights asks."""
    if not weights.get("sha256"):
        reason = str(weights.get("unavailable_reason", ""))
        return pb.CandidateWeights(unavailable_reason=reason) if reason else None
    return pb.CandidateWeights(
        available=True,
        size_bytes=int(weights.get("size_bytes", 0)),
        sha256=str(weights["sha256"]),
        epoch=int(weights.get("epoch", 0)),
    )


_PROVENANCE_TEXT = (
    "prompt_name",
    "prompt_version",
    "prompt_sha256",
    "raw_answer",
    "reasoning",
    "runtime_image_digest",
    "dataset_name",
    "dataset_digest",
    "code_sha256",
)
_MODEL_IDENTITY = ("name", "backend", "served_model", "revision", "file_sha256")


def provenance_to_pb(record: dict) -> pb.Provenance:
    """A candidate's record of origin (generation.provenance and the training half): what is
    missing (a template candidate's generation, an older candidate's whole record) stays
    empty; sampling settings the record leaves unset stay unset."""
    message = pb.Provenance(
        **{key: str(record[key]) for key in _PROVENANCE_TEXT if record.get(key)},
        training_seed=int(record.get("training_seed") or 0),
        training_epochs=int(record.get("training_epochs") or 0),
    )
    model = record.get("model") or {}
    if model:
        message.model.CopyFrom(
            llm_gateway_pb2.ModelIdentity(
                **{key: str(model[key]) for key in _MODEL_IDENTITY if model.get(key)}
            )
        )
    sampling = record.get("sampling") or {}
    if sampling:
        message.sampling.CopyFrom(
            llm_gateway_pb2.GenerationParameters(
                max_new_tokens=int(sampling.get("max_new_tokens") or 0),
                **{
                    key: sampling[key]
                    for key in ("temperature", "top_p", "seed")
                    if sampling.get(key) is not None
                },
            )
        )
    return message


def event_to_pb(event: SearchEvent) -> pb.WatchSearchResponse:
    message = pb.WatchSearchResponse(sequence=event.sequence, time=timestamp(event.time))
    payload = event.payload
    if event.kind == "state_changed":
        message.state_changed = state_to_pb(SearchState(payload["state"]))
    elif event.kind == "candidate_finished":
        message.candidate_finished.CopyFrom(summary_from_payload(payload))
    elif event.kind == "candidate_epoch":
        message.candidate_epoch.CopyFrom(
            pb.CandidateEpoch(
                candidate_id=payload["candidate_id"],
                epoch=common_pb2.EpochResult(
                    epoch=payload["epoch"],
                    train_loss=payload["train_loss"],
                    validation_metric=payload["validation_metric"],
                    samples_per_second=payload.get("samples_per_second", 0.0),
                    wall_time_ms=payload.get("wall_time_ms", 0),
                ),
            )
        )
    return message


def summary_from_payload(payload: dict) -> pb.CandidateSummary:
    """The summary carried by a candidate_finished event."""
    record = CandidateRecord(
        candidate_id=payload["candidate_id"],
        search_id="",
        tenant_id="",
        slot=0,
        name=payload.get("name", ""),
        outcome=Outcome(payload["outcome"]),
        score=payload.get("score"),
        scores=payload.get("scores") or {},
        parameter_count=payload.get("parameter_count"),
        flops=payload.get("flops"),
        parent=payload.get("parent", ""),
        generator=Generator(payload.get("generator", "llm")),
        finished_at=payload.get("finished_at"),
    )
    return summary_to_pb(record)
