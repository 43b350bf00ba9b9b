"""Abuse suite, part 1: hostile output, forged results and a crowd of checks, real containers.

Every check here runs with ``skip_static=True``: the static checker would stop most of these
candidates, and the point is that the container holds on its own. A probe candidate ends by
raising ``Observation("OBSERVED blocked: ...")`` or ``Observation("OBSERVED ESCAPED: ...")``
(a plain Exception, so its outcome is always runtime_error, whatever words the detail holds);
host-side endings (timeout, oom, output flood) are asserted as outcomes. The candidate
builders here are shared by test_abuse_resources.py and test_abuse_escape.py.
"""

import asyncio
import json
import textwrap
import time

import pytest

from netapi.code_policy import load_policy
from netapi.outcomes import Outcome
from netapi.tasks import IMG_CLASSIFICATION, default_spec
from sandbox_runner.containers import Launcher, docker_client
from sandbox_runner.core import SandboxChecker
from sandbox_runner.server import result_to_pb
from sandbox_runner.verdicts import CheckResult

SPEC = default_spec(IMG_CLASSIFICATION)
# Deadlines: a cold container starts in about 2 s here under runc, 5 s under gVisor on a quiet
# machine and up to 15 s on a busy one; a verdict must follow the deadline (cold start
# included) within this margin.
MARGIN_SECONDS = 10.0
_RUNSC_START_SECONDS = 20.0


def margin_seconds(runtime: str | None) -> float:
    """The margin after a deadline for a check in a cold container of ``runtime``."""
    return MARGIN_SECONDS + (_RUNSC_START_SECONDS if runtime == "runsc" else 0.0)


# A valid classifier (it passes every stage) with hooks for hostile code in __init__ and
# forward; hostile module-level code is appended after it, so it runs at import time.
_CANDIDATE = '''
import errno
import os
import sys
import time

import torch
from torch import nn


class Observation(Exception):
    """What the probe saw."""


def report(escaped, detail):
    tag = "ESC" + "APED" if escaped else "blocked"
    message = "OBSERVED " + tag + ": " + str(detail)
    raise Observation(message)


def err(exc):
    return errno.errorcode.get(getattr(exc, "errno", None) or 0, type(exc).__name__)


def supported_hyperparameters():
    return {"lr"}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.fc = nn.Linear(in_shape[1] * in_shape[2] * in_shape[3], out_shape[0])
        __INIT__

    def train_setup(self, prm):
        self.criteria = (nn.CrossEntropyLoss(),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"])

    def learn(self, train_data):
        for inputs, labels in train_data:
            self.optimizer.zero_grad()
            self.criteria[0](self(inputs), labels).backward()
            self.optimizer.step()

    def forward(self, x):
        __FORWARD__
        return self.fc(x.flatten(1))
'''


def _block(code: str, indent: int) -> str:
    lines = textwrap.dedent(code).strip("\n") or "pass"
    return textwrap.indent(lines, " " * indent).lstrip()


def hostile(body: str = "", *, init: str = "", forward: str = "", **values: object) -> str:
    """A candidate: the valid Net with hostile code in __init__/forward/at import time.

    ``values`` replace ``__NAME__`` placeholders in the body (ports, markers, secrets).
    """
    source = _CANDIDATE.replace("__INIT__", _block(init, 8)).replace(
        "__FORWARD__", _block(forward, 8)
    )
    body = textwrap.dedent(body)
    for name, value in values.items():
        body = body.replace(f"__{name.upper()}__", str(value))
    return source + "\n" + body + "\n"


async def run(checker: SandboxChecker, source: str, limit: float = 10.0) -> CheckResult:
    """Check ``source`` in a container even though the static checks would stop it."""
    return await checker.check(source, SPEC, tenant="acme", skip_static=True, timeout_seconds=limit)


def assert_blocked(result: CheckResult, *expected: str) -> None:
    """The probe ran to its end and saw only blocked attempts (and each expected text)."""
    message = result.error_message
    assert result.outcome is Outcome.RUNTIME_ERROR, f"{result.outcome}: {message}"
    assert "OBSERVED blocked" in message, message
    assert "ESCAPED" not in message, message
    for text in expected:
        assert text in message, f"{text!r} not in {message!r}"


def assert_valid_verdict(result: CheckResult) -> None:
    """The verdict is printable, JSON-serialisable and fits the wire message."""
    assert result.error_message.isprintable(), repr(result.error_message)
    json.dumps(result.to_dict())
    assert result_to_pb(result).SerializeToString()


# --- output floods and garbage --------------------------------------------------------------

FLOODS = {
    "stdout_without_newlines": """
        block = b"A" * 65536
        for _ in range(800):  # 50 MiB
            os.write(1, block)
        report(True, "50 MiB written to stdout unhindered")
    """,
    "stderr_lines": """
        line = b"E" * 1023 + b"\\n"
        for _ in range(50 * 1024):
            os.write(2, line)
        report(True, "50 MiB written to stderr unhindered")
    """,
}


@pytest.mark.parametrize("flood", sorted(FLOODS))
async def test_output_flood_ends_the_check(checker, flood):
    """A flood of tens of MB -> runtime_error 'output flood', well before the deadline.

    Three times: whether the flood still fills the attach stream when the host kills the
    container is a race, and the kill must not hang in either case.
    """
    for attempt in range(3):
        started = time.monotonic()
        result = await run(checker, hostile(FLOODS[flood]), limit=20)
        elapsed = time.monotonic() - started
        assert result.outcome is Outcome.RUNTIME_ERROR, (attempt, result.error_message)
        assert "output flood" in result.error_message, (attempt, result.error_message)
        assert elapsed < 15, (attempt, elapsed)
        assert_valid_verdict(result)


_GARBAGE = r"""
os.write(1, b"\xff\xfe\x00 not utf-8 \xc3\x28 \x00\n")
os.write(2, b"\x1b[2J\x00\x80\x81\xfe\xff\n")
sys.stderr.write("lone surrogate \udcff and NUL \x00 and bell \x07\n")
sys.stderr.flush()
"""


async def test_garbage_output_then_an_error_still_gives_a_clean_verdict(checker):
    """Invalid UTF-8, NULs, escapes, a lone surrogate in the error -> runtime_error, clean."""
    body = (
        _GARBAGE
        + r"""
message = "OBSERVED blocked: garbage \x00 \udcff \x1b[31m \ufffe end"
raise Observation(message)
"""
    )
    result = await run(checker, hostile(body))
    assert_blocked(result, "garbage", "end")
    assert_valid_verdict(result)


async def test_garbage_output_then_a_hard_exit_still_gives_a_clean_verdict(checker):
    """Garbage on stderr, then os._exit(3) with no result -> runtime_error naming exit code 3."""
    body = (
        _GARBAGE
        + r"""
os.write(2, b"last words \xff\x00\xc3\n")
os._exit(3)
"""
    )
    result = await run(checker, hostile(body))
    assert result.outcome is Outcome.RUNTIME_ERROR, result.error_message
    assert "ended without a result (exit code 3)" in result.error_message
    assert "last words" in result.error_message
    assert_valid_verdict(result)


# --- forged results ---------------------------------------------------------------------------

_FORGED = """
import json
forged = json.dumps({
    "nonce": "0" * 32, "outcome": "success", "stage": None, "error": None,
    "parameter_count": 1234, "output_shape": [2, 10],
})
print(forged)
sys.stdout.flush()
for fd in range(3, 21):
    try:
        os.write(fd, (forged + "\\n").encode())
    except OSError:
        pass
"""


async def test_forged_pass_without_the_nonce_is_not_success(checker):
    """A success line printed and written to fds 3..20, Net broken -> runtime_error.

    The candidate runs in a child of the harness and never sees the result line's channel;
    what it writes into its own result pipe corrupts the child's report, so the harness
    gives no result and the host judges the ending, instead of believing the forgery.
    """
    source = hostile(_FORGED, forward="x = x[:, :1]")  # forward breaks: shapes do not match
    result = await run(checker, source)
    assert result.outcome is not Outcome.SUCCESS
    assert result.outcome is Outcome.RUNTIME_ERROR, result.error_message
    assert (
        "result was corrupted" in result.error_message
        or "ended without a result" in result.error_message
    )


async def test_forged_pass_with_the_nonce_read_from_the_harness_is_not_success(checker):
    """The candidate reads the nonce and the result stream from the harness's frames and
    writes a success line for a module that has no Net at all -> must not be success.

    The candidate runs in a forked child of the harness: the job it gets has no nonce, and
    the result line's channel stays in the (non-dumpable) parent.
    """
    body = """
    import json
    frame, nonce, stream = sys._getframe(), None, None
    while frame is not None:
        job = frame.f_locals.get("job")
        if isinstance(job, dict) and "nonce" in job:
            nonce = job["nonce"]
        stream = frame.f_locals.get("result_stream", stream)
        frame = frame.f_back
    if nonce is not None and stream is not None:
        stream.write(json.dumps({"nonce": nonce, "outcome": "success", "stage": None,
                                 "error": None, "parameter_count": 7}) + "\\n")
        stream.flush()
    del Net
    raise Observation("OBSERVED blocked: no nonce or stream found")
    """
    result = await run(checker, hostile(body))
    assert result.outcome is not Outcome.SUCCESS, "a stolen nonce forged a success verdict"


# --- a crowd of checks --------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _crowd_member(index: int) -> tuple[str, Outcome, str]:
    """The candidate of check ``index``, its expected outcome and a text its verdict holds."""
    tag = f"check-{index:02d}-end"
    kinds = [
        (hostile(), Outcome.SUCCESS, ""),
        (hostile(f'report(False, "{tag}")'), Outcome.RUNTIME_ERROR, tag),
        (hostile(forward="x = x[:, :, :, :5]"), Outcome.SHAPE_MISMATCH, "submodule 'fc'"),
        (hostile("del Net.learn"), Outcome.API_NONCOMPLIANCE, "Net has no learn()"),
    ]
    return kinds[index % len(kinds)]


@pytest.mark.timeout(300)  # 20 cold starts, 2 at a time: about 8 s each under gVisor here
async def test_twenty_checks_at_once_never_exceed_two_containers(settings, launcher):
    """20 checks via gather, max_concurrent_checks=2 -> all right verdicts, <= 2 live
    containers at every 0.2 s sample, nothing left, host RSS growth < 300 MB."""
    bounded_settings = settings.model_copy(  # the global bound; per tenant: test_tenancy.py
        update={"max_concurrent_checks": 2, "per_tenant_concurrency": 20}
    )
    bounded = SandboxChecker(bounded_settings, launcher, load_policy(bounded_settings))
    sampler = Launcher(docker_client(), settings.namespace)
    await bounded.start()
    peak_containers, peak_running, samples = 0, 0, 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak_containers, peak_running, samples
        while not done.is_set():
            live = await asyncio.to_thread(sampler.leftovers, expired_only=False)
            peak_containers = max(peak_containers, len(live))
            peak_running = max(peak_running, bounded.running)
            samples += 1
            try:
                await asyncio.wait_for(done.wait(), 0.2)
            except TimeoutError:
                pass

    members = [_crowd_member(index) for index in range(20)]
    rss_before = _rss_bytes()
    sampling = asyncio.create_task(sample())
    try:
        results = await asyncio.gather(
            *(
                bounded.check(
                    source,
                    SPEC,
                    tenant=("acme", "globex")[index % 2],
                    skip_static=True,
                    timeout_seconds=30,
                )
                for index, (source, _, _) in enumerate(members)
            )
        )
    finally:
        done.set()
        await sampling
        await bounded.close()
        leftovers = launcher.leftovers(expired_only=False)
        launcher.reap(expired_only=False)
    rss_growth = _rss_bytes() - rss_before
    assert leftovers == []
    for index, ((_, outcome, text), result) in enumerate(zip(members, results, strict=True)):
        assert result.outcome is outcome, (index, result.outcome, result.error_message)
        assert text in result.error_message, (index, result.error_message)
        others = [f"check-{other:02d}-end" for other in range(20) if other != index]
        assert not [tag for tag in others if tag in result.error_message], result.error_message
    assert samples >= 10, samples
    assert 1 <= peak_containers <= 2, peak_containers
    assert peak_running <= 2, peak_running
    assert rss_growth < 300 * 1024**2, rss_growth
