"""The Fashion-MNIST caption builder and the COCO loader, round trip through the COCO format."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from netapi.tasks import EOS, PAD, SOS
from trainer_svc.data.coco import CocoCaptionDataset, caption_collate, load_coco
from trainer_svc.data.fashion_captions import (
    COLOURS,
    NOUNS,
    build_fashion_caption_dataset,
    captions_for,
    position_names,
)
from trainer_svc.data.idx import load_idx_split
from trainer_svc.data.transforms import get_transform
from trainer_svc.data.vocab import load_or_build_vocabulary, tokenize


@pytest.fixture(scope="module")
def vocab(caption_data, tmp_path_factory):
    cache = tmp_path_factory.mktemp("vocab") / "vocab.json"
    return load_or_build_vocabulary(caption_data.annotations["train"], cache, threshold=1)


def test_files_are_in_the_official_coco_captions_format(caption_data):
    for split, count in (("train", 60), ("val", 8), ("test", 24)):
        content = json.loads(caption_data.annotations[split].read_text())
        assert set(content) == {"info", "licenses", "images", "annotations"}
        assert len(content["images"]) == count and len(content["annotations"]) == 5 * count
        for image in content["images"]:
            assert {"id", "file_name", "width", "height", "license"} <= set(image)
            assert (caption_data.image_dir / image["file_name"]).is_file()
        assert all(set(a) == {"id", "image_id", "caption"} for a in content["annotations"])
    # Image and annotation ids are unique across splits, as in real COCO.
    ids = [
        i["id"]
        for s in caption_data.annotations.values()
        for i in json.loads(s.read_text())["images"]
    ]
    assert len(ids) == len(set(ids)) == 92


def test_pycocotools_indexes_five_references_per_image(caption_data):
    coco = load_coco(caption_data.annotations["val"])
    assert len(coco.getImgIds()) == 8
    assert all(len(coco.imgToAnns[i]) == 5 for i in coco.getImgIds())


def test_images_are_the_real_items_tinted_at_their_positions(caption_data, fashion_dir):
    items, labels = load_idx_split(fashion_dir, train=False)
    content = json.loads(caption_data.annotations["test"].read_text())
    for image in content["images"][:5]:
        assert image["fashion_mnist_split"] == "test"
        pixels = np.asarray(Image.open(caption_data.image_dir / image["file_name"]))
        assert pixels.shape == (56, 56, 3)
        for k, (index, colour) in enumerate(
            zip(image["fashion_mnist_indices"], image["colours"], strict=True)
        ):
            r, c = divmod(k, 2)
            cell = pixels[r * 28 : (r + 1) * 28, c * 28 : (c + 1) * 28].astype(np.float32)
            expected = items[index].astype(np.float32)[:, :, None] * np.array(COLOURS[colour]) / 255
            assert np.abs(cell - expected).max() <= 1.0
            assert labels[index] == image["fashion_mnist_labels"][k]


def test_captions_say_what_is_where():
    captions = captions_for([7, 8, 3, 7], ["red", "blue", "white", "green"], grid=2)
    assert len(captions) == 5 and len(set(captions)) == 5
    assert captions[0] == (
        "a red sneaker at the top left, a blue bag at the top right, "
        "a white dress at the bottom left and a green sneaker at the bottom right."
    )
    assert captions[2] == "four fashion items: a dress, two sneakers and a bag."
    assert position_names(3)[4] == "centre"
    for caption in captions:
        assert any(noun in caption for noun in (NOUNS[7], NOUNS[8]))


def test_the_same_seed_builds_the_same_bytes(tmp_path, fashion_dir):
    a = build_fashion_caption_dataset(tmp_path / "a", 3, 1, 2, seed=11)
    b = build_fashion_caption_dataset(tmp_path / "b", 3, 1, 2, seed=11)
    c = build_fashion_caption_dataset(tmp_path / "c", 3, 1, 2, seed=12)
    files = sorted(p.relative_to(a.root) for p in a.root.rglob("*") if p.is_file())
    assert len(files) == 6 + 3
    assert all((a.root / f).read_bytes() == (b.root / f).read_bytes() for f in files)
    assert a.annotations["train"].read_text() != c.annotations["train"].read_text()


def test_loader_batches_images_and_all_references(caption_data, vocab):
    data = CocoCaptionDataset(
        caption_data.annotations["train"],
        caption_data.image_dir,
        vocab,
        transform=get_transform("norm_64", train=False),
        max_len=40,
    )
    assert len(data) == 60
    images, captions = next(iter(DataLoader(data, batch_size=4, collate_fn=caption_collate)))
    assert images.shape == (4, 3, 64, 64) and images.dtype == torch.float32
    assert captions.dtype == torch.long and captions.shape[:2] == (4, 5)
    assert (captions[:, :, 0] == SOS).all()
    for b in range(4):
        references = data.references(data.image_ids[b])
        for n in range(5):
            row = captions[b, n].tolist()
            end = row.index(EOS)
            assert all(t == PAD for t in row[end + 1 :])
            # threshold 1 on the same split: every word is known, decoding is exact.
            assert vocab.decode(row) == " ".join(tokenize(references[n]))


def test_teacher_forcing_slices_have_the_net_api_shapes(caption_data, vocab):
    data = CocoCaptionDataset(caption_data.annotations["val"], caption_data.image_dir, vocab)
    images, captions = caption_collate([data[0], data[1]])
    inputs, targets = captions[:, 0, :-1], captions[:, 0, 1:]
    assert images.shape == (2, 3, 56, 56)
    assert inputs.shape == targets.shape == (2, captions.shape[2] - 1)


def test_collate_pads_uneven_reference_counts_and_lengths():
    short = torch.tensor([[SOS, 5, EOS]])
    long = torch.tensor([[SOS, 5, 6, 7, EOS], [SOS, 8, EOS, PAD, PAD]])
    image = torch.zeros(3, 8, 8)
    _, captions = caption_collate([(image, short), (image, long)])
    assert captions.shape == (2, 2, 5)
    assert captions[0, 0].tolist() == [SOS, 5, EOS, PAD, PAD]
    assert captions[0, 1].tolist() == [PAD] * 5
    assert torch.equal(captions[1], long)


def test_max_len_and_max_captions_bound_a_batch(caption_data, vocab):
    data = CocoCaptionDataset(
        caption_data.annotations["val"], caption_data.image_dir, vocab, max_len=6, max_captions=2
    )
    _, captions = data[0]
    assert captions.shape == (2, 6) and (captions[:, -1] == EOS).all()
