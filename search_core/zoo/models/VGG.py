"""VGG family (Simonyan & Zisserman, 2015): plain 3x3 convolution stacks, max pooling, MLP head."""

import torch
import torch.nn as nn


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


# A VGG-11-style configuration at a quarter of the width: channels, "M" = 2x2 max pool.
CONFIG = (32, "M", 64, "M", 128, 128, "M", 192, 192, "M")


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        channels = in_shape[1]
        layers = []
        for item in CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(2, ceil_mode=True))  # ceil: odd sides never reach 0
            else:
                layers += [
                    nn.Conv2d(channels, item, 3, padding=1, bias=False),
                    nn.BatchNorm2d(item),
                    nn.ReLU(inplace=True),
                ]
                channels = item
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(2)  # VGG pools to 7x7; 2x2 suits small images
        dropout = prm["dropout"]
        self.classifier = nn.Sequential(
            nn.Linear(channels * 4, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, out_shape[0]),
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
        x = self.avgpool(self.features(x))  # (B, 192, 2, 2)
        return self.classifier(torch.flatten(x, 1))
