# expect-outcome: hallucinated_api
# expect-rules: unknown-module
# task: img-classification
import torch
import torch.nn as nn
from einops import rearrange, repeat
from einops.layers.torch import Rearrange


def supported_hyperparameters():
    return {'lr', 'dropout'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        channels, height, width = in_shape[1:]
        patch, dim = 4, 128
        num_patches = (height // patch) * (width // patch)
        self.to_patch_embedding = nn.Sequential(
            Rearrange('b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1=patch, p2=patch),
            nn.Linear(patch * patch * channels, dim),
        )
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim))
        layer = nn.TransformerEncoderLayer(dim, 4, dim * 2, prm['dropout'], batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, 4)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, out_shape[0]))

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.AdamW(self.parameters(), lr=prm['lr'])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            self.optimizer.step()

    def forward(self, img):
        x = self.to_patch_embedding(img)
        cls_tokens = repeat(self.cls_token, '1 1 d -> b 1 d', b=x.shape[0])
        x = torch.cat((cls_tokens, x), dim=1) + self.pos_embedding[:, : x.shape[1] + 1]
        x = self.transformer(x)
        return self.head(rearrange(x[:, 0], 'b d -> b d'))
