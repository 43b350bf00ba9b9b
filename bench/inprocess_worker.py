"""The no-isolation baseline of bench/sandbox_check.py: checks run in this very process.

Reads job lines on stdin and answers result lines on stdout, like the harness, but serves
many jobs and never leaves the process. Before the first timed job it has imported torch,
warmed up and checked one other model, as a fair baseline should.
"""

import json
import os
import sys

import torch

from netapi.harness.protocol import parse_job
from netapi.harness.runner import run_job, warm_up


def main() -> None:
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    warm_up()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin.buffer:
        print(json.dumps(run_job(parse_job(line))), flush=True)


if __name__ == "__main__":
    main()
