# expect-outcome: api_noncompliance
# expect-rules: net-not-module
# task: img-classification
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net:
    """Wraps an nn.Sequential instead of being an nn.Module itself."""

    def __init__(self, in_shape, out_shape, prm, device):
        self.device = device
        self.model = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
            nn.Flatten(), nn.Linear(64, out_shape[0]),
        ).to(device)

    def train_setup(self, prm):
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=prm['lr'],
                                         momentum=prm['momentum'])

    def learn(self, train_data):
        self.model.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self.model(inputs), labels)
            loss.backward()
            self.optimizer.step()

    def forward(self, x):
        return self.model(x)

    __call__ = forward
