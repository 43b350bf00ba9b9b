# expect-outcome: forbidden_code
# expect-rules: pretrained-weights
# task: img-captioning
import torch
import torch.nn as nn
import torchvision


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.vocab_size = out_shape[0]
        resnet = torchvision.models.resnet50(weights=torchvision.models.ResNet50_Weights.DEFAULT)
        for p in resnet.parameters():
            p.requires_grad_(False)
        self.encoder = nn.Sequential(*list(resnet.children())[:-1], nn.Flatten())
        self.project = nn.Linear(resnet.fc.in_features, 512)
        self.embed = nn.Embedding(self.vocab_size, 512, padding_idx=0)
        self.lstm = nn.LSTM(512, 512, batch_first=True)
        self.fc = nn.Linear(512, self.vocab_size)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(ignore_index=0).to(self.device),)
        params = [p for p in self.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(params, lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for images, captions in train_data:
            images, captions = images.to(self.device), captions.to(self.device)
            logits, _ = self(images, captions)
            loss = self.criteria[0](logits.reshape(-1, self.vocab_size),
                                    captions[:, 0, 1:].reshape(-1))
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()

    def forward(self, images, captions=None):
        feats = self.project(self.encoder(images)).unsqueeze(1)
        _, state = self.lstm(feats)
        if captions is not None:
            out, state = self.lstm(self.embed(captions[:, 0, :-1]), state)
            return self.fc(out), state
        token = torch.full((images.size(0), 1), 1, dtype=torch.long, device=images.device)
        ids = []
        for _ in range(20):
            out, state = self.lstm(self.embed(token), state)
            token = self.fc(out[:, -1]).argmax(-1, keepdim=True)
            ids.append(token)
        return torch.cat(ids, dim=1)
