"""A search's task takes its shapes from its dataset unless the config gives them."""

import pytest

from netapi.datasets import DatasetRecord
from search_core.dataset_shapes import check_sizes, dataset_name, with_dataset
from search_core.search_config import SearchConfigError, parse_config

CIFAR = DatasetRecord(
    name="cifar10",
    format="cifar10",
    path="/data/cifar",
    task="img-classification",
    channels=3,
    classes=tuple(f"c{i}" for i in range(10)),
    counts={"train": 50_000, "test": 10_000},
    native_size=(32, 32),
    digest="d" * 64,
    outputs=10,
)
COCO = DatasetRecord(
    name="coco",
    format="coco-captions",
    path="/data/coco",
    task="img-captioning",
    channels=3,
    classes=(),
    counts={"train": 113_287, "val": 5000, "test": 5000},
    native_size=None,
    digest="e" * 64,
    outputs=9487,
    default_transform="norm_64",
)


def _config(task: dict, dataset: DatasetRecord, **fields):
    return parse_config(with_dataset({"method": "random", "task": task, **fields}, dataset))


def test_the_dataset_gives_the_task_channels_classes_and_transform():
    task = _config({"dataset": "cifar10"}, CIFAR).task
    assert (task.task, task.in_shape, task.out_shape, task.transform) == (
        "img-classification",
        (64, 3, 32, 32),
        (10,),
        "norm_32",
    )
    task = _config({"dataset": "cifar10", "transform": "norm_64"}, CIFAR).task
    assert task.in_shape == (64, 3, 64, 64)  # LEMUR's 64 px models on CIFAR


def test_captioning_takes_the_vocabulary_and_the_64_px_default():
    config = parse_config(with_dataset({"method": "reference", "task": {"dataset": "coco"}}, COCO))
    assert config.task.task == "img-captioning"
    assert config.task.out_shape == (9487,) and config.task.in_shape == (64, 3, 64, 64)


def test_what_the_config_gives_is_kept_or_refused_with_the_dataset_named():
    given = {"dataset": "cifar10", "in_shape": [8, 3, 32, 32], "out_shape": [5]}
    task = _config(given, CIFAR).task
    assert task.in_shape == (8, 3, 32, 32) and task.out_shape == (5,)
    with pytest.raises(SearchConfigError, match=r"'cifar10' has 3-channel images.*asks for 1"):
        with_dataset({"task": {"dataset": "cifar10", "in_shape": [8, 1, 32, 32]}}, CIFAR)
    with pytest.raises(SearchConfigError, match="'coco' is for img-captioning"):
        with_dataset({"task": {"task": "img-classification", "dataset": "coco"}}, COCO)


def test_sample_sizes_must_fit_the_splits():
    small = CIFAR.__class__(**{**CIFAR.__dict__, "counts": {"train": 14, "test": 6}})
    fits = _config(
        {"dataset": "cifar10"},
        small,
        training={"train_samples": 10, "validation_samples": 4, "test_samples": 6},
    )
    check_sizes(fits, small)
    over = _config(
        {"dataset": "cifar10"},
        small,
        training={"train_samples": 11, "validation_samples": 4, "test_samples": 7},
    )
    with pytest.raises(SearchConfigError) as caught:
        check_sizes(over, small)
    assert "11 + validation_samples 4 > 14 training items" in str(caught.value)
    assert "test_samples 7 > 6 test items" in str(caught.value)
    check_sizes(parse_config({"method": "random", "training": {"epochs": 0}}), small)


def test_the_dataset_name_defaults_as_the_config_does():
    assert dataset_name({}) == "fashion-mnist"
    assert dataset_name({"task": {"dataset": "cifar10"}}) == "cifar10"
    assert dataset_name({"task": "junk"}) == "fashion-mnist"  # the config's own check names it
