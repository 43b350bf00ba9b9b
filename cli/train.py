"""`nasforge train`: train a candidate on real data in a locked-down container, no service."""

import argparse
import asyncio
import json

from cli.candidate_file import read_candidate
from cli.common import UsageError
from netapi.outcomes import Outcome
from netapi.tasks import TaskSpec, TaskSpecError, parse_hyperparameters

# trainer_svc (torch, docker) is imported when a training runs, so that the
# rest of the CLI starts fast.


def _job(args: argparse.Namespace):
    from trainer_svc.events import TrainJob

    try:
        spec = TaskSpec(
            args.task,
            args.dataset,
            (args.batch, 3, 32, 32),
            (10,),
            parse_hyperparameters(args.prm),
            args.transform,
        )
    except TaskSpecError as exc:
        raise UsageError(str(exc)) from exc
    return TrainJob(
        code=read_candidate(args.file),
        spec=spec,
        epochs=args.epochs,
        seed=args.seed,
        epoch_budget_seconds=args.epoch_budget or 0,
        job_budget_seconds=0,
        train_samples=args.train_samples or 0,
        validation_samples=args.validation_samples or 0,
        test_samples=args.test_samples or 0,
    )


async def _train(args: argparse.Namespace):
    from trainer_svc.__main__ import build_trainer
    from trainer_svc.config import TrainerSettings
    from trainer_svc.events import Accepted, EpochDone, Finished

    trainer = build_trainer(TrainerSettings(namespace="nasforge-cli-train"), ping=True)
    finished = None
    async for event in trainer.train(trainer.validate(_job(args)), tenant="cli"):
        if isinstance(event, Accepted) and not args.json:
            print(f"job {event.job_id} seed {event.seed}")
        elif isinstance(event, EpochDone):
            record = {
                "epoch": event.epoch,
                "train_loss": round(event.train_loss, 5),
                "validation_metric": round(event.validation_metric, 5),
                "samples_per_second": round(event.samples_per_second, 1),
                "wall_time_ms": round(event.wall_time_ms),
            }
            print(
                json.dumps(record)
                if args.json
                else "epoch {epoch}: loss {train_loss} validation {validation_metric} "
                "({samples_per_second} samples/s)".format(**record),
                flush=True,
            )
        elif isinstance(event, Finished):
            finished = event
    return finished


def register(commands) -> None:
    train = commands.add_parser("train", help="train a candidate in a container (needs Docker)")
    train.add_argument("file", help="candidate Python file, or - for standard input")
    train.add_argument("--task", required=True, choices=("img-classification", "img-captioning"))
    train.add_argument("--dataset", required=True, help="fashion-mnist, mnist or fashion-captions")
    train.add_argument("--epochs", type=int, required=True)
    train.add_argument("--transform", default="norm", help="e.g. norm, norm_32_flip, echo_64")
    train.add_argument("--batch", type=int, default=64)
    train.add_argument("--prm", default="", help="hyperparameters, e.g. lr=0.01,momentum=0.9")
    train.add_argument("--seed", type=int, default=0, help="0 picks one and reports it")
    train.add_argument("--train-samples", type=int)
    train.add_argument("--validation-samples", type=int)
    train.add_argument("--test-samples", type=int)
    train.add_argument("--epoch-budget", type=float, help="seconds per epoch")
    train.add_argument("--json", action="store_true", help="JSON lines: epochs, then the result")
    train.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Exit 0 with a result (whatever the outcome), 1 when our side failed."""
    finished = asyncio.run(_train(args))
    if args.json:
        print(json.dumps(finished.to_dict()))
    else:
        print(
            f"outcome: {finished.outcome.value}  best epoch: {finished.best_epoch}  "
            f"scores: {finished.scores}  ({finished.wall_time_ms / 1000:.0f} s)"
        )
        if finished.error_message:
            print(f"  {finished.error_type}: {finished.error_message}")
    return 1 if finished.outcome is Outcome.INFRA_ERROR else 0
