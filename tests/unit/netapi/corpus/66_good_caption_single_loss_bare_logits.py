# expect-outcome: success
# expect-rules: none
# task: img-captioning
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr'}


class Net(nn.Module):
    """One loss as criteria and bare logits from teacher forcing: LEMUR trains both."""

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.vocab_size = out_shape[0]
        self.encoder = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 64),
        )
        self.embed = nn.Embedding(self.vocab_size, 64, padding_idx=0)
        self.gru = nn.GRU(64, 64, batch_first=True)
        self.out = nn.Linear(64, self.vocab_size)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = nn.CrossEntropyLoss(ignore_index=0).to(self.device)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=prm['lr'])

    def learn(self, train_data):
        self.train()
        for images, captions in train_data:
            images, captions = images.to(self.device), captions.to(self.device)
            logits = self(images, captions)  # [B, T-1, V]
            loss = self.criteria(logits.reshape(-1, self.vocab_size),
                                 captions[:, 0, 1:].reshape(-1))
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()

    def forward(self, images, captions=None):
        hidden = self.encoder(images).unsqueeze(0)  # [1, B, 64]
        if captions is not None:
            steps, _ = self.gru(self.embed(captions[:, 0, :-1]), hidden)
            return self.out(steps)  # bare logits [B, T-1, V], no hidden state
        token = torch.full((images.shape[0], 1), 1, dtype=torch.long, device=images.device)
        tokens = []
        for _ in range(12):
            step, hidden = self.gru(self.embed(token), hidden)
            token = self.out(step).argmax(-1)  # [B, 1]
            tokens.append(token)
        return torch.cat(tokens, 1)  # [B, 12]
