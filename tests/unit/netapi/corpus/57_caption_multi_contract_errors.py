# expect-outcome: shape_mismatch
# expect-rules: batch-as-channels
# task: img-captioning
# expect-warnings: criterion-for-criteria, unread-hyperparameter
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.vocab_size = out_shape[0]
        self.encoder = nn.Sequential(
            nn.Conv2d(in_shape[0], 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 512),
        )
        self.embed = nn.Embedding(self.vocab_size, 512, padding_idx=0)
        self.lstm = nn.LSTM(512, 512, batch_first=True)
        self.fc = nn.Linear(512, self.vocab_size)

    def train_setup(self, prm):
        self.to(self.device)
        self.criterion = nn.CrossEntropyLoss(ignore_index=0).to(self.device)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for images, captions in train_data:
            images, captions = images.to(self.device), captions.to(self.device)
            logits, _ = self(images, captions)
            loss = self.criterion(logits.reshape(-1, self.vocab_size),
                                  captions[:, 0, 1:].reshape(-1))
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()

    def forward(self, images, captions=None):
        feats = self.encoder(images).unsqueeze(1)
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
