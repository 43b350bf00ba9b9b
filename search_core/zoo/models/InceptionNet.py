"""Inception family (Szegedy et al., 2015): GoogLeNet-style multi-branch modules, scaled down.

Each module runs 1x1, 3x3, 5x5 and pooled branches side by side and concatenates them.
"""

import torch
import torch.nn as nn


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class ConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class Inception(nn.Module):
    """Four parallel branches concatenated along channels."""

    def __init__(
        self, cin: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int, pool: int
    ):
        super().__init__()
        self.branch1 = ConvBN(cin, c1, 1)
        self.branch3 = nn.Sequential(ConvBN(cin, c3_reduce, 1), ConvBN(c3_reduce, c3, 3))
        self.branch5 = nn.Sequential(ConvBN(cin, c5_reduce, 1), ConvBN(c5_reduce, c5, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), ConvBN(cin, pool, 1))
        self.out_channels = c1 + c3 + c5 + pool

    def forward(self, x):
        branches = (self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x))
        return torch.cat(branches, dim=1)  # (B, c1 + c3 + c5 + pool, H, W)


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        channels, height, width = in_shape[1], in_shape[2], in_shape[3]
        stem_stride = 2 if min(height, width) >= 64 else 1
        self.stem = nn.Sequential(
            ConvBN(channels, 32, 3, stem_stride), ConvBN(32, 64, 3), nn.MaxPool2d(3, 2, padding=1)
        )
        # GoogLeNet's inception 3a/3b, 4a/4b and 5a at about a quarter of their width.
        self.inception3a = Inception(64, 16, 24, 32, 4, 8, 8)
        self.inception3b = Inception(64, 32, 32, 48, 8, 24, 16)
        self.pool3 = nn.MaxPool2d(3, stride=2, padding=1)
        self.inception4a = Inception(120, 48, 24, 52, 4, 12, 16)
        self.inception4b = Inception(128, 40, 28, 56, 6, 16, 16)
        self.pool4 = nn.MaxPool2d(3, stride=2, padding=1)
        self.inception5a = Inception(128, 64, 40, 80, 8, 32, 32)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(prm["dropout"])
        self.fc = nn.Linear(self.inception5a.out_channels, out_shape[0])

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
        x = self.stem(x)
        x = self.pool3(self.inception3b(self.inception3a(x)))  # (B, 120, H/4, W/4)
        x = self.pool4(self.inception4b(self.inception4a(x)))  # (B, 128, H/8, W/8)
        x = self.avgpool(self.inception5a(x))  # (B, 208, 1, 1)
        return self.fc(self.dropout(torch.flatten(x, 1)))
