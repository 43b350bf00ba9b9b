"""EfficientNet family (Tan & Le, 2019), scaled down from EfficientNet-B0.

MBConv blocks with squeeze-and-excitation, SiLU and stochastic depth.
"""

import torch
import torch.nn as nn


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class SqueezeExcite(nn.Module):
    """Channel attention: global pool, bottleneck MLP, sigmoid gate."""

    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, squeezed, 1),
            nn.SiLU(inplace=True),
            nn.Conv2d(squeezed, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return x * self.gate(x)


class MBConv(nn.Module):
    """Expand 1x1, depthwise kxk, squeeze-excite, project 1x1; residual with drop path."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, drop: float):
        super().__init__()
        hidden = cin * expand
        layers = []
        if expand != 1:
            layers += [
                nn.Conv2d(cin, hidden, 1, bias=False),
                nn.BatchNorm2d(hidden),
                nn.SiLU(inplace=True),
            ]
        layers += [
            nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.SiLU(inplace=True),
            SqueezeExcite(hidden, max(1, cin // 4)),  # se_ratio 0.25 of the block's input
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout
        self.drop = drop

    def forward(self, x):
        out = self.block(x)
        if not self.use_residual:
            return out
        if self.training and self.drop > 0:  # stochastic depth: drop the whole branch per sample
            keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) >= self.drop
            out = out * keep / (1 - self.drop)
        return x + out


# B0's stages (expansion, channels, repeats, stride, kernel) at half width and fewer repeats.
STAGES = (
    (1, 8, 1, 1, 3),
    (6, 16, 2, 2, 3),
    (6, 24, 2, 2, 5),
    (6, 40, 2, 2, 3),
    (6, 56, 2, 1, 5),
    (6, 96, 2, 2, 5),
    (6, 160, 1, 1, 3),
)
HEAD_CHANNELS = 640


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        channels, height, width = in_shape[1], in_shape[2], in_shape[3]
        stem_stride = 2 if min(height, width) >= 64 else 1
        layers = [
            nn.Conv2d(channels, 16, 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.SiLU(inplace=True),
        ]
        total = sum(stage[2] for stage in STAGES)
        cin, index = 16, 0
        for expand, cout, repeats, stride, kernel in STAGES:
            for repeat in range(repeats):
                drop = 0.2 * index / total  # drop-path rate grows with depth, as in B0
                layers.append(MBConv(cin, cout, kernel, stride if repeat == 0 else 1, expand, drop))
                cin, index = cout, index + 1
        layers += [
            nn.Conv2d(cin, HEAD_CHANNELS, 1, bias=False),
            nn.BatchNorm2d(HEAD_CHANNELS),
            nn.SiLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
        ]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(prm["dropout"]), nn.Linear(HEAD_CHANNELS, out_shape[0])
        )

    def train_setup(self, prm: dict):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))
