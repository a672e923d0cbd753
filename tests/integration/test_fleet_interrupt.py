"""Interrupting a fleet scan while its targets are read, and reading them from nowhere.

* Ctrl-C while a large target file is spooled: vedette exits at once (130), with no
  "database is locked" (a ``KeyboardInterrupt`` raised inside the database layer used to
  leave SQLite's write lock held, so removing the half-made scan stalled 5 s and failed), and
  no empty scan is left for ``report last`` to show.
* ``--targets -`` with standard input closed (``<&-``): one line, exit 2, nothing created
  (it was a ``TypeError`` traceback and a half-made scan).

The targets are loopback addresses on a closed port: nothing is contacted before the
interrupt, and nothing outside the machine ever.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.integration.fleet_support import (
    PgCluster,
    free_port,
    run_vedette,
    spawn_vedette,
    vedette_cmd,
)
from vedette.store.db import Store

LINES = 200_000
CLOSED = "vedette: error: --targets -: standard input is closed; give a file or pipe targets\n"
#: A hang detector: vedette stops within about 0.4 s of the signal (it stalled 5 s before).
PROMPT = 10.0


def _big_targets(path: Path) -> Path:
    with path.open("w") as f:
        for i in range(LINES):
            f.write(f"imaps://127.{1 + i // 65536}.{(i // 256) % 256}.{i % 256}:9\n")
    return path


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    """Until vedette has opened its store (the file exists): past start-up, about to spool.
    Only the file's existence is looked at: a reader would take part in SQLite's locking."""
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "vedette never opened its store"
        time.sleep(0.02)


def test_ctrl_c_while_targets_are_spooled(tmp_path: Path) -> None:
    targets = _big_targets(tmp_path / "big.txt")
    # Spooling 200,000 lines takes seconds; the interrupts land at different points of it.
    for n, delay in enumerate((0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 1.8, 2.1)):
        db = tmp_path / f"v{n}.db"
        url = f"sqlite:///{db}"
        with spawn_vedette("scan", "--targets", str(targets), "--db", url, "--quiet") as proc:
            _wait_for(db, proc)
            time.sleep(delay)
            sent = time.monotonic()
            os.kill(proc.pid, signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
        assert took < PROMPT, (delay, took, err)
        assert "database is locked" not in err, (delay, err)
        assert "Traceback" not in err, (delay, err)
        assert proc.returncode == 130, (delay, proc.returncode, err)
        listed = run_vedette("report", "--list", "--db", url)
        assert listed.returncode == 0, listed.stderr
        # Interrupted while spooling: no scan at all, not an empty one.
        assert listed.stdout.strip() == "", (delay, listed.stdout, err)
        last = run_vedette("report", "last", "--db", url)
        assert last.returncode == 2 and "--targets big.txt" not in last.stdout, (delay, last)


def test_targets_from_a_closed_standard_input(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    cmd = " ".join(vedette_cmd("scan", "--targets", "-", "--db", f"sqlite:///{db}", "--quiet"))
    proc = subprocess.run(
        ["bash", "-c", f"exec {cmd} <&-"], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 2, proc
    assert proc.stderr == CLOSED
    assert proc.stdout == ""
    # Nothing was created: not a scan, not even the database.
    assert not db.exists()


def _scans(url: str) -> list[str]:
    with Store.open(url) as store:
        return [f"{s.scan_id} {store.fleet_scan(s.scan_id).status}" for s in store.list_scans()]


def test_ctrl_c_while_spooling_into_postgresql_for_a_cluster(
    postgresql: PgCluster, tmp_path: Path
) -> None:
    # The same with the Dask runner's store: the targets go to PostgreSQL first, the cluster
    # is only contacted once they are all in (so no scheduler is needed to interrupt that).
    # PostgreSQL readers never block its writers: the test watches the scan being spooled.
    targets = _big_targets(tmp_path / "big.txt")
    url = postgresql.database()
    scheduler = f"tcp://127.0.0.1:{free_port()}"
    for delay in (0.1, 0.5, 1.0):
        with spawn_vedette(
            "scan", "--targets", str(targets), "--cluster", scheduler, "--db", url, "--quiet"
        ) as proc:
            deadline = time.monotonic() + 60
            while not _scans(url):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "vedette never began its scan"
                time.sleep(0.02)
            time.sleep(delay)
            sent = time.monotonic()
            os.kill(proc.pid, signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        assert time.monotonic() - sent < PROMPT, (delay, err)
        assert "Traceback" not in err, (delay, err)
        assert proc.returncode == 130, (delay, proc.returncode, err)
        assert _scans(url) == [], (delay, err)


def test_closed_standard_input_for_a_cluster_scan() -> None:
    # Refused before the store or the cluster is contacted (neither exists here).
    url = f"postgresql+psycopg://vedette@127.0.0.1:{free_port()}/nowhere"
    cluster = f"tcp://127.0.0.1:{free_port()}"
    args = ("scan", "--targets", "-", "--cluster", cluster, "--db", url)
    proc = subprocess.run(
        ["bash", "-c", f"exec {' '.join(vedette_cmd(*args))} <&-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc
    assert proc.stderr == CLOSED
