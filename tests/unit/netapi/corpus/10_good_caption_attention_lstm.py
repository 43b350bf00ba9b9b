# expect-outcome: success
# expect-rules: none
# task: img-captioning
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, SOS, EOS = 0, 1, 2


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class SpatialEncoder(nn.Module):
    def __init__(self, in_channels: int, feat_dim: int) -> None:
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(128, feat_dim, 3, padding=1), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((7, 7)),
        )

    def forward(self, images):
        return self.cnn(images).flatten(2).permute(0, 2, 1)  # (B, 49, feat_dim)


class AdditiveAttention(nn.Module):
    def __init__(self, feat_dim: int, hidden_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.feat_proj = nn.Linear(feat_dim, attn_dim)
        self.hidden_proj = nn.Linear(hidden_dim, attn_dim)
        self.score = nn.Linear(attn_dim, 1)

    def forward(self, feats, hidden):
        energy = torch.tanh(self.feat_proj(feats) + self.hidden_proj(hidden).unsqueeze(1))
        alpha = F.softmax(self.score(energy).squeeze(-1), dim=1)
        return (feats * alpha.unsqueeze(-1)).sum(dim=1), alpha


class Net(nn.Module):
    """Show, Attend and Tell with an LSTMCell decoder."""

    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        self.vocab_size = out_shape[0]
        feat_dim, embed_dim, hidden_dim = 256, 256, 512
        self.encoder = SpatialEncoder(in_shape[1], feat_dim)
        self.attention = AdditiveAttention(feat_dim, hidden_dim, 256)
        self.embedding = nn.Embedding(self.vocab_size, embed_dim, padding_idx=PAD)
        self.init_h = nn.Linear(feat_dim, hidden_dim)
        self.init_c = nn.Linear(feat_dim, hidden_dim)
        self.cell = nn.LSTMCell(embed_dim + feat_dim, hidden_dim)
        self.drop = nn.Dropout(prm['dropout'])
        self.fc = nn.Linear(hidden_dim, self.vocab_size)

    def train_setup(self, prm: dict):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(ignore_index=PAD).to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'],
                                         momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for images, captions in train_data:
            images, captions = images.to(self.device), captions.to(self.device)
            logits, _ = self(images, captions)
            loss = self.criteria[0](logits.reshape(-1, self.vocab_size),
                                    captions[:, 0, 1:].reshape(-1))
            self.optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 5.0)
            self.optimizer.step()

    def _step(self, token, feats, state):
        context, _ = self.attention(feats, state[0])
        h, c = self.cell(torch.cat([self.embedding(token), context], dim=-1), state)
        return self.fc(self.drop(h)), (h, c)

    def forward(self, images, captions=None, max_len: int = 20):
        feats = self.encoder(images)
        mean = feats.mean(dim=1)
        state = (torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean)))
        if captions is not None:
            tokens = captions[:, 0, :-1]
            steps = []
            for t in range(tokens.size(1)):
                logits, state = self._step(tokens[:, t], feats, state)
                steps.append(logits)
            return torch.stack(steps, dim=1), state
        token = torch.full((images.size(0),), SOS, dtype=torch.long, device=images.device)
        done = torch.zeros_like(token, dtype=torch.bool)
        out = []
        for _ in range(max_len):
            logits, state = self._step(token, feats, state)
            token = logits.argmax(dim=-1).masked_fill(done, PAD)
            out.append(token)
            done = done | (token == EOS)
            if done.all():
                break
        return torch.stack(out, dim=1)
