"""search_core's image carries neither torch, numpy, PIL nor the trainer's data code."""

import subprocess
import sys


def test_search_core_imports_no_trainer_or_array_library():
    code = (
        "import sys\n"
        "import search_core.server, search_core.__main__, search_core.grpc_clients\n"
        "heavy = {'torch', 'numpy', 'PIL', 'pycocotools', 'trainer_svc', 'torchvision'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stdout
