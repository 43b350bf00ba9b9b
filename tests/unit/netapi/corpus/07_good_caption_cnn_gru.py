# expect-outcome: success
# expect-rules: none
# task: img-captioning
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD_IDX = 0
SOS_IDX = 1
EOS_IDX = 2


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    """ResNet-ish encoder; the image feature is fed as the GRU's first input step."""

    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        self.vocab_size = out_shape[0]
        self.hidden_size = 512
        self.embed_size = 300
        self.max_len = 16
        channels = in_shape[1]
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(128, self.embed_size),
        )
        self.embedding = nn.Embedding(self.vocab_size, self.embed_size, padding_idx=PAD_IDX)
        self.dropout = nn.Dropout(prm['dropout'])
        self.gru = nn.GRU(self.embed_size, self.hidden_size, num_layers=2, batch_first=True,
                          dropout=prm['dropout'])
        self.out = nn.Linear(self.hidden_size, self.vocab_size)

    def train_setup(self, prm: dict):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(ignore_index=PAD_IDX).to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'],
                                         momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for images, captions in train_data:
            images, captions = images.to(self.device), captions.to(self.device)
            logits, _ = self.forward(images, captions)
            targets = captions[:, 0, 1:]
            loss = self.criteria[0](logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
            self.optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()

    def forward(self, images, captions: Optional[torch.Tensor] = None):
        feats = self.encoder(images).unsqueeze(1)  # (B, 1, E)
        _, hidden = self.gru(feats)  # prime the GRU with the image
        if captions is not None:
            tokens = captions[:, 0, :-1]
            emb = self.dropout(self.embedding(tokens))
            output, hidden = self.gru(emb, hidden)
            return self.out(output), hidden
        batch = images.shape[0]
        word = torch.full((batch, 1), SOS_IDX, dtype=torch.long, device=images.device)
        ended = torch.zeros(batch, dtype=torch.bool, device=images.device)
        tokens = []
        for _ in range(self.max_len):
            output, hidden = self.gru(self.embedding(word), hidden)
            probs = F.log_softmax(self.out(output[:, -1]), dim=-1)
            word = probs.argmax(dim=-1, keepdim=True)
            word[ended] = PAD_IDX
            tokens.append(word)
            ended = ended | (word.squeeze(1) == EOS_IDX)
            if ended.all():
                break
        return torch.cat(tokens, dim=1)
