"""The Dask runner: one fleet scan spread over the workers of a Dask cluster.

The targets are spooled once (by the client, into the shared PostgreSQL) and cut into shards:
ranges of the permutation key (``scale.targets.shard_bounds``), cut on address boundaries.
Each shard is one Dask task running the same resumable runner as a local scan
(``scale.runner.run_targets``) against the same database. A run of the client goes:

1. *Pin pass*: named targets are resolved (on the workers, one task per shard range, all
   finished before any probe) and each is replaced in the store by one target pinned to each
   of its addresses, keyed by that address (``Store.pin_targets``; the scan's total then
   counts these). Every target of one
   address is then in one shard, which runs on one worker at a time: ``--per-host`` holds
   across the cluster, whichever names lead to the address. A name that does not resolve in
   this pass is resolved again when probed (and recorded as unresolved if it still fails).
2. *Probe pass*: the client keeps one shard task per worker thread in flight, and gives each
   new task a budget computed from the worker threads present *at its submission*:
   ``--concurrency // threads`` endpoints at once and ``--rate / threads`` connections per
   second. A task runs only once it holds a lease on its shard whose budget fits: the lease
   is granted in one transaction that sums the budgets of the live leases of the scan
   (``Store.claim_shard``), so the sum over the cluster never exceeds ``--concurrency`` or
   ``--rate``, even while workers join or leave; a worker that joins gets the next shard
   (with a smaller budget, granted once an older, larger lease is given back).

Guarantees, and where they come from:

* *One worker per shard at a time*: the lease (a row in ``scan_shards``), renewed every
  third of ``LEASE_SECONDS``; a second task for the shard waits for it to lapse or be
  given back.
* *No duplicates*: results are written by ``Store.record_results``, which marks targets done
  in the same transaction and skips targets already done; the unique endpoint index backs it.
  A task still running from a client that died cannot store anything twice either.
* *A killed worker's shard is retried*: Dask reschedules the tasks of a lost worker on the
  others (up to ``retries``); the new attempt finds the targets written before the kill done
  and probes only the rest, after the dead worker's lease has run out.
* *Resume*: each client run writes its own run id into the open shards. A task of an earlier
  run (its client was killed: Dask cannot stop a running task) sees at its next renewal that
  its run is over, stops taking targets, keeps its lease (and budget) until its probes in
  flight are stored, then gives it back; the resumed run's task for that shard waits for it.
  Shards already done are not run again. Ctrl-C on the client ends its run the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import time
import uuid
from collections import deque
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from vedette import analysis
from vedette.errors import ResolveError, UsageError
from vedette.scale.runner import Progress, RunStats, run_targets
from vedette.scale.targets import order_key, shard_bounds
from vedette.scan import RunSettings
from vedette.targets import parse_target, plan_ports

if TYPE_CHECKING:
    from vedette.resolve import Resolver
    from vedette.scan import ScanOptions
    from vedette.store.db import Store
    from vedette.store.records import PendingTarget
    from vedette.targets import TargetSpec

__all__ = ["LEASE_SECONDS", "pin_range", "run_on_cluster", "run_shard"]

#: How long a shard's lease lasts without renewal; renewed every third of it. A shard whose
#: worker died is taken over at most this long after the kill.
LEASE_SECONDS = 6.0
#: Shards per worker thread present at the start, and at least this many shards in all: a
#: retried shard is a small part of the scan, and workers that join later find shards left.
_SHARDS_PER_WORKER = 4
_MIN_SHARDS = 16
_RETRIES = 3
_POLL = 0.3
_PAGE = 500

#: ``(concurrency, connections per 1000 s or None)``: a lease's budget, or the scan's limits.
Budget = tuple[int, int | None]


# --- on the workers -------------------------------------------------------------------------


def run_shard(
    url: str,
    scan_id: int,
    shard: int,
    lo: int,
    hi: int,
    settings: RunSettings,
    roots: tuple[bytes, ...],
    run: str,
    budget: Budget,
    limits: Budget,
) -> dict[str, Any]:
    """Probe the pending targets of one shard within ``budget`` (runs on a Dask worker).

    ``settings`` already carries the budget as its concurrency and rate. The result's
    ``state`` is ``finished``, ``open`` (stopped early: targets left), ``done`` (finished by
    another task) or ``stale`` (the shard belongs to another client run)."""
    from vedette.store.db import Store

    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    with Store.open(url) as store:
        # Wait for a lease held by another task to lapse or be given back, and for room in
        # the scan's budget. Every lease waited on is held by a task that is working (or
        # lapses within LEASE_SECONDS), so the wait ends.
        while True:
            now = datetime.now(UTC)
            state = store.claim_shard(
                scan_id,
                shard,
                owner=owner,
                run=run,
                now=now,
                lease_until=now + timedelta(seconds=LEASE_SECONDS),
                budget=budget,
                limits=limits,
            )
            if state == "claimed":
                break
            if state != "wait":
                return {"state": state, **_stats_dict(RunStats())}
            time.sleep(LEASE_SECONDS / 12)
        try:
            stats = asyncio.run(
                _run_leased(store, scan_id, shard, lo, hi, settings, roots, run, owner)
            )
        finally:
            finished = store.finish_shard(scan_id, shard, owner)
    return {"state": "finished" if finished else "open", **_stats_dict(stats)}


async def _run_leased(
    store: Store,
    scan_id: int,
    shard: int,
    lo: int,
    hi: int,
    settings: RunSettings,
    roots: tuple[bytes, ...],
    run: str,
    owner: str,
) -> RunStats:

    held = current = True
    stopping = asyncio.Event()

    async def renew() -> None:
        nonlocal held, current
        while held:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), LEASE_SECONDS / 3)
            if stopping.is_set():
                return
            held, now_current = await asyncio.to_thread(
                store.renew_shard,
                scan_id,
                shard,
                owner=owner,
                run=run,
                lease_until=datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS),
            )
            current = current and now_current

    renewer = asyncio.create_task(renew())
    try:
        ctx = analysis.context(datetime.now(UTC), roots)
        return await run_targets(
            store, scan_id, settings, ctx, lo=lo, hi=hi, keep_going=lambda: held and current
        )
    finally:
        # Not cancelled: a renewal runs in a thread that a cancellation would not stop, and
        # could extend the lease after the shard is given back. Let it end instead.
        stopping.set()
        await renewer


def pin_range(url: str, scan_id: int, lo: int, hi: int, settings: RunSettings, seed: bytes) -> int:
    """The pin pass over the key range ``[lo, hi)`` (runs on a Dask worker): each pending
    named target is replaced by one target per address it resolves to, keyed by that address.
    Returns the number of targets replaced."""
    from vedette.store.db import Store

    with Store.open(url) as store:
        return asyncio.run(_pin(store, scan_id, lo, hi, settings, seed))


async def _pin(
    store: Store, scan_id: int, lo: int, hi: int, settings: RunSettings, seed: bytes
) -> int:
    from vedette.resolve import Resolver

    options = settings.options
    resolver = Resolver(options.resolver, timeout=options.limits.connect_timeout)
    queries = asyncio.Semaphore(max(1, options.limits.concurrency))
    replaced = 0
    after: tuple[int, int] | None = None
    while True:
        page = await asyncio.to_thread(
            store.pending_targets, scan_id, after=after, limit=_PAGE, lo=lo, hi=hi
        )
        if not page:
            return replaced
        after = (page[-1].order_key, page[-1].target_id)
        named = [(p, parse_target(p.target)) for p in page if not p.pin]
        named = [(p, spec) for p, spec in named if not spec.is_ip]
        rows = await asyncio.gather(
            *(_pinned_rows(p, spec, options, resolver, queries, seed) for p, spec in named)
        )
        pins = [(p.target_id, r) for (p, _), r in zip(named, rows, strict=True) if r]
        replaced += await asyncio.to_thread(store.pin_targets, scan_id, pins)


async def _pinned_rows(
    pending: PendingTarget,
    spec: TargetSpec,
    options: ScanOptions,
    resolver: Resolver,
    queries: asyncio.Semaphore,
    seed: bytes,
) -> list[tuple[str, str, int]]:
    """``(target, pin, order_key)`` per address of a named target, ``[]`` to leave it as it
    is (the name did not resolve, or its ports lead to different addresses)."""
    found: set[tuple[str, ...]] = set()
    for port, _ in plan_ports(spec, ports=options.ports, service=options.service):
        # The addresses the runner would connect to: --resolve, --ip, then DNS.
        fixed = next(
            (p.addresses for p in options.pins if p.host == spec.host and p.port in (port, None)),
            options.pinned or None,
        )
        if fixed is None:
            try:
                async with queries:
                    fixed = await resolver.resolve(spec.host)
            except ResolveError:
                return []
        found.add(tuple(fixed))
    if len(found) != 1:
        return []
    (addresses,) = found
    pins = dict.fromkeys(str(ipaddress.ip_address(a)) for a in addresses)
    return [(pending.target, a, order_key(seed, spec, a)) for a in pins]


def _stats_dict(stats: RunStats) -> dict[str, Any]:
    return {
        "targets": stats.targets,
        "endpoints": stats.endpoints,
        "errors": stats.errors,
        "excluded": stats.excluded,
        "findings": stats.findings,
        "deep": stats.deep,
        "worst": None if stats.worst is None else int(stats.worst),
        "by_finding": dict(stats.by_finding),
    }


def _merge(total: RunStats, part: dict[str, Any]) -> None:
    from vedette.model import Severity

    for name in ("targets", "endpoints", "errors", "excluded", "findings", "deep"):
        setattr(total, name, getattr(total, name) + int(part[name]))
    if part["worst"] is not None:
        worst = Severity(part["worst"])
        if total.worst is None or worst > total.worst:
            total.worst = worst
    for fid, n in part["by_finding"].items():
        total.by_finding[fid] = total.by_finding.get(fid, 0) + int(n)


# --- on the client --------------------------------------------------------------------------


def _limits(settings: RunSettings) -> Budget:
    rate = None if settings.rate is None else int(settings.rate * 1000)
    return settings.options.limits.concurrency, rate


def _budget(limits: Budget, threads: int) -> Budget:
    """One task's share when ``threads`` tasks run at once (rounded down: the shares never
    add up to more than the limits)."""
    concurrency, rate = limits
    return max(1, concurrency // threads), None if rate is None else max(1, rate // threads)


def _share(settings: RunSettings, budget: Budget) -> RunSettings:
    concurrency, rate = budget
    limits = replace(settings.options.limits, concurrency=concurrency)
    return replace(
        settings,
        options=replace(settings.options, limits=limits),
        rate=None if rate is None else rate / 1000,
    )


def _threads(client: Any) -> int:
    """Worker threads in the cluster now (one shard task per thread)."""
    return max(1, sum(int(n) for n in client.nthreads().values()))


def run_on_cluster(
    address: str,
    url: str,
    store: Store,
    scan_id: int,
    settings: RunSettings,
    roots: tuple[bytes, ...],
    *,
    progress: Progress,
) -> RunStats:
    """Run the pending targets of ``scan_id`` on the Dask cluster at ``address``."""
    if store.backend != "postgresql":
        raise UsageError(
            "--cluster needs a store every worker can reach: --db postgresql+psycopg://..."
        )
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--cluster needs Dask: pip install 'vedette[cluster]'") from None
    try:
        client = Client(address, timeout=15)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"--cluster {address}: cannot reach the scheduler: {exc}") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=30)
        except TimeoutError:
            raise UsageError(f"--cluster {address}: no worker joined within 30 s") from None
        run = uuid.uuid4().hex
        threads = _threads(client)
        store.create_shards(scan_id, shard_bounds(max(_MIN_SHARDS, threads * _SHARDS_PER_WORKER)))
        # This run takes the open shards over: tasks of an earlier run wind down.
        store.reopen_shards(scan_id)
        store.start_shard_run(scan_id, run)
        try:
            # The permutation's key, fixed when the scan started: pinned targets keep it.
            seed = store.scan_plan(scan_id).seed
            if seed:
                _pin_pass(client, url, store, scan_id, settings, seed)
            state = store.fleet_scan(scan_id)
            progress.retotal(state.total, state.done)
            return _probe_pass(client, address, url, store, scan_id, settings, roots, run, progress)
        except KeyboardInterrupt:
            store.stop_shard_run(scan_id, run)
            raise


def _pin_pass(
    client: Any, url: str, store: Store, scan_id: int, settings: RunSettings, seed: bytes
) -> None:
    futures = [
        client.submit(
            pin_range,
            url,
            scan_id,
            lo,
            hi,
            settings,
            seed,
            key=f"vedette-pin-{scan_id}-{shard}-{uuid.uuid4().hex[:6]}",
            retries=_RETRIES,
            pure=False,
        )
        for shard, lo, hi in store.open_shards(scan_id)
    ]
    try:
        client.gather(futures)
    except Exception as exc:
        raise UsageError(f"cluster pin pass failed: {type(exc).__name__}: {exc}") from None


def _probe_pass(
    client: Any,
    address: str,
    url: str,
    store: Store,
    scan_id: int,
    settings: RunSettings,
    roots: tuple[bytes, ...],
    run: str,
    progress: Progress,
) -> RunStats:
    from distributed import wait

    limits = _limits(settings)
    total = RunStats()
    base = store.fleet_scan(scan_id).done
    # Targets pinned into shards already done reopen them (see Store.reopen_shards).
    store.reopen_shards(scan_id)
    store.start_shard_run(scan_id, run)
    queue = deque(store.open_shards(scan_id))
    running: dict[Any, int] = {}
    last_done = -1
    resume = f"vedette scan --resume {scan_id} --cluster {address}"
    while True:
        threads = _threads(client)
        while queue and len(running) < threads:
            shard, lo, hi = queue.popleft()
            budget = _budget(limits, threads)
            future = client.submit(
                run_shard,
                url,
                scan_id,
                shard,
                lo,
                hi,
                _share(settings, budget),
                roots,
                run,
                budget,
                limits,
                key=f"vedette-scan-{scan_id}-shard-{shard}-{uuid.uuid4().hex[:6]}",
                retries=_RETRIES,
                pure=False,
            )
            running[future] = shard
        for future in [f for f in running if f.done()]:
            del running[future]
            try:
                part = future.result()
            except Exception as exc:  # a shard that failed all its retries
                raise UsageError(
                    f"cluster shard failed: {type(exc).__name__}: {exc}; resume with: {resume}"
                ) from None
            if part["state"] == "stale":
                raise UsageError(f"scan {scan_id} was taken over by another client run")
            _merge(total, part)
        # Progress comes from the store (what is written is what counts).
        done = store.fleet_scan(scan_id).done
        progress.update(RunStats(targets=done - base, errors=total.errors, findings=total.findings))
        if not queue and not running:
            # A shard that stopped early (lease lost) or that a target was pinned into after
            # it finished is open again; go on while that makes progress.
            if done == last_done or store.reopen_shards(scan_id) == 0:
                break
            last_done = done
            store.start_shard_run(scan_id, run)
            queue.extend(store.open_shards(scan_id))
            continue
        # Back as soon as a shard ends (its worker thread takes the next one), or to poll
        # the worker count and the progress.
        with contextlib.suppress(TimeoutError):
            wait(list(running), timeout=_POLL, return_when="FIRST_COMPLETED")  # type: ignore[no-untyped-call]
    done = store.fleet_scan(scan_id).done
    progress.update(RunStats(targets=done - base, errors=total.errors, findings=total.findings))
    return total
