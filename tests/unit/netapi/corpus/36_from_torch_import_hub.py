# expect-outcome: forbidden_code
# expect-rules: forbidden-import, forbidden-torch-api
# task: img-classification
import torch
from torch import hub, nn


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.backbone = hub.load('facebookresearch/deit:main', 'deit_tiny_patch16_224',
                                 pretrained=True)
        self.backbone.head = nn.Linear(self.backbone.head.in_features, out_shape[0])
        self.resize = nn.Upsample(size=(224, 224), mode='bilinear', align_corners=False)
        self.adapter = nn.Conv2d(in_shape[1], 3, 1)

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
        return self.backbone(self.resize(self.adapter(x)))
