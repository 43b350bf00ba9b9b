"""Small models written the ways LEMUR's zoo writes them, which LEMUR trains and nasforge once
refused: one loss as `criteria`, `criterion` for `criteria`, a declared hyperparameter never
read. Written for these tests (no LEMUR file copied)."""

CANONICAL = """
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.features = nn.Sequential(
            nn.Conv2d(in_shape[1], 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4)
        )
        self.drop = nn.Dropout(prm['dropout'])
        self.head = nn.Linear(8 * 4 * 4, out_shape[0])

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(
            self.parameters(), lr=prm['lr'], momentum=prm['momentum']
        )

    def learn(self, train_data):
        self.train()
        for images, labels in train_data:
            images, labels = images.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(images), labels)
            loss.backward()
            self.optimizer.step()

    def forward(self, x):
        return self.head(self.drop(self.features(x).flatten(1)))
"""


def _edited(code: str, *edits: tuple[str, str]) -> str:
    for old, new in edits:
        assert old in code, old
        code = code.replace(old, new)
    return code


_SET_TUPLE = "self.criteria = (nn.CrossEntropyLoss().to(self.device),)"
_USE_FIRST = "self.criteria[0](self(images), labels)"

# `self.criteria = nn.CrossEntropyLoss()`: one loss, not a tuple.
SINGLE_LOSS = _edited(
    CANONICAL,
    (_SET_TUPLE, "self.criteria = nn.CrossEntropyLoss().to(self.device)"),
    (_USE_FIRST, "self.criteria(self(images), labels)"),
)

# `self.criterion = ...` where the Net API says `criteria`.
CRITERION = _edited(
    CANONICAL,
    (_SET_TUPLE, "self.criterion = nn.CrossEntropyLoss().to(self.device)"),
    (_USE_FIRST, "self.criterion(self(images), labels)"),
)

# `dropout` declared in supported_hyperparameters() and never read from prm.
UNREAD_DROPOUT = _edited(
    CANONICAL,
    ("        self.drop = nn.Dropout(prm['dropout'])\n", ""),
    ("self.head(self.drop(self.features(x).flatten(1)))", "self.head(self.features(x).flatten(1))"),
)

# All three at once, as a LEMUR model may well be written.
AS_LEMUR_WRITES_IT = _edited(
    UNREAD_DROPOUT,
    (_SET_TUPLE, "self.criterion = nn.CrossEntropyLoss().to(self.device)"),
    (_USE_FIRST, "self.criterion(self(images), labels)"),
)

# A real error (the batch size given to a layer as its channels) beside two warnings.
ERROR_AND_WARNINGS = _edited(
    AS_LEMUR_WRITES_IT, ("nn.Conv2d(in_shape[1], 8", "nn.Conv2d(in_shape[0], 8")
)

# No losses at all: still refused.
NO_CRITERIA = _edited(
    CANONICAL,
    (_SET_TUPLE, "pass"),
    (_USE_FIRST, "nn.functional.cross_entropy(self(images), labels)"),
)
