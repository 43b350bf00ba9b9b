# expect-outcome: success
# expect-rules: none
# task: img-classification
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr', 'momentum'}


@dataclass(frozen=True)
class Config:
    widths: tuple[int, ...] = (16, 32, 64)
    heads: int = 4


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        self.cfg = Config()
        channels = in_shape[1]
        for i, width in enumerate(self.cfg.widths):
            setattr(self, f'conv{i}', nn.Conv2d(channels, width, 3, padding=1))
            setattr(self, 'bn%d' % i, nn.BatchNorm2d(width))
            channels = width
        self.query = nn.Parameter(torch.zeros(1, 1, channels))
        self.attn = nn.MultiheadAttention(channels, self.cfg.heads, batch_first=True)
        self.fc = nn.Linear(channels, out_shape[0])

    def train_setup(self, prm: dict):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            self.optimizer.step()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(len(self.cfg.widths)):
            x = F.relu(getattr(self, 'bn%d' % i)(getattr(self, f'conv{i}')(x)))
            x = F.max_pool2d(x, 2)
        tokens = x.flatten(2).transpose(1, 2)  # [B, HW, C]
        q = self.query.expand(x.shape[0], -1, -1)  # [B, 1, C]
        pooled, _ = self.attn(q, tokens, tokens)
        return self.fc(pooled[:, 0])
