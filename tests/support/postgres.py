"""A real PostgreSQL server for tests, run as an ordinary user on 127.0.0.1.

initdb refuses to run as root and CI runs as root, so as root the server runs as the
system user `nasforge-pg` (created once with useradd when missing) through runuser.
It listens on 127.0.0.1 at a free port and on a socket in its own temporary folder,
is stopped with `pg_ctl stop -m fast`, and the folder is removed afterwards.
`PostgresServer.stop()` / `start()` take the server away and bring it back on the same
port and data (for outage tests). The fixtures live in tests/integration/conftest.py.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

PG_USER = "nasforge-pg"
SUPERUSER = "postgres"
BINARIES = ("initdb", "pg_ctl", "postgres")


@dataclass
class PostgresServer:
    host: str
    port: int
    _pg_ctl: list[str] = field(default_factory=list, repr=False)
    _options: str = field(default="", repr=False)
    _base: Path = field(default=Path("."), repr=False)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server (fast: clients see their connections dropped; what was committed
        is kept, though the test server does not wait for the disk)."""
        stopped = _run([*self._pg_ctl, "-m", "fast", "-w", "stop"], self._base)
        if stopped.returncode != 0:
            pytest.fail(f"pg_ctl stop failed:\n{stopped.stderr}", pytrace=False)

    def start(self) -> None:
        """Start it again on the same port and data."""
        log = self._base / "server.log"
        started = _run(
            [*self._pg_ctl, "-l", str(log), "-w", "-t", "60", "-o", self._options, "start"],
            self._base,
        )
        if started.returncode != 0:
            pytest.fail(f"PostgreSQL did not start again:\n{started.stderr}", pytrace=False)

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"store_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _find_binaries() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in BINARIES:
        candidates = [shutil.which(name), f"/usr/local/bin/{name}"]
        candidates += sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
        path = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
        if path is None:
            pytest.fail(
                f"PostgreSQL server binary {name!r} not found (looked on PATH, in /usr/local/bin"
                " and /usr/lib/postgresql/*/bin). The PostgreSQL tests need a real"
                " server: install it (Debian: apt-get install postgresql) and run again.",
                pytrace=False,
            )
        found[name] = path
    return found


def _as_server_user() -> list[str]:
    """The command prefix that runs a server command as a non-root user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", PG_USER],
            check=True, capture_output=True,
        )  # fmt: skip
    return ["runuser", "-u", PG_USER, "--"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


@contextmanager
def running_postgres(max_connections: int = 200) -> Iterator[PostgresServer]:
    """A PostgreSQL server of its own for the duration of the block."""
    binaries = _find_binaries()
    prefix = _as_server_user()
    base = Path(tempfile.mkdtemp(prefix="nasforge-pg-"))
    data, sockets, log = base / "data", base / "run", base / "server.log"
    if prefix:
        account = pwd.getpwnam(PG_USER)
        os.chown(base, account.pw_uid, account.pw_gid)
    sockets.mkdir()
    if prefix:
        os.chown(sockets, account.pw_uid, account.pw_gid)
    pg_ctl = [*prefix, binaries["pg_ctl"], "-D", str(data)]
    server: PostgresServer | None = None
    try:
        init = _run(
            [*prefix, binaries["initdb"], "-D", str(data), "-U", SUPERUSER, "-A", "trust",
             "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"],
            base,
        )  # fmt: skip
        if init.returncode != 0:
            pytest.fail(f"initdb failed:\n{init.stdout}\n{init.stderr}", pytrace=False)
        for _attempt in range(3):  # a port found free can be taken before the server binds
            port = _free_port()
            options = (
                f"-h 127.0.0.1 -p {port} -k {sockets} -F -c max_connections={max_connections}"
                " -c synchronous_commit=off -c full_page_writes=off"
            )
            start = _run([*pg_ctl, "-l", str(log), "-w", "-t", "60", "-o", options, "start"], base)
            if start.returncode == 0:
                server = PostgresServer("127.0.0.1", port, pg_ctl, options, base)
                break
        if server is None:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            pytest.fail(f"PostgreSQL did not start:\n{start.stderr}\n{server_log}", pytrace=False)
        yield server
    finally:
        if server is not None:
            _run([*pg_ctl, "-m", "fast", "-w", "stop"], base)
        shutil.rmtree(base, ignore_errors=True)
