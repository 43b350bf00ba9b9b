"""A small LEMUR-shaped SQLite database for tests: LEMUR's tables and columns, our models' code."""

import hashlib
import pathlib
import sqlite3

from search_core.zoo import builtin_models

BROKEN_CODE = "import torch\nclass Net(torch.nn.Module:\n    pass\n"
# Would write a file if it were ever run: the import must only parse it.
SIDE_EFFECT_CODE = (
    "import pathlib\npathlib.Path({marker!r}).write_text('ran')\n"
    "def supported_hyperparameters():\n    return {{'lr'}}\n"
)
CAPTIONER_NAME = "C5C-ResNetLSTM-" + "0" * 32


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _code_table(cursor: sqlite3.Cursor, table: str) -> None:
    cursor.execute(f"CREATE TABLE {table} (name TEXT PRIMARY KEY, code TEXT NOT NULL, id TEXT)")


def build_lemur_db(path: pathlib.Path, *, marker: pathlib.Path, full_stat: bool = True) -> dict:
    """Write the database; return {name: expected best accuracy or skip reason fragment}.

    Models: a classifier with three trials, a captioner, a broken file, code with a side
    effect trained only for an unknown task, and a model with no trial at all.
    ``full_stat=False`` leaves the optional stat columns (accuracy, epoch, ...) out.
    """
    zoo = {model.name: model.code for model in builtin_models()}
    nn_rows = {
        "ResNet": zoo["ResNet"],
        CAPTIONER_NAME: zoo["ResNetLSTM"],
        "BrokenNet": BROKEN_CODE,
        "Detector": SIDE_EFFECT_CODE.format(marker=str(marker)),
        "Untrained": zoo["VGG"],
    }
    connection = sqlite3.connect(path)
    cursor = connection.cursor()
    for table in ("nn", "transform", "metric"):
        _code_table(cursor, table)
    cursor.executemany(
        "INSERT INTO nn VALUES (?, ?, ?)", [(n, c, _md5(c)) for n, c in nn_rows.items()]
    )
    cursor.execute("INSERT INTO transform VALUES ('norm_32', 'def transform(norm): ...', 'x')")
    cursor.execute("INSERT INTO metric VALUES ('acc', 'def compute(): ...', 'y')")
    cursor.execute("CREATE TABLE prm (uid TEXT NOT NULL, name TEXT NOT NULL, value OBJECT)")
    cursor.executemany(
        "INSERT INTO prm VALUES (?, ?, ?)", [("p1", "lr", 0.01), ("p1", "momentum", 0.9)]
    )
    trials = [  # (accuracy, epoch, task, nn)
        (0.71, 1, "img-classification", "ResNet"),
        (0.83, 5, "img-classification", "ResNet"),
        (0.79, 2, "img-classification", "ResNet"),
        (0.25, 3, "img-captioning", CAPTIONER_NAME),
        (0.90, 1, "img-classification", "BrokenNet"),
        (0.50, 1, "obj-detection", "Detector"),
    ]
    if full_stat:
        cursor.execute(
            "CREATE TABLE stat (id TEXT PRIMARY KEY, accuracy REAL, epoch INTEGER, "
            "duration INTEGER, task TEXT, dataset TEXT, metric TEXT, nn TEXT, prm TEXT, "
            "transform TEXT)"
        )
        cursor.executemany(
            "INSERT INTO stat VALUES (?, ?, ?, 1000, ?, 'cifar-10', 'acc', ?, 'p1', 'norm_32')",
            [(f"s{i}", *trial) for i, trial in enumerate(trials)],
        )
    else:
        cursor.execute("CREATE TABLE stat (id TEXT PRIMARY KEY, task TEXT, nn TEXT)")
        cursor.executemany(
            "INSERT INTO stat VALUES (?, ?, ?)",
            [(f"s{i}", task, nn) for i, (_, _, task, nn) in enumerate(trials)],
        )
    connection.commit()
    connection.close()
    return nn_rows
