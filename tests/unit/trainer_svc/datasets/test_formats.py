"""The format table: names, lookup, and what each says when it cannot download."""

import sys

import pytest

from trainer_svc.datasets.contents import DatasetError
from trainer_svc.datasets.formats import READERS, download, open_dataset, reader

NAMES = ["cifar10", "cifar100", "imagenet16", "coco-captions", "image-folder", "coco-format"]


def test_the_formats_by_name():
    assert list(READERS) == NAMES
    for name, r in READERS.items():
        assert r.name == name and reader(name) is r and r.summary
        assert r.task in ("img-classification", "img-captioning")


def test_an_unknown_format_names_the_known_ones(tmp_path):
    with pytest.raises(DatasetError, match=r"unknown dataset format .cifar1000.; known: cifar10,"):
        open_dataset("cifar1000", tmp_path)
    with pytest.raises(DatasetError, match="coco-format"):
        reader("mnist")


@pytest.mark.parametrize("name", ["image-folder", "coco-format"])
def test_own_data_has_nothing_to_download(name, tmp_path):
    with pytest.raises(DatasetError, match=rf"nothing to download.*--format {name}"):
        download(name, tmp_path)


@pytest.mark.parametrize("name", ["cifar10", "image-folder"])
def test_a_format_read_with_torchvision_says_so_when_it_is_absent(name, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)  # import fails as if absent
    with pytest.raises(DatasetError, match=rf"the {name} format is read with torchvision"):
        open_dataset(name, tmp_path)
