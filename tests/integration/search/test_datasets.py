"""Datasets through the public API of a real stack: register, list, search on, refuse.

The files are miniatures in the published layouts (tests.support.dataset_files): CIFAR-10's
python pickles holding foolbox's 20 real CIFAR-10 images, and COCO 2017's captions JSON
with JPEG files. The trainer reads them through the same readers as the full datasets.
"""

import grpc
import pytest

from nasforge.common.v1 import common_pb2
from nasforge.search_core.v1 import search_core_pb2 as pb
from tests.integration.search.conftest import small_config
from tests.support.dataset_files import cifar10_sample, coco_captions_sample

pytestmark = pytest.mark.timeout(900)


async def _add(client, name, format_name, path, **flags):
    request = common_pb2.AddDatasetRequest(name=name, format=format_name, path=str(path), **flags)
    return (await client.stub.AddDataset(request)).dataset


async def _run_to_the_end(client, config):
    search_id = await client.submit(config)
    async for _ in client.stub.WatchSearch(pb.WatchSearchRequest(search_id=search_id), timeout=800):
        pass
    return (await client.stub.GetSearch(pb.GetSearchRequest(search_id=search_id))).search


async def test_a_fairnad_search_trains_on_a_registered_cifar10_sample(client, tmp_path):
    folder = cifar10_sample(tmp_path / "cifar", n_train=14)
    dataset = await _add(client, "cifar10-sample", "cifar10", folder)
    assert (dataset.task, dataset.channels, dataset.outputs) == ("img-classification", 3, 10)
    assert dict(dataset.counts) == {"train": 14, "test": 6}
    assert dataset.classes[0] == "airplane" and len(dataset.digest) == 64
    assert (dataset.native_height, dataset.native_width) == (32, 32)
    # The miniature is not the published archive: said, not hidden.
    assert any("differ" in verdict for verdict in dataset.published.values())
    names = [
        d.name for d in (await client.stub.ListDatasets(common_pb2.ListDatasetsRequest())).datasets
    ]
    assert names[:3] == ["fashion-mnist", "mnist", "fashion-captions"] and "cifar10-sample" in names

    config = small_config(
        "fairnad", candidates=3, train_samples=10, validation_samples=4, test_samples=6
    )
    config["fairnad"] = {"population_size": 2}
    config["task"] = {"dataset": "cifar10-sample"}  # task and shapes come from the dataset
    search = await _run_to_the_end(client, config)
    assert search.state == pb.SEARCH_STATE_SUCCEEDED, search
    assert list(search.spec.task.in_shape)[1:] == [3, 32, 32]
    assert list(search.spec.task.out_shape) == [10] and search.spec.task.transform == "norm_32"
    assert search.outcome_counts.get("success", 0) >= 1, dict(search.outcome_counts)


async def test_a_captioning_search_trains_on_a_miniature_coco(client, tmp_path):
    root = coco_captions_sample(tmp_path / "coco", n_train=12, n_val=5)
    dataset = await _add(client, "coco-mini", "coco-captions", root)
    assert dataset.task == "img-captioning" and dict(dataset.counts) == {"train": 12, "test": 5}
    assert dataset.outputs > 4  # the vocabulary of its first preparation
    config = small_config("reference", candidates=1, train_samples=9, validation_samples=3)
    config["training"]["test_samples"] = 5
    config["task"] = {"dataset": "coco-mini"}
    search = await _run_to_the_end(client, config)
    assert search.spec.task.task == "img-captioning" and search.spec.task.transform == "norm_64"
    assert search.state == pb.SEARCH_STATE_SUCCEEDED, search
    page = await client.stub.ListCandidates(pb.ListCandidatesRequest(search_id=search.search_id))
    [candidate] = page.candidates
    scores = candidate.scores
    assert candidate.outcome == common_pb2.OUTCOME_SUCCESS, candidate
    assert scores.HasField("bleu4_corpus") and 0.0 <= scores.bleu4_corpus <= 1.0
    assert scores.HasField("validation")


async def _refused(call, code):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    return caught.value.details()


async def test_an_unknown_dataset_is_refused_before_any_candidate(client):
    config = small_config("random", candidates=2)
    config["task"] = {"dataset": "imagenet-full"}
    details = await _refused(client.submit(config), grpc.StatusCode.INVALID_ARGUMENT)
    assert "imagenet-full" in details and "fashion-mnist" in details  # names the known ones
    config["task"] = {"dataset": "fashion-mnist", "in_shape": [8, 3, 28, 28]}
    details = await _refused(client.submit(config), grpc.StatusCode.INVALID_ARGUMENT)
    assert "1-channel" in details


async def test_bad_files_are_refused_and_nothing_is_registered(client, tmp_path):
    folder = cifar10_sample(tmp_path / "cifar")
    batch = folder / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:500])  # truncated
    details = await _refused(
        _add(client, "broken", "cifar10", folder), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert "data_batch_3" in details
    await _refused(_add(client, "broken", "cifar-10", folder), grpc.StatusCode.INVALID_ARGUMENT)
    details = await _refused(
        client.stub.GetDataset(common_pb2.GetDatasetRequest(name="broken")),
        grpc.StatusCode.NOT_FOUND,
    )
    assert "broken" in details
    await _refused(_add(client, "mnist", "cifar10", folder), grpc.StatusCode.INVALID_ARGUMENT)
