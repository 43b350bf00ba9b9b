"""Harness entry point inside a sandbox container: warm up, signal ready, run one check, exit.

    python -m netapi.harness

stdout carries exactly two lines: {"ready": true} once torch is imported and warm, then
the result. The candidate's own output (print, C++ logging) goes to stderr: fd 1 is pointed
at fd 2 before the candidate runs, and the result is written to a private copy of stdout.
"""

import json
import os
import sys

import torch

from netapi.harness.protocol import MAX_JOB_BYTES, READY_KEY, parse_job
from netapi.harness.runner import quiet_numpy_warning, run_job, warm_up


def main() -> int:
    quiet_numpy_warning()
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(max(1, threads))
    result_stream = os.fdopen(os.dup(1), "w", encoding="utf-8")
    warm_up()
    result_stream.write(json.dumps({READY_KEY: True, "torch": torch.__version__}) + "\n")
    result_stream.flush()
    line = sys.stdin.buffer.readline(MAX_JOB_BYTES + 1)
    job = parse_job(line)
    os.dup2(2, 1)  # from here on, anything written to stdout lands on stderr
    sys.stdout = sys.stderr
    result = run_job(job)
    result_stream.write(json.dumps(result) + "\n")
    result_stream.flush()
    os._exit(0)  # skip interpreter teardown: candidate threads or finalizers cannot delay it


if __name__ == "__main__":
    sys.exit(main())
