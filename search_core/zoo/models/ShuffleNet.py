"""ShuffleNet family (Ma et al., 2018): ShuffleNetV2 0.5x, channel split and channel shuffle."""

import torch
import torch.nn as nn


def supported_hyperparameters():
    return {"lr", "momentum"}


def channel_shuffle(x, groups: int):
    batch, channels, height, width = x.shape
    x = x.view(batch, groups, channels // groups, height, width).transpose(1, 2)
    return x.reshape(batch, channels, height, width)  # channels of the groups interleaved


class ShuffleUnit(nn.Module):
    """Stride 1: split the channels, transform one half. Stride 2: transform both, halving H, W."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        branch = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
                nn.BatchNorm2d(cin),
                nn.Conv2d(cin, branch, 1, bias=False),
                nn.BatchNorm2d(branch),
                nn.ReLU(inplace=True),
            )
        branch_in = cin if stride > 1 else branch
        self.branch2 = nn.Sequential(
            nn.Conv2d(branch_in, branch, 1, bias=False),
            nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
            nn.Conv2d(branch, branch, 3, stride, 1, groups=branch, bias=False),
            nn.BatchNorm2d(branch),
            nn.Conv2d(branch, branch, 1, bias=False),
            nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        if self.stride == 1:
            kept, transformed = x.chunk(2, dim=1)
            out = torch.cat((kept, self.branch2(transformed)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


STAGE_CHANNELS = (48, 96, 192)  # ShuffleNetV2 0.5x
STAGE_REPEATS = (4, 8, 4)
LAST_CHANNELS = 1024


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        channels, height, width = in_shape[1], in_shape[2], in_shape[3]
        stem_stride = 2 if min(height, width) >= 64 else 1  # ImageNet: stride 2 and a max pool
        self.stem = nn.Sequential(
            nn.Conv2d(channels, 24, 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(24),
            nn.ReLU(inplace=True),
        )
        units, cin = [], 24
        for cout, repeats in zip(STAGE_CHANNELS, STAGE_REPEATS, strict=True):
            units.append(ShuffleUnit(cin, cout, 2))
            units += [ShuffleUnit(cout, cout, 1) for _ in range(repeats - 1)]
            cin = cout
        self.stages = nn.Sequential(*units)
        self.conv5 = nn.Sequential(
            nn.Conv2d(cin, LAST_CHANNELS, 1, bias=False),
            nn.BatchNorm2d(LAST_CHANNELS),
            nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(LAST_CHANNELS, out_shape[0])

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
        x = self.conv5(self.stages(self.stem(x)))  # (B, 1024, H/8, W/8)
        return self.fc(x.mean(dim=(2, 3)))
