"""Structural near-copy detection on the zoo: copies above the threshold, ideas below."""

import json
import random
from itertools import combinations
from pathlib import Path

import pytest

from search_core.generation import similarity
from search_core.generation.similarity import (
    DEFAULT_THRESHOLD,
    SIGNATURE_SIZE,
    NearCopy,
    Signature,
    nearest,
    signature,
)

ZOO = Path(similarity.__file__).parents[1] / "zoo" / "models"
CLASSIFIERS = sorted(
    path.stem
    for path in ZOO.glob("*.py")
    if not path.stem.startswith("ResNet") or path.stem == "ResNet"
)


def source(name: str) -> str:
    return (ZOO / f"{name}.py").read_text()


def sig(code: str) -> Signature:
    result = signature(code)
    assert result is not None
    return result


def replaced(code: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in code, old
        code = code.replace(old, new)
    return code


SE_BLOCK = """class SEBlock(nn.Module):
    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels),
            nn.Sigmoid(),
        )

    def forward(self, x):
        b, c = x.shape[0], x.shape[1]
        w = self.fc(self.pool(x).view(b, c)).view(b, c, 1, 1)
        return x * w


class Net(nn.Module):"""


def test_a_module_is_identical_to_itself():
    for name in CLASSIFIERS:
        assert sig(source(name)).similarity(sig(source(name))) == 1.0


def test_renames_comments_and_a_width_are_a_near_copy():
    vgg = source("VGG")
    copy = replaced(
        vgg,
        ("channels", "chans"),
        ("layers", "blocks"),
        ("inputs", "xb"),
        ("self.features", "self.body"),
        ("# ceil: odd sides never reach 0", "# keep odd sizes"),
        ('"""VGG family', '"""A brand new design'),
        ("nn.Linear(256, 256)", "nn.Linear(256, 384)"),
    )
    assert sig(copy).similarity(sig(vgg)) >= DEFAULT_THRESHOLD


def test_a_small_tweak_stays_a_near_copy():
    vgg = source("VGG")
    helper = replaced(
        vgg,
        ("class Net(nn.Module):", "def unused(c):\n    return c * 2\n\n\nclass Net(nn.Module):"),
    )
    one_layer_less = replaced(
        vgg,
        (
            "            nn.Dropout(dropout),\n            nn.Linear(256, out",
            "            nn.Linear(256, out",
        ),
    )
    for tweak in (helper, one_layer_less):
        assert sig(tweak).similarity(sig(vgg)) >= DEFAULT_THRESHOLD


def test_an_applied_idea_is_not_a_near_copy():
    vgg = source("VGG")
    with_se = replaced(
        vgg,
        ("class Net(nn.Module):", SE_BLOCK),
        (
            "self.features = nn.Sequential(*layers)",
            "self.features = nn.Sequential(*layers)\n        self.se = SEBlock(channels)",
        ),
        ("self.avgpool(self.features(x))", "self.avgpool(self.se(self.features(x)))"),
    )
    score = sig(with_se).similarity(sig(vgg))
    assert 0.5 < score < DEFAULT_THRESHOLD - 0.05  # related, but clearly below
    assert sig(source("SEResNet")).similarity(sig(source("ResNet"))) < DEFAULT_THRESHOLD


def test_different_families_are_far_apart():
    for a, b in combinations(["VGG", "ResNet", "ViT"], 2):
        assert sig(source(a)).similarity(sig(source(b))) < 0.5
    for a, b in combinations(CLASSIFIERS, 2):
        assert sig(source(a)).similarity(sig(source(b))) < DEFAULT_THRESHOLD, (a, b)


def test_kernel_sizes_are_structure_and_widths_are_read_by_octave():
    code = "import torch.nn as nn\nlayer = nn.Conv2d(64, 64, 3, padding=1)\n"
    assert sig(code.replace("64, 64", "96, 112")) == sig(code)  # 64..127 alike
    assert sig(code.replace("64, 64", "128, 128")) != sig(code)
    assert sig(code.replace("3, padding=1", "1, padding=0")) != sig(code)


def test_every_width_doubled_is_an_idea_not_a_copy():
    vgg = source("VGG")
    doubled = replaced(
        vgg,
        (
            '(32, "M", 64, "M", 128, 128, "M", 192, 192,',
            '(64, "M", 128, "M", 256, 256, "M", 384, 384,',
        ),
        ("256", "512"),
    )
    assert sig(doubled).similarity(sig(vgg)) < DEFAULT_THRESHOLD


def test_imports_docstrings_and_strings_do_not_count():
    vgg = source("VGG")
    other = replaced(
        vgg,
        ("import torch\n", "import torch\nfrom collections import OrderedDict\nimport math\n"),
        ('return {"lr", "momentum", "dropout"}', 'return {"lr", "momentum"}'),
        ('"""VGG family', '"""Something else entirely'),
    )
    assert sig(other) == sig(vgg)


def test_code_that_does_not_parse_has_no_signature():
    assert signature("def f(:\n    return") is None
    assert signature("x = 1\x00") is None


def test_a_signature_round_trips_through_json():
    original = sig(source("ViT"))
    stored = json.loads(json.dumps(original.to_list()))
    assert len(stored) == SIGNATURE_SIZE
    assert Signature.from_list(stored) == original


def test_signatures_of_different_sizes_do_not_compare():
    with pytest.raises(ValueError, match="different sizes"):
        sig("x = 1").similarity(Signature((1, 2, 3)))


def test_nearest_picks_the_most_similar_at_or_above_the_threshold():
    vgg = sig(source("VGG"))
    others = [
        ("candidate A", sig(source("ResNet"))),
        ("its parent VGG", vgg),
        ("prompt example 2", sig(source("VGG").replace("nn.MaxPool2d(2,", "nn.MaxPool2d(3,"))),
    ]
    assert nearest(vgg, others, DEFAULT_THRESHOLD) == NearCopy("its parent VGG", 1.0)
    assert nearest(vgg, others[:1], DEFAULT_THRESHOLD) is None
    assert nearest(vgg, [], DEFAULT_THRESHOLD) is None
    score = vgg.similarity(others[0][1])
    assert nearest(vgg, others[:1], score) == NearCopy("candidate A", score)  # at: a copy


def test_the_signature_is_stable():
    # Computed once; a change here changes every stored signature.
    assert sig("def f(x):\n    return x + 1\n").values[:4] == (
        657192451131450514,
        756539385186366040,
        562563899988168304,
        289274619723699828,
    )
    assert signature("") is not None  # too short for a shingle: one shingle of all it has


def test_the_lane_wise_min_hash_is_the_formula():
    rng = random.Random(7)
    prime = 2**61 - 1
    for size in (1, 3, 200):
        hashes = {rng.randrange(prime) for _ in range(size)} | {0, prime - 1}
        expected = tuple(
            min((a * x + b) % prime for x in hashes)
            for a, b in zip(similarity._A, similarity._B, strict=True)
        )
        assert similarity._min_hashes(hashes) == expected
