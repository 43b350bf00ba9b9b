# expect-outcome: api_noncompliance
# expect-rules: bad-signature
# task: img-captioning
import torch
import torch.nn as nn

PAD, SOS, EOS = 0, 1, 2


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.vocab_size = out_shape[0]
        self.encoder = nn.Sequential(
            nn.Conv2d(in_shape[1], 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 512),
        )
        self.embed = nn.Embedding(self.vocab_size, 512, padding_idx=PAD)
        self.gru = nn.GRU(512, 512, batch_first=True)
        self.fc = nn.Linear(512, self.vocab_size)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(ignore_index=PAD).to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        self.train()
        for images, captions in train_data:
            images, captions = images.to(self.device), captions.to(self.device)
            logits, _ = self(images, captions)
            loss = self.criteria[0](logits.reshape(-1, self.vocab_size),
                                    captions[:, 0, 1:].reshape(-1))
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()

    def forward(self, images, captions):
        hidden = self.encoder(images).unsqueeze(0)
        tokens = captions[:, 0, :-1]
        out, hidden = self.gru(self.embed(tokens), hidden)
        return self.fc(out), hidden
