"""render(genome, task): write a genome as a complete Net API classification module."""

import textwrap

from netapi.tasks import IMG_CLASSIFICATION, TaskSpec
from search_core.template import snippets
from search_core.template.blocks import BLOCKS, block_source
from search_core.template.cost import MLP_HIDDEN
from search_core.template.genome import ACTIVATIONS, Genome, canonical, describe

_RECALIBRATION_DOCS = {
    "none": "No recalibration: the identity.",
    "se": "Squeeze-and-excitation.",
    "eca": "Efficient channel attention.",
    "cbam": "CBAM: channel, then spatial attention.",
    "spatial": "Spatial attention.",
}
_BRANCH_SCALE_DOCS = {
    "none": "Residual branches are added unscaled.",
    "layerscale": "LayerScale on every residual branch.",
    "rezero": "A ReZero gate on every residual branch.",
}
_OPTIMIZER = """
    def train_setup(self, prm: dict) -> None:
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss({smoothing}).to(self.device),)
        self.optimizer = torch.optim.SGD(
            self.parameters(),
            lr=prm["lr"],
            momentum=prm["momentum"],
            weight_decay=prm["weight_decay"] * 1e-3,
        )

    def learn(self, train_data) -> None:
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()
"""


class RenderError(ValueError):
    """A task the template composer cannot write code for."""


def _task_name(task: str | TaskSpec) -> str:
    return task.task if isinstance(task, TaskSpec) else task


def _imports(genome: Genome) -> str:
    needs_math = genome.norm == "group" or genome.attention == "eca"
    return ("import math\n\n" if needs_math else "") + "import torch\nimport torch.nn as nn\n"


def _helpers(genome: Genome) -> list[str]:
    kinds = {stage.block for stage in genome.stages}
    residual = genome.has_residual
    pieces = [
        snippets.NORM[genome.norm],
        snippets.ACTIVATION.format(cls=ACTIVATIONS[genome.activation]),
        snippets.CONV.format(bias=genome.norm == "none"),
    ]
    if any(BLOCKS[kind].needs_shortcut for kind in kinds):
        pieces.append(snippets.SHORTCUT)
    if residual and genome.drop_path > 0:
        pieces.append(snippets.DROP_PATH)
    pieces.append(snippets.GLOBAL_POOL[genome.head])
    attention_class, attention_factory = snippets.ATTENTION[genome.attention]
    if attention_class:
        pieces.append(attention_class)
    pieces.append(
        snippets.RECALIBRATION.format(
            doc=_RECALIBRATION_DOCS[genome.attention], factory=attention_factory
        )
    )
    if residual:
        scale_class, scale_factory = snippets.BRANCH_SCALE[genome.branch_scale]
        if scale_class:
            pieces.append(scale_class)
        pieces.append(
            snippets.BRANCH_SCALE_FACTORY.format(
                doc=_BRANCH_SCALE_DOCS[genome.branch_scale], factory=scale_factory
            )
        )
    if genome.stem == "coord":
        pieces.append(snippets.COORD_STEM)
    stochastic_depth = residual and genome.drop_path > 0
    for kind in BLOCKS:  # a fixed order keeps the output deterministic
        if kind in kinds:
            pieces.append(block_source(kind, stochastic_depth))
    return pieces


def _stem(genome: Genome) -> str:
    width = genome.stem_width
    return {
        "conv3": f"conv_norm_act(in_channels, {width}, 3)",
        "conv5": f"conv_norm_act(in_channels, {width}, 5)",
        "deep": (
            f"nn.Sequential(\n            conv_norm_act(in_channels, {width // 2}, 3),\n"
            f"            conv_norm_act({width // 2}, {width}, 3),\n        )"
        ),
        "patchify": f"nn.Sequential(nn.Conv2d(in_channels, {width}, 2, stride=2), norm2d({width}))",
        "coord": f"CoordStem(in_channels, {width})",
    }[genome.stem]


def _side(divisor: int) -> str:
    return "H, W" if divisor == 1 else f"H/{divisor}, W/{divisor}"


def _drop_rates(genome: Genome) -> list[float]:
    """Stochastic-depth rates rising linearly over all blocks to genome.drop_path."""
    total = sum(stage.depth for stage in genome.stages)
    return [round(genome.drop_path * (i + 1) / total, 4) for i in range(total)]


def _stages(genome: Genome) -> tuple[list[str], list[str]]:
    """The stage definitions of __init__ and each stage's output shape comment."""
    lines, shapes = [], []
    rates = iter(_drop_rates(genome))
    cin, divisor = genome.stem_width, 2 if genome.stem == "patchify" else 1
    for number, stage in enumerate(genome.stages, start=1):
        block = BLOCKS[stage.block]
        layers = []
        stride = stage.stride
        if stride == 2 and genome.downsample != "conv":
            pool = "MaxPool2d" if genome.downsample == "max" else "AvgPool2d"
            layers.append(f"nn.{pool}(2, ceil_mode=True)")
            stride = 1
        for index in range(stage.depth):
            arguments = [str(cin), str(stage.width)]
            if block.takes_kernel and stage.kernel != 3:
                arguments.append(f"kernel={stage.kernel}")
            if index == 0 and stride == 2:
                arguments.append("stride=2")
            rate = next(rates)
            if block.residual and genome.drop_path > 0:
                arguments.append(f"drop={rate!r}")
            layers.append(f"{block.cls}({', '.join(arguments)})")
            cin = stage.width
        divisor *= stage.stride
        body = "".join(f"            {layer},\n" for layer in layers)
        lines.append(f"        self.stage{number} = nn.Sequential(\n{body}        )")
        shapes.append(f"[B, {stage.width}, {_side(divisor)}]")
    return lines, shapes


def _net(genome: Genome) -> str:
    stage_lines, shapes = _stages(genome)
    stem_divisor = 2 if genome.stem == "patchify" else 1
    multiscale = genome.fusion == "multiscale"
    features = sum(s.width for s in genome.stages) if multiscale else genome.stages[-1].width
    features *= 2 if genome.head == "avg_max" else 1
    if genome.head == "avg_mlp":
        classifier = (
            f"nn.Sequential(\n            nn.Linear({features}, {MLP_HIDDEN}),\n"
            f"            activation(),\n            nn.Linear({MLP_HIDDEN}, num_classes),\n"
            "        )"
        )
    else:
        classifier = f"nn.Linear({features}, num_classes)"
    init = [
        "        super().__init__()",
        "        self.device = device",
        "        in_channels = in_shape[1]",
        "        num_classes = out_shape[0]",
        f"        self.stem = {_stem(genome)}",
        *stage_lines,
        '        self.dropout = nn.Dropout(p=0.5 * prm["dropout"])',
        f"        self.classifier = {classifier}",
    ]
    forward = [f"        x = self.stem(x)  # [B, {genome.stem_width}, {_side(stem_divisor)}]"]
    count = len(genome.stages)
    if multiscale:
        previous = "x"
        for number, shape in enumerate(shapes, start=1):
            forward.append(f"        f{number} = self.stage{number}({previous})  # {shape}")
            previous = f"f{number}"
        pooled = ", ".join(f"global_pool(f{n})" for n in range(1, count + 1))
        line = f"        x = torch.cat([{pooled}], dim=1)  # [B, {features}]"
        if len(line) > 100:  # wrapped as ruff format would
            line = (
                f"        x = torch.cat(\n            [{pooled}], dim=1\n"
                f"        )  # [B, {features}]"
            )
        forward.append(line)
    else:
        for number, shape in enumerate(shapes, start=1):
            forward.append(f"        x = self.stage{number}(x)  # {shape}")
        forward.append(f"        x = global_pool(x)  # [B, {features}]")
    forward.append("        return self.classifier(self.dropout(x))  # [B, num_classes]")
    smoothing = f"label_smoothing={genome.label_smoothing!r}" if genome.label_smoothing else ""
    return (
        "\nclass Net(nn.Module):\n"
        "    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, "
        "device: torch.device) -> None:\n"
        + "\n".join(init)
        + "\n"
        + _OPTIMIZER.format(smoothing=smoothing)
        + "\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
        + "\n".join(forward)
        + "\n"
    )


def render(genome: Genome, task: str | TaskSpec = IMG_CLASSIFICATION) -> str:
    """A Net API module for the genome; the same genome always gives the same bytes.

    The code works for any input (B, C, H, W) with H, W >= 28: channels come from in_shape[1],
    and global pooling makes the head independent of the input side.
    """
    if _task_name(task) != IMG_CLASSIFICATION:
        raise RenderError(f"the template composer writes {IMG_CLASSIFICATION} models only")
    genome = canonical(genome)
    header = (
        '"""A classification network written by the nasforge template composer.\n\n'
        + "\n".join(textwrap.wrap(f"Genome: {describe(genome)}", width=100))
        + '\n"""\n\n'
    )
    hyperparameters = (
        "\n\ndef supported_hyperparameters():\n"
        '    return {"dropout", "lr", "momentum", "weight_decay"}\n'
    )
    helpers = "".join("\n" + piece for piece in _helpers(genome))
    return header + _imports(genome) + hyperparameters + helpers + "\n" + _net(genome)
