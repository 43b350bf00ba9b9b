"""Abuse suite, part 2: resource exhaustion and persistence, real containers.

Fork and memory bombs, disk and inode fills, files left for the next check, endless loops:
each ends in a bounded verdict and leaves nothing behind (the ``checker`` fixture asserts
that no container of its namespace remains). Candidates come from test_abuse.hostile.
"""

import asyncio
import pathlib
import re
import time
import uuid

import pytest

from netapi.outcomes import Outcome
from sandbox_runner.containers import RUNTIMES, Launcher, docker_client
from tests.integration.sandbox.test_abuse import assert_blocked, hostile, margin_seconds, run

_MIB = 1024**2


def _pids_in_cgroup(container_id: str) -> int | None:
    """Tasks in the container's pids cgroup (cgroup v1 or v2, cgroupfs or systemd driver)."""
    for path in (
        f"/sys/fs/cgroup/pids/docker/{container_id}/pids.current",
        f"/sys/fs/cgroup/docker/{container_id}/pids.current",
        f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/pids.current",
    ):
        try:
            return int(pathlib.Path(path).read_text())
        except (OSError, ValueError):
            continue
    return None


@pytest.mark.parametrize("runtime", RUNTIMES, indirect=True)
async def test_fork_bomb_is_bounded_by_the_pids_limit(checker, settings, launcher):
    """A fork loop that swallows EAGAIN -> timeout at 4 s under runc; under gVisor the
    sandbox's own host threads hit the pids limit and the whole sandbox ends (Go runtime
    exit code 2: runtime_error, no result). Either way the container never holds more than
    pids_limit host tasks, the host keeps forking, nothing is left."""
    body = """
    while True:
        try:
            os.fork()
        except OSError:
            pass
    """
    sampler = Launcher(docker_client(), settings.namespace)
    peak, samples, done = 0, 0, asyncio.Event()

    async def sample() -> None:
        nonlocal peak, samples
        while not done.is_set():
            for container_id in await asyncio.to_thread(sampler.leftovers, expired_only=False):
                peak = max(peak, _pids_in_cgroup(container_id) or 0)
            samples += 1
            await asyncio.sleep(0.2)

    sampling = asyncio.create_task(sample())
    started = time.monotonic()
    try:
        result = await run(checker, hostile(body), limit=4)
    finally:
        done.set()
        await sampling
    elapsed = time.monotonic() - started
    if launcher.runtime == "runsc":
        assert result.outcome in (Outcome.TIMEOUT, Outcome.RUNTIME_ERROR), result.error_message
        if result.outcome is Outcome.RUNTIME_ERROR:
            assert "ended without a result (exit code 2)" in result.error_message
    else:
        assert result.outcome is Outcome.TIMEOUT, result.error_message
    assert elapsed < 4 + margin_seconds(launcher.runtime), elapsed
    assert samples >= 10, samples  # the host's event loop kept running during the bomb
    assert settings.pids_limit / 2 <= peak <= settings.pids_limit, peak
    host_fork = await asyncio.create_subprocess_exec("true")
    assert await asyncio.wait_for(host_fork.wait(), 10) == 0


@pytest.mark.parametrize(
    ("body", "forward"),
    [
        ("chunks = [b'x' * (32 << 20) for _ in range(10**6)]", ""),
        ("", "chunks = [torch.ones(8 << 20) for _ in range(10**6)]"),
    ],
    ids=["bytes_at_import", "tensors_in_forward"],
)
async def test_memory_bomb_is_oom(checker, body, forward):
    """Allocating without end -> oom, read from the container's OOMKilled state."""
    result = await run(checker, hostile(body, forward=forward), limit=30)
    assert result.outcome is Outcome.OOM, result.error_message
    assert "memory limit" in result.error_message


async def test_inode_flood_is_charged_to_the_memory_limit(checker, launcher):
    """Millions of empty files in /tmp (kernel memory, not tmpfs bytes) -> oom at the memory
    limit (or ENOSPC, blocked, where tmpfs's inode cap comes first on a small host). gVisor's
    tmpfs has no inode cap and creates files at about 3,000/s: there the deadline (or the
    memory limit, which the sandbox's memory is charged to) ends it."""
    body = """
    os.mkdir("/tmp/inodes")
    count = 0
    try:
        while count < 20_000_000:
            open("/tmp/inodes/%d" % count, "w").close()
            count += 1
    except OSError as exc:
        report(False, "%s after %d files" % (err(exc), count))
    report(True, "%d files created" % count)
    """
    runsc = launcher.runtime == "runsc"
    result = await run(checker, hostile(body), limit=30 if runsc else 60)
    if result.outcome is Outcome.OOM:
        assert "memory limit" in result.error_message
    elif runsc and result.outcome is Outcome.TIMEOUT:
        assert "ran past 30s" in result.error_message
    else:
        assert_blocked(result, "ENOSPC after")


async def test_root_filesystem_is_read_only_and_only_tmp_and_shm_are_writable(checker, launcher):
    """Creating a file in every mount point and usual directory -> only /tmp, /dev/shm and
    (under runc) /dev/mqueue accept it; / is mounted ro and refuses (blocked).

    /dev/mqueue takes POSIX message queues of the container's private IPC namespace, bounded
    by RLIMIT_MSGQUEUE and fs.mqueue.queues_max, and gone with the container; gVisor mounts
    no /dev/mqueue.
    """
    body = """
    mounts = {}
    for line in open("/proc/self/mounts"):
        _, point, _, options = line.split()[:4]
        mounts[point] = options.split(",")[0]
    usual = ["/", "/etc", "/opt", "/opt/venv", "/opt/nasforge", "/var/tmp", "/root", "/home",
             "/usr/lib", "/run", "/var/run", os.path.expanduser("~")]
    writable, refused = [], {}
    for directory in sorted(set(mounts) | set(usual)):
        if not os.path.isdir(directory):
            continue
        path = os.path.join(directory, ".nasforge-probe")
        try:
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        except OSError as exc:
            refused[directory] = err(exc)
        else:
            os.close(fd)
            os.unlink(path)
            writable.append(directory)
    extra = sorted(set(writable) - {"/tmp", "/dev/shm", "/dev/mqueue"})
    report(bool(extra) or mounts["/"] != "ro",
           "root=%s slash=%s writable=%s extra=%s" % (
               mounts["/"], refused.get("/"), writable, extra))
    """
    result = await run(checker, hostile(body))
    writable = (
        ["/dev/shm", "/tmp"] if launcher.runtime == "runsc" else ["/dev/mqueue", "/dev/shm", "/tmp"]
    )
    assert_blocked(result, "root=ro", f"writable={writable}", "extra=[]")
    assert re.search(r"slash=(EROFS|EACCES)", result.error_message), result.error_message


@pytest.mark.parametrize("directory", ["/tmp", "/dev/shm"])
async def test_filling_a_scratch_filesystem_stops_at_its_cap(checker, settings, directory):
    """Writing 1 MiB blocks without end -> ENOSPC (blocked) at the tmpfs/shm cap of 64 MiB."""
    body = """
    written = 0
    try:
        with open("__DIR__/fill", "wb", buffering=0) as f:
            while written < 512 << 20:
                f.write(b"f" * (1 << 20))
                written += 1 << 20
    except OSError as exc:
        report(False, "%s after %d MiB" % (err(exc), written >> 20))
    report(True, "wrote %d MiB" % (written >> 20))
    """
    result = await run(checker, hostile(body, dir=directory))
    assert_blocked(result, "ENOSPC after")
    cap_mib = (settings.tmpfs_bytes if directory == "/tmp" else settings.shm_bytes) // _MIB
    written = int(re.search(r"ENOSPC after (\d+) MiB", result.error_message).group(1))
    assert written <= cap_mib, written


async def test_sparse_file_cannot_allocate_past_the_tmpfs_cap(checker, settings):
    """ftruncate to 10 GB and a write at its end may succeed (sparse), but fallocate and
    filling it -> ENOSPC (blocked), with at most the 64 MiB cap used in /tmp (statvfs: gVisor
    reports a sparse file's st_blocks as its whole size)."""
    body = """
    seen = []
    fd = os.open("/tmp/sparse", os.O_CREAT | os.O_RDWR, 0o600)
    for name, action in [
        ("truncate", lambda: os.ftruncate(fd, 10 << 30)),
        ("endwrite", lambda: os.pwrite(fd, b"e" * (1 << 20), (10 << 30) - (1 << 20))),
        ("fallocate", lambda: os.posix_fallocate(fd, 0, 10 << 30)),
        ("fill", lambda: [os.pwrite(fd, b"s" * (1 << 20), i << 24) for i in range(640)]),
    ]:
        try:
            action()
            seen.append(name + "=ok")
        except OSError as exc:
            seen.append(name + "=" + err(exc))
    usage = os.statvfs("/tmp")
    allocated = (usage.f_blocks - usage.f_bfree) * usage.f_frsize >> 20
    seen.append("allocated=%d" % allocated)
    report("fallocate=ok" in seen or "fill=ok" in seen or allocated > __CAP__, " ".join(seen))
    """
    cap_mib = settings.tmpfs_bytes // _MIB
    result = await run(checker, hostile(body, cap=cap_mib))
    assert_blocked(result, "fallocate=ENOSPC", "fill=ENOSPC")
    allocated = int(re.search(r"allocated=(\d+)", result.error_message).group(1))
    assert allocated <= cap_mib, allocated


async def test_files_do_not_persist_between_checks(checker):
    """Run 1 writes markers in /tmp and /dev/shm ('OBSERVED wrote'); run 2, a new container,
    finds neither (blocked)."""
    marker = f"nasforge-persist-{uuid.uuid4().hex[:12]}"
    first = """
    for directory in ("/tmp", "/dev/shm"):
        with open(os.path.join(directory, "__MARKER__"), "w") as f:
            f.write("left behind")
    raise Observation("OBSERVED wrote: " + str(os.listdir("/tmp")))
    """
    second = """
    found = [d for d in ("/tmp", "/dev/shm") if os.path.exists(os.path.join(d, "__MARKER__"))]
    report(bool(found), "markers found in %s" % found)
    """
    written = await run(checker, hostile(first, marker=marker))
    assert written.outcome is Outcome.RUNTIME_ERROR, written.error_message
    assert "OBSERVED wrote" in written.error_message and marker in written.error_message
    assert_blocked(await run(checker, hostile(second, marker=marker)), "markers found in []")


LOOPS = {
    "import": ("while True:\n    pass", "", ""),
    "init": ("", "while True:\n    pass", ""),
    "forward": ("", "", "while True:\n    x = x + 0"),
    # SIGTERM, SIGINT and SIGHUP ignored: the deadline kills with SIGKILL all the same.
    "import_ignoring_sigterm": (
        "import signal\n"
        "for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
        "    signal.signal(signum, signal.SIG_IGN)\n"
        "while True:\n    pass",
        "",
        "",
    ),
    # Every fd closed, so the host sees the output end but no exit: still the deadline.
    "import_after_closing_all_fds": (
        "for fd in range(64):\n"
        "    try:\n        os.close(fd)\n    except OSError:\n        pass\n"
        "while True:\n    pass",
        "",
        "",
    ),
}


@pytest.mark.parametrize("where", sorted(LOOPS))
async def test_endless_loop_is_killed_at_the_deadline(checker, launcher, where):
    """An endless loop (at import, in __init__, in forward, ignoring SIGTERM, with its output
    closed) -> timeout at 4 s, the verdict within the margin after it."""
    body, init, forward = LOOPS[where]
    started = time.monotonic()
    result = await run(checker, hostile(body, init=init, forward=forward), limit=4)
    elapsed = time.monotonic() - started
    assert result.outcome is Outcome.TIMEOUT, result.error_message
    assert "ran past 4s" in result.error_message
    assert elapsed < 4 + margin_seconds(launcher.runtime), elapsed
