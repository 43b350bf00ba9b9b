"""The options that say what a check runs with: --task, --transform, --in-shape, and the
parameter budget."""

import argparse

from cli.common import UsageError
from netapi.tasks import TASKS, TaskSpec, TaskSpecError, parse_in_shape, spec_for


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=TASKS, help="LEMUR task name")
    parser.add_argument(
        "--transform",
        default="",
        help="LEMUR transform name, e.g. norm_64, norm_256_flip, norm_299: the images' side "
        "(default: the task's, norm_32 for classification)",
    )
    parser.add_argument(
        "--in-shape",
        metavar="B,C,H,W",
        help="first batch's shape, e.g. 2,3,64,64 (default: the side --transform gives)",
    )


def spec_from_args(args: argparse.Namespace) -> TaskSpec:
    """The spec of --task at --transform/--in-shape (netapi.tasks.spec_for); a usage error when
    they disagree or are malformed."""
    try:
        in_shape = parse_in_shape(args.in_shape) if args.in_shape else None
        return spec_for(args.task, transform=args.transform, in_shape=in_shape)
    except TaskSpecError as exc:
        raise UsageError(str(exc)) from exc


def describe_spec(spec: TaskSpec) -> str:
    """One line: what a check ran with, e.g. 'img-classification, in_shape 2x3x64x64 (norm_64)'."""
    shape = "x".join(str(dim) for dim in spec.in_shape)
    outputs = "x".join(str(dim) for dim in spec.out_shape)
    return (
        f"{spec.task}, in_shape {shape} (transform {spec.transform}), out_shape {outputs}, "
        f"dataset {spec.dataset}"
    )


def add_parameter_budget_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--parameter-budget",
        type=positive_integer,
        metavar="N",
        help="most parameters a model may have; more is too_large "
        "(default: NASFORGE_SANDBOX_PARAMETER_BUDGET, else 50,000,000)",
    )


def positive_integer(text: str) -> int:
    """An integer of at least 1, e.g. 5000000, 5_000_000 or 5,000,000 (argparse type)."""
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise ValueError(text)
    return value
