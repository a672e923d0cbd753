"""Support for the fleet tests: a private PostgreSQL cluster, loopback listeners, the CLI.

PostgreSQL: ``initdb`` and ``pg_ctl`` from Debian's ``postgresql`` package start a throw-away
cluster listening on 127.0.0.1 only (and a Unix socket in its own directory), once per test
session. ``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres``
system user (``runuser``). Each test gets a database of its own from ``PgCluster.database``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests import cli
from tests.integration.realservers import ServerStartError, ServerUnavailable

_START_TIMEOUT = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    """A running private PostgreSQL cluster."""

    bindir: Path
    datadir: Path
    port: int
    user: str
    run_as: str | None
    root: Path
    _count: int = 0

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        import psycopg

        self._count += 1
        name = f"vedette_{os.getpid()}_{self._count}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        cmd = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"]
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(_as(self.run_as, cmd), capture_output=True, timeout=30, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _as(user: str | None, cmd: list[str]) -> list[str]:
    return cmd if user is None else ["runuser", "-u", user, "--", *cmd]


def start_postgresql() -> PgCluster:
    """Start a private cluster on 127.0.0.1; ServerUnavailable when PostgreSQL is missing."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise ServerUnavailable("PostgreSQL is not installed (Debian package postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ServerUnavailable(
            "psycopg is not installed (pip install 'psycopg[binary]')"
        ) from None
    bindir = Path(candidates[-1]).parent
    run_as: str | None = None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise ServerUnavailable("running as root and there is no postgres user") from None
        run_as = "postgres"
    root = Path(tempfile.mkdtemp(prefix="vedette-pg-"))
    datadir, sockdir = root / "data", root / "sock"
    sockdir.mkdir()
    if run_as is not None:
        for path in (root, sockdir):
            os.chown(path, pw.pw_uid, pw.pw_gid)
    root.chmod(0o700)
    user = "vedette"
    init = _as(
        run_as,
        [str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", user, "-E", "UTF8"],
    )
    result = subprocess.run(init, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise ServerStartError(f"initdb failed: {result.stderr.strip()[-2000:]}")
    port = free_port()
    # fsync off: a test cluster need not survive a power cut, and it makes commits cheap.
    options = (
        f"-k {sockdir} -h 127.0.0.1 -p {port} -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=200"
    )
    start = _as(
        run_as,
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(datadir),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "-t",
            str(int(_START_TIMEOUT)),
            "start",
        ],
    )
    result = subprocess.run(start, capture_output=True, text=True, timeout=60, check=False)
    cluster = PgCluster(
        bindir=bindir, datadir=datadir, port=port, user=user, run_as=run_as, root=root
    )
    if result.returncode != 0:
        log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
        cluster.stop()
        raise ServerStartError(f"PostgreSQL did not start: {result.stderr.strip()} {log[-2000:]}")
    return cluster


# --- loopback listeners ------------------------------------------------------------------------


@dataclass
class Listener:
    """A TCP listener that accepts, counts and closes connections (a host that must never be
    contacted, or a cheap fleet member answering with a fixed greeting)."""

    ip: str
    port: int
    greeting: bytes = b""
    accepted: list[float] = field(default_factory=list)
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Listener:
        sock = socket.socket(socket.AF_INET6 if ":" in self.ip else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.ip, self.port))
        self.port = sock.getsockname()[1]
        sock.listen(128)
        sock.settimeout(0.1)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(time.monotonic())
            with conn:
                if self.greeting:
                    with contextlib.suppress(OSError):
                        conn.sendall(self.greeting)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()


@contextlib.contextmanager
def listeners(specs: Sequence[tuple[str, bytes]]) -> Iterator[list[Listener]]:
    started: list[Listener] = []
    try:
        for ip, greeting in specs:
            started.append(Listener(ip=ip, port=0, greeting=greeting).start())
        yield started
    finally:
        for lst in started:
            lst.stop()


# --- the CLI -----------------------------------------------------------------------------------


def vedette_cmd(*args: str) -> list[str]:
    return cli.vedette_argv(*args)


def run_vedette(
    *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``tests.cli.run_vedette`` with the fleet tests' terminal width (the callers check for
    tracebacks where they expect none)."""
    return cli.run_vedette(
        *args, stdin=stdin, timeout=timeout, env={"COLUMNS": "200"}, allow_traceback=True
    )


@contextlib.contextmanager
def spawn_vedette(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``vedette *args`` in the background, its output piped; whatever happens in the block,
    it is not left running (SIGKILL by its pid) nor left unreaped afterwards."""
    proc = subprocess.Popen(
        vedette_cmd(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            kill(proc)


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the process we started (by its pid) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def _env() -> dict[str, str]:
    # The store default must never be the user's own database.
    return cli.vedette_env({"COLUMNS": "200"})
