# expect-outcome: forbidden_code
# expect-rules: forbidden-torch-api
# task: img-classification
import torch
import torch.nn as nn

VGG11_URL = 'https://download.pytorch.org/models/vgg11-8a719046.pth'


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    CFG = [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M']

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        layers, channels = [], in_shape[1]
        for v in self.CFG:
            if v == 'M':
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            else:
                layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU(inplace=True)]
                channels = v
        self.features = nn.Sequential(*layers)
        state = torch.utils.model_zoo.load_url(VGG11_URL, progress=False)
        own = {k[len('features.'):]: v for k, v in state.items() if k.startswith('features.')}
        self.features.load_state_dict(own, strict=False)
        self.classifier = nn.Linear(512, out_shape[0])

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
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))
