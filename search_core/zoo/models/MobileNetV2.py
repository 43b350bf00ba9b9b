"""MobileNetV2 family (Sandler et al., 2018): inverted residuals, linear bottlenecks, depthwise."""

import torch
import torch.nn as nn


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> list:
    return [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]


class InvertedResidual(nn.Module):
    """1x1 expand, 3x3 depthwise, 1x1 linear projection; residual when the shape is kept."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers = []
        if expand != 1:
            layers += [*conv_bn(cin, hidden, 1), nn.ReLU6(inplace=True)]
        layers += [*conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU6(inplace=True)]
        layers += conv_bn(hidden, cout, 1)  # linear bottleneck: no activation
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x):
        out = self.block(x)
        return x + out if self.use_residual else out


# (expansion t, channels c, repeats n, stride s): ImageNet's settings at width 0.5; small
# images skip only the stem's stride.
SETTINGS = (
    (1, 8, 1, 1),
    (6, 16, 2, 2),
    (6, 16, 3, 2),
    (6, 32, 4, 2),
    (6, 48, 3, 1),
    (6, 80, 3, 2),
    (6, 160, 1, 1),
)
LAST_CHANNELS = 1280


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        channels, height, width = in_shape[1], in_shape[2], in_shape[3]
        stem_stride = 2 if min(height, width) >= 64 else 1
        layers = [*conv_bn(channels, 16, 3, stem_stride), nn.ReLU6(inplace=True)]
        cin = 16
        for expand, cout, repeats, stride in SETTINGS:
            for index in range(repeats):
                layers.append(InvertedResidual(cin, cout, stride if index == 0 else 1, expand))
                cin = cout
        layers += [*conv_bn(cin, LAST_CHANNELS, 1), nn.ReLU6(inplace=True), nn.AdaptiveAvgPool2d(1)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(prm["dropout"]), nn.Linear(LAST_CHANNELS, out_shape[0])
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

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
        return self.classifier(torch.flatten(self.features(x), 1))  # (B, 1280) -> (B, classes)
