"""Pickled datasets (CIFAR, downsampled ImageNet): read as plain data only, written as published.

The published archives are Python 2 pickles of dicts holding numpy arrays and lists. Reading
one with ``pickle.load`` would run whatever a hostile file names; ``load_data_pickle`` builds
only plain data and numpy arrays and refuses every other global. ``dumps_like_python2``
writes the byte layout Python 2 wrote (protocol 2, byte strings as Python 2 ``str``), so
tests can build miniature files that read exactly like the published ones.
"""

import io
import pickle
import struct
from typing import Any

# The only globals a dataset pickle needs: numpy arrays and dtypes (under numpy 1 and 2
# module names), and `_codecs.encode`, which Python 3 uses for bytes in protocol 2.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class ForeignGlobal(pickle.UnpicklingError):
    """A pickle that names a function or class outside the data-only set: never executed."""


class DataOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds plain data and numpy arrays, never arbitrary objects."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise ForeignGlobal(
                f"the file refers to {module}.{name}, which a data file never needs: refused"
            )
        return super().find_class(module, name)


def load_data_pickle(raw: bytes) -> Any:
    """A pickle written by Python 2 or 3, as plain data; a dict's byte keys become str.

    Raises ForeignGlobal (an UnpicklingError) for a foreign global, and whatever the
    unpickler raises (EOFError, UnpicklingError, ValueError, ...) for a truncated or
    non-pickle file.
    """
    value = DataOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    if isinstance(value, dict):
        return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in value.items()}
    return value


class _Python2Pickler(pickle._Pickler):  # the pure-Python pickler: its dispatch can be extended
    """Protocol 2 with bytes written as Python 2 ``str`` (BINSTRING), as cPickle wrote them."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes_as_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes_as_py2_str


def dumps_like_python2(value: Any) -> bytes:
    """Pickle ``value`` as Python 2 did: pass text that Python 2 held as ``str`` as bytes.

    A numpy array's raw buffer is bytes already, so arrays come out as in the published files.
    """
    out = io.BytesIO()
    _Python2Pickler(out, protocol=2).dump(value)
    return out.getvalue()
