# expect-outcome: api_noncompliance
# expect-rules: missing-criteria
# task: img-classification
import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {'lr'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.body = nn.Sequential(
            nn.Conv2d(in_shape[1], 16, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, out_shape[0]),
        )

    def train_setup(self, prm):
        self.to(self.device)
        self.loss_fn = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.Adam(self.parameters(), lr=prm['lr'])

    def learn(self, train_data):
        for images, labels in train_data:
            self.optimizer.zero_grad()
            F.cross_entropy(self(images.to(self.device)), labels.to(self.device)).backward()
            self.optimizer.step()

    def forward(self, x):
        return self.body(x)
