# expect-outcome: forbidden_code
# expect-rules: forbidden-import
# task: img-classification
import numpy as np
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.conv = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        flat = 64 * int(np.prod([s // 4 for s in in_shape[2:]]))
        self.fc = nn.Linear(flat, out_shape[0])

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            # mixup with a Beta(0.2, 0.2) coefficient
            lam = float(np.random.beta(0.2, 0.2))
            perm = torch.randperm(inputs.size(0))
            inputs = lam * inputs + (1 - lam) * inputs[perm]
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            out = self(inputs)
            loss = lam * self.criteria[0](out, labels) + (1 - lam) * self.criteria[0](out, labels[perm.to(self.device)])
            loss.backward()
            self.optimizer.step()

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))
