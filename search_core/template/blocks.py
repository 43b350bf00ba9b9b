"""Source text of the block classes of rendered Net modules, one per genome block kind.

Block sources are str.format templates: `{signature}` is the __init__ line, and residual
blocks take `{drop_init}` and `{branch}` so that stochastic depth appears only in genomes that
use it. block_source() fills them.
"""

from typing import NamedTuple


class BlockSource(NamedTuple):
    cls: str  # the class name the Net calls
    source: str
    residual: bool  # takes a drop rate when the genome uses stochastic depth
    takes_kernel: bool
    needs_shortcut: bool  # uses the module-level shortcut() helper


PLAIN = '''
class ConvBlock(nn.Module):
    """Plain convolution: conv -> norm -> activation, then recalibration."""

{signature}        super().__init__()
        self.body = nn.Sequential(
            conv_norm_act(in_channels, out_channels, kernel, stride),
            recalibration(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
'''

SEPARABLE = '''
class SeparableBlock(nn.Module):
    """Depthwise-separable convolution (MobileNet): depthwise k x k, then pointwise 1 x 1."""

{signature}        super().__init__()
        self.body = nn.Sequential(
            conv_norm_act(in_channels, in_channels, kernel, stride, groups=in_channels),
            conv_norm_act(in_channels, out_channels, 1),
            recalibration(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
'''

BASIC = '''
class BasicBlock(nn.Module):
    """ResNet basic block: two k x k convolutions on a residual branch."""

{signature}        super().__init__()
        self.branch = nn.Sequential(
            conv_norm_act(in_channels, out_channels, kernel, stride),
            conv(out_channels, out_channels, kernel),
            norm2d(out_channels),
            recalibration(out_channels),
            branch_scale(out_channels),
        )
        self.shortcut = shortcut(in_channels, out_channels, stride)
        self.act = activation(){drop_init}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shortcut(x) + {branch})
'''

BOTTLENECK = '''
class BottleneckBlock(nn.Module):
    """ResNet bottleneck: 1 x 1 reduce to a quarter, k x k, 1 x 1 expand, on a residual branch."""

{signature}        super().__init__()
        mid = max(8, out_channels // 4)
        self.branch = nn.Sequential(
            conv_norm_act(in_channels, mid, 1),
            conv_norm_act(mid, mid, kernel, stride),
            conv(mid, out_channels, 1),
            norm2d(out_channels),
            recalibration(out_channels),
            branch_scale(out_channels),
        )
        self.shortcut = shortcut(in_channels, out_channels, stride)
        self.act = activation(){drop_init}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shortcut(x) + {branch})
'''

INVERTED = '''
class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual: 1 x 1 expand x4, depthwise k x k, linear 1 x 1 project."""

{signature}        super().__init__()
        hidden = 4 * in_channels
        self.use_residual = stride == 1 and in_channels == out_channels
        self.branch = nn.Sequential(
            conv_norm_act(in_channels, hidden, 1),
            conv_norm_act(hidden, hidden, kernel, stride, groups=hidden),
            recalibration(hidden),
            conv(hidden, out_channels, 1),
            norm2d(out_channels),
        )
        self.scale = branch_scale(out_channels) if self.use_residual else nn.Identity(){drop_init}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        if not self.use_residual:
            return out
        return x + {scaled}
'''

INCEPTION = '''
class InceptionBlock(nn.Module):
    """Inception-style block: 1x1, 3x3, double-3x3 and pooling branches, fused, plus a shortcut."""

{signature}        super().__init__()
        b = out_channels // 4
        self.branch1 = conv_norm_act(in_channels, b, 1, stride)
        self.branch3 = nn.Sequential(
            conv_norm_act(in_channels, b, 1), conv_norm_act(b, b, 3, stride)
        )
        self.branch5 = nn.Sequential(
            conv_norm_act(in_channels, b, 1), conv_norm_act(b, b, 3), conv_norm_act(b, b, 3, stride)
        )
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=stride, padding=1),
            conv_norm_act(in_channels, out_channels - 3 * b, 1),
        )
        self.fuse = nn.Sequential(
            conv(out_channels, out_channels, 1),
            norm2d(out_channels),
            recalibration(out_channels),
            branch_scale(out_channels),
        )
        self.shortcut = shortcut(in_channels, out_channels, stride)
        self.act = activation(){drop_init}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)]
        fused = torch.cat(branches, dim=1)  # [B, out_channels, H / stride, W / stride]
        return self.act(self.shortcut(x) + {fused})
'''

CONVNEXT = '''
class ConvNeXtBlock(nn.Module):
    """ConvNeXt block: depthwise k x k, norm, 1 x 1 expand x4, activation, 1 x 1 project."""

{signature}        super().__init__()
        self.down = nn.Identity()
        if in_channels != out_channels or stride != 1:
            self.down = nn.Sequential(
                norm2d(in_channels),
                conv(in_channels, out_channels, 3 if stride == 2 else 1, stride),
            )
        self.branch = nn.Sequential(
            conv(out_channels, out_channels, kernel, groups=out_channels),
            norm2d(out_channels),
            nn.Conv2d(out_channels, 4 * out_channels, 1),
            activation(),
            nn.Conv2d(4 * out_channels, out_channels, 1),
            recalibration(out_channels),
            branch_scale(out_channels),
        ){drop_init}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        return x + {branch}
'''

BLOCKS = {
    "plain": BlockSource("ConvBlock", PLAIN, False, True, False),
    "separable": BlockSource("SeparableBlock", SEPARABLE, False, True, False),
    "basic": BlockSource("BasicBlock", BASIC, True, True, True),
    "bottleneck": BlockSource("BottleneckBlock", BOTTLENECK, True, True, True),
    "inverted": BlockSource("InvertedResidual", INVERTED, True, True, False),
    "inception": BlockSource("InceptionBlock", INCEPTION, True, False, True),
    "convnext": BlockSource("ConvNeXtBlock", CONVNEXT, True, True, False),
}


def signature(parameters: list[str], indent: str = "    ", limit: int = 100) -> str:
    """An __init__ signature laid out as ruff format would: one line, one wrapped, or exploded."""
    head, tail = f"{indent}def __init__(", ") -> None:\n"
    arguments = ", ".join(["self", *parameters])
    if len(head) + len(arguments) + len(tail) - 1 <= limit:
        return head + arguments + tail
    inner = indent + "    "
    if len(inner) + len(arguments) <= limit:
        return f"{head}\n{inner}{arguments}\n{indent}{tail}"
    exploded = "".join(f"{inner}{argument},\n" for argument in ["self", *parameters])
    return f"{head}\n{exploded}{indent}{tail}"


def block_source(kind: str, stochastic_depth: bool) -> str:
    """The class source of a block kind, with or without a stochastic-depth rate."""
    block = BLOCKS[kind]
    parameters = ["in_channels: int", "out_channels: int"]
    parameters += ["kernel: int = 3"] if block.takes_kernel else []
    parameters += ["stride: int = 1"]
    if not block.residual:
        return block.source.format(signature=signature(parameters))
    if stochastic_depth:
        parameters.append("drop: float = 0.0")
        fields = {"drop_init": "\n        self.drop = drop"}
        wrap = "drop_path({}, self.drop, self.training)".format
    else:
        fields = {"drop_init": ""}
        wrap = "{}".format
    fields.update(
        signature=signature(parameters),
        branch=wrap("self.branch(x)"),
        scaled=wrap("self.scale(out)"),
        fused=wrap("self.fuse(fused)"),
    )
    return block.source.format(**fields)
