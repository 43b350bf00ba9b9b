"""Service processes of the local stack: start one and wait for its port, stop one."""

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

READY_TIMEOUT_SECONDS = 120.0
PR_SET_PDEATHSIG = 1


class StackError(RuntimeError):
    """A service of the local stack did not start; the message carries its log's tail."""


@dataclass
class StackProcess:
    name: str
    process: subprocess.Popen
    port: int
    log_path: Path
    module: str = ""
    env: dict[str, str] = field(default_factory=dict)  # its own settings, to restart it alike


def start_process(
    name: str, module: str, env: dict[str, str], log_path: Path, ready: str, cwd: Path
) -> StackProcess:
    """`python -m module` with ``env`` over ours; returns once it printed ``ready`` and its
    port (its stdout's line `<ready> <port>`), else raises StackError with its log's tail."""
    log = log_path.open("a")
    process = subprocess.Popen(
        [sys.executable, "-m", module],
        preexec_fn=_die_with_parent,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    line = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(ready) or not line:
            break
    if not line.startswith(ready):
        process.kill()
        process.wait(10)
        tail = log_path.read_text(errors="replace")[-3000:]
        raise StackError(f"{name} did not start (log {log_path}):\n{tail}")
    return StackProcess(name, process, int(line.rsplit(" ", 1)[1]), log_path, module, env)


def terminate(process: subprocess.Popen) -> int:
    """SIGTERM, then SIGKILL after 30 s; the exit code."""
    if process.poll() is not None:
        return process.returncode
    process.terminate()
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(10)


def free_port() -> str:
    """A loopback port free now; services keep theirs across restarts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the process that started the stack dies,
    even by SIGKILL, so that no service (and none of its containers) outlives it."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
