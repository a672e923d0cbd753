"""The CLI driving a real Dask cluster on loopback: ``dask scheduler``, two ``dask worker``
processes, PostgreSQL as the shared store; one worker is SIGKILLed mid-scan and its shard
is retried on the other without a duplicate, and the exclusion list holds on the workers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fleet_support import (
    Listener,
    PgCluster,
    free_port,
    kill,
    listeners,
    spawn_vedette,
)
from vedette.lab import LabThread
from vedette.lab.scenarios import Lab
from vedette.store.db import Store

DASK = Path(sys.executable).parent / "dask"
REFUSED = 150


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(15)


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    if not DASK.exists():
        pytest.fail(f"{DASK} is missing: install the test extras (pip install -e '.[test]')")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask"
    logs.mkdir()
    with contextlib.ExitStack() as files:
        yield from _processes(address, port, logs, files)


def _processes(
    address: str, port: int, logs: Path, files: contextlib.ExitStack
) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    scheduler = subprocess.Popen(
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=files.enter_context((logs / "scheduler.log").open("wb")),
    )
    workers = [
        subprocess.Popen(
            [
                str(DASK),
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",  # a killed worker stays dead: no nanny restarts it
                "--host",
                "127.0.0.1",
                "--no-dashboard",
                "--name",
                f"w{i}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=files.enter_context((logs / f"worker{i}.log").open("wb")),
        )
        for i in range(2)
    ]
    try:
        yield address, workers
    finally:
        for proc in [*workers, scheduler]:
            _stop(proc)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with LabThread() as lt:
        yield lt.lab


def _wait_done(url: str, at_least: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Store.open(url) as store:
            scan_id = store.last_scan_id()
            if scan_id is not None and store.fleet_scan(scan_id).status == "running":
                done = store.fleet_scan(scan_id).done
                if done >= at_least:
                    return scan_id
        time.sleep(0.1)
    raise AssertionError(f"fewer than {at_least} targets stored after {timeout} s")


def test_cluster_scan_survives_a_killed_worker(
    postgresql: PgCluster,
    dask_cluster: tuple[str, list[subprocess.Popen[bytes]]],
    lab: Lab,
    tmp_path: Path,
) -> None:
    address, workers = dask_cluster
    url = postgresql.database()
    expected: set[str] = set()
    lines: list[str] = []
    for srv in lab.servers:
        lines.append(f"{srv.service.value}://{srv.ip}:{srv.port}")
        expected.add(f"quick||{srv.ip}|{srv.port}|{srv.service.value}")
    for i in range(REFUSED):
        ip = f"127.0.7.{i + 1}"
        lines.append(f"pop3://{ip}:9")
        expected.add(f"quick||{ip}|9|pop3")
    with listeners([("127.0.8.1", b"+OK forbidden\r\n")]) as (forbidden,):
        lines.append(f"pop3://{forbidden.ip}:{forbidden.port}")
        lines.append(f"pop3://blocked.fleet.test:{forbidden.port} {forbidden.ip}")
        targets = tmp_path / "targets.txt"
        targets.write_text("\n".join(lines) + "\n")
        exclude = tmp_path / "exclude.txt"
        exclude.write_text("127.0.8.0/24\n")
        proc = spawn_vedette(
            "scan",
            "--targets",
            str(targets),
            "--exclude",
            str(exclude),
            "--db",
            url,
            "--cluster",
            address,
            "--rate",
            "50",
            "--quiet",
            "--ca",
            str(lab.root_ca_path),
        )
        try:
            scan_id = _wait_done(url, 15, timeout=60)
            os.kill(workers[0].pid, signal.SIGKILL)
            workers[0].wait(15)
            out, err = proc.communicate(timeout=120)
        except BaseException:
            kill(proc)
            raise
        assert proc.returncode == 0, err
        _check_forbidden(forbidden)
    with Store.open(url) as store:
        keys = store.endpoint_keys(scan_id)
        state = store.fleet_scan(scan_id)
        attempts = store.shard_attempts(scan_id)
    assert len(keys) == len(set(keys)), "an endpoint was stored twice"
    assert set(keys) == expected
    assert state.status == "finished" and state.done == state.total == len(expected)
    # The shard the killed worker held was taken over by the other one.
    assert max(attempts.values()) >= 2, attempts


def _check_forbidden(listener: Listener) -> None:
    assert listener.accepted == [], "an excluded address was contacted"
