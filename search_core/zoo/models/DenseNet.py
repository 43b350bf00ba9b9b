"""DenseNet family (Huang et al., 2017): DenseNet-BC, each layer fed all earlier maps.

Dense blocks of bottleneck layers joined by compressing transitions.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1 bottleneck, BN-ReLU-Conv3x3; its output is concatenated to its input."""

    def __init__(self, in_channels: int, growth: int, dropout: float) -> None:
        super().__init__()
        self.bottleneck = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, 4 * growth, 1, bias=False),
            nn.BatchNorm2d(4 * growth),
            nn.ReLU(inplace=True),
            nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False),
        )
        self.dropout = dropout

    def forward(self, x):
        new = F.dropout(self.bottleneck(x), p=self.dropout, training=self.training)
        return torch.cat([x, new], dim=1)  # (B, C + growth, H, W)


class Transition(nn.Sequential):
    """Compresses channels by half and halves the resolution between dense blocks."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.AvgPool2d(2, ceil_mode=True),
        )


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        channels, height, width = in_shape[1], in_shape[2], in_shape[3]
        growth, layers_per_block = 16, (6, 6, 6)
        dropout = prm["dropout"] * 0.5  # [0, 1] -> [0, 0.5]
        # DenseNet-BC for CIFAR keeps the stem at full resolution; halving it here keeps a
        # CPU epoch short, and ImageNet's DenseNet downsamples 4x before its first block.
        stem_stride = 2 if min(height, width) >= 28 else 1
        features = 2 * growth
        blocks = [nn.Conv2d(channels, features, 3, stride=stem_stride, padding=1, bias=False)]
        for index, count in enumerate(layers_per_block):
            for _ in range(count):
                blocks.append(DenseLayer(features, growth, dropout))
                features += growth
            if index < len(layers_per_block) - 1:
                blocks.append(Transition(features, features // 2))
                features //= 2
        blocks += [nn.BatchNorm2d(features), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1)]
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Linear(features, out_shape[0])

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
