# expect-outcome: success
# expect-rules: none
# task: img-classification
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch.nn import Module
import torch.nn as nn


def supported_hyperparameters():
    return set(['lr', 'momentum', 'dropout'])


@dataclass(frozen=True)
class StageConfig:
    channels: int
    blocks: int


class TrainableModule(Module):
    """Shared Net API plumbing: the concrete Net only builds layers and forward()."""

    def train_setup(self, prm: dict):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'],
                                         momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()


class Net(TrainableModule):
    STAGES = (StageConfig(64, 2), StageConfig(128, 2), StageConfig(256, 3))

    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_shape[1]
        for s, stage in enumerate(self.STAGES):
            for b in range(stage.blocks):
                layers[f'conv{s}_{b}'] = nn.Conv2d(channels, stage.channels, 3, padding=1)
                layers[f'bn{s}_{b}'] = nn.BatchNorm2d(stage.channels)
                layers[f'relu{s}_{b}'] = nn.ReLU(inplace=True)
                channels = stage.channels
            layers[f'pool{s}'] = nn.MaxPool2d(2, ceil_mode=True)
        self.features = nn.Sequential(layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(prm['dropout']),
            nn.Linear(channels, out_shape[0]),
        )

    def forward(self, x, *unused):
        return self.classifier(self.features(x))
