# expect-outcome: syntax_error
# expect-rules: syntax
# task: img-classification
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super(Net, self).__init__()
        self.device = device
        self.conv = nn.Conv2d(in_shape[1], 16, 5)
        self.pool = nn.AdaptiveMaxPool2d(4)
        self.fc = nn.Linear(16 * 4 * 4, out_shape[0])

    def train_setup(self, prm):
        self.criteria = (nn.CrossEntropyLoss(),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        for i, (inputs, labels) in enumerate(train_data):
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs.to(self.device)), labels.to(self.device))
            loss.backward()
            self.optimizer.step()
            if i % 100 == 0:
                print "batch %d loss %.4f" % (i, loss.item())

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.conv(x))).view(x.size(0), -1))
