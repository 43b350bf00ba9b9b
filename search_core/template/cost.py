"""Parameter count and multiply-accumulates of a genome's network, computed without torch.

The count mirrors render.py layer for layer, so it equals the torch model's exactly (a unit
test holds the two together); MACs count convolutions and linear layers only.
"""

import math
from dataclasses import dataclass

from search_core.template.genome import Genome

# The space's budgets, checked at the reference input (3 channels, 32x32, 10 classes).
MAX_PARAMETERS = 1_500_000
MAX_MACS = 150_000_000
REFERENCE_CHANNELS = 3
REFERENCE_SIDE = 32
REFERENCE_CLASSES = 10
MLP_HIDDEN = 256


@dataclass(frozen=True)
class Cost:
    parameters: int
    macs: int

    @property
    def within_budget(self) -> bool:
        return self.parameters <= MAX_PARAMETERS and self.macs <= MAX_MACS


def conv_out(side: int, kernel: int, stride: int, padding: int) -> int:
    return (side + 2 * padding - kernel) // stride + 1


def eca_kernel(channels: int) -> int:
    """ECA-Net's adaptive kernel size; render.py writes the same formula."""
    t = int(abs((math.log2(channels) + 1) / 2))
    return t if t % 2 else t + 1


class _Counter:
    """Walks the network as render.py builds it, adding up parameters and MACs."""

    def __init__(self, genome: Genome) -> None:
        self.g = genome
        self.bias = genome.norm == "none"
        self.parameters = 0
        self.macs = 0

    def norm(self, channels: int) -> None:
        self.parameters += 0 if self.g.norm == "none" else 2 * channels

    def conv(
        self,
        cin: int,
        cout: int,
        kernel: int,
        side: int,
        stride: int = 1,
        groups: int = 1,
        bias: bool | None = None,
        padding: int | None = None,
    ) -> int:
        weights = cout * (cin // groups) * kernel * kernel
        self.parameters += weights + (cout if (self.bias if bias is None else bias) else 0)
        out = conv_out(side, kernel, stride, kernel // 2 if padding is None else padding)
        self.macs += weights * out * out
        return out

    def cna(self, cin: int, cout: int, kernel: int, side: int, stride: int = 1, groups: int = 1):
        out = self.conv(cin, cout, kernel, side, stride, groups)
        self.norm(cout)
        return out

    def linear(self, fin: int, fout: int) -> None:
        self.parameters += fin * fout + fout
        self.macs += fin * fout

    def attention(self, channels: int) -> None:
        kind = self.g.attention
        hidden = max(8, channels // 4)
        if kind in ("se", "cbam"):
            self.parameters += channels * hidden + hidden + hidden * channels + channels
        if kind == "eca":
            self.parameters += eca_kernel(channels)
        if kind in ("cbam", "spatial"):
            self.parameters += 2 * 49 + 1

    def scale(self, channels: int) -> None:
        self.parameters += {"none": 0, "layerscale": channels, "rezero": 1}[self.g.branch_scale]

    def shortcut(self, cin: int, cout: int, side: int, stride: int) -> None:
        if cin != cout or stride != 1:
            self.conv(cin, cout, 1, side, stride, padding=0)
            self.norm(cout)

    def block(self, kind: str, cin: int, cout: int, kernel: int, side: int, stride: int) -> int:
        if kind == "plain":
            out = self.cna(cin, cout, kernel, side, stride)
            self.attention(cout)
        elif kind == "separable":
            out = self.cna(cin, cin, kernel, side, stride, groups=cin)
            self.cna(cin, cout, 1, out)
            self.attention(cout)
        elif kind == "basic":
            out = self.cna(cin, cout, kernel, side, stride)
            self.conv(cout, cout, kernel, out)
            self.norm(cout)
            self._residual_tail(cin, cout, side, stride)
        elif kind == "bottleneck":
            mid = max(8, cout // 4)
            self.cna(cin, mid, 1, side)
            out = self.cna(mid, mid, kernel, side, stride)
            self.conv(mid, cout, 1, out)
            self.norm(cout)
            self._residual_tail(cin, cout, side, stride)
        elif kind == "inverted":
            hidden = cin * 4
            self.cna(cin, hidden, 1, side)
            out = self.cna(hidden, hidden, kernel, side, stride, groups=hidden)
            self.attention(hidden)
            self.conv(hidden, cout, 1, out)
            self.norm(cout)
            if stride == 1 and cin == cout:
                self.scale(cout)
        elif kind == "inception":
            b = cout // 4
            out = self.cna(cin, b, 1, side, stride)
            self.cna(cin, b, 1, side)
            self.cna(b, b, 3, side, stride)
            self.cna(cin, b, 1, side)
            self.cna(b, b, 3, side)
            self.cna(b, b, 3, side, stride)
            self.cna(cin, cout - 3 * b, 1, out)
            self.conv(cout, cout, 1, out)
            self.norm(cout)
            self._residual_tail(cin, cout, side, stride)
        elif kind == "convnext":
            out = side
            if cin != cout or stride != 1:
                self.norm(cin)
                out = self.conv(cin, cout, 3 if stride == 2 else 1, side, stride)
            self.conv(cout, cout, kernel, out, groups=cout)
            self.norm(cout)
            self.conv(cout, 4 * cout, 1, out, bias=True)
            self.conv(4 * cout, cout, 1, out, bias=True)
            self.attention(cout)
            self.scale(cout)
        else:
            raise ValueError(f"unknown block kind {kind!r}")
        return out

    def _residual_tail(self, cin: int, cout: int, side: int, stride: int) -> None:
        self.attention(cout)
        self.scale(cout)
        self.shortcut(cin, cout, side, stride)

    def stem(self, channels: int, side: int) -> int:
        g, width = self.g, self.g.stem_width
        if g.stem == "patchify":
            out = self.conv(channels, width, 2, side, stride=2, bias=True, padding=0)
            self.norm(width)
            return out
        if g.stem == "deep":
            self.cna(channels, width // 2, 3, side)
            return self.cna(width // 2, width, 3, side)
        extra = 2 if g.stem == "coord" else 0
        return self.cna(channels + extra, width, 5 if g.stem == "conv5" else 3, side)

    def network(self, channels: int, side: int, classes: int) -> None:
        g = self.g
        side = self.stem(channels, side)
        cin = g.stem_width
        for stage in g.stages:
            stride = stage.stride
            if stride == 2 and g.downsample != "conv":
                side, stride = math.ceil(side / 2), 1
            for index in range(stage.depth):
                side = self.block(
                    stage.block, cin, stage.width, stage.kernel, side, stride if index == 0 else 1
                )
                cin = stage.width
        features = sum(s.width for s in g.stages) if g.fusion == "multiscale" else cin
        features *= 2 if g.head == "avg_max" else 1
        if g.head == "avg_mlp":
            self.linear(features, MLP_HIDDEN)
            self.linear(MLP_HIDDEN, classes)
        else:
            self.linear(features, classes)


def cost(
    genome: Genome,
    channels: int = REFERENCE_CHANNELS,
    side: int = REFERENCE_SIDE,
    classes: int = REFERENCE_CLASSES,
) -> Cost:
    """Parameters (exact) and MACs (convolutions and linear layers) for a square input."""
    counter = _Counter(genome)
    counter.network(channels, side, classes)
    return Cost(counter.parameters, counter.macs)


def within_budget(genome: Genome) -> bool:
    return cost(genome).within_budget
