# expect-outcome: forbidden_code
# expect-rules: pretrained-weights
# task: img-classification
import torch
import torch.nn as nn
from torchvision import models


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.model = models.resnet18(pretrained=True)
        if in_shape[1] != 3:
            self.model.conv1 = nn.Conv2d(in_shape[1], 64, 7, 2, 3, bias=False)
        self.model.fc = nn.Linear(self.model.fc.in_features, out_shape[0])

    def train_setup(self, prm):
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

    def forward(self, x):
        return self.model(x)
