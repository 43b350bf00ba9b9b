import torch
import torch.nn as nn


def supported_hyperparameters():
    return {"lr"}


class Block(nn.Module):
    """A residual block: two 3x3 convolutions, a shortcut when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class Net(nn.Module):
    """ResNet-style encoder (a feature per grid cell) + LSTM decoder with teacher forcing."""

    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device, self.vocab, self.hidden = device, out_shape[0], 256
        self.encoder = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, 3, 1, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            Block(32, 64, 2),
            Block(64, 128, 2),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )
        self.init_h = nn.Linear(128 * 4, self.hidden)
        self.init_c = nn.Linear(128 * 4, self.hidden)
        self.embed = nn.Embedding(self.vocab, 128)
        self.lstm = nn.LSTM(128 + 128 * 4, self.hidden, batch_first=True)
        self.out = nn.Linear(self.hidden, self.vocab)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(ignore_index=0),)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=prm["lr"] * 0.01)

    def learn(self, train_data):
        self.train()
        for images, captions in train_data:
            pick = torch.randint(0, captions.shape[1], (captions.shape[0],))
            chosen = captions[torch.arange(captions.shape[0]), pick].unsqueeze(1)
            logits, _ = self(images, chosen)
            loss = self.criteria[0](logits.reshape(-1, self.vocab), chosen[:, 0, 1:].reshape(-1))
            self.optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 5.0)
            self.optimizer.step()

    def _start(self, images):
        features = self.encoder(images)  # [B, 512]
        state = (self.init_h(features).unsqueeze(0), self.init_c(features).unsqueeze(0))
        return features, state

    def forward(self, images, captions=None):
        features, state = self._start(images)
        if captions is not None:
            inputs = captions[:, 0, :-1]  # [B, T-1]
            context = features.unsqueeze(1).expand(-1, inputs.shape[1], -1)
            output, state = self.lstm(torch.cat([self.embed(inputs), context], 2), state)
            return self.out(output), state  # [B, T-1, V]
        token = torch.full((images.shape[0],), 1, dtype=torch.long, device=images.device)
        generated = []
        for _ in range(30):
            step = torch.cat([self.embed(token), features], 1).unsqueeze(1)
            output, state = self.lstm(step, state)
            token = self.out(output[:, 0]).argmax(1)
            generated.append(token)
        return torch.stack(generated, 1)  # [B, 30]
