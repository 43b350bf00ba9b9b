"""Harness entry point inside a sandbox container: signal ready, run one check, exit.

    python -m netapi.harness

The candidate never runs in the process that holds the run's nonce and the result channel.
The harness forks at once: the child (the candidate's process) imports torch, warms up, says
it is ready, then gets the job without the nonce over a pipe, runs the check with its
stdout pointed at stderr, and returns the result over another pipe. The parent never
imports torch, is made non-dumpable (the child cannot read its memory), relays the ready
line, adds the nonce and writes the one result line. stdout carries exactly two lines:
{"ready": true, ...} once the child is warm, then the result. If the child dies without a
result (OOM-killed, os._exit), the parent ends as it did, and the host judges the
container's state.
"""

import ctypes
import json
import os
import sys

from netapi.harness.protocol import MAX_JOB_BYTES, MAX_RESULT_BYTES, READY_KEY, parse_job

_PR_SET_DUMPABLE = 4


def _read_all(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size <= limit:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _read_line(fd: int, limit: int) -> bytes:
    """One line from a pipe, byte by byte so nothing after it is consumed."""
    line = bytearray()
    while len(line) <= limit:
        byte = os.read(fd, 1)
        if not byte or byte == b"\n":
            break
        line += byte
    return bytes(line)


def _candidate_process(job_fd: int, result_fd: int) -> None:
    """The child: warm torch, say ready, run one check; never returns."""
    try:
        import torch

        from netapi.harness.runner import quiet_numpy_warning, run_job, warm_up

        quiet_numpy_warning()
        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
        warm_up()
        os.write(
            result_fd, json.dumps({READY_KEY: True, "torch": torch.__version__}).encode() + b"\n"
        )
        os.dup2(2, 1)  # the candidate's prints land on stderr
        sys.stdout = sys.stderr
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        job = parse_job(_read_all(job_fd, MAX_JOB_BYTES))
        os.close(job_fd)
        result = run_job(job)
        os.write(result_fd, json.dumps(result).encode()[:MAX_RESULT_BYTES])
    finally:
        os._exit(0)  # skip interpreter teardown: candidate threads or finalizers cannot delay it


def main() -> int:
    result_stream = os.fdopen(os.dup(1), "w", encoding="utf-8")
    job_read, job_write = os.pipe()
    result_read, result_write = os.pipe()
    child = os.fork()
    if child == 0:
        result_stream.close()
        os.close(job_write)
        os.close(result_read)
        _candidate_process(job_read, result_write)
    os.close(job_read)
    os.close(result_write)
    ctypes.CDLL(None).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    ready = _read_line(result_read, 4096)
    if not ready:  # the child died warming up
        _, status = os.waitpid(child, 0)
        os._exit(os.waitstatus_to_exitcode(status) % 256 or 1)
    result_stream.write(ready.decode("utf-8", "replace") + "\n")
    result_stream.flush()
    job = json.loads(sys.stdin.buffer.readline(MAX_JOB_BYTES + 1))
    nonce = job.pop("nonce")
    os.write(job_write, json.dumps({**job, "nonce": ""}).encode())
    os.close(job_write)
    raw = _read_all(result_read, MAX_RESULT_BYTES)
    _, status = os.waitpid(child, 0)
    try:
        result = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        result = None
    if not isinstance(result, dict):
        # No result: end as the child ended; the host reads the container's state (OOM).
        os._exit(os.waitstatus_to_exitcode(status) % 256 or 1)
    result_stream.write(json.dumps({**result, "nonce": nonce}) + "\n")
    result_stream.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
