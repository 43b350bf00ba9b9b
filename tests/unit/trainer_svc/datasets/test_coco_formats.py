"""coco-captions (official MS COCO, with and without Karpathy's splits) and coco-format."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.unit.trainer_svc.conftest import foolbox_images
from tests.unit.trainer_svc.datasets import published
from trainer_svc.datasets.contents import DatasetError
from trainer_svc.datasets.formats import download, open_dataset

TRAIN_IDS = [9, 25, 30, 34, 36, 42, 49, 61, 64, 71, 72, 73]  # real COCO ids are sparse too
VAL_IDS = [139, 285, 632, 724, 776, 785, 802, 872]
UNCAPTIONED = 73  # a train image with no caption: left out


def _captions(image_id: int) -> list[str]:
    n = 5 + image_id % 3  # COCO images have 5 to 7 captions
    return [f"Picture {image_id}, caption {k}." for k in range(n)]


def _name(image_id: int, year: str, part: str) -> str:
    return f"{image_id:012d}.jpg" if year == "2017" else f"COCO_{part}2014_{image_id:012d}.jpg"


def _write_coco(root, images, year="2017"):
    first_ann = 1000
    for part, ids, pixels in (("train", TRAIN_IDS, images[:12]), ("val", VAL_IDS, images[12:])):
        names = [_name(i, year, part) for i in ids]
        published.write_jpegs(root / f"{part}{year}", pixels, names)
        caps = {i: _captions(i) for i in ids if i != UNCAPTIONED}
        path = root / "annotations" / f"captions_{part}{year}.json"
        published.coco_captions_json(path, ids, names, caps, first_ann)
        first_ann += 100


KARPATHY = {
    "train": TRAIN_IDS[:6],
    "restval": VAL_IDS[:2],
    "val": [*TRAIN_IDS[6:8], VAL_IDS[2]],
    "test": [*TRAIN_IDS[8:11], *VAL_IDS[3:]],
}


def _write_karpathy(root):
    """Karpathy's dataset_coco.json: 2014 file names, whatever the image folders' year."""
    images = []
    for split, ids in KARPATHY.items():
        for i in ids:
            part = "train" if i in TRAIN_IDS else "val"
            images.append(
                {
                    "filepath": f"{part}2014",
                    "sentids": [],
                    "filename": _name(i, "2014", part),
                    "imgid": len(images),
                    "split": split,
                    "sentences": [{"raw": c, "tokens": c.lower().split()} for c in _captions(i)],
                    "cocoid": i,
                }
            )
    (root / "dataset_coco.json").write_text(json.dumps({"images": images, "dataset": "coco"}))


@pytest.fixture(scope="module")
def images(foolbox_data):
    cifar10, _ = foolbox_images(foolbox_data, "cifar10")
    return cifar10


@pytest.fixture(scope="module")
def coco(tmp_path_factory, images):
    root = tmp_path_factory.mktemp("coco")
    _write_coco(root, images)
    return root


def test_official_splits_train_is_train_and_test_is_val(coco):
    contents = open_dataset("coco-captions", coco)
    assert contents.task == "img-captioning" and contents.channels == 3
    assert contents.counts() == {"train": 11, "test": 8}
    train, test = contents.splits["train"], contents.splits["test"]
    assert train.captions(0) == _captions(TRAIN_IDS[0])  # in annotation-id order
    assert test.captions(7) == _captions(VAL_IDS[7])
    image = test.image(7)
    assert image.mode == "RGB" and image.size == (64, 48)
    assert set(contents.files) == {
        "annotations/captions_train2017.json",
        "annotations/captions_val2017.json",
    }
    assert any("no Karpathy splits" in n for n in contents.notes)
    assert any("1 of its images have no caption" in n for n in contents.notes)
    assert any("not hashed" in n for n in contents.notes)


def test_karpathy_splits_are_used_when_present(coco, tmp_path):
    root = shutil.copytree(coco, tmp_path / "coco")
    _write_karpathy(root)
    contents = open_dataset("coco-captions", root)
    assert contents.counts() == {"train": 8, "val": 3, "test": 8}
    train_captions = [contents.splits["train"].captions(i) for i in range(8)]
    assert train_captions == [_captions(i) for i in KARPATHY["train"] + KARPATHY["restval"]]
    assert contents.splits["test"].captions(7) == _captions(KARPATHY["test"][-1])
    assert "dataset_coco.json" in contents.files
    assert any("Karpathy splits" in n and "val 3" in n for n in contents.notes)


def test_the_2014_release_is_read_too(tmp_path, images):
    _write_coco(tmp_path, images, year="2014")
    _write_karpathy(tmp_path)
    contents = open_dataset("coco-captions", tmp_path)
    assert contents.counts() == {"train": 8, "val": 3, "test": 8}
    assert "annotations/captions_val2014.json" in contents.files


def test_missing_images_are_counted_and_named(coco, tmp_path):
    root = shutil.copytree(coco, tmp_path / "coco")
    for image_id in VAL_IDS[:2]:
        (root / "val2017" / f"{image_id:012d}.jpg").unlink()
    with pytest.raises(DatasetError) as refused:
        open_dataset("coco-captions", root)
    message = str(refused.value)
    assert "2 of the 8 images that" in message and "captions_val2017.json" in message
    assert "000000000139.jpg" in message and "000000000285.jpg" in message


def test_an_instances_file_is_not_captions(coco, tmp_path):
    root = shutil.copytree(coco, tmp_path / "coco")
    path = root / "annotations" / "captions_val2017.json"
    doc = json.loads(path.read_text())
    doc["annotations"] = [
        {"id": 1, "image_id": VAL_IDS[0], "bbox": [0, 0, 4, 4], "category_id": 1, "area": 16}
    ]
    path.write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match=r"captions_val2017.json is not a COCO captions file"):
        open_dataset("coco-captions", root)


def test_a_truncated_annotation_file_is_named(coco, tmp_path):
    root = shutil.copytree(coco, tmp_path / "coco")
    path = root / "annotations" / "captions_train2017.json"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DatasetError, match=r"captions_train2017.json is truncated or not JSON"):
        open_dataset("coco-captions", root)


def test_a_folder_without_annotations_is_named(tmp_path):
    with pytest.raises(DatasetError, match=r"no annotations/captions_train2017.json"):
        open_dataset("coco-captions", tmp_path)


def test_download_names_the_coco_files(tmp_path):
    with pytest.raises(DatasetError, match=r"annotations_trainval2017.zip.*--format coco-captions"):
        download("coco-captions", tmp_path)


@pytest.fixture
def own(tmp_path, images):
    """A user's captioned images in coco-format, some in a subfolder of images/."""
    root = tmp_path / "own"
    names = [f"shots/{i:03d}.png" if i % 2 else f"{i:03d}.png" for i in range(20)]
    for i, name in enumerate(names):
        (root / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(root / "images" / name)
    for split, ids in (("train", range(0, 14)), ("val", range(14, 16)), ("test", range(16, 20))):
        ids = list(ids)
        caps = {i: [f"a photo number {i}", f"image {i}"] for i in ids}
        published.coco_captions_json(
            root / f"captions_{split}.json", ids, [names[i] for i in ids], caps, 100 * ids[0]
        )
    return root


def test_a_users_coco_format_dataset(own, images):
    contents = open_dataset("coco-format", own)
    assert contents.counts() == {"train": 14, "val": 2, "test": 4}
    test = contents.splits["test"]
    assert test.captions(1) == ["a photo number 17", "image 17"]
    assert np.array_equal(np.asarray(test.image(1)), images[17])  # PNG: lossless
    assert set(contents.files) == {f"captions_{s}.json" for s in ("train", "val", "test")}


def test_coco_format_without_val_and_with_a_missing_image(own):
    (own / "captions_val.json").unlink()
    assert open_dataset("coco-format", own).counts() == {"train": 14, "test": 4}
    (own / "images" / "shots" / "017.png").unlink()
    with pytest.raises(DatasetError, match=r"1 of the 4 images .*captions_test.json.*017.png"):
        open_dataset("coco-format", own)
    (own / "captions_test.json").unlink()
    with pytest.raises(DatasetError, match=r"captions_test.json is missing"):
        open_dataset("coco-format", own)


def test_a_file_name_outside_the_image_folder_is_refused(own):
    path = own / "captions_test.json"
    doc = json.loads(path.read_text())
    doc["images"][0]["file_name"] = "../../etc/hostname"
    path.write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match=r"file_name '../../etc/hostname' leaves the image"):
        open_dataset("coco-format", own)
