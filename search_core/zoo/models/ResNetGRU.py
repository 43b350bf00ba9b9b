"""Captioning baseline: a small ResNet encoder and a GRU decoder started from the image."""

import torch
import torch.nn as nn

PAD, SOS, EOS = 0, 1, 2


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, 1, 1, bias=False),
            nn.BatchNorm2d(planes),
        )
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNetEncoder(nn.Module):
    """Images -> one feature vector per image from a three-stage ResNet."""

    def __init__(self, in_channels: int, side: int, feature_size: int) -> None:
        super().__init__()
        stem_stride = 2 if side >= 64 else 1
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            BasicBlock(32, 32),
            BasicBlock(32, 64, 2),
            BasicBlock(64, 128, 2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.project = nn.Linear(128, feature_size)

    def forward(self, images):
        return self.project(self.body(images))  # (B, feature_size)


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        self.vocab_size = out_shape[0]
        self.max_len = 20
        embed_size, hidden_size = 128, 256
        self.encoder = ResNetEncoder(in_shape[1], min(in_shape[2], in_shape[3]), hidden_size)
        self.init_h = nn.Linear(hidden_size, hidden_size)
        self.embedding = nn.Embedding(self.vocab_size, embed_size, padding_idx=PAD)
        self.dropout = nn.Dropout(prm["dropout"])
        self.gru = nn.GRU(embed_size, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, self.vocab_size)

    def train_setup(self, prm: dict):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(ignore_index=PAD).to(self.device),)
        self.optimizer = torch.optim.Adam(
            self.parameters(), lr=prm["lr"] * 0.1, betas=(prm["momentum"], 0.999)
        )

    def learn(self, train_data):
        self.train()
        for images, captions in train_data:
            images, captions = images.to(self.device), captions.to(self.device).long()
            if captions.dim() == 2:
                captions = captions.unsqueeze(1)
            logits, _ = self(images, captions)
            targets = captions[:, 0, 1:]
            loss = self.criteria[0](logits.reshape(-1, self.vocab_size), targets.reshape(-1))
            self.optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()

    def _initial_state(self, images):
        features = self.encoder(images)
        return torch.tanh(self.init_h(features)).unsqueeze(0)  # (1, B, hidden)

    def _step(self, tokens, state):
        out, state = self.gru(self.dropout(self.embedding(tokens)), state)
        return self.fc(self.dropout(out)), state  # (B, T, V)

    def forward(self, images, captions=None):
        state = self._initial_state(images)
        if captions is not None:
            if captions.dim() == 2:
                captions = captions.unsqueeze(1)
            return self._step(captions[:, 0, :-1], state)  # teacher forcing: (B, T-1, V), h
        batch = images.size(0)
        token = torch.full((batch, 1), SOS, dtype=torch.long, device=images.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=images.device)
        generated = []
        for _ in range(self.max_len):
            logits, state = self._step(token, state)
            token = (
                logits[:, -1].argmax(dim=-1, keepdim=True).masked_fill(finished.unsqueeze(1), PAD)
            )
            generated.append(token)
            finished |= token.squeeze(1) == EOS
            if bool(finished.all()):
                break
        return torch.cat(generated, dim=1)  # (B, T')
