"""MLP-Mixer family (Tolstikhin et al., 2021): patches mixed by MLPs over tokens, then channels."""

import torch
import torch.nn as nn


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class MlpBlock(nn.Sequential):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )


class MixerBlock(nn.Module):
    """Token mixing (an MLP over the patches of each channel), then channel mixing."""

    def __init__(
        self, tokens: int, dim: int, token_hidden: int, channel_hidden: int, dropout: float
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mlp = MlpBlock(tokens, token_hidden, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.channel_mlp = MlpBlock(dim, channel_hidden, dropout)

    def forward(self, x):  # (B, N, D)
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm2(x))


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        channels, height, width = in_shape[1], in_shape[2], in_shape[3]
        patch = max(1, (min(height, width) + 4) // 8)  # about an 8x8 grid of patches at any size
        tokens = (height // patch) * (width // patch)
        dim, depth = 128, 6  # Mixer-S/16: 512, 8
        dropout = prm["dropout"] * 0.5  # [0, 1] -> [0, 0.5]
        self.stem = nn.Conv2d(channels, dim, patch, stride=patch)
        self.blocks = nn.Sequential(
            *[MixerBlock(tokens, dim, 64, 256, dropout) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_shape[0])

    def train_setup(self, prm: dict):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(label_smoothing=0.1).to(self.device),)
        self.optimizer = torch.optim.AdamW(
            self.parameters(),
            lr=prm["lr"] * 0.1,  # AdamW wants a tenth of SGD's rate
            betas=(prm["momentum"], 0.999),
            weight_decay=0.05,
        )

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 1.0)
            self.optimizer.step()

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2)  # (B, N, D)
        x = self.norm(self.blocks(x))
        return self.head(x.mean(dim=1))
