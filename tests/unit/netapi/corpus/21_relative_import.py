# expect-outcome: forbidden_code
# expect-rules: relative-import
# task: img-classification
import torch
import torch.nn as nn

from .blocks import BasicBlock, make_stem


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.stem = make_stem(in_shape[1], 64)
        self.layers = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 128, stride=2),
                                    BasicBlock(128, 256, stride=2))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(256, out_shape[0]))

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
        return self.head(self.layers(self.stem(x)))
