"""Real datasets for training and scoring: CIFAR, (Fashion-)MNIST, COCO captions, transforms."""

from trainer_svc.data.cifar import CifarDataset, write_cifar
from trainer_svc.data.coco import CocoCaptionDataset, caption_collate, load_coco
from trainer_svc.data.fashion_captions import build_fashion_caption_dataset
from trainer_svc.data.idx import IdxImageDataset, fashion_mnist, mnist, read_idx
from trainer_svc.data.transforms import get_transform, known_transforms
from trainer_svc.data.vocab import (
    Vocabulary,
    build_vocabulary,
    load_or_build_vocabulary,
    tokenize,
    tokenizer_name,
)

__all__ = [
    "CifarDataset",
    "CocoCaptionDataset",
    "IdxImageDataset",
    "Vocabulary",
    "build_fashion_caption_dataset",
    "build_vocabulary",
    "caption_collate",
    "fashion_mnist",
    "get_transform",
    "known_transforms",
    "load_coco",
    "load_or_build_vocabulary",
    "mnist",
    "read_idx",
    "tokenize",
    "tokenizer_name",
    "write_cifar",
]
