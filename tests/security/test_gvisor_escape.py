"""Escape attempts under gVisor: a hostile candidate inside a check container run by runsc.

Each test checks one hostile candidate through a real SandboxChecker whose launcher is set to
runsc explicitly (skipped where the engine has no runsc), and asserts two things: the attack
failed (the probe saw only blocked attempts, or the host-side ending is the bounded one), and
the container really ran under gVisor: the engine's HostConfig.Runtime of every container the
check started is runsc, and the kernel release the candidate saw is not the host's. Probes and
helpers are the sandbox abuse suite's (tests/integration/sandbox/test_abuse.py); traffic goes
only to loopback and to containers the test itself created.
"""

import asyncio
import os
import re
import socket
import textwrap
import uuid

import pytest

import tests.integration.sandbox.conftest as sandbox_fixtures
import tests.integration.sandbox.test_abuse_escape as abuse_escape
from netapi.outcomes import Outcome
from sandbox_runner.containers import (
    AttachedContainer,
    ContainerSpec,
    Launcher,
    Limits,
    docker_client,
    engine_runtimes,
)
from sandbox_runner.core import SandboxChecker
from sandbox_runner.verdicts import CheckResult
from tests.integration.sandbox.test_abuse import assert_blocked, hostile, margin_seconds, run
from tests.integration.sandbox.test_abuse_resources import _pids_in_cgroup

pytestmark = pytest.mark.timeout(300)

# The sandbox suite's fixtures (a checker in its own namespace, no container left after it).
namespace = sandbox_fixtures.namespace
settings = sandbox_fixtures.settings
checker = sandbox_fixtures.checker
host_file = abuse_escape.host_file  # a file in the host's /tmp

# Every detail a probe reports starts with the kernel release it saw.
_KERNEL = """
_report_blocked_or_escaped = report


def report(escaped, detail):
    _report_blocked_or_escaped(escaped, "kernel=%s %s" % (os.uname().release, detail))
"""


class InspectingLauncher(Launcher):
    """A launcher that asks the engine which runtime each container it started really has."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.runtimes_seen: list[str] = []

    def start(self, spec: ContainerSpec) -> AttachedContainer:
        container = super().start(spec)
        inspected = self._client.api.inspect_container(container.id)
        self.runtimes_seen.append(inspected["HostConfig"]["Runtime"])
        return container


@pytest.fixture
def runtime() -> str:
    if "runsc" not in (engine_runtimes(docker_client()) or set()):
        pytest.skip("the Docker engine has no runsc (gVisor) runtime")
    return "runsc"


@pytest.fixture
def launcher(settings) -> InspectingLauncher:
    instance = InspectingLauncher(
        docker_client(), settings.namespace, settings.output_cap_bytes, settings.runtime
    )
    assert instance.resolve_runtime() == "runsc"
    return instance


async def attack(
    checker: SandboxChecker, launcher: InspectingLauncher, body: str, limit: float = 10.0, **values
) -> CheckResult:
    """Check the hostile ``body``; assert it ran under gVisor (engine and kernel seen)."""
    result = await run(checker, hostile(_KERNEL + textwrap.dedent(body), **values), limit=limit)
    assert launcher.runtimes_seen and set(launcher.runtimes_seen) == {"runsc"}, (
        launcher.runtimes_seen
    )
    if "kernel=" in result.error_message:
        seen = result.error_message.split("kernel=", 1)[1].split()[0]
        assert seen != os.uname().release, f"the candidate saw the host's kernel {seen}"
    return result


def assert_blocked_in_gvisor(result: CheckResult, *expected: str) -> None:
    assert_blocked(result, *expected)
    assert "kernel=" in result.error_message, "the probe did not report its kernel"


async def test_the_sandbox_is_gvisor_and_shows_no_host_kernel(checker, launcher):
    """Fingerprinting the kernel (uname, /proc/version, /proc/cpuinfo flags count) -> gVisor's
    own kernel identity, never the host's; the engine says runtime runsc (blocked)."""
    body = """
    version = open("/proc/version").read().strip()
    report("__HOST_RELEASE__" in version, "version=%r" % version)
    """
    result = await attack(checker, launcher, body, host_release=os.uname().release)
    assert_blocked_in_gvisor(result, "version='Linux version 4.4.0")


async def test_host_files_cannot_be_read(checker, launcher, host_file):
    """Reading a file the test wrote in the host's /tmp (directly, through /proc/*/root and
    /proc/self/cwd/..), the host repository, and opening a host inode by handle
    (open_by_handle_at, the 'shocker' escape) -> ENOENT or EACCES for every path, and the
    handle refused (EPERM, or not supported at all by gVisor's kernel) (blocked)."""
    body = """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    seen = {}
    paths = ["__HOSTFILE__", "__REPO__/pyproject.toml", "/proc/self/cwd/../../__HOSTFILE__"]
    paths += ["/proc/%s/root__HOSTFILE__" % p for p in os.listdir("/proc") if p.isdigit()]
    found = []
    for path in paths:
        try:
            with open(path) as f:
                found.append((path, f.read()))
        except OSError as exc:
            seen[err(exc)] = seen.get(err(exc), 0) + 1
    handle = ctypes.create_string_buffer(8 + 128)
    ctypes.memmove(handle, (128).to_bytes(4, "little") + (1).to_bytes(4, "little"), 8)
    fd = libc.syscall(304, -100, handle, os.O_RDONLY)  # open_by_handle_at(AT_FDCWD, ...)
    by_handle = "ok" if fd >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
    report(bool(found) or by_handle == "ok",
           "found=%s errors=%s by_handle=%s" % (found, sorted(seen), by_handle))
    """
    result = await attack(
        checker, launcher, body, hostfile=host_file, repo=sandbox_fixtures.REPO_ROOT.as_posix()
    )
    assert_blocked_in_gvisor(result, "found=[]")
    errors = re.search(r"errors=\[([^\]]*)\]", result.error_message).group(1)
    assert set(re.findall(r"\w+", errors)) <= {"ENOENT", "EACCES"}, result.error_message
    assert re.search(r"by_handle=(EPERM|ENOTSUP|EOPNOTSUPP|ENOSYS)\b", result.error_message)


async def test_mounting_anything_is_refused(checker, launcher):
    """mount(2) of a tmpfs, proc, a bind of / and a FUSE filesystem through gVisor's /dev/fuse
    -> EPERM each. Then unshare of a user and a mount namespace, which gVisor's own kernel
    serves (the engine's seccomp profile is not applied inside the sandbox), and the same
    mounts as 'root' of that namespace: whatever succeeds is a mount of the sandbox's kernel,
    whose proc lists only the sandbox's few processes, never the test's host pid (blocked)."""
    body = """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    os.makedirs("/tmp/mnt", exist_ok=True)

    def call(function, *args):
        return "ok" if function(*args) == 0 else errno.errorcode.get(ctypes.get_errno(), "?")

    def mounts(prefix, seen):
        try:
            fuse = os.open("/dev/fuse", os.O_RDWR)
            options = ("fd=%d,rootmode=40000,user_id=10001,group_id=10001" % fuse).encode()
        except OSError:
            options = b""
        seen[prefix + "tmpfs"] = call(libc.mount, b"none", b"/tmp/mnt", b"tmpfs", 0, None)
        seen[prefix + "bind"] = call(libc.mount, b"/", b"/tmp/mnt", None, 4096, None)
        seen[prefix + "fuse"] = call(libc.mount, b"fuse", b"/tmp/mnt", b"fuse", 0, options)
        seen[prefix + "proc"] = call(libc.mount, b"proc", b"/tmp/mnt", b"proc", 0, None)

    seen = {}
    mounts("", seen)
    seen["unshare"] = call(libc.unshare, 0x10000000 | 0x00020000)  # NEWUSER | NEWNS
    if seen["unshare"] == "ok":
        mounts("ns_", seen)
    pids = []
    if seen.get("ns_proc") == "ok":
        pids = [int(p) for p in os.listdir("/tmp/mnt") if p.isdigit()]
    escaped = ("ok" in [seen[k] for k in ("tmpfs", "bind", "fuse", "proc")]
               or __HOST_PID__ in pids or len(pids) > 16)
    report(escaped, " ".join("%s=%s" % item for item in seen.items()) + " pids=%d" % len(pids))
    """
    result = await attack(checker, launcher, body, host_pid=os.getpid())
    assert_blocked_in_gvisor(result, "tmpfs=EPERM bind=EPERM fuse=EPERM proc=EPERM")


async def test_raw_sockets_and_the_hosts_loopback_are_out_of_reach(checker, launcher):
    """SOCK_RAW and AF_PACKET sockets -> EPERM; a TCP connect to a port the host listens on at
    127.0.0.1 -> refused (the sandbox's loopback is gVisor's own), nothing accepted on the
    host; the only interface is lo, with no route (blocked)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    body = """
    import socket
    seen, opened = [], []
    for name, args in (("raw", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)),
                       ("packet", (socket.AF_PACKET, socket.SOCK_RAW, 0))):
        try:
            socket.socket(*args).close()
            opened.append(name)
        except OSError as exc:
            seen.append("%s=%s" % (name, err(exc)))
    try:
        with socket.create_connection(("127.0.0.1", __PORT__), timeout=2):
            opened.append("host-loopback")
    except OSError as exc:
        seen.append("connect=%s" % err(exc))
    names = sorted(name for _, name in socket.if_nameindex())
    report(bool(opened) or names != ["lo"],
           "refused=%s opened=%s interfaces=%s" % (seen, opened, names))
    """
    try:
        result = await attack(checker, launcher, body, port=port)
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    assert_blocked_in_gvisor(
        result, "raw=EPERM", "packet=EPERM", "connect=ECONNREFUSED", "opened=[]", "['lo']"
    )


async def test_ptrace_reaches_no_process_outside_the_sandbox(checker, launcher):
    """PTRACE_ATTACH to this test's own host pid and to the sandbox's init (pid 1) -> ESRCH and
    EPERM; /proc lists only the sandbox's few processes, none of the host's (blocked). (Tracing
    its own child works, as on any kernel: it stays inside the sandbox.)"""
    body = """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)

    def attach(pid):
        if libc.ptrace(16, pid, 0, 0) == 0:  # PTRACE_ATTACH
            return "ok"
        return errno.errorcode.get(ctypes.get_errno(), "?")

    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    seen = {"host": attach(__HOST_PID__), "init": attach(1)}
    report("ok" in seen.values() or __HOST_PID__ in pids or len(pids) > 16,
           "host=%(host)s init=%(init)s" % seen + " pids=%d" % len(pids))
    """
    result = await attack(checker, launcher, body, host_pid=os.getpid())
    assert_blocked_in_gvisor(result, "host=ESRCH init=EPERM")


async def test_nothing_outside_the_tmpfs_can_be_written(checker, launcher):
    """Creating files in /, /etc, /opt/venv (the candidate's torch), /usr/lib, /var/tmp, /root
    and /dev, and truncating the harness' own source -> EROFS/EACCES; /tmp is a tmpfs of the
    sandbox (blocked)."""
    body = """
    import glob
    refused, written = {}, []
    for directory in ("/", "/etc", "/opt/venv", "/usr/lib", "/var/tmp", "/root", "/dev"):
        path = os.path.join(directory, ".nasforge-probe")
        try:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
            written.append(directory)
        except OSError as exc:
            refused[directory] = err(exc)
    for path in glob.glob("/opt/nasforge/**/*.py", recursive=True)[:1]:
        try:
            os.truncate(path, 0)
            written.append(path)
        except OSError as exc:
            refused["harness"] = err(exc)
    tmp_type = [line.split()[2] for line in open("/proc/self/mounts") if line.split()[1] == "/tmp"]
    codes = ",".join(sorted(set(refused.values())))
    report(bool(written) or tmp_type != ["tmpfs"],
           "written=%s tmp=%s codes=%s" % (written, tmp_type, codes))
    """
    result = await attack(checker, launcher, body)
    assert_blocked_in_gvisor(result, "written=[]", "tmp=['tmpfs']")
    codes = re.search(r"codes=([A-Z,]+)", result.error_message)
    assert codes and set(codes.group(1).split(",")) <= {"EROFS", "EACCES"}, result.error_message


async def test_fork_bomb_is_bounded_by_the_pids_limit(checker, launcher, settings):
    """A fork loop that swallows EAGAIN -> the sandbox's host tasks stop at pids_limit and the
    check ends in time (runtime_error: gVisor's kernel itself cannot make threads and ends, or
    timeout); the host still forks, nothing is left."""
    body = """
    while True:
        try:
            os.fork()
        except OSError:
            pass
    """
    peak, done = 0, asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            for container_id in await asyncio.to_thread(launcher.leftovers, expired_only=False):
                peak = max(peak, _pids_in_cgroup(container_id) or 0)
            await asyncio.sleep(0.2)

    sampling = asyncio.create_task(sample())
    started = asyncio.get_running_loop().time()
    try:
        result = await attack(checker, launcher, body, limit=4)
    finally:
        done.set()
        await sampling
    elapsed = asyncio.get_running_loop().time() - started
    assert result.outcome in (Outcome.RUNTIME_ERROR, Outcome.TIMEOUT), result.error_message
    assert elapsed < 4 + margin_seconds("runsc"), elapsed
    assert 0 < peak <= settings.pids_limit, peak
    host_fork = await asyncio.create_subprocess_exec("true")
    assert await asyncio.wait_for(host_fork.wait(), 10) == 0


async def test_kernel_modules_cannot_be_loaded(checker, launcher):
    """init_module and finit_module (with an empty image), and looking for module files and
    /proc/modules -> EPERM for both calls, nothing to load (blocked)."""
    body = """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)

    def syscall(number, *args):
        if libc.syscall(number, *args) == 0:
            return "ok"
        return errno.errorcode.get(ctypes.get_errno(), "?")

    fd = os.open("/dev/null", os.O_RDONLY)
    seen = {
        "init_module": syscall(175, ctypes.c_char_p(b"\\0" * 64), 64, b""),
        "finit_module": syscall(313, fd, b"", 0),
        "modules_dir": os.path.exists("/lib/modules"),
        "proc_modules": os.path.exists("/proc/modules"),
    }
    report("ok" in seen.values() or seen["modules_dir"],
           " ".join("%s=%s" % item for item in seen.items()))
    """
    result = await attack(checker, launcher, body)
    assert_blocked_in_gvisor(
        result, "init_module=EPERM finit_module=EPERM modules_dir=False proc_modules=False"
    )


def _host_abstract_sockets(fragment: str) -> list[str]:
    """The host's abstract unix socket names holding ``fragment`` (NULs as in the kernel)."""
    with open("/proc/net/unix") as table:
        names = [line.split()[-1] for line in table.read().splitlines()[1:] if "@" in line]
    return [name.replace("@", "\0") for name in names if fragment in name]


def _host_can_connect(name: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(name)
        except OSError:
            return False
    return True


async def test_engine_and_sandbox_control_sockets_are_unreachable(checker, launcher, settings):
    """Connecting to the Docker and containerd sockets, and to host abstract unix sockets a
    victim owns: the gVisor control socket of a runsc container this test started
    (@runsc-sandbox.<id>) and a listener the test opened, both live from the host -> ENOENT
    for the paths and ECONNREFUSED for the abstract names: the sandbox has a unix socket
    namespace of its own (blocked)."""
    victim = launcher.start(
        ContainerSpec(
            settings.image, "check", Limits(memory_bytes=settings.memory_bytes), 120, tenant="v"
        )
    )
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener_name = f"\0nasforge-gvisor-{uuid.uuid4().hex}"
        listener.bind(listener_name)
        listener.listen()
        controls = _host_abstract_sockets(f"runsc-sandbox.{victim.id}")
        assert controls, "the victim has no control socket on the host: the probe proves nothing"
        targets = [*controls, listener_name]
        assert all(_host_can_connect(name) for name in targets), targets
        listener.accept()[0].close()  # the host's own check above
        body = """
        import socket
        seen, connected = {}, []
        paths = ["/var/run/docker.sock", "/run/containerd/containerd.sock",
                 "/var/run/docker/containerd/containerd.sock"]
        for target in paths + __TARGETS__:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(target)
                    connected.append(target)
            except OSError as exc:
                seen[target.replace("\\0", "@")] = err(exc)
        report(bool(connected), "connected=%s %s" % (
            connected, " ".join("%s=%s" % item for item in sorted(seen.items()))))
        """
        result = await attack(checker, launcher, body, targets=repr(targets))
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
        victim.destroy()
    expected = [f"{name.replace(chr(0), '@')}=ECONNREFUSED" for name in targets]
    assert_blocked_in_gvisor(result, "connected=[]", "/var/run/docker.sock=ENOENT", *expected)
