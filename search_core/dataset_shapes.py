"""A search's task takes its shapes from its dataset, unless the config gives them.

Where the config names no task, input or output, the dataset decides: the task
(classification or captioning), the channels, the classes (or the vocabulary of its
first preparation) and, when no transform is named either, the dataset's default
transform. What the config does give must agree with the dataset where training would
otherwise fail (the task and the channels); the sample sizes must fit the dataset's
splits. Each refusal names the dataset and is raised before any candidate exists.
"""

from typing import Any

from netapi.datasets import DatasetRecord
from netapi.tasks import transform_side
from search_core.search_config import SearchConfig, SearchConfigError, TaskConfig

DEFAULT_BATCH = TaskConfig.model_fields["in_shape"].default[0]


def dataset_name(data: dict[str, Any]) -> str:
    """The dataset a raw config names (the default one when it names none)."""
    task = data.get("task")
    name = task.get("dataset") if isinstance(task, dict) else None
    return name if isinstance(name, str) and name else TaskConfig.model_fields["dataset"].default


def with_dataset(data: dict[str, Any], dataset: DatasetRecord) -> dict[str, Any]:
    """The raw config with the dataset's shapes where it gives none."""
    given = data.get("task")
    task = dict(given) if isinstance(given, dict) else {}
    kind = task.setdefault("task", dataset.task)
    if kind != dataset.task:
        raise SearchConfigError(f"task: dataset {dataset.name!r} is for {dataset.task}, not {kind}")
    in_shape = task.get("in_shape")
    if in_shape is None:
        if not task.get("transform"):
            task["transform"] = dataset.default_transform
        side = transform_side(task["transform"]) or (dataset.native_size or (28, 28))[0]
        task["in_shape"] = [DEFAULT_BATCH, dataset.channels, side, side]
    elif isinstance(in_shape, list | tuple) and len(in_shape) == 4:
        if in_shape[1] != dataset.channels:
            raise SearchConfigError(
                f"task.in_shape: dataset {dataset.name!r} has {dataset.channels}-channel "
                f"images, in_shape {list(in_shape)} asks for {in_shape[1]}"
            )
    if "out_shape" not in task and dataset.outputs:
        task["out_shape"] = [dataset.outputs]
    return {**data, "task": task}


def check_sizes(config: SearchConfig, dataset: DatasetRecord) -> None:
    """SearchConfigError when the training sizes ask for more items than the dataset has."""
    counts, training = dataset.counts, config.training
    if not counts or training.epochs == 0:
        return  # generated per job (fashion-captions), or nothing is trained
    asked = training.train_samples + (0 if "val" in counts else training.validation_samples)
    problems = []
    if asked > counts["train"]:
        problems.append(
            f"train_samples {training.train_samples}"
            + ("" if "val" in counts else f" + validation_samples {training.validation_samples}")
            + f" > {counts['train']} training items"
        )
    if "val" in counts and training.validation_samples > counts["val"]:
        problems.append(
            f"validation_samples {training.validation_samples} > {counts['val']} validation items"
        )
    if training.test_samples > counts["test"]:
        problems.append(f"test_samples {training.test_samples} > {counts['test']} test items")
    if problems:
        raise SearchConfigError(
            f"training: dataset {dataset.name!r} has {counts}: " + "; ".join(problems)
        )
