"""A LEMUR-format database whose models need LEMUR's resolutions and nasforge's policies.

Our own small models in LEMUR's style (Net(in_shape, out_shape, prm, device), train_setup,
learn): an AlexNet-style net whose layers fit only 64x64 images, a wide MLP over a small
parameter budget, a file with a syntax error, a model that downloads pretrained weights,
and a plain CNN. Tables and columns as LEMUR's ab/nn/util/db/Init.py creates them.
"""

import hashlib
import pathlib
import sqlite3

_LEARN = """
    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(
            self.parameters(), lr=prm['lr'], momentum=prm['momentum']
        )

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()
"""

# Strides and pools bring 64x64 down to 1x1 before a classifier sized for it: at 32x32 the
# last pool has nothing left to pool, at 128x128 the classifier gets 3x3 maps.
ALEXNET_64 = (
    """import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.features = nn.Sequential(
            nn.Conv2d(in_shape[1], 16, kernel_size=11, stride=4, padding=2),  # 64 -> 15
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 15 -> 7
            nn.Conv2d(16, 32, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 7 -> 3
            nn.Conv2d(32, 48, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(48, 32, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 3 -> 1
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=prm['dropout']),
            nn.Linear(32, 64),
            nn.ReLU(inplace=True),
            nn.Linear(64, out_shape[0]),
        )

    def forward(self, x):
        x = self.features(x)  # [B, 32, 1, 1] at 64x64
        return self.classifier(torch.flatten(x, 1))
"""
    + _LEARN
)

# 3*32*32*512 + 512*512 + ...: about 1.84M parameters at 32x32.
WIDE_MLP = (
    """import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        features = in_shape[1] * in_shape[2] * in_shape[3]
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(features, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, out_shape[0]),
        )

    def forward(self, x):
        return self.layers(x)
"""
    + _LEARN
)
WIDE_MLP_PARAMETERS = 3 * 32 * 32 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10

SMALL_CNN = (
    """import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.body = nn.Sequential(
            nn.Conv2d(in_shape[1], 8, kernel_size=3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(8, out_shape[0])

    def forward(self, x):
        return self.head(torch.flatten(self.body(x), 1))
"""
    + _LEARN
)

SYNTAX_ERROR = """import torch.nn as nn


class Net(nn.Module)
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
"""

PRETRAINED = (
    """import torch
import torch.nn as nn
import torchvision


def supported_hyperparameters():
    return {'lr', 'momentum'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.backbone = torchvision.models.resnet18(pretrained=True)
        self.backbone.fc = nn.Linear(512, out_shape[0])

    def forward(self, x):
        return self.backbone(x)
"""
    + _LEARN
)

MODELS = {
    "AlexNet64": ALEXNET_64,
    "AlexNet64At32": ALEXNET_64,  # the same code, trained by LEMUR at norm_32: fails there
    "WideMLP": WIDE_MLP,
    "SmallCNN": SMALL_CNN,
    "Broken": SYNTAX_ERROR,
    "Pretrained": PRETRAINED,
}

# (nn, task, dataset, transform, accuracy, epoch): the best trial decides the transform.
TRIALS = [
    ("AlexNet64", "img-classification", "cifar-10", "norm_128", 0.41, 1),
    ("AlexNet64", "img-classification", "cifar-10", "norm_64", 0.62, 5),
    ("AlexNet64At32", "img-classification", "cifar-10", "norm_32", 0.10, 1),
    ("WideMLP", "img-classification", "cifar-10", "norm_32_flip", 0.45, 2),
    ("SmallCNN", "img-classification", "cifar-10", "norm_32", 0.50, 3),
    ("Broken", "img-classification", "cifar-10", "norm_32", 0.30, 1),
    ("Pretrained", "img-classification", "cifar-10", "norm_256_flip", 0.91, 4),
]

TRANSFORMS = ("norm_32", "norm_32_flip", "norm_64", "norm_128", "norm_256_flip")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def build_resolution_db(path: pathlib.Path) -> None:
    connection = sqlite3.connect(path)
    cursor = connection.cursor()
    for table in ("nn", "transform", "metric"):
        cursor.execute(
            f"CREATE TABLE {table} (name TEXT PRIMARY KEY, code TEXT NOT NULL, id TEXT NOT NULL)"
        )
    cursor.executemany(
        "INSERT INTO nn VALUES (?, ?, ?)", [(n, c, _md5(c)) for n, c in MODELS.items()]
    )
    cursor.executemany(
        "INSERT INTO transform VALUES (?, ?, ?)",
        [(name, f"def transform(norm): ...  # {name}\n", _md5(name)) for name in TRANSFORMS],
    )
    cursor.execute("INSERT INTO metric VALUES ('acc', 'def compute(): ...', 'm')")
    cursor.execute("CREATE TABLE prm (uid TEXT NOT NULL, name TEXT NOT NULL, value OBJECT)")
    cursor.executemany(
        "INSERT INTO prm VALUES (?, ?, ?)",
        [("p1", "lr", 0.01), ("p1", "momentum", 0.9), ("p1", "dropout", 0.5)],
    )
    cursor.execute(
        "CREATE TABLE stat (id TEXT PRIMARY KEY, accuracy REAL, epoch INTEGER, duration INTEGER, "
        "task TEXT, dataset TEXT, metric TEXT, nn TEXT, prm TEXT, transform TEXT, "
        "FOREIGN KEY (transform) REFERENCES transform (name))"
    )
    cursor.executemany(
        "INSERT INTO stat VALUES (?, ?, ?, 1000, ?, ?, 'acc', ?, 'p1', ?)",
        [
            (f"s{i}", accuracy, epoch, task, dataset, nn, transform)
            for i, (nn, task, dataset, transform, accuracy, epoch) in enumerate(TRIALS)
        ],
    )
    connection.commit()
    connection.close()
