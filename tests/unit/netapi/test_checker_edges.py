"""Edge cases of the static checker: idioms that must pass and escapes that must not."""

import pathlib

import pytest

from netapi.static_check import check_source

GOOD = (pathlib.Path(__file__).with_name("corpus") / "01_good_cnn.py").read_text()


def rules(source, task="img-classification"):
    return {finding.rule for finding in check_source(source, task).findings}


def with_line(extra: str) -> str:
    """The good CNN with ``extra`` added at the end of the module."""
    return GOOD + "\n" + extra + "\n"


@pytest.mark.parametrize(
    "extra",
    [
        "def helper(input, compile=False, vars=None):\n    return input",
        "class Block(nn.Module):\n    def forward(self, input):\n        return input * 2",
        "def act():\n    return getattr(nn, 'ReLU')()",
        "def act(i):\n    return getattr(nn, f'Conv{i + 1}d')",
    ],
)
def test_common_idioms_are_not_forbidden(extra):
    assert rules(with_line(extra)) == set()


@pytest.mark.parametrize(
    "extra",
    [
        "m = getattr(torch, 'hub')",
        "f = torch.__dict__['load']",
        "import functools\nx = functools.reduce(getattr, ['__globals__'], nn.ReLU)",
        "s = '{0.__globals__}'.format(nn.ReLU)",
        "def g(eval):\n    return eval\nx = eval('1')",
        # A name chosen at run time may be anything: '__globals__', 'hub', 'load'.
        "def act(name):\n    return getattr(nn, name)()",
    ],
)
def test_escape_routes_are_forbidden(extra):
    found = rules(with_line(extra))
    assert found & {
        "forbidden-attribute",
        "forbidden-call",
        "forbidden-torch-api",
        "computed-attribute",
    }


@pytest.mark.parametrize("base", ["nn.Sequential", "nn.ModuleList", "torch.nn.Module"])
def test_net_may_subclass_torch_containers(base):
    source = GOOD.replace("class Net(nn.Module):", f"class Net({base}):")
    assert "net-not-module" not in rules(source)


def test_net_may_be_an_alias_of_a_class():
    source = GOOD.replace("class Net(nn.Module):", "class CifarCNN(nn.Module):") + (
        "\n\nNet = CifarCNN\n"
    )
    assert rules(source) == set()


def test_missing_bracket_mid_file_is_a_syntax_error_not_truncation():
    lines = GOOD.splitlines()
    index = next(i for i, line in enumerate(lines) if "nn.Linear(" in line)
    lines[index] = lines[index].rstrip().removesuffix(")")
    assert rules("\n".join(lines) + "\n") == {"syntax"}


def test_batch_size_used_as_a_size_is_fine_but_not_as_channels():
    legit = GOOD.replace(
        "super().__init__()",
        "super().__init__()\n        self.register_buffer('mix', torch.zeros(in_shape[0], 4))",
        1,
    )
    assert "batch-as-channels" not in rules(legit)
    via_variable = GOOD.replace(
        "super().__init__()",
        "super().__init__()\n        c = in_shape[0]\n        self.stem = nn.Conv2d(c, 8, 3)",
        1,
    )
    assert "batch-as-channels" in rules(via_variable)
