"""A layer resized from the error torch itself raised: real models, real messages."""

import types

import pytest
import torch

from search_core.generation.fixes import FIX_RULES, fix_layer_size
from search_core.zoo.registry import builtin_models

VGG = next(model for model in builtin_models() if model.name == "VGG").code
IN_SHAPE = (2, 3, 32, 32)
PRM = {"lr": 0.01, "momentum": 0.9, "dropout": 0.2}


def forward_error(code: str) -> str | None:
    """The message of the RuntimeError a forward pass raises; None when it runs."""
    module = types.ModuleType("candidate")
    exec(compile(code, "candidate", "exec"), module.__dict__)
    try:
        net = module.Net(IN_SHAPE, (10,), PRM, torch.device("cpu"))
        net(torch.zeros(IN_SHAPE))
    except RuntimeError as error:
        return str(error)
    return None


def vgg_with(old: str, new: str) -> str:
    assert VGG.count(old) == 1, old
    return VGG.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "detail"),
    [
        (  # the head sized for a 1x1 pool while the features are pooled to 2x2
            "nn.Linear(channels * 4, 256)",
            "nn.Linear(192, 256)",
            "Linear in_features 192 -> 768",
        ),
        (  # a size written as arithmetic on numbers
            "nn.Linear(channels * 4, 256)",
            "nn.Linear(192 * 2 * 1, 256)",
            "Linear in_features 192 * 2 * 1 -> 768",
        ),
        (  # the only Linear(_, 256) whose input size is a name
            "nn.Linear(channels * 4, 256)",
            "nn.Linear(channels * 7 * 7, 256)",
            "Linear in_features channels * 7 * 7 -> 768",
        ),
        (  # a stem added with the wrong input channels
            "self.features = nn.Sequential(*layers)",
            "self.features = nn.Sequential(nn.Conv2d(1, 3, 1), *layers)",
            "Conv2d in_channels 1 -> 3",
        ),
        (  # a norm after the features, sized for the wrong width
            "self.avgpool = nn.AdaptiveAvgPool2d(2)",
            "self.avgpool = nn.Sequential(nn.BatchNorm2d(128), nn.AdaptiveAvgPool2d(2))",
            "BatchNorm2d num_features 128 -> 192",
        ),
    ],
)
def test_the_one_layer_the_error_names_is_resized_and_the_model_runs(old, new, detail) -> None:
    broken = vgg_with(old, new)
    message = forward_error(broken)
    assert message is not None
    fixed = fix_layer_size(broken, message)
    assert fixed is not None
    code, fix = fixed
    assert fix.rule == "layer-size-from-error" and fix.rule in FIX_RULES
    assert fix.detail.startswith(detail)
    assert forward_error(code) is None
    assert len(code.splitlines()) == len(broken.splitlines())  # one size edited in place


def test_two_layers_that_fit_the_error_are_left_to_the_model() -> None:
    broken = vgg_with(
        "nn.Linear(channels * 4, 256),",
        "nn.Linear(512, 256),\n            nn.Linear(256, 256),\n            nn.Linear(512, 256),",
    )
    message = "mat1 and mat2 shapes cannot be multiplied (2x768 and 512x256)"
    assert fix_layer_size(broken, message) is None


@pytest.mark.parametrize(
    "message",
    [
        "name 'dropout' is not defined",
        "mat1 and mat2 shapes cannot be multiplied (2x256 and 256x10)",  # no disagreement
        "Given groups=2, weight of size [8, 2, 3, 3], expected input[2, 3, 8, 8] to have 4 "
        "channels, but got 3 channels instead",
    ],
)
def test_other_errors_are_not_a_layer_size(message) -> None:
    assert fix_layer_size(VGG, message) is None


def test_unparseable_code_is_not_fixed() -> None:
    message = "mat1 and mat2 shapes cannot be multiplied (2x768 and 512x256)"
    assert fix_layer_size(VGG[: len(VGG) // 2], message) is None
