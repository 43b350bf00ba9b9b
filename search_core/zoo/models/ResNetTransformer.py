"""Captioning baseline: a small ResNet encoder whose feature map a Transformer decoder attends."""

import math

import torch
import torch.nn as nn

PAD, SOS, EOS = 0, 1, 2


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


def sinusoids(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """(1, length, dim) sinusoidal positions; they need no fixed length."""
    position = torch.arange(length, device=device).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, dim, 2, device=device) * (-math.log(10000.0) / dim))
    table = torch.zeros(1, length, dim, device=device)
    table[0, :, 0::2] = torch.sin(position * div_term)
    table[0, :, 1::2] = torch.cos(position * div_term)
    return table


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
    """Images -> a sequence of d_model vectors, one per cell of a three-stage ResNet's map."""

    def __init__(self, in_channels: int, side: int, d_model: int) -> None:
        super().__init__()
        stem_stride = 2 if side >= 64 else 1
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            BasicBlock(32, 32),
            BasicBlock(32, 64, 2),
            BasicBlock(64, 128, 2),
            nn.AdaptiveAvgPool2d(4),  # at most 16 memory cells whatever the image size
        )
        self.project = nn.Linear(128, d_model)

    def forward(self, images):
        cells = self.body(images).flatten(2).transpose(1, 2)  # (B, 16, 128)
        return self.project(cells)  # (B, 16, d_model)


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        self.vocab_size = out_shape[0]
        self.max_len = 20
        self.d_model = 128
        self.encoder = ResNetEncoder(in_shape[1], min(in_shape[2], in_shape[3]), self.d_model)
        self.embedding = nn.Embedding(self.vocab_size, self.d_model, padding_idx=PAD)
        layer = nn.TransformerDecoderLayer(
            self.d_model, nhead=4, dim_feedforward=512, dropout=prm["dropout"], batch_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, num_layers=2)
        self.fc = nn.Linear(self.d_model, self.vocab_size)

    def train_setup(self, prm: dict):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(ignore_index=PAD).to(self.device),)
        self.optimizer = torch.optim.AdamW(
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
            nn.utils.clip_grad_norm_(self.parameters(), 1.0)
            self.optimizer.step()

    def _memory(self, images):
        memory = self.encoder(images)
        return memory + sinusoids(memory.size(1), self.d_model, memory.device)

    def _decode(self, tokens, memory):
        length = tokens.size(1)
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=tokens.device), 1)
        target = self.embedding(tokens) * math.sqrt(self.d_model)
        target = target + sinusoids(length, self.d_model, tokens.device)
        out = self.decoder(target, memory, tgt_mask=causal, tgt_key_padding_mask=tokens == PAD)
        return self.fc(out)  # (B, T, V)

    def forward(self, images, captions=None):
        memory = self._memory(images)
        if captions is not None:
            if captions.dim() == 2:
                captions = captions.unsqueeze(1)
            return self._decode(captions[:, 0, :-1], memory), memory  # (B, T-1, V), memory
        batch = images.size(0)
        sequence = torch.full((batch, 1), SOS, dtype=torch.long, device=images.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=images.device)
        for _ in range(self.max_len):
            token = self._decode(sequence, memory)[:, -1].argmax(dim=-1).masked_fill(finished, PAD)
            sequence = torch.cat([sequence, token.unsqueeze(1)], dim=1)
            finished |= token == EOS
            if bool(finished.all()):
                break
        return sequence[:, 1:]  # (B, T'): the tokens after <SOS>
