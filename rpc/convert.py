"""Conversions between the wire (nasforge.common.v1) and netapi's domain types, in one place."""

from nasforge.common.v1 import common_pb2
from netapi.datasets import DatasetRecord
from netapi.findings import Finding, warning
from netapi.outcomes import Outcome, Stage
from netapi.tasks import TaskSpec, TaskSpecError, default_spec, resolve_input, validate
from rpc.errors import InvalidArgument


def outcome_to_pb(outcome: Outcome) -> int:
    return common_pb2.Outcome.Value(outcome.proto_name)


def outcome_from_pb(value: int) -> Outcome:
    name = common_pb2.Outcome.Name(value)
    if name == "OUTCOME_UNSPECIFIED":
        raise InvalidArgument("outcome must be set")
    return Outcome[name.removeprefix("OUTCOME_")]


def stage_to_pb(stage: Stage | None) -> int:
    return common_pb2.Stage.Value(stage.proto_name) if stage else common_pb2.STAGE_UNSPECIFIED


def stage_from_pb(value: int) -> Stage | None:
    """The stage, or None for STAGE_UNSPECIFIED (a stage is optional on the wire)."""
    name = common_pb2.Stage.Name(value)
    if name == "STAGE_UNSPECIFIED":
        return None
    return Stage[name.removeprefix("STAGE_")]


def finding_to_pb(finding: Finding) -> common_pb2.Finding:
    return common_pb2.Finding(
        rule=finding.rule,
        outcome=outcome_to_pb(finding.outcome),
        stage=stage_to_pb(finding.stage),
        line=finding.line,
        column=finding.column,
        message=finding.message,
    )


def finding_from_pb(message: common_pb2.Finding) -> Finding:
    """A Finding; an unset stage reads as STATIC (Finding's default). INVALID_ARGUMENT when
    its outcome is unset."""
    return Finding(
        rule=message.rule,
        outcome=outcome_from_pb(message.outcome),
        message=message.message,
        line=message.line,
        column=message.column,
        stage=stage_from_pb(message.stage) or Stage.STATIC,
    )


def warning_from_pb(message: common_pb2.Finding) -> Finding:
    """A warning (a message of a `warnings` field): never an outcome, whatever its outcome says."""
    return warning(
        message.rule,
        message.message,
        message.line,
        message.column,
        stage_from_pb(message.stage) or Stage.STATIC,
    )


def scores_from_pb(message: common_pb2.Scores) -> dict[str, float]:
    """The scores that are set, by field name (counts such as parameter_count as floats)."""
    return {field.name: float(value) for field, value in message.ListFields()}


def task_spec_from_pb(message: common_pb2.TaskSpec) -> TaskSpec:
    """A validated TaskSpec; unset shapes take the task's defaults. INVALID_ARGUMENT if bad."""
    try:
        defaults = default_spec(message.task)
        # The rule search configs and the CLI use: the check sees the images training sees.
        transform, in_shape = resolve_input(
            message.task, message.transform, tuple(message.in_shape) or None, defaults.in_shape
        )
        return validate(
            TaskSpec(
                task=message.task,
                dataset=message.dataset or defaults.dataset,
                in_shape=in_shape,
                out_shape=tuple(message.out_shape) or defaults.out_shape,
                hyperparameters=dict(message.hyperparameters),
                transform=transform,
            )
        )
    except TaskSpecError as exc:
        raise InvalidArgument(f"task: {exc}") from exc


def task_spec_to_pb(spec: TaskSpec) -> common_pb2.TaskSpec:
    return common_pb2.TaskSpec(
        task=spec.task,
        dataset=spec.dataset,
        in_shape=spec.in_shape,
        out_shape=spec.out_shape,
        hyperparameters=spec.hyperparameters,
        transform=spec.transform,
    )


def dataset_to_pb(record: DatasetRecord) -> common_pb2.Dataset:
    height, width = record.native_size or (0, 0)
    return common_pb2.Dataset(
        name=record.name,
        format=record.format,
        path=record.path,
        task=record.task,
        channels=record.channels,
        classes=record.classes,
        counts=record.counts,
        native_height=height,
        native_width=width,
        digest=record.digest,
        builtin=record.builtin,
        files=record.files,
        published=record.published,
        notes=record.notes,
        added_at_ms=round(record.added_at * 1000),
        outputs=record.outputs,
        default_transform=record.default_transform,
    )


def dataset_from_pb(message: common_pb2.Dataset) -> DatasetRecord:
    size = (message.native_height, message.native_width)
    return DatasetRecord(
        name=message.name,
        format=message.format,
        path=message.path,
        task=message.task,
        channels=message.channels,
        classes=tuple(message.classes),
        counts=dict(message.counts),
        native_size=size if all(size) else None,
        digest=message.digest,
        builtin=message.builtin,
        files=dict(message.files),
        published=dict(message.published),
        notes=tuple(message.notes),
        added_at=message.added_at_ms / 1000,
        outputs=message.outputs,
        default_transform=message.default_transform,
    )
