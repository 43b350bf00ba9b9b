"""Code hashes and module structure: what makes two candidates the same."""

from search_core.identity import code_md5, model_name, normalised_code, structure_hash

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
    assert code_md5(reformatted) == code_md5(CODE)
    assert code_md5(CODE.replace("8, 3", "16, 3")) != code_md5(CODE)


def test_the_name_is_prefix_and_md5_as_lemur_spells_it():
    assert model_name("C5C-ResNetLSTM", CODE) == f"C5C-ResNetLSTM-{code_md5(CODE)}"


def test_renamed_layers_and_docstrings_keep_the_structure():
    renamed = (
        CODE.replace("self.conv", "self.features")
        .replace("self.head", "self.classifier")
        .replace("A tiny model.", "A brand new design!")
        .replace("prm, device", "params, dev")
    )
    assert code_md5(renamed) != code_md5(CODE)
    assert structure_hash(renamed) == structure_hash(CODE)


def test_other_layers_or_sizes_change_the_structure():
    assert structure_hash(CODE.replace("nn.Conv2d", "nn.LazyConv2d")) != structure_hash(CODE)
    assert structure_hash(CODE.replace("8, 3", "8, 5")) != structure_hash(CODE)


def test_code_that_does_not_parse_still_hashes():
    broken = "def f(:\n  return"
    assert structure_hash(broken) == code_md5(broken)
    assert normalised_code("x  =  1 # c") == "x=1"
