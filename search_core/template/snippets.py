"""Source text of the helper functions, attention and stem classes of rendered Net modules.

Each piece is valid Python on its own; render.py picks the ones a genome needs, in a fixed
order, and fills the few `{...}` fields (str.format).
"""

NORM = {
    "batch": '''
def norm2d(channels: int) -> nn.Module:
    """Batch normalization."""
    return nn.BatchNorm2d(channels)
''',
    "group": '''
def norm2d(channels: int) -> nn.Module:
    """Group normalization with up to 8 groups (a divisor of the channel count)."""
    return nn.GroupNorm(math.gcd(8, channels), channels)
''',
    "layer": '''
def norm2d(channels: int) -> nn.Module:
    """Layer normalization over (C, H, W): group normalization with a single group."""
    return nn.GroupNorm(1, channels)
''',
    "instance": '''
def norm2d(channels: int) -> nn.Module:
    """Instance normalization with a learnable affine transform."""
    return nn.InstanceNorm2d(channels, affine=True)
''',
    "none": '''
def norm2d(channels: int) -> nn.Module:
    """Normalization-free: no normalization layer (the convolutions carry biases)."""
    return nn.Identity()
''',
}

ACTIVATION = '''
def activation() -> nn.Module:
    """The network's nonlinearity."""
    return nn.{cls}()
'''

CONV = '''
def conv(
    in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1
) -> nn.Conv2d:
    """A 'same'-padded convolution (the output side is the input side / stride, rounded up)."""
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel,
        stride=stride,
        padding=kernel // 2,
        groups=groups,
        bias={bias},
    )


def conv_norm_act(
    in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    return nn.Sequential(
        conv(in_channels, out_channels, kernel, stride, groups), norm2d(out_channels), activation()
    )
'''

SHORTCUT = '''
def shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Identity when shapes match, else a strided 1 x 1 projection."""
    if in_channels == out_channels and stride == 1:
        return nn.Identity()
    return nn.Sequential(conv(in_channels, out_channels, 1, stride), norm2d(out_channels))
'''

DROP_PATH = '''
def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: while training, drop a residual branch for whole samples."""
    if not training or rate == 0.0:
        return x
    keep = (torch.rand(x.shape[0], 1, 1, 1, device=x.device) >= rate).to(x.dtype)
    return x * keep / (1.0 - rate)
'''

GLOBAL_POOL = {
    "avg": '''
def global_pool(x: torch.Tensor) -> torch.Tensor:
    """Global average pooling: [B, C, H, W] -> [B, C]."""
    return x.mean(dim=(2, 3))
''',
    "avg_max": '''
def global_pool(x: torch.Tensor) -> torch.Tensor:
    """Global average and max pooling, concatenated: [B, C, H, W] -> [B, 2C]."""
    return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
''',
}
GLOBAL_POOL["avg_mlp"] = GLOBAL_POOL["avg"]

# attention value -> (class source or "", factory body)
ATTENTION = {
    "none": ("", "nn.Identity()"),
    "se": (
        '''
class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: gate each channel by a function of all channels' means."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)  # gate: [B, C, 1, 1]
''',
        "SqueezeExcite(channels)",
    ),
    "eca": (
        '''
class EfficientChannelAttention(nn.Module):
    """ECA: a 1-D convolution across channel means gives each channel's gate."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        t = int(abs((math.log2(channels) + 1) / 2))
        kernel = t if t % 2 else t + 1
        self.conv = nn.Conv1d(1, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(dim=(2, 3)).unsqueeze(1)  # [B, 1, C]
        gate = torch.sigmoid(self.conv(y)).view(x.shape[0], -1, 1, 1)  # [B, C, 1, 1]
        return x * gate
''',
        "EfficientChannelAttention(channels)",
    ),
    "cbam": (
        '''
class ChannelSpatialAttention(nn.Module):
    """CBAM: a channel gate from average- and max-pooled features, then a spatial gate."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1)
        )
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        average = self.mlp(x.mean(dim=(2, 3), keepdim=True))  # [B, C, 1, 1]
        maximum = self.mlp(x.amax(dim=(2, 3), keepdim=True))  # [B, C, 1, 1]
        x = x * torch.sigmoid(average + maximum)
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))  # pooled: [B, 2, H, W]
''',
        "ChannelSpatialAttention(channels)",
    ),
    "spatial": (
        '''
class SpatialAttention(nn.Module):
    """Spatial attention (CBAM's spatial half): gate each position by its channel statistics."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))  # pooled: [B, 2, H, W]
''',
        "SpatialAttention(channels)",
    ),
}

RECALIBRATION = '''
def recalibration(channels: int) -> nn.Module:
    """{doc}"""
    return {factory}
'''

# branch_scale value -> (class source or "", factory body)
BRANCH_SCALE = {
    "none": ("", "nn.Identity()"),
    "layerscale": (
        '''
class LayerScale(nn.Module):
    """A learnable per-channel scale on a residual branch, started small (CaiT, ConvNeXt)."""

    def __init__(self, channels: int, init: float = 0.1) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((1, channels, 1, 1), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma
''',
        "LayerScale(channels)",
    ),
    "rezero": (
        '''
class ReZero(nn.Module):
    """A learnable scalar gate on a residual branch, started at zero (ReZero)."""

    def __init__(self) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.alpha
''',
        "ReZero()",
    ),
}

BRANCH_SCALE_FACTORY = '''
def branch_scale(channels: int) -> nn.Module:
    """{doc}"""
    return {factory}
'''

COORD_STEM = '''
class CoordStem(nn.Module):
    """CoordConv stem: append y and x coordinate channels in [-1, 1], then a 3 x 3 convolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = conv_norm_act(in_channels + 2, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
        ys = ys.view(1, 1, h, 1).expand(b, 1, h, w)
        xs = xs.view(1, 1, 1, w).expand(b, 1, h, w)
        return self.body(torch.cat([x, ys, xs], dim=1))  # [B, C + 2, H, W] in
'''
