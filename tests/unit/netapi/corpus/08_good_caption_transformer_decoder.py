# expect-outcome: success
# expect-rules: none
# task: img-captioning
import math

import torch
import torch.nn as nn

PAD, SOS, EOS = 0, 1, 2


def supported_hyperparameters():
    return {'lr', 'dropout'}


class PositionalEncoding(nn.Module):
    def __init__(self, d_model: int, max_len: int = 512) -> None:
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(1, max_len, d_model)
        pe[0, :, 0::2] = torch.sin(position * div_term)
        pe[0, :, 1::2] = torch.cos(position * div_term)
        self.register_buffer('pe', pe)

    def forward(self, x):
        return x + self.pe[:, : x.size(1)]


class ConvEncoder(nn.Module):
    """Images -> a sequence of d_model vectors, one per cell of the final feature map."""

    def __init__(self, in_channels: int, d_model: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.GELU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.BatchNorm2d(128), nn.GELU(),
            nn.Conv2d(128, d_model, 3, stride=2, padding=1), nn.BatchNorm2d(d_model), nn.GELU(),
            nn.AdaptiveAvgPool2d((4, 4)),
        )

    def forward(self, images):
        return self.body(images).flatten(2).transpose(1, 2)  # (B, 16, d_model)


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        self.vocab_size = out_shape[0]
        self.d_model = 256
        self.max_len = 20
        self.encoder = ConvEncoder(in_shape[1], self.d_model)
        self.memory_pos = PositionalEncoding(self.d_model, 64)
        self.embedding = nn.Embedding(self.vocab_size, self.d_model, padding_idx=PAD)
        self.token_pos = PositionalEncoding(self.d_model)
        layer = nn.TransformerDecoderLayer(self.d_model, nhead=8, dim_feedforward=1024,
                                           dropout=prm['dropout'], batch_first=True)
        self.decoder = nn.TransformerDecoder(layer, num_layers=3)
        self.fc_out = nn.Linear(self.d_model, self.vocab_size)

    def train_setup(self, prm: dict):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(ignore_index=PAD).to(self.device),)
        self.optimizer = torch.optim.AdamW(self.parameters(), lr=prm['lr'])

    def learn(self, train_data):
        self.train()
        for images, captions in train_data:
            images = images.to(self.device)
            captions = captions.to(self.device)
            logits, _ = self(images, captions)
            targets = captions[:, 0, 1:]
            loss = self.criteria[0](logits.reshape(-1, self.vocab_size), targets.reshape(-1))
            self.optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 1.0)
            self.optimizer.step()

    def _decode(self, tokens, memory):
        length = tokens.size(1)
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=tokens.device), 1)
        tgt = self.token_pos(self.embedding(tokens) * math.sqrt(self.d_model))
        out = self.decoder(tgt, memory, tgt_mask=causal, tgt_key_padding_mask=tokens == PAD)
        return self.fc_out(out)

    def forward(self, images, captions=None):
        memory = self.memory_pos(self.encoder(images))
        if captions is not None:
            tokens = captions[:, 0, :-1]
            return self._decode(tokens, memory), memory
        batch = images.size(0)
        seq = torch.full((batch, 1), SOS, dtype=torch.long, device=images.device)
        done = torch.zeros(batch, dtype=torch.bool, device=images.device)
        for _ in range(self.max_len):
            next_token = self._decode(seq, memory)[:, -1].argmax(-1)
            next_token = next_token.masked_fill(done, PAD)
            seq = torch.cat([seq, next_token.unsqueeze(1)], dim=1)
            done = done | (next_token == EOS)
            if done.all():
                break
        return seq[:, 1:]
