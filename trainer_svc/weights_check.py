"""The weights a training container leaves in /out, checked before the trainer keeps them.

The candidate's code runs in the container that writes /out/best.pt, so the file is the
candidate's to choose: a pickle whose __reduce__ runs a command when a user loads it with
torch.load(weights_only=False), a zip with extra payloads, a huge or non-tensor object. The
scores never come from it (trainer_svc.evaluation), but the file is served to users
(ReadWeights, DownloadWeights, `nasforge export`, MLflow). What is accepted is what the harness
writes, `torch.save({name: tensor})`:

- a PyTorch zip archive (torch.save's format since 1.6) with torch's own records only, each
  stored uncompressed (so nothing inflates past the file's size bound) and a data.pkl of at
  most MAX_PICKLE_BYTES;
- that loads with torch.load(weights_only=True, map_location="cpu") — torch's restricted
  unpickler, which refuses every global outside tensors and plain containers and runs no
  __reduce__ of the file's choosing — into one flat mapping (dict or OrderedDict, as
  state_dict() returns) of at most MAX_ENTRIES str keys to dense CPU tensors.

Anything else raises WeightsRefused, whose message says why. What is kept is not the file
itself: the accepted tensors are saved again by the trainer's own torch.save, so the bytes
users receive hold no record, opcode or layout of the candidate's choosing, only its numbers.
"""

import io
import pickle
import re
import zipfile

import torch

MAX_ENTRIES = 10_000  # tensors in one state_dict; a large ResNet has under 1,000
MAX_KEY_CHARS = 1_000  # a parameter's dotted name
MAX_PICKLE_BYTES = 16 * 1024**2  # data.pkl: a few hundred bytes per tensor
# The records torch.save writes below its one top-level folder (named after the file).
TORCH_RECORD = re.compile(
    r"(data\.pkl|version|byteorder|\.format_version|\.storage_alignment"
    r"|\.data/version|\.data/serialization_id|data/\d{1,9})"
)
# Torch's advice around a weights_only refusal (to load with weights_only=False) is not a
# reason, and must not reach a user as one.
_LOADER_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the doc")


class WeightsRefused(ValueError):
    """A weights file that is not a plain state_dict; the message says what is wrong."""


def checked_weights(data: bytes) -> bytes:
    """The state_dict in ``data``, saved again by trusted code; WeightsRefused when ``data``
    is anything but a plain state_dict."""
    buffer = io.BytesIO()
    torch.save(plain_state_dict(data), buffer)
    return buffer.getvalue()


def plain_state_dict(data: bytes) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, by name (detached plain tensors, in the file's order)."""
    _check_archive(data)
    try:
        loaded = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    # The loader parses hostile bytes: whatever it raises (UnpicklingError for a refused
    # global, RuntimeError from the zip reader, ValueError, EOFError...) means "not a plain
    # state_dict", and the refusal names it.
    except Exception as exc:
        raise WeightsRefused(
            f"it does not load with torch.load(weights_only=True): {_loader_reason(exc)}"
        ) from None
    return _tensors_by_name(loaded)


def _check_archive(data: bytes) -> None:
    """A zip of torch's records only, all stored, under one folder: before any unpickling."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    # Hostile bytes again: besides BadZipFile, the zip parser raises UnicodeDecodeError (a
    # name), NotImplementedError (a version), OSError or ValueError (offsets) on bad headers.
    except Exception as exc:
        raise WeightsRefused(
            f"it is not a PyTorch zip file (torch.save's format; {type(exc).__name__}); "
            f"it starts {data[:8]!r}"
        ) from None
    members = archive.infolist()
    if len(members) > MAX_ENTRIES + 16:
        raise WeightsRefused(f"its archive holds {len(members)} records, over {MAX_ENTRIES}")
    names = [member.filename for member in members]
    if len(set(names)) != len(names):
        raise WeightsRefused("its archive names a record twice")
    folders = {name.split("/", 1)[0] for name in names}
    if len(folders) > 1:
        raise WeightsRefused(f"its archive spans {len(folders)} top-level folders, not one")
    for member in members:
        if not TORCH_RECORD.fullmatch(member.filename.partition("/")[2]):
            raise WeightsRefused(
                f"its archive holds {member.filename[:100]!r}, which torch.save does not write"
            )
        if member.compress_type != zipfile.ZIP_STORED:
            raise WeightsRefused(f"its record {member.filename[:100]!r} is compressed")
    pickled = f"{folders.pop()}/data.pkl" if folders else ""
    if pickled not in names:
        raise WeightsRefused("its archive has no data.pkl")
    size = archive.getinfo(pickled).file_size
    if size > MAX_PICKLE_BYTES:
        raise WeightsRefused(f"its data.pkl is {size} bytes, over {MAX_PICKLE_BYTES}")


def _tensors_by_name(loaded: object) -> dict[str, torch.Tensor]:
    """``loaded`` as a flat {str: dense CPU tensor}, or WeightsRefused naming what is not."""
    if not isinstance(loaded, dict):
        raise WeightsRefused(f"it holds a {type(loaded).__name__}, not a mapping of tensors")
    if len(loaded) > MAX_ENTRIES:
        raise WeightsRefused(f"it holds {len(loaded)} entries, over {MAX_ENTRIES}")
    tensors = {}
    for name, value in loaded.items():
        if not isinstance(name, str) or len(name) > MAX_KEY_CHARS:
            raise WeightsRefused(f"its key {str(name)[:100]!r} is not a parameter's name")
        if type(value) not in (torch.Tensor, torch.nn.Parameter):
            raise WeightsRefused(f"{name[:100]!r} holds a {type(value).__name__}, not a tensor")
        if value.layout != torch.strided or value.is_quantized or value.device.type != "cpu":
            raise WeightsRefused(
                f"{name[:100]!r} is a {value.layout} {value.dtype} tensor on {value.device}, "
                "not a dense one"
            )
        tensors[name] = value.detach()
    return tensors


def _loader_reason(exc: Exception) -> str:
    """What torch.load objected to, without its advice to load the file unsafely."""
    if isinstance(exc, pickle.UnpicklingError):
        text = str(exc).split("WeightsUnpickler error:")[-1]
    else:
        text = str(exc).split(". ")[0]
    lines = [line.strip() for line in text.splitlines()]
    detail = [line for line in lines if line and not line.startswith(_LOADER_BOILERPLATE)]
    return f"{type(exc).__name__}: {detail[0] if detail else 'no detail'}"[:300]
