"""MS COCO captions (official annotation format, read with pycocotools) as a torch Dataset."""

import contextlib
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from pycocotools.coco import COCO
from torch.utils.data import Dataset

from netapi.tasks import PAD
from trainer_svc.data.transforms import get_transform
from trainer_svc.data.vocab import Vocabulary


def load_coco(annotation_file: str | Path) -> COCO:
    """`COCO(annotation_file)` without its progress prints (stdout carries metric lines)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(annotation_file))


def index_coco(dataset: dict[str, Any]) -> COCO:
    """pycocotools' index of annotations already parsed (and checked) by the caller."""
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def captioned_image_ids(coco: COCO) -> list[int]:
    """The ids of the images with a caption, ascending: the others cannot be trained or scored."""
    return sorted(i for i in coco.getImgIds() if coco.imgToAnns.get(i))


def references(coco: COCO, image_id: int) -> list[str]:
    """The raw reference captions of one image, in annotation-id order."""
    return [a["caption"] for a in sorted(coco.imgToAnns[image_id], key=lambda a: a["id"])]


class CocoCaptionDataset(Dataset):
    """Images of a COCO captions file with all their reference captions.

    An item is `(image [3, H, W], captions LongTensor [Ncaps, T])`, each row
    `<SOS> words <EOS>` padded with `<PAD>`; `caption_collate` batches items into
    `images [B, 3, H, W]` and `captions [B, Ncaps, T]`. Images are read from `image_dir`
    by each image's `file_name`, as for real COCO (`train2014/`, ...).
    """

    def __init__(
        self,
        annotation_file: str | Path,
        image_dir: str | Path,
        vocab: Vocabulary,
        transform: Callable[[Image.Image], Any] | None = None,
        max_len: int = 32,
        max_captions: int | None = None,
    ) -> None:
        self.coco = load_coco(annotation_file)
        self.image_dir = Path(image_dir)
        self.vocab = vocab
        self.transform = transform if transform is not None else get_transform("echo")
        self.max_len = max_len
        self.max_captions = max_captions
        self.image_ids = captioned_image_ids(self.coco)

    def __len__(self) -> int:
        return len(self.image_ids)

    def references(self, image_id: int) -> list[str]:
        """The raw reference captions of one image, in annotation-id order."""
        captions = references(self.coco, image_id)
        return captions[: self.max_captions] if self.max_captions else captions

    def image_path(self, image_id: int) -> Path:
        """Where an image's file is."""
        return self.image_dir / self.coco.imgs[image_id]["file_name"]

    def __getitem__(self, index: int) -> tuple[Any, torch.Tensor]:
        image_id = self.image_ids[index]
        with Image.open(self.image_path(image_id)) as f:
            image = f.convert("RGB")
        rows = [self.vocab.encode(c, self.max_len) for c in self.references(image_id)]
        captions = torch.full((len(rows), max(map(len, rows))), PAD, dtype=torch.long)
        for r, ids in enumerate(rows):
            captions[r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return self.transform(image), captions


def caption_collate(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack items into `images [B, 3, H, W]` and `captions [B, Ncaps, T]`, `<PAD>`-filled.

    Ncaps and T are the batch's largest: an image with fewer references gets all-`<PAD>`
    rows, which a loss ignores through `ignore_index=PAD`.
    """
    images = torch.stack([image for image, _ in batch])
    n_caps = max(c.shape[0] for _, c in batch)
    length = max(c.shape[1] for _, c in batch)
    captions = torch.full((len(batch), n_caps, length), PAD, dtype=torch.long)
    for b, (_, c) in enumerate(batch):
        captions[b, : c.shape[0], : c.shape[1]] = c
    return images, captions
