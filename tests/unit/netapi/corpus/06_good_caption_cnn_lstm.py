# expect-outcome: success
# expect-rules: none
# task: img-captioning
import torch
import torch.nn as nn

PAD, SOS, EOS = 0, 1, 2


def supported_hyperparameters():
    return {'lr', 'momentum'}


class EncoderCNN(nn.Module):
    def __init__(self, in_channels: int, embed_size: int) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            )

        self.features = nn.Sequential(block(in_channels, 64), block(64, 128), block(128, 256))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.project = nn.Linear(256, embed_size)

    def forward(self, images):
        x = self.pool(self.features(images)).flatten(1)
        return self.project(x)


class DecoderLSTM(nn.Module):
    def __init__(self, embed_size: int, hidden_size: int, vocab_size: int, num_layers: int = 1):
        super().__init__()
        self.num_layers = num_layers
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=PAD)
        self.init_h = nn.Linear(embed_size, hidden_size)
        self.init_c = nn.Linear(embed_size, hidden_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def init_state(self, features):
        h = torch.tanh(self.init_h(features)).unsqueeze(0).repeat(self.num_layers, 1, 1)
        c = torch.tanh(self.init_c(features)).unsqueeze(0).repeat(self.num_layers, 1, 1)
        return h.contiguous(), c.contiguous()

    def forward(self, tokens, state):
        out, state = self.lstm(self.embed(tokens), state)
        return self.fc(out), state


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        self.vocab_size = out_shape[0]
        self.max_len = 20
        embed_size, hidden_size = 256, 512
        self.encoder = EncoderCNN(in_shape[1], embed_size)
        self.decoder = DecoderLSTM(embed_size, hidden_size, self.vocab_size)

    def train_setup(self, prm: dict):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss(ignore_index=PAD).to(self.device),)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=prm['lr'],
                                          betas=(prm['momentum'], 0.999))

    def learn(self, train_data):
        self.train()
        for images, captions in train_data:
            images = images.to(self.device)
            captions = captions.to(self.device).long()
            if captions.dim() == 2:
                captions = captions.unsqueeze(1)
            targets = captions[:, 0, 1:]
            logits, _ = self(images, captions)
            loss = self.criteria[0](logits.reshape(-1, self.vocab_size), targets.reshape(-1))
            self.optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()

    def forward(self, images, captions=None):
        features = self.encoder(images)
        state = self.decoder.init_state(features)
        if captions is not None:
            if captions.dim() == 2:
                captions = captions.unsqueeze(1)
            tokens = captions[:, 0, :-1]  # teacher forcing on the first reference caption
            logits, hidden = self.decoder(tokens, state)
            return logits, hidden
        return self._greedy(state, images.size(0), images.device)

    def _greedy(self, state, batch_size: int, device: torch.device):
        token = torch.full((batch_size, 1), SOS, dtype=torch.long, device=device)
        finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
        generated = []
        for _ in range(self.max_len):
            logits, state = self.decoder(token, state)
            token = logits[:, -1].argmax(dim=-1, keepdim=True)
            token = token.masked_fill(finished.unsqueeze(1), PAD)
            generated.append(token)
            finished |= token.squeeze(1) == EOS
            if bool(finished.all()):
                break
        return torch.cat(generated, dim=1)
