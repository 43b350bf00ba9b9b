"""Abuse suite, part 3: attempts to reach out of the container, real containers.

Network (aimed only at loopback addresses or names), host files and environment, the Docker
socket, /proc and /sys, privileges, and children that try to outlive their check. Each probe
reports what it saw; the test asserts it saw only blocked attempts.
"""

import asyncio
import pathlib
import re
import socket
import tempfile
import uuid

import pytest

from netapi.outcomes import Outcome
from sandbox_runner.containers import ALLOWED_ENVIRONMENT
from tests.integration.sandbox.conftest import REPO_ROOT
from tests.integration.sandbox.test_abuse import assert_blocked, hostile, run

# --- network --------------------------------------------------------------------------------


async def test_only_loopback_exists(checker):
    """Interfaces from /proc/net/dev and if_nameindex, IPv4 routes -> only lo, no route."""
    body = """
    import socket
    names = sorted(line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:])
    indexed = sorted(name for _, name in socket.if_nameindex())
    routes = len(open("/proc/net/route").readlines()) - 1
    report(names != ["lo"] or indexed != ["lo"] or routes != 0,
           "interfaces=%s indexed=%s routes=%d" % (names, indexed, routes))
    """
    assert_blocked(await run(checker, hostile(body)), "interfaces=['lo']", "routes=0")


async def test_dns_lookup_of_service_names_fails_at_once(checker):
    """getaddrinfo of compose-style service names -> fails (blocked) in under a second each."""
    body = """
    import socket
    seen, resolved = [], []
    for name in ("llm-gateway", "sandbox-runner", "search-core", "trainer-svc", "prometheus"):
        started = time.monotonic()
        try:
            resolved.append((name, socket.getaddrinfo(name, 50051)[0][4]))
        except OSError as exc:
            seen.append("%s:%s:%.2fs" % (name, type(exc).__name__, time.monotonic() - started))
    report(bool(resolved), "failed=%s resolved=%s" % (seen, resolved))
    """
    result = await run(checker, hostile(body))
    assert_blocked(result, "resolved=[]")
    lookups = re.findall(r"([\w-]+):gaierror:([\d.]+)s", result.error_message)
    assert len(lookups) == 5, result.error_message
    assert all(float(seconds) < 1.0 for _, seconds in lookups), lookups


async def test_tcp_connect_to_a_port_the_host_listens_on_fails(checker):
    """Host listens on 127.0.0.1 (and ::1 where it can); the container connects to both ->
    refused (blocked): its loopback is its own, and the host accepts no connection."""
    listeners = [socket.create_server(("127.0.0.1", 0))]
    port = listeners[0].getsockname()[1]
    try:
        listeners.append(socket.create_server(("::1", port), family=socket.AF_INET6))
    except OSError:
        pass  # no IPv6 loopback on this host: the container still tries ::1
    body = """
    import socket
    seen, connected = [], []
    for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect((address, __PORT__))
                connected.append(address)
        except OSError as exc:
            seen.append("%s=%s" % (address, err(exc)))
    report(bool(connected), "refused=%s connected=%s" % (seen, connected))
    """
    try:
        result = await run(checker, hostile(body, port=port))
        accepted = []
        for listener in listeners:
            listener.setblocking(False)
            try:
                accepted.append(listener.accept()[1])
            except BlockingIOError:
                pass
    finally:
        for listener in listeners:
            listener.close()
    assert_blocked(result, "127.0.0.1=ECONNREFUSED", "connected=[]")
    assert re.search(
        r"::1=(ECONNREFUSED|EADDRNOTAVAIL|ENETUNREACH|EAFNOSUPPORT)", result.error_message
    )
    assert accepted == []


async def test_raw_and_packet_sockets_cannot_be_created(checker):
    """SOCK_RAW for IPv4, IPv6 and AF_PACKET (created, never used) -> EPERM (no CAP_NET_RAW)."""
    body = """
    import socket
    seen, opened = [], []
    for name, args in (
        ("inet", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)),
        ("inet6", (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)),
        ("packet", (socket.AF_PACKET, socket.SOCK_RAW, 0)),
    ):
        try:
            socket.socket(*args).close()
            opened.append(name)
        except OSError as exc:
            seen.append("%s=%s" % (name, err(exc)))
    report(bool(opened), "refused=%s opened=%s" % (seen, opened))
    """
    assert_blocked(await run(checker, hostile(body)), "inet=EPERM", "inet6=EPERM", "packet=EPERM")


# --- host files and environment -----------------------------------------------------------------


@pytest.fixture
def host_file():
    """A file in the host's /tmp, removed after the test."""
    path = pathlib.Path(tempfile.gettempdir(), f"nasforge-abuse-{uuid.uuid4().hex}.secret")
    path.write_text("host secret")
    yield path
    path.unlink()


async def test_host_files_are_not_visible(checker, host_file):
    """A file the test writes in the host's /tmp and the host's repository -> absent inside;
    /etc/shadow (the image's own) unreadable by uid 10001 (blocked)."""
    body = """
    seen = {}
    for name, path in (("hostfile", "__HOSTFILE__"), ("repo", "__REPO__/pyproject.toml")):
        seen[name] = os.path.exists(path)
    listed = [name for name in os.listdir("/tmp") if "nasforge-abuse" in name]
    try:
        open("/etc/shadow").read()
        seen["shadow"] = "readable"
    except OSError as exc:
        seen["shadow"] = err(exc)
    report(any(v is True for v in seen.values()) or listed or seen["shadow"] == "readable",
           "%s listed=%s" % (" ".join("%s=%s" % item for item in sorted(seen.items())), listed))
    """
    source = hostile(body, hostfile=host_file, repo=REPO_ROOT.as_posix())
    result = await run(checker, source)
    assert_blocked(result, "hostfile=False", "repo=False", "listed=[]")
    assert re.search(r"shadow=(EACCES|ENOENT)", result.error_message), result.error_message


async def test_host_environment_never_reaches_the_container(checker, monkeypatch):
    """A secret in the test's environment -> absent from /proc/*/environ and os.environ of
    every process the candidate can read (blocked), and from the verdict."""
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    monkeypatch.setenv("NASFORGE_TEST_SECRET", secret)
    body = """
    wanted = "__SECRET__"
    read, found = [], []
    for pid in ["self"] + [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            data = open("/proc/%s/environ" % pid, "rb").read().decode("utf-8", "replace")
        except OSError:
            continue
        read.append(pid)
        if wanted in data or "NASFORGE_TEST_SECRET" in data:
            found.append(pid)
    if wanted in str(dict(os.environ)) or "NASFORGE_TEST_SECRET" in os.environ:
        found.append("os.environ")
    report(bool(found) or "1" not in read, "read=%s found=%s" % (read, found))
    """
    result = await run(checker, hostile(body, secret=secret))
    assert_blocked(result, "found=[]", "'1'")
    assert secret not in result.error_message


async def test_environment_holds_only_allowlisted_keys(checker):
    """The container's initial environment holds only allowlisted keys plus the image's PATH,
    HOME, HOSTNAME and PYTHON*; os.environ adds only what Python and torch set in-process."""
    body = """
    initial = sorted(
        entry.split(b"=", 1)[0].decode()
        for entry in open("/proc/self/environ", "rb").read().split(b"\\0") if entry
    )
    added = sorted(set(os.environ) - set(initial))
    raise Observation("OBSERVED environment: initial=%s added=%s" % (
        ",".join(initial), ",".join(added)))
    """
    result = await run(checker, hostile(body))
    assert result.outcome is Outcome.RUNTIME_ERROR, result.error_message
    match = re.search(r"initial=([\w,]*) added=([\w,]*)", result.error_message)
    assert match, result.error_message
    initial, added = match.group(1).split(","), set(filter(None, match.group(2).split(",")))
    image = {"PATH", "HOME", "HOSTNAME"}
    unexpected = [
        key
        for key in initial
        if key not in ALLOWED_ENVIRONMENT | image and not key.startswith("PYTHON")
    ]
    assert unexpected == [], initial
    assert {"PATH", "OMP_NUM_THREADS"} <= set(initial)
    # LC_CTYPE: Python's C locale coercion (PEP 538); TORCHINDUCTOR_CACHE_DIR: torch itself.
    assert added <= {"LC_CTYPE", "TORCHINDUCTOR_CACHE_DIR"}, added


async def test_docker_socket_is_absent(checker):
    """/var/run/docker.sock and other engine sockets -> absent; no socket file under /run
    or /var/run; connecting to docker.sock fails (blocked)."""
    body = """
    import socket
    import stat
    engine = ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
              "/var/run/docker/containerd/containerd.sock", "/run/podman/podman.sock"]
    present = [path for path in engine if os.path.exists(path)]
    sockets = []
    for top in ("/run", "/var/run"):
        for directory, _, files in os.walk(top):
            for name in files:
                path = os.path.join(directory, name)
                try:
                    if stat.S_ISSOCK(os.lstat(path).st_mode):
                        sockets.append(path)
                except OSError:
                    pass
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect("/var/run/docker.sock")
            connected = "connected"
    except OSError as exc:
        connected = err(exc)
    report(bool(present or sockets) or connected == "connected",
           "present=%s sockets=%s connect=%s" % (present, sockets, connected))
    """
    assert_blocked(await run(checker, hostile(body)), "present=[]", "sockets=[]", "connect=ENOENT")


# --- /proc, /sys and privileges -----------------------------------------------------------------

# Opened for writing and closed without a write: even a success would change nothing.
_KERNEL_FILES = [
    "/proc/sys/kernel/hostname",
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/vm/drop_caches",
    "/proc/sysrq-trigger",
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    "/sys/fs/cgroup/pids/pids.max",
    "/sys/fs/cgroup/memory.max",
    "/sys/fs/cgroup/pids.max",
]


async def test_proc_and_sys_cannot_be_opened_for_writing(checker, launcher):
    """Opening kernel knobs in /proc/sys, /proc/sysrq-trigger, /sys and the container's own
    cgroup limits for writing -> EROFS/EACCES/EPERM (ENOENT where the host lacks the file;
    gVisor's kernel has no core_pattern)."""
    body = """
    seen, opened = [], []
    for path in __PATHS__:
        try:
            fd = os.open(path, os.O_WRONLY)
        except OSError as exc:
            seen.append("%s=%s" % (path, err(exc)))
        else:
            os.close(fd)
            opened.append(path)
    report(bool(opened), "refused=%s opened=%s" % (seen, opened))
    """
    result = await run(checker, hostile(body, paths=repr(_KERNEL_FILES)))
    assert_blocked(result, "opened=[]")
    refusals = dict(re.findall(r"'(/[\w/.-]+)=(\w+)'", result.error_message))
    assert set(refusals) == set(_KERNEL_FILES), refusals
    assert set(refusals.values()) <= {"EROFS", "EACCES", "EPERM", "ENOENT"}, refusals
    must_exist = ["/proc/sys/kernel/hostname"]
    if launcher.runtime != "runsc":
        must_exist.append("/proc/sys/kernel/core_pattern")
    for path in must_exist:
        assert refusals[path] in {"EROFS", "EACCES", "EPERM"}, refusals


async def test_candidate_runs_unprivileged_and_cannot_gain_privileges(checker, launcher):
    """uid/gid 10001, every capability set empty, NoNewPrivs 1; mount, sethostname,
    setuid(0) and setgid(0) fail. Under runc the engine's seccomp filter is on (Seccomp 2) and
    unshare and chroot fail too. Under gVisor (whose status has no CapAmb line) the engine's
    profile is not applied inside the sandbox (runsc's --oci-seccomp would also refuse every
    thread): unshare and chroot are served by gVisor's own kernel and make namespaces of the
    sandbox, never of the host, while gVisor's filter on the host is the boundary."""
    body = """
    import ctypes
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    status = {key: value.split()[0] if value.split() else "" for key, value in status.items()}
    libc = ctypes.CDLL(None, use_errno=True)
    os.makedirs("/tmp/mnt", exist_ok=True)

    def call(function, *args):
        if function(*args) == 0:
            return "ok"
        return errno.errorcode.get(ctypes.get_errno(), "?")

    def python(function, *args):
        try:
            function(*args)
            return "ok"
        except OSError as exc:
            return err(exc)

    seen = {
        "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
        "CapEff": status["CapEff"], "CapPrm": status["CapPrm"], "CapInh": status["CapInh"],
        "CapBnd": status["CapBnd"], "CapAmb": status.get("CapAmb", "absent"),
        # prctl PR_GET_NO_NEW_PRIVS (39) and PR_GET_SECCOMP (21): gVisor's status lacks both lines
        "NoNewPrivs": libc.prctl(39, 0, 0, 0, 0), "Seccomp": libc.prctl(21, 0, 0, 0, 0),
        "mount": call(libc.mount, b"none", b"/tmp/mnt", b"tmpfs", 0, None),
        "unshare_user": call(libc.unshare, 0x10000000),
        "unshare_mount": call(libc.unshare, 0x00020000),
        "sethostname": call(libc.sethostname, b"pwned", 5),
        "chroot": python(os.chroot, "/tmp"),
        "setuid": python(os.setuid, 0),
        "setgid": python(os.setgid, 0),
    }
    zero = "0000000000000000"
    UNDER_GVISOR = __UNDER_GVISOR__
    must_fail = ["mount", "sethostname", "setuid", "setgid"]
    if not UNDER_GVISOR:
        must_fail += ["unshare_user", "unshare_mount", "chroot"]
    escaped = (
        seen["uid"] == 0 or seen["euid"] == 0 or 0 in seen["groups"]
        or any(seen[cap] != zero for cap in ("CapEff", "CapPrm", "CapInh", "CapBnd"))
        or seen["CapAmb"] not in (zero, "absent")
        or seen["NoNewPrivs"] != 1 or (not UNDER_GVISOR and seen["Seccomp"] != 2)
        or "ok" in [seen[name] for name in must_fail]
    )
    report(escaped, " ".join("%s=%s" % (key, value) for key, value in seen.items()))
    """
    runsc = launcher.runtime == "runsc"
    result = await run(checker, hostile(body, under_gvisor=runsc))
    zero = "0000000000000000"
    expected = ["mount=EPERM", "sethostname=EPERM"]
    if not runsc:
        expected += ["Seccomp=2", "unshare_user=EPERM", "unshare_mount=EPERM", "chroot=EPERM"]
        expected += ["setuid=EPERM", "setgid=EPERM"]
    assert_blocked(
        result,
        "uid=10001 euid=10001 gid=10001 groups=[10001]",
        f"CapEff={zero} CapPrm={zero} CapInh={zero} CapBnd={zero} "
        f"CapAmb={'absent' if runsc else zero}",
        "NoNewPrivs=1",
        *expected,
    )


# --- children that try to outlive the check -------------------------------------------------


async def _host_processes_with(marker: str) -> list[str]:
    process = await asyncio.create_subprocess_exec(
        "pgrep", "-f", marker, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    return stdout.decode().split()


async def _gone(marker: str) -> list[str]:
    """Host processes with ``marker`` in their argv, after up to 2 s for them to end."""
    remaining = await _host_processes_with(marker)
    for _ in range(20):
        if not remaining:
            break
        await asyncio.sleep(0.1)
        remaining = await _host_processes_with(marker)
    return remaining


async def test_daemonised_child_dies_with_its_container(checker, launcher):
    """A double-forked, setsid'd sleeper (marker in its argv) -> 'OBSERVED daemonised'
    (runtime_error). Under runc it is a host process during the check and gone once the check
    returns; under gVisor it is never a host process (it lives in the sandbox's kernel), and
    the sandbox's own host processes (the container id in their argv) are gone after it."""
    marker = f"nasforge-daemon-{uuid.uuid4().hex}"
    body = """
    child = os.fork()
    if child == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)",
                                      "__MARKER__"])
        os._exit(0)
    os.waitpid(child, 0)
    time.sleep(2)
    raise Observation("OBSERVED daemonised: a sleeper outlives its parent")
    """
    seen_during, containers, sandbox, done = [], set(), [], asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            seen_during.extend(await _host_processes_with(marker))
            for container_id in await asyncio.to_thread(launcher.leftovers, expired_only=False):
                containers.add(container_id)
                sandbox.extend(await _host_processes_with(container_id))
            await asyncio.sleep(0.2)

    watching = asyncio.create_task(watch())
    try:
        result = await run(checker, hostile(body, marker=marker))
    finally:
        done.set()
        await watching
    assert result.outcome is Outcome.RUNTIME_ERROR, result.error_message
    assert "OBSERVED daemonised" in result.error_message
    assert sandbox, "no host process of the container was seen: the probe proves nothing"
    if launcher.runtime == "runsc":
        assert seen_during == [], "a process of the gVisor sandbox ran as a host process"
    else:
        assert seen_during, "the sleeper was never seen on the host: the probe proves nothing"
    assert await _gone(marker) == [], "host processes outlived their container"
    for container_id in containers:
        assert await _gone(container_id) == [], f"host processes of {container_id[:12]} remain"
