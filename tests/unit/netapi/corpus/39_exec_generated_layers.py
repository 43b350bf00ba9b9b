# expect-outcome: forbidden_code
# expect-rules: forbidden-call
# task: img-classification
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        widths = [in_shape[1], 32, 64, 128]
        for i in range(3):
            exec(f'self.conv{i} = nn.Conv2d({widths[i]}, {widths[i + 1]}, 3, padding=1)')
            exec(f'self.bn{i} = nn.BatchNorm2d({widths[i + 1]})')
        self.fc = nn.Linear(128, out_shape[0])

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
        for i in range(3):
            conv, bn = getattr(self, f'conv{i}'), getattr(self, f'bn{i}')
            x = nn.functional.max_pool2d(torch.relu(bn(conv(x))), 2)
        return self.fc(nn.functional.adaptive_avg_pool2d(x, 1).flatten(1))
