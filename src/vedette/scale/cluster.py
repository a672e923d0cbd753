"""The Dask runner: one fleet scan spread over the workers of a Dask cluster.

The targets are spooled once (by the client, into the shared PostgreSQL) and cut into shards:
ranges of the permutation key (``scale.targets.shard_bounds``), cut on host boundaries so that
all the targets of one host belong to one shard and the per-host limit holds cluster-wide. Each
shard is one Dask task running the same resumable runner as a local scan
(``scale.runner.run_targets``) against the same database.

Guarantees, and where they come from:

* *One worker per shard at a time*: a task first takes a lease on its shard row
  (``Store.claim_shard``, a row lock in PostgreSQL) and renews it while it works; a second
  task for the same shard (Dask retrying a task whose worker it believes dead) waits for the
  lease to lapse before it starts.
* *No duplicates*: results are written by ``Store.record_results``, which marks targets done
  in the same transaction and skips targets already done; the unique endpoint index backs it.
* *A killed worker's shard is retried*: Dask reschedules the tasks of a lost worker on the
  others (up to ``retries``); the new attempt finds the targets written before the kill done
  and probes only the rest, after the dead worker's lease has run out.
* *Global limits*: ``--concurrency`` and ``--rate`` are divided between the workers present
  when the scan starts (each worker runs one shard at a time: start workers with
  ``--nthreads 1``).
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from vedette.errors import UsageError
from vedette.scale.runner import FleetSettings, Progress, RunStats, run_targets
from vedette.scale.targets import shard_bounds

if TYPE_CHECKING:
    from vedette.store.db import Store

__all__ = ["LEASE_SECONDS", "run_on_cluster", "run_shard"]

#: How long a shard's lease lasts without renewal; renewed every third of it. A shard whose
#: worker died is taken over at most this long after the kill.
LEASE_SECONDS = 6.0
#: Shards per worker: enough that a retried shard is a small part of the scan.
_SHARDS_PER_WORKER = 4
_RETRIES = 3


def run_shard(
    url: str,
    scan_id: int,
    shard: int,
    lo: int,
    hi: int,
    settings: FleetSettings,
    roots: tuple[bytes, ...],
) -> dict[str, Any]:
    """Probe the pending targets of one shard (runs on a Dask worker)."""
    from vedette.store.db import Store

    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    with Store.open(url) as store:
        # Wait (bounded) for a lease held by a worker that died to lapse.
        deadline = time.monotonic() + 3 * LEASE_SECONDS
        while True:
            now = datetime.now(UTC)
            if store.claim_shard(
                scan_id, shard, owner, now, now + timedelta(seconds=LEASE_SECONDS)
            ):
                break
            if shard not in {s for s, _, _ in store.open_shards(scan_id)}:
                return _stats_dict(RunStats())  # finished by another attempt
            if time.monotonic() > deadline:
                raise RuntimeError(f"shard {shard} of scan {scan_id} is held by another worker")
            time.sleep(LEASE_SECONDS / 6)
        stats = asyncio.run(_run_leased(store, scan_id, shard, lo, hi, settings, roots, owner))
        store.finish_shard(scan_id, shard, owner)
    return _stats_dict(stats)


async def _run_leased(
    store: Store,
    scan_id: int,
    shard: int,
    lo: int,
    hi: int,
    settings: FleetSettings,
    roots: tuple[bytes, ...],
    owner: str,
) -> RunStats:
    from vedette.commands import _common as c

    held = True

    async def renew() -> None:
        nonlocal held
        while held:
            await asyncio.sleep(LEASE_SECONDS / 3)
            now = datetime.now(UTC)
            held = await asyncio.to_thread(
                store.claim_shard,
                scan_id,
                shard,
                owner,
                now,
                now + timedelta(seconds=LEASE_SECONDS),
            )

    renewer = asyncio.create_task(renew())
    try:
        ctx = c.context(datetime.now(UTC), roots)
        return await run_targets(
            store, scan_id, settings, ctx, lo=lo, hi=hi, keep_going=lambda: held
        )
    finally:
        held = False
        renewer.cancel()


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


def run_on_cluster(
    address: str,
    url: str,
    store: Store,
    scan_id: int,
    settings: FleetSettings,
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
        workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
        share = replace(
            settings,
            options=replace(
                settings.options,
                limits=replace(
                    settings.options.limits,
                    concurrency=max(1, math.ceil(settings.options.limits.concurrency / workers)),
                ),
            ),
            rate=None if settings.rate is None else settings.rate / workers,
        )
        store.create_shards(scan_id, shard_bounds(workers * _SHARDS_PER_WORKER))
        futures = [
            client.submit(
                run_shard,
                url,
                scan_id,
                shard,
                lo,
                hi,
                share,
                roots,
                key=f"vedette-scan-{scan_id}-shard-{shard}-{uuid.uuid4().hex[:6]}",
                retries=_RETRIES,
                pure=False,
            )
            for shard, lo, hi in store.open_shards(scan_id)
        ]
        total = RunStats()
        base = store.fleet_scan(scan_id).done
        pending = set(futures)
        while pending:
            # Progress comes from the store (what is written is what counts).
            written = store.fleet_scan(scan_id).done - base
            progress.update(RunStats(targets=written, errors=total.errors, findings=total.findings))
            for future in [f for f in pending if f.done()]:  # type: ignore[no-untyped-call]
                pending.discard(future)
                try:
                    _merge(total, future.result())
                except Exception as exc:  # a shard that failed all its retries
                    raise UsageError(
                        f"cluster shard failed: {type(exc).__name__}: {exc}; "
                        f"resume with: vedette scan --resume {scan_id} --cluster {address}"
                    ) from None
            time.sleep(0.3)
        progress.update(total)
        return total
