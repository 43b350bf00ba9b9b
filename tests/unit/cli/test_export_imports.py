"""The MLflow and TensorBoard exports cost the other commands nothing (their libraries load
inside the command), and the TensorBoard one needs neither TensorFlow nor torch."""

import json
import subprocess
import sys


def _modules_after(code: str) -> list[str]:
    probe = (
        "import json, sys\n"
        f"{code}\n"
        "heavy = {'mlflow', 'tensorboard', 'tensorflow', 'torch'}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(result.stdout)


def test_the_cli_parser_loads_neither_mlflow_nor_tensorboard():
    assert _modules_after("import cli.main\ncli.main.build_parser()") == []


def test_the_tensorboard_export_needs_neither_tensorflow_nor_torch():
    loaded = _modules_after("import cli.exports.tensorboard_events")
    assert loaded == ["tensorboard"]
