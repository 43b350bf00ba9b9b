# expect-outcome: api_noncompliance
# expect-rules: star-import
# task: img-classification
import torch
from torch.nn import *


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.body = Sequential(
            Conv2d(in_shape[1], 32, 3, padding=1), BatchNorm2d(32), ReLU(), MaxPool2d(2),
            Conv2d(32, 64, 3, padding=1), BatchNorm2d(64), ReLU(), MaxPool2d(2),
            Conv2d(64, 128, 3, padding=1), BatchNorm2d(128), ReLU(), AdaptiveAvgPool2d(1),
            Flatten(), Linear(128, out_shape[0]),
        )

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            self.optimizer.step()

    def forward(self, x):
        return self.body(x)
