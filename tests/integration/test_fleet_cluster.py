"""The CLI driving a real Dask cluster on loopback: ``dask scheduler``, ``dask worker``
processes, PostgreSQL as the shared store.

* a worker SIGKILLed mid-scan has its shard retried on the other, without a duplicate, and
  the exclusion list holds on the workers;
* a client stopped with Ctrl-C, then SIGKILLed, is resumed with ``--resume --cluster``: every
  target is probed exactly once over the three runs (finished shards are not run again, and
  the dead client's tasks still running on the workers do not collide with the resumed ones);
* a worker joining mid-scan takes shards, and the scan's ``--concurrency`` and ``--rate``
  hold over the cluster at every moment (measured at the servers);
* names resolving (through a loopback dnsmasq, or pinned) to one address never get more than
  ``--per-host`` connections at once there, though two workers scan.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.fleet_support import (
    Listener,
    PgCluster,
    free_port,
    listeners,
    run_vedette,
    spawn_vedette,
)
from tests.integration.realservers import ServerUnavailable, start_dnsmasq
from tests.tools import unavailable
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


@dataclass
class DaskCluster:
    """A scheduler and ``--nthreads 1`` workers (no nanny: a killed worker stays dead)."""

    address: str
    port: int
    logs: Path
    files: contextlib.ExitStack
    scheduler: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, workers: int) -> DaskCluster:
        self.scheduler = subprocess.Popen(
            [
                str(DASK),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-dashboard",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.files.enter_context((self.logs / "scheduler.log").open("wb")),
        )
        for _ in range(workers):
            self.add_worker()
        self.wait_for_workers(workers)
        return self

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        """Return once ``n`` workers are registered with the scheduler: a test starts with the
        cluster it asked for (a worker still starting when vedette connects made a flaky run).
        On a timeout the scheduler's and workers' logs say why."""
        from distributed import Client

        try:
            with Client(self.address, timeout=timeout) as client:  # type: ignore[no-untyped-call]
                client.wait_for_workers(n, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            logs = "\n".join(
                f"--- {f.name}\n" + f.read_text(errors="replace")[-2000:]
                for f in sorted(self.logs.glob("*.log"))
            )
            raise AssertionError(f"Dask cluster not ready ({exc}):\n{logs}") from None

    def add_worker(self) -> subprocess.Popen[bytes]:
        i = len(self.workers)
        proc = subprocess.Popen(
            [
                str(DASK),
                "worker",
                self.address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
                "--name",
                f"w{i}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.files.enter_context((self.logs / f"worker{i}.log").open("wb")),
        )
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        for proc in [*self.workers, *([self.scheduler] if self.scheduler else [])]:
            _stop(proc)


@pytest.fixture
def dask_factory(tmp_path: Path) -> Iterator[Callable[[int], DaskCluster]]:
    if not DASK.exists():
        pytest.fail(f"{DASK} is missing: install the test extras (pip install -e '.[test]')")
    logs = tmp_path / "dask"
    logs.mkdir()
    started: list[DaskCluster] = []
    with contextlib.ExitStack() as files:

        def start(workers: int) -> DaskCluster:
            port = free_port()
            cluster = DaskCluster(f"tcp://127.0.0.1:{port}", port, logs, files)
            started.append(cluster)
            return cluster.start(workers)

        try:
            yield start
        finally:
            for cluster in started:
                cluster.stop()


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with LabThread() as lt:
        yield lt.lab


class HoldingServers:
    """POP3-ish servers on many loopback addresses (one asyncio loop in a thread). Each
    connection is held ``hold`` seconds before the greeting, then closed; the servers count
    connections per address and the most open at once, per address and over all of them."""

    def __init__(self, ips: list[str], hold: float) -> None:
        self.ips = ips
        self.hold = hold
        self.ports: dict[str, int] = {}
        self.accepted: dict[str, int] = dict.fromkeys(ips, 0)
        self.times: list[float] = []
        self.open_now = 0
        self.most_open = 0
        self.open_at: dict[str, int] = dict.fromkeys(ips, 0)
        self.most_open_at: dict[str, int] = dict.fromkeys(ips, 0)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.Server] = []

    def __enter__(self) -> HoldingServers:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        for ip in self.ips:
            server = await asyncio.start_server(self._handle, ip, 0)
            self.ports[ip] = server.sockets[0].getsockname()[1]
            self._servers.append(server)

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ip = writer.get_extra_info("sockname")[0]
        self.accepted[ip] += 1
        self.times.append(time.monotonic())
        self.open_now += 1
        self.open_at[ip] += 1
        self.most_open = max(self.most_open, self.open_now)
        self.most_open_at[ip] = max(self.most_open_at[ip], self.open_at[ip])
        try:
            await asyncio.sleep(self.hold)
            writer.write(b"+OK held\r\n")
            with contextlib.suppress(OSError):
                await writer.drain()
        finally:
            self.open_now -= 1
            self.open_at[ip] -= 1
            writer.close()

    def total(self) -> int:
        return sum(self.accepted.values())

    def most_in(self, window: float) -> int:
        """The most connections accepted within any ``window`` seconds."""
        times = sorted(self.times)
        return max(
            (bisect.bisect_right(times, t + window) - i for i, t in enumerate(times)), default=0
        )


def _wait_done(
    url: str, at_least: int, timeout: float, proc: subprocess.Popen[str] | None = None
) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(
                f"vedette exited {proc.returncode} before {at_least} targets: {err}"
            )
        with Store.open(url) as store:
            scan_id = store.last_scan_id()
            if scan_id is not None and store.fleet_scan(scan_id).status == "running":
                done = store.fleet_scan(scan_id).done
                if done >= at_least:
                    return scan_id
        time.sleep(0.1)
    raise AssertionError(f"fewer than {at_least} targets stored after {timeout} s")


def _wait_working(url: str, scan_id: int, pid: int, timeout: float) -> None:
    """Until the worker ``pid`` holds the lease of a shard not done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Store.open(url) as store:
            shards = store.shard_states(scan_id)
        if pid in _pids([s.owner for s in shards if not s.done and s.leased]):
            return
        time.sleep(0.05)
    raise AssertionError(f"worker {pid} held no shard within {timeout} s")


def _pids(owners: list[str | None]) -> set[int]:
    """Worker process ids from shard owners (``host:pid:nonce``)."""
    return {int(o.split(":")[1]) for o in owners if o is not None}


def test_cluster_scan_survives_a_killed_worker(
    postgresql: PgCluster,
    dask_factory: Callable[[int], DaskCluster],
    lab: Lab,
    tmp_path: Path,
) -> None:
    cluster = dask_factory(2)
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
        with spawn_vedette(
            "scan",
            "--targets",
            str(targets),
            "--exclude",
            str(exclude),
            "--db",
            url,
            "--cluster",
            cluster.address,
            "--rate",
            "50",
            "--quiet",
            "--ca",
            str(lab.root_ca_path),
        ) as proc:
            scan_id = _wait_done(url, 15, timeout=60, proc=proc)
            _wait_working(url, scan_id, cluster.workers[0].pid, timeout=30)
            os.kill(cluster.workers[0].pid, signal.SIGKILL)
            cluster.workers[0].wait(15)
            out, err = proc.communicate(timeout=120)
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


def test_a_stopped_and_a_killed_client_resume_without_probing_anything_twice(
    postgresql: PgCluster, dask_factory: Callable[[int], DaskCluster], tmp_path: Path
) -> None:
    cluster = dask_factory(2)
    url = postgresql.database()
    ips = [f"127.0.12.{i}" for i in range(1, 91)]
    excluded = {ip for ip in ips if 64 <= int(ip.rsplit(".", 1)[1]) < 72}  # 127.0.12.64/29
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("127.0.12.64/29\n")
    with HoldingServers(ips, hold=0.05) as servers:
        targets = tmp_path / "targets.txt"
        targets.write_text("".join(f"pop3://{ip}:{servers.ports[ip]}\n" for ip in ips))
        expected = {f"quick||{ip}|{servers.ports[ip]}|pop3" for ip in ips if ip not in excluded}
        common = ("--db", url, "--cluster", cluster.address, "--quiet")
        # 1. Ctrl-C: the client stops, and so do its tasks on the workers.
        with spawn_vedette(
            "scan", "--targets", str(targets), "--exclude", str(exclude), "--rate", "15", *common
        ) as first:
            scan_id = _wait_done(url, 10, timeout=60, proc=first)
            os.kill(first.pid, signal.SIGINT)
            _, err = first.communicate(timeout=60)
        assert first.returncode == 130, err
        assert f"vedette scan --resume {scan_id}" in err
        time.sleep(4)  # a renewal (every 2 s) tells the tasks; their probes in flight end
        settled = servers.total()
        time.sleep(2.5)
        assert servers.total() == settled, "the cluster went on scanning after Ctrl-C"
        with Store.open(url) as store:
            stopped = store.fleet_scan(scan_id)
        assert stopped.done < stopped.total

        # 2. Resume, and SIGKILL this client mid-scan: its running tasks go on for a while.
        with spawn_vedette("scan", "--resume", str(scan_id), "--rate", "15", *common) as second:
            _wait_done(url, stopped.done + 20, timeout=60, proc=second)
            os.kill(second.pid, signal.SIGKILL)
            second.communicate(timeout=30)
        with Store.open(url) as store:
            before = {s.shard: s for s in store.shard_states(scan_id) if s.done}
            killed = store.fleet_scan(scan_id)
        assert before and killed.done < killed.total

        # 3. Resume at once, while the dead client's tasks may still be running.
        third = run_vedette("scan", "--resume", str(scan_id), "--rate", "30", *common)
        assert third.returncode == 0, third.stderr
        with Store.open(url) as store:
            keys = store.endpoint_keys(scan_id)
            state = store.fleet_scan(scan_id)
            after = {s.shard: s for s in store.shard_states(scan_id)}
    assert len(keys) == len(set(keys)), "an endpoint was stored twice"
    assert set(keys) == expected
    assert state.status == "finished" and state.done == state.total == len(expected)
    # Every target was probed once over the three runs, excluded ones never.
    assert {ip: n for ip, n in servers.accepted.items() if n != (ip not in excluded)} == {}
    # Shards done before the last resume were not run again.
    for shard, was in before.items():
        assert (after[shard].owner, after[shard].attempts) == (was.owner, was.attempts)
    assert all(s.done for s in after.values())


def test_a_worker_joining_mid_scan_takes_shards_within_the_global_concurrency(
    postgresql: PgCluster, dask_factory: Callable[[int], DaskCluster], tmp_path: Path
) -> None:
    cluster = dask_factory(1)
    url = postgresql.database()
    ips = [f"127.0.15.{i}" for i in range(1, 121)]
    with HoldingServers(ips, hold=0.2) as servers:
        targets = tmp_path / "targets.txt"
        targets.write_text("".join(f"pop3://{ip}:{servers.ports[ip]}\n" for ip in ips))
        with spawn_vedette(
            "scan",
            "--targets",
            str(targets),
            "--concurrency",
            "4",
            "--rate",
            "12",
            "--db",
            url,
            "--cluster",
            cluster.address,
            "--quiet",
        ) as proc:
            scan_id = _wait_done(url, 8, timeout=60, proc=proc)
            joined = cluster.add_worker()
            _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with Store.open(url) as store:
        keys = store.endpoint_keys(scan_id)
        shards = store.shard_states(scan_id)
    assert len(keys) == len(set(keys)) == len(ips)
    assert servers.most_open <= 4, f"{servers.most_open} connections open at once (limit 4)"
    assert servers.most_open >= 2  # the limits were used, not just respected
    # The rate too: 12 a second in all (each shard's bucket may start with one token).
    assert servers.most_in(1.0) <= 12 + 3, servers.most_in(1.0)
    assert servers.most_in(3.0) <= 36 + 3, servers.most_in(3.0)
    # Both workers stored shards: the one there from the start and the one that joined.
    assert _pids([s.owner for s in shards]) == {cluster.workers[0].pid, joined.pid}


def test_per_host_holds_across_workers_for_names_of_one_address(
    postgresql: PgCluster, dask_factory: Callable[[int], DaskCluster], tmp_path: Path
) -> None:
    shared = "127.0.13.1"
    others = [f"127.0.14.{i}" for i in range(1, 41)]
    names = [f"n{i}.perhost.test" for i in range(30)]
    try:
        dns = start_dnsmasq([(name, shared) for name in names], address="127.0.0.54")
    except ServerUnavailable as exc:
        unavailable(str(exc))
    cluster = dask_factory(2)
    url = postgresql.database()
    try:
        with HoldingServers([shared, *others], hold=0.2) as servers:
            port = servers.ports[shared]
            lines = [f"pop3://{name}:{port}" for name in names]  # resolved through dnsmasq
            lines += [f"pop3://p{i}.perhost.test:{port} {shared}" for i in range(10)]  # pinned
            lines.append(f"pop3://{shared}:{port}")
            lines += [f"pop3://{ip}:{servers.ports[ip]}" for ip in others]
            targets = tmp_path / "targets.txt"
            targets.write_text("\n".join(lines) + "\n")
            result = run_vedette(
                "scan",
                "--targets",
                str(targets),
                "--resolver",
                f"{dns.address}:{dns.ports[0]}",
                "--per-host",
                "2",
                "--concurrency",
                "16",
                "--db",
                url,
                "--cluster",
                cluster.address,
                "--quiet",
            )
            assert result.returncode == 0, result.stderr
    finally:
        dns.stop()
    with Store.open(url) as store:
        scan_id = store.last_scan_id()
        assert scan_id is not None
        keys = store.endpoint_keys(scan_id)
        shards = store.shard_states(scan_id)
    expected = {f"quick|{n}|{shared}|{port}|pop3" for n in names}
    expected |= {f"quick|p{i}.perhost.test|{shared}|{port}|pop3" for i in range(10)}
    expected.add(f"quick||{shared}|{port}|pop3")
    expected |= {f"quick||{ip}|{servers.ports[ip]}|pop3" for ip in others}
    assert len(keys) == len(set(keys)) and set(keys) == expected
    assert servers.accepted[shared] == 41
    assert servers.most_open_at[shared] <= 2, servers.most_open_at[shared]
    assert servers.most_open > 2  # the other addresses were scanned side by side
    assert len(_pids([s.owner for s in shards])) == 2
