"""LEMUR names, families and decoders; the code hashes and module structure."""

import hashlib

import pytest

from search_core.identity import (
    decoder_of,
    family_of,
    model_name,
    normalised_code,
    normalised_md5,
    prefix_of,
    snippets_in,
    source_md5,
    split_captioner,
    structure_hash,
)

CODE = '''import torch
from torch import nn


class Net(nn.Module):
    """A tiny model."""

    def __init__(self, in_shape, out_shape, prm, device):  # the contract
        super().__init__()
        self.conv = nn.Conv2d(in_shape[1], 8, 3)
        self.head = nn.Linear(8, out_shape[0])
'''


def test_whitespace_and_comments_do_not_change_the_md5():
    reformatted = CODE.replace("  # the contract", "").replace("\n\n\n", "\n\n# note\n\n")
    assert normalised_md5(reformatted) == normalised_md5(CODE)
    assert normalised_md5(CODE.replace("8, 3", "16, 3")) != normalised_md5(CODE)


def test_the_name_is_prefix_and_md5_as_lemur_spells_it():
    assert model_name("C5C-ResNetLSTM", CODE) == f"C5C-ResNetLSTM-{normalised_md5(CODE)}"


def test_renamed_layers_and_docstrings_keep_the_structure():
    renamed = (
        CODE.replace("self.conv", "self.features")
        .replace("self.head", "self.classifier")
        .replace("A tiny model.", "A brand new design!")
        .replace("prm, device", "params, dev")
    )
    assert normalised_md5(renamed) != normalised_md5(CODE)
    assert structure_hash(renamed) == structure_hash(CODE)


def test_other_layers_or_sizes_change_the_structure():
    assert structure_hash(CODE.replace("nn.Conv2d", "nn.LazyConv2d")) != structure_hash(CODE)
    assert structure_hash(CODE.replace("8, 3", "8, 5")) != structure_hash(CODE)


def test_code_that_does_not_parse_still_hashes():
    broken = "def f(:\n  return"
    assert structure_hash(broken) == normalised_md5(broken)
    assert normalised_code("x  =  1 # c") == "x=1"


def test_the_source_md5_is_of_the_exact_text():
    assert source_md5(CODE) == hashlib.md5(CODE.encode()).hexdigest()
    assert source_md5(CODE + "\n") != source_md5(CODE)  # unlike normalised_md5
    assert normalised_md5(CODE + "\n") == normalised_md5(CODE)


MD5 = hashlib.md5(b"x").hexdigest()


@pytest.mark.parametrize(
    ("name", "prefix", "family", "k", "decoder"),
    [
        (f"C5C-ResNetLSTM-{MD5}", "C5C-ResNetLSTM", "ResNetLSTM", 5, "LSTM"),
        (f"C10C-RESNETLSTM-{MD5}", "C10C-RESNETLSTM", "RESNETLSTM", 10, "LSTM"),
        (f"c5c-resnet-gru-{MD5}", "c5c-resnet-gru", "resnet-gru", 5, "GRU"),
        (f"C5C-ResNetTransformer-{MD5}", "C5C-ResNetTransformer", "ResNetTransformer", 5,
         "Transformer"),
        (f"C10C-AlexNetMLP-{MD5}", "C10C-AlexNetMLP", "AlexNetMLP", 10, "other"),
        (f"C5C-ResNet-{MD5[:8]}", "C5C-ResNet", "ResNet", 5, "other"),  # a shortened md5
        ("ResNetLSTM", "ResNetLSTM", "ResNetLSTM", None, "LSTM"),  # no md5: the name is the prefix
        ("AlexNet", "AlexNet", "AlexNet", None, "other"),
        ("", "", "", None, "other"),
    ],
)  # fmt: skip
def test_name_parsing(name: str, prefix: str, family: str, k: int | None, decoder: str) -> None:
    assert prefix_of(name) == prefix
    assert family_of(prefix) == family
    assert snippets_in(name) == k
    assert decoder_of(family) == decoder


def test_the_family_of_a_whole_name():
    assert family_of(f"C5C-ResNetTransformer-{MD5}") == "ResNetTransformer"
    assert family_of(f"AlexNet-{MD5}") == "AlexNet"
    assert family_of("C5C-") == "C5C-"


def test_captioner_names_split_at_their_decoder():
    assert split_captioner("RESNETLSTM") == ("RESNET", "LSTM")
    assert split_captioner("ResNetTransformer") == ("ResNet", "Transformer")
    assert split_captioner("ViT") == ("", "")
    assert split_captioner("LSTM") == ("", "")
