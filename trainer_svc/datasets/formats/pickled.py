"""One batch file of a pickled image format (CIFAR, ImageNet16), unpickled safely and checked."""

import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer_svc.data.pickles import ForeignGlobal, load_data_pickle
from trainer_svc.datasets.contents import DatasetError

# What the unpickler raises on bytes that are cut short or are not a pickle at all.
UNREADABLE = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
)


@dataclass(frozen=True)
class Batch:
    """A batch's pixels [N, 3 * side * side] uint8 (R, G, B planes, row-major) and labels."""

    data: np.ndarray
    labels: list[int]

    def images(self, side: int) -> np.ndarray:
        """The pixels as [N, side, side, 3]."""
        return self.data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1)


def load_pickle(raw: bytes, source: str, what: str) -> Any:
    """A pickle as plain data, or a DatasetError naming ``source`` and what is wrong with it."""
    try:
        return load_data_pickle(raw)
    except ForeignGlobal as e:
        raise DatasetError(f"{source} is refused: {e}") from None
    except UNREADABLE as e:
        raise DatasetError(f"{source} is truncated or not a {what}: {e!r}") from None


def load_batch(raw: bytes, source: str, what: str, label_key: str, side: int) -> Batch:
    """One batch: a dict with ``data`` [N, 3*side*side] uint8 and N ints under ``label_key``."""
    batch = load_pickle(raw, source, f"{what} batch")
    if not isinstance(batch, dict) or "data" not in batch or label_key not in batch:
        found = sorted(map(str, batch)) if isinstance(batch, dict) else type(batch).__name__
        raise DatasetError(
            f"{source} is not a {what} batch: expected a dict with 'data' and"
            f" {label_key!r}, found {found}"
        )
    data, labels = batch["data"], batch[label_key]
    width = 3 * side * side
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == width
    ):
        shape = getattr(data, "shape", type(data).__name__)
        dtype = getattr(data, "dtype", "")
        raise DatasetError(
            f"{source}: 'data' is {shape} {dtype}, expected [N, {width}] uint8"
            f" ({side}x{side} RGB planes)"
        )
    try:
        labels = [int(x) for x in labels]
    except (TypeError, ValueError):
        raise DatasetError(f"{source}: {label_key!r} is not a list of integers") from None
    if len(labels) != len(data):
        raise DatasetError(f"{source} holds {len(data)} images but {len(labels)} labels")
    return Batch(data, labels)
