"""`nasforge check` as a user runs it: a real subprocess, its JSON, its exit status."""

import json
import pathlib
import subprocess
import sys

import pytest

from netapi.outcomes import MAX_CANDIDATE_BYTES
from tests.unit.netapi import lemur_style

CORPUS = pathlib.Path(__file__).resolve().parents[1] / "netapi" / "corpus"
GOOD_CLASSIFIER = """
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.fc = nn.Linear(in_shape[1] * in_shape[2] * in_shape[3], out_shape[0])

    def train_setup(self, prm):
        self.criteria = (nn.CrossEntropyLoss(),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'])

    def learn(self, train_data):
        for x, y in train_data:
            self.optimizer.zero_grad()
            self.criteria[0](self(x), y).backward()
            self.optimizer.step()

    def forward(self, x):
        return self.fc(x.flatten(1))
"""


def run_cli(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], capture_output=True, input=stdin, timeout=60
    )


def write(tmp_path, content, name="candidate.py"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def test_clean_candidate_json(tmp_path):
    result = run_cli(
        "check", write(tmp_path, GOOD_CLASSIFIER), "--task", "img-classification", "--json"
    )
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict == {
        "task": "img-classification",
        "spec": {
            "task": "img-classification",
            "dataset": "cifar-10",
            "in_shape": [2, 3, 32, 32],
            "out_shape": [10],
            "transform": "norm_32",
            "hyperparameters": {},
        },
        "stage": "static",
        "outcome": "success",
        "findings": [],
        "warnings": [],
    }


def test_what_lemur_accepts_is_a_success_with_its_warnings(tmp_path):
    path = write(tmp_path, lemur_style.AS_LEMUR_WRITES_IT)
    verdict = json.loads(run_cli("check", path, "--task", "img-classification", "--json").stdout)
    assert verdict["outcome"] == "success" and verdict["findings"] == []
    assert [w["rule"] for w in verdict["warnings"]] == [
        "unread-hyperparameter",
        "criterion-for-criteria",
    ]
    lines = run_cli("check", path, "--task", "img-classification").stdout.decode().splitlines()
    assert lines[0] == "outcome: success"
    assert lines[1].startswith("  line 6: [unread-hyperparameter] warning: hyperparameter")
    assert lines[2].startswith("  line 10: [criterion-for-criteria] warning: the Net API names")


def test_failing_candidate_json_has_findings_and_exit_zero(tmp_path):
    source = GOOD_CLASSIFIER.replace("import torch\n", "import torch\nimport os\n", 1)
    result = run_cli("check", write(tmp_path, source), "--task", "img-classification", "--json")
    assert result.returncode == 0
    verdict = json.loads(result.stdout)
    assert verdict["outcome"] == "forbidden_code"
    finding = verdict["findings"][0]
    assert finding["rule"] == "forbidden-import"
    assert finding["outcome"] == "forbidden_code"
    assert finding["line"] == 3
    assert "'os'" in finding["message"]


def test_same_candidate_differs_by_task(tmp_path):
    path = write(tmp_path, GOOD_CLASSIFIER)
    result = run_cli("check", path, "--task", "img-captioning", "--json")
    verdict = json.loads(result.stdout)
    assert verdict["outcome"] == "api_noncompliance"
    assert [f["rule"] for f in verdict["findings"]] == ["bad-signature"]


def test_human_output(tmp_path):
    result = run_cli(
        "check", write(tmp_path, "def f(:\n    pass\n"), "--task", "img-classification"
    )
    assert result.returncode == 0
    lines = result.stdout.decode().splitlines()
    assert lines[0] == "outcome: syntax_error"
    assert lines[1].startswith("  line 1: [syntax] syntax_error:")


def test_reads_standard_input():
    result = run_cli(
        "check", "-", "--task", "img-classification", "--json", stdin=GOOD_CLASSIFIER.encode()
    )
    assert json.loads(result.stdout)["outcome"] == "success"


@pytest.mark.parametrize(
    ("content", "outcome"),
    [
        ("", "no_code"),
        ("   \n\n\t\n", "no_code"),
        (
            "The model below improves ResNet by adding attention.\nIt should work well.\n",
            "syntax_error",
        ),
        ('{"model": "resnet", "layers": [1, 2, 3]}\n', "api_noncompliance"),
        (
            "class Net(nn.Module):\n    def forward(self, x):\n        return self.fc(\n",
            "truncated",
        ),
    ],
)
def test_odd_but_readable_files_get_a_verdict(tmp_path, content, outcome):
    result = run_cli("check", write(tmp_path, content), "--task", "img-classification", "--json")
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["outcome"] == outcome
    assert verdict["findings"] and all(f["message"] for f in verdict["findings"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfeimport torch\n", "not UTF-8 text (invalid byte 0xff at offset 0)"),
        (b"# " + b"x" * (10 * 1024 * 1024) + b"\n", f"larger than the {MAX_CANDIDATE_BYTES}-byte"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)), "not UTF-8 text"),
    ],
)
def test_unreadable_files_exit_2_with_one_line(tmp_path, content, message):
    result = run_cli("check", write(tmp_path, content), "--task", "img-classification")
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert "Traceback" not in stderr
    assert result.stdout == b""


@pytest.mark.parametrize(
    "args",
    [
        ("check", "/nonexistent/candidate.py", "--task", "img-classification"),
        ("check", "/tmp", "--task", "img-classification"),
        ("check", "x.py", "--task", "img-detection"),
        ("check", "x.py"),
        ("frobnicate",),
        (),
    ],
)
def test_bad_usage_exits_2_without_traceback(args):
    result = run_cli(*args)
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert stderr.strip() and "Traceback" not in stderr


def test_console_script_is_installed():
    script = pathlib.Path(sys.executable).with_name("nasforge")
    result = subprocess.run(
        [str(script), "check", "-", "--task", "img-classification", "--json"],
        input=GOOD_CLASSIFIER.encode(),
        capture_output=True,
        timeout=60,
    )
    assert json.loads(result.stdout)["outcome"] == "success"


# The spec a check runs with: LEMUR's transform names give the side (netapi.tasks.spec_for).


@pytest.mark.parametrize(
    ("flags", "in_shape", "transform"),
    [
        (("--transform", "norm_299"), [2, 3, 299, 299], "norm_299"),
        (("--transform", "norm_256_flip"), [2, 3, 256, 256], "norm_256_flip"),
        (("--in-shape", "4,1,28,28"), [4, 1, 28, 28], "norm"),
        (("--transform", "norm_64", "--in-shape", "2,1,64,64"), [2, 1, 64, 64], "norm_64"),
    ],
)
def test_the_spec_follows_transform_and_in_shape(tmp_path, flags, in_shape, transform):
    path = write(tmp_path, GOOD_CLASSIFIER)
    result = run_cli("check", path, "--task", "img-classification", *flags, "--json")
    assert result.returncode == 0, result.stderr
    spec = json.loads(result.stdout)["spec"]
    assert (spec["in_shape"], spec["transform"]) == (in_shape, transform)


def test_human_output_ends_with_the_spec(tmp_path):
    path = write(tmp_path, GOOD_CLASSIFIER)
    result = run_cli("check", path, "--task", "img-classification", "--transform", "norm_64")
    assert result.stdout.decode().splitlines()[-1] == (
        "spec: img-classification, in_shape 2x3x64x64 (transform norm_64), out_shape 10, "
        "dataset cifar-10"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--transform", "norm_64", "--in-shape", "2,3,32,32"), "does not agree"),
        (("--in-shape", "2,3,32"), "B,C,H,W"),
        (("--in-shape", "2,3,5000,5000"), "outside"),
        (("--transform", "norm_32_64"), "several sides"),
    ],
)
def test_disagreeing_or_malformed_specs_exit_2_with_one_line(tmp_path, flags, message):
    path = write(tmp_path, GOOD_CLASSIFIER)
    result = run_cli("check", path, "--task", "img-classification", *flags)
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert message in stderr and len(stderr.strip().splitlines()) == 1
