# expect-outcome: forbidden_code
# expect-rules: forbidden-import, unknown-module, undeclared-hyperparameter, batch-as-channels, missing-optimizer
# task: img-classification
import os

import torch
import torch.nn as nn
from torchsummary import summary


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.log_dir = os.path.join(os.getcwd(), 'runs')
        self.features = nn.Sequential(
            nn.Conv2d(in_shape[0], 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
            nn.Flatten(), nn.Dropout(prm['dropout']),
        )
        self.fc = nn.Linear(64, out_shape[0])
        summary(self, tuple(in_shape[1:]))

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.opt = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.opt.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            self.opt.step()

    def forward(self, x):
        return self.fc(self.features(x))
