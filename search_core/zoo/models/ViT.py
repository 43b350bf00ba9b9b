"""Vision Transformer family (Dosovitskiy et al., 2021): a small ViT.

Patch embeddings and a class token through pre-norm Transformer encoder blocks.
"""

import torch
import torch.nn as nn


def supported_hyperparameters():
    return {"lr", "momentum", "dropout"}


class EncoderBlock(nn.Module):
    """Pre-norm multi-head self-attention and MLP, each with a residual connection."""

    def __init__(self, dim: int, heads: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x):  # (B, N + 1, D)
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        channels, height, width = in_shape[1], in_shape[2], in_shape[3]
        patch = max(1, (min(height, width) + 4) // 8)  # about an 8x8 grid of patches at any size
        tokens = (height // patch) * (width // patch)
        dim, depth, heads = 128, 4, 4  # ViT-Ti: 192, 12, 3
        dropout = prm["dropout"] * 0.5  # [0, 1] -> [0, 0.5]
        self.patch_embed = nn.Conv2d(channels, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens + 1, dim))
        self.pos_drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(
            *[EncoderBlock(dim, heads, 2 * dim, dropout) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_shape[0])
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

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
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # (B, N, D)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = self.pos_drop(torch.cat((cls, x), dim=1) + self.pos_embed)  # (B, N + 1, D)
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])
