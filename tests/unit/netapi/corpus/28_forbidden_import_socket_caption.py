# expect-outcome: forbidden_code
# expect-rules: forbidden-import
# task: img-captioning
import json
import socket

import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum'}


def _report(metrics: dict) -> None:
    """Send training progress to the dashboard."""
    with socket.create_connection(('metrics.internal', 9125), timeout=1) as conn:
        conn.sendall(json.dumps(metrics).encode())


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.vocab_size = out_shape[0]
        self.encoder = nn.Sequential(
            nn.Conv2d(in_shape[1], 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 256),
        )
        self.embed = nn.Embedding(self.vocab_size, 256, padding_idx=0)
        self.gru = nn.GRU(256, 256, batch_first=True)
        self.fc = nn.Linear(256, self.vocab_size)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(ignore_index=0).to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for step, (images, captions) in enumerate(train_data):
            images, captions = images.to(self.device), captions.to(self.device)
            logits, _ = self(images, captions)
            loss = self.criteria[0](logits.reshape(-1, self.vocab_size),
                                    captions[:, 0, 1:].reshape(-1))
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            _report({'step': step, 'loss': loss.item()})

    def forward(self, images, captions=None):
        h = self.encoder(images).unsqueeze(0)
        if captions is not None:
            out, h = self.gru(self.embed(captions[:, 0, :-1]), h)
            return self.fc(out), h
        token = torch.ones(images.size(0), 1, dtype=torch.long, device=images.device)
        ids = []
        for _ in range(20):
            out, h = self.gru(self.embed(token), h)
            token = self.fc(out[:, -1]).argmax(-1, keepdim=True)
            ids.append(token)
        return torch.cat(ids, dim=1)
