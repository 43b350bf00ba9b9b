"""trainer_svc.weights_check on crafted files: only a plain state_dict is kept (saved again by
the trainer, loading back equal); a pickle that runs a command, a file that is no zip, a zip
with foreign or compressed records, non-tensor values and too many entries are refused with a
reason, and the check itself never runs the payload."""

import io
import os
import pickle
import random
import zipfile
from collections import OrderedDict

import pytest
import torch

from trainer_svc.weights_check import (
    MAX_ENTRIES,
    WeightsRefused,
    checked_weights,
    plain_state_dict,
)


def saved(obj: object) -> bytes:
    """``obj`` as torch.save writes it (zip format, pickled data.pkl)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def rezipped(data: bytes, extra: dict[str, bytes], compress: int = zipfile.ZIP_STORED) -> bytes:
    """The archive ``data`` with every record rewritten (``compress``) and ``extra`` added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.infolist():
            target.writestr(member.filename, source.read(member), compress_type=compress)
        for name, content in extra.items():
            target.writestr(name, content)
    return out.getvalue()


class RunsACommand:
    """Pickles as os.system(command): what torch.load(weights_only=False) would run."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_a_real_state_dict_is_kept_and_loads_back_equal():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    state = model.state_dict()  # an OrderedDict, with BatchNorm's integer counter
    kept = checked_weights(saved(state))
    loaded = torch.load(io.BytesIO(kept), weights_only=True)
    assert list(loaded) == list(state)
    assert all(torch.equal(loaded[name], tensor) for name, tensor in state.items())
    assert all(loaded[name].dtype == tensor.dtype for name, tensor in state.items())
    fresh = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    fresh.load_state_dict(loaded)  # strict: every key and shape matches the module


def test_a_plain_dict_saved_to_a_buffer_is_saved_again_byte_for_byte():
    data = saved({"fc.weight": torch.randn(3, 4), "fc.bias": torch.zeros(3)})
    assert checked_weights(data) == data


def test_the_harness_file_named_best_pt_is_accepted(tmp_path):
    """torch.save to a path names the archive's folder after the file ("best/...")."""
    torch.save({"w": torch.ones(2)}, tmp_path / "best.pt")
    data = (tmp_path / "best.pt").read_bytes()
    assert zipfile.ZipFile(io.BytesIO(data)).namelist()[0].startswith("best/")
    assert torch.equal(plain_state_dict(data)["w"], torch.ones(2))


def test_tensors_sharing_a_storage_stay_shared():
    weight = torch.randn(4, 4)
    data = saved({"encoder.weight": weight, "decoder.weight": weight.t()})  # tied weights
    loaded = torch.load(io.BytesIO(checked_weights(data)), weights_only=True)
    assert loaded["encoder.weight"].data_ptr() == loaded["decoder.weight"].data_ptr()
    assert torch.equal(loaded["decoder.weight"], weight.t())


def test_a_pickle_whose_reduce_runs_a_command_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    data = saved({"fc.weight": RunsACommand(f"touch {marker}")})
    with pytest.raises(WeightsRefused, match=r"weights_only=True.*GLOBAL posix\.system"):
        checked_weights(data)
    assert not marker.exists()
    # The payload is real: an unsafe load of the very same bytes runs it.
    torch.load(io.BytesIO(data), weights_only=False)
    assert marker.exists()


def test_the_refusal_does_not_pass_on_torchs_advice_to_load_unsafely():
    with pytest.raises(WeightsRefused) as refusal:
        checked_weights(saved({"w": RunsACommand("true")}))
    assert "weights_only` set to `False" not in str(refusal.value)
    assert "trusted source" not in str(refusal.value)


def test_a_plain_pickle_that_is_no_zip_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    data = pickle.dumps({"fc.weight": RunsACommand(f"touch {marker}")})
    with pytest.raises(WeightsRefused, match="not a PyTorch zip file"):
        checked_weights(data)
    assert not marker.exists()


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04 truncated", os.urandom(4096)])
def test_bytes_that_are_no_archive_are_refused(data):
    with pytest.raises(WeightsRefused):
        checked_weights(data)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("a string", "str"),
        (3, "int"),
        ([torch.ones(2)], "list"),
        ({"nested": torch.ones(2)}, "dict"),
        (None, "NoneType"),
    ],
)
def test_a_zip_with_a_value_that_is_no_tensor_is_refused(value, kind):
    data = saved({"fc.weight": torch.ones(2), "extra": value})
    with pytest.raises(WeightsRefused, match=f"'extra' holds a {kind}, not a tensor"):
        checked_weights(data)


@pytest.mark.parametrize("obj", [[torch.ones(2)], torch.ones(2), (1, 2), "weights"])
def test_anything_but_a_mapping_is_refused(obj):
    with pytest.raises(WeightsRefused, match="not a mapping of tensors"):
        checked_weights(saved(obj))


def test_a_key_that_is_no_name_is_refused():
    with pytest.raises(WeightsRefused, match="not a parameter's name"):
        checked_weights(saved({7: torch.ones(2)}))
    with pytest.raises(WeightsRefused, match="not a parameter's name"):
        checked_weights(saved({"x" * 2000: torch.ones(2)}))


def test_a_sparse_tensor_is_refused():
    sparse = torch.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (3,), check_invariants=True)
    with pytest.raises(WeightsRefused, match="not a dense one"):
        checked_weights(saved({"w": sparse}))


def test_too_many_entries_are_refused():
    many = OrderedDict((f"p{i}", torch.zeros(())) for i in range(MAX_ENTRIES + 1))
    with pytest.raises(WeightsRefused, match=f"over {MAX_ENTRIES}"):
        checked_weights(saved(many))


def test_a_zip_with_an_extra_payload_is_refused():
    data = rezipped(saved({"w": torch.ones(2)}), {"archive/payload.sh": b"#!/bin/sh\nid\n"})
    with pytest.raises(WeightsRefused, match=r"payload\.sh.*which torch\.save does not write"):
        checked_weights(data)
    beside = rezipped(saved({"w": torch.ones(2)}), {"other/data.pkl": b"x"})
    with pytest.raises(WeightsRefused, match="2 top-level folders"):
        checked_weights(beside)


def test_a_compressed_record_is_refused():
    """Deflated records could inflate far past the file's size bound while loading."""
    data = rezipped(saved({"w": torch.zeros(10_000)}), {}, compress=zipfile.ZIP_DEFLATED)
    assert len(data) < 10_000 * 4  # the zeros did shrink
    with pytest.raises(WeightsRefused, match="is compressed"):
        checked_weights(data)


def test_a_zip_without_data_pkl_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("archive/version", b"3\n")
    with pytest.raises(WeightsRefused, match=r"no data\.pkl"):
        checked_weights(out.getvalue())


def test_corrupted_files_are_refused_or_still_plain_tensors():
    """Seeded truncations and byte flips of a real file: every outcome is a WeightsRefused
    or a state_dict that passed the whole check, never another exception (which the trainer
    would take for its own failure)."""
    state = {
        "fc.weight": torch.arange(25.0).view(5, 5),
        "fc.bias": torch.ones(5),
        "n": torch.tensor(3),
    }
    good, rng, outcomes = saved(state), random.Random(20), set()
    for attempt in range(600):
        data = bytearray(good)
        if attempt % 3 == 0:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            loaded = plain_state_dict(bytes(data))
        except WeightsRefused:
            outcomes.add("refused")
        else:
            outcomes.add("kept")
            assert all(type(value) is torch.Tensor for value in loaded.values())
    assert outcomes == {"refused", "kept"}  # flips inside tensor data still load
