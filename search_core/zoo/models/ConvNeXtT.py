"""ConvNeXt family (Liu et al., 2022), scaled down from ConvNeXt-T.

A patchify stem, 7x7 depthwise blocks with LayerNorm, an inverted MLP and layer scale.
"""

import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {"lr", "momentum", "weight_decay"}


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, H, W) map."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Block(nn.Module):
    """Depthwise 7x7, LayerNorm, pointwise MLP (4x, GELU), layer scale, residual."""

    def __init__(self, dim: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (B, H, W, C): the MLP runs channels-last
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


DIMS = (32, 64, 128, 192)  # ConvNeXt-T: (96, 192, 384, 768)
DEPTHS = (1, 1, 3, 1)  # ConvNeXt-T: (3, 3, 9, 3)


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        channels, side = in_shape[1], min(in_shape[2], in_shape[3])
        # ConvNeXt patchifies with 4x4; small images get a smaller patch so that three
        # further 2x downsamplings still leave at least one cell.
        patch = 4 if side >= 64 else 2 if side >= 24 else 1
        self.downsample = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(channels, DIMS[0], patch, stride=patch), LayerNorm2d(DIMS[0]))]
        )
        for cin, cout in itertools.pairwise(DIMS):
            self.downsample.append(
                nn.Sequential(LayerNorm2d(cin), nn.Conv2d(cin, cout, 2, stride=2))
            )
        # Layer scale starts at 0.1 (1e-6 in the paper) so that short training uses the blocks.
        self.stages = nn.ModuleList(
            [
                nn.Sequential(*[Block(dim, 0.1) for _ in range(depth)])
                for dim, depth in zip(DIMS, DEPTHS, strict=True)
            ]
        )
        self.norm = nn.LayerNorm(DIMS[-1])
        self.head = nn.Linear(DIMS[-1], out_shape[0])
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def train_setup(self, prm: dict):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(label_smoothing=0.1).to(self.device),)
        self.optimizer = torch.optim.AdamW(
            self.parameters(),
            lr=prm["lr"] * 0.1,  # AdamW wants a tenth of SGD's rate
            betas=(prm["momentum"], 0.999),
            weight_decay=prm["weight_decay"],
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
        for downsample, stage in zip(self.downsample, self.stages, strict=True):
            x = stage(downsample(x))  # (B, DIMS[i], H / (patch * 2^i), W / (patch * 2^i))
        return self.head(self.norm(x.mean(dim=(2, 3))))
