"""cifar10 / cifar100: the published pickles, from foolbox's real images, read safely."""

import hashlib
import http.server
import os
import pickle
import shutil
import socket
import threading
from functools import partial

import numpy as np
import pytest
import torchvision.datasets

from tests.unit.trainer_svc.conftest import foolbox_images
from tests.unit.trainer_svc.datasets import published
from tests.unit.trainer_svc.test_cifar import CIFAR100_CLASSES
from trainer_svc.data.pickles import dumps_like_python2
from trainer_svc.datasets.contents import DatasetError, labels_of
from trainer_svc.datasets.formats import download, open_dataset

CLASSES = {"cifar10": published.cifar10_classes(), "cifar100": CIFAR100_CLASSES}
TV_CLASS = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}


@pytest.fixture(scope="module")
def roots(tmp_path_factory, foolbox_data):
    """Per kind: a torchvision root holding the extracted folder, and the archive alone."""
    made = {}
    for kind in ("cifar10", "cifar100"):
        root = tmp_path_factory.mktemp(kind)
        folder = published.cifar(root, kind, foolbox_data, CLASSES[kind])
        lone = tmp_path_factory.mktemp(f"{kind}-archive")
        archive = published.tar_gz(folder, lone / published.ARCHIVES[kind])
        made[kind] = {"parent": root, "folder": folder, "archive": archive, "archive-dir": lone}
    return made


@pytest.mark.parametrize("kind", ["cifar10", "cifar100"])
@pytest.mark.parametrize("layout", ["parent", "folder", "archive", "archive-dir"])
def test_every_accepted_path_round_trips_pixels_and_labels(roots, foolbox_data, kind, layout):
    images, labels = foolbox_images(foolbox_data, kind)
    contents = open_dataset(kind, roots[kind][layout])
    assert contents.task == "img-classification" and contents.channels == 3
    assert contents.native_size == (32, 32) and contents.classes == tuple(CLASSES[kind])
    assert contents.counts() == {"train": 15, "test": 5}
    train, test = contents.splits["train"], contents.splits["test"]
    got = np.stack([np.asarray(train.image(i)) for i in range(15)])
    assert np.array_equal(got, images[:15])
    assert np.array_equal(np.asarray(test.image(4)), images[19])
    assert list(labels_of(train)) == labels[:15] and list(labels_of(test)) == labels[15:]
    assert test.image(0).mode == "RGB"


def test_files_and_published_verdicts_name_each_file(roots):
    folder = open_dataset("cifar10", roots["cifar10"]["parent"])
    batch = roots["cifar10"]["folder"] / "data_batch_1"
    assert set(folder.files) == {
        f"cifar-10-batches-py/{n}"
        for n in ("batches.meta", "test_batch", *(f"data_batch_{i}" for i in range(1, 6)))
    }
    digest = hashlib.sha256(batch.read_bytes()).hexdigest()
    assert folder.files["cifar-10-batches-py/data_batch_1"] == digest
    # Miniature files are not the published ones, and the reader says so rather than refusing.
    verdict = folder.published["cifar-10-batches-py/data_batch_1"]
    assert verdict.startswith("differs from the published md5: c99cafc152244af753f735de768cd75f")

    archive = open_dataset("cifar100", roots["cifar100"]["archive"])
    assert set(archive.files) == {"cifar-100-python.tar.gz"}
    assert set(archive.published) == {
        "cifar-100-python.tar.gz",
        *(f"cifar-100-python.tar.gz:cifar-100-python/{n}" for n in ("train", "test", "meta")),
    }


def test_a_file_that_matches_its_published_md5_is_said_to(roots, monkeypatch):
    folder = roots["cifar10"]["folder"]
    md5 = hashlib.md5((folder / "test_batch").read_bytes()).hexdigest()
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "test_list", [["test_batch", md5]])
    contents = open_dataset("cifar10", folder)
    assert contents.published["test_batch"] == "matches the published md5"


@pytest.fixture
def cifar10_copy(roots, tmp_path):
    return shutil.copytree(roots["cifar10"]["folder"], tmp_path / "cifar-10-batches-py")


def test_a_truncated_batch_is_named(cifar10_copy):
    batch = cifar10_copy / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:1000])
    with pytest.raises(DatasetError, match=r"data_batch_3 is truncated or not a CIFAR batch"):
        open_dataset("cifar10", cifar10_copy)


def test_a_file_that_is_no_pickle_is_named(cifar10_copy):
    (cifar10_copy / "test_batch").write_text("<html>404 Not Found</html>")
    with pytest.raises(DatasetError, match=r"test_batch is truncated or not a CIFAR batch"):
        open_dataset("cifar10", cifar10_copy)


class _RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_with_a_foreign_global_is_refused_and_never_run(cifar10_copy, tmp_path):
    marker = tmp_path / "ran"
    evil = {"data": _RunsACommand(marker), "labels": [0]}
    (cifar10_copy / "data_batch_2").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(DatasetError, match=r"data_batch_2 is refused: .*system.*refused"):
        open_dataset("cifar10", cifar10_copy)
    assert not marker.exists()


def test_wrong_array_shapes_are_named(cifar10_copy):
    batch = {b"data": np.zeros((3, 3000), np.uint8), b"labels": [0, 1, 2]}
    (cifar10_copy / "data_batch_4").write_bytes(dumps_like_python2(batch))
    with pytest.raises(DatasetError, match=r"data_batch_4: 'data' is \(3, 3000\) uint8"):
        open_dataset("cifar10", cifar10_copy)


def test_mismatched_counts_are_named(cifar10_copy):
    batch = {b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]}
    (cifar10_copy / "data_batch_5").write_bytes(dumps_like_python2(batch))
    with pytest.raises(DatasetError, match=r"data_batch_5 holds 3 images but 2 labels"):
        open_dataset("cifar10", cifar10_copy)


def test_a_label_beyond_the_classes_is_named(cifar10_copy):
    batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}
    (cifar10_copy / "test_batch").write_bytes(dumps_like_python2(batch))
    with pytest.raises(DatasetError, match=r"test_batch: label 10 is outside 0..9"):
        open_dataset("cifar10", cifar10_copy)


def test_missing_paths_and_files_are_named(cifar10_copy, tmp_path):
    with pytest.raises(DatasetError, match=r"nowhere does not exist"):
        open_dataset("cifar10", tmp_path / "nowhere")
    (cifar10_copy / "data_batch_2").unlink()
    with pytest.raises(DatasetError, match=r"data_batch_2 is missing"):
        open_dataset("cifar10", cifar10_copy)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"neither cifar-10-batches-py/ nor cifar-10-python"):
        open_dataset("cifar10", empty)


def test_a_truncated_archive_is_named(roots, tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(roots["cifar10"]["archive"].read_bytes()[:5000])
    with pytest.raises(DatasetError, match=r"cifar-10-python.tar.gz is truncated or not a .tar.gz"):
        open_dataset("cifar10", archive)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed once the socket is: connections are refused


@pytest.fixture
def no_proxy(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_download_offline_says_what_to_fetch_and_where(monkeypatch, tmp_path, no_proxy):
    url = f"http://127.0.0.1:{_closed_port()}/cifar-10-python.tar.gz"
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", url)
    with pytest.raises(DatasetError) as refused:
        download("cifar10", tmp_path)
    message = str(refused.value)
    assert url in message and "c58f30108f718f92721af3b95e74349a" in message
    assert str(tmp_path / "cifar-10-python.tar.gz") in message
    assert "`nasforge data add NAME --format cifar10" in message
    assert not (tmp_path / "cifar-10-python.tar.gz").exists()  # no partial file left


def test_download_fetches_the_archive_with_torchvision(roots, monkeypatch, tmp_path, no_proxy):
    served = roots["cifar100"]["archive-dir"]
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        archive = served / "cifar-100-python.tar.gz"
        md5 = hashlib.md5(archive.read_bytes()).hexdigest()
        url = f"http://127.0.0.1:{server.server_port}/cifar-100-python.tar.gz"
        monkeypatch.setattr(TV_CLASS["cifar100"], "url", url)
        monkeypatch.setattr(TV_CLASS["cifar100"], "tgz_md5", md5)
        root = download("cifar100", tmp_path / "data")
    finally:
        server.shutdown()
        server.server_close()
    assert (root / "cifar-100-python.tar.gz").is_file()
    contents = open_dataset("cifar100", root)
    assert contents.counts() == {"train": 15, "test": 5}
