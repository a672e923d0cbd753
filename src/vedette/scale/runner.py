"""The resumable fleet run: spooled targets in, stored observations out, through the one
scan engine (``vedette.scan.run``).

The targets come from the store page by page in permutation order (``Store.pending_targets``:
:func:`spooled`), so memory holds only what is in flight; the results go back in batches
(:class:`StoreSink`, ``Store.record_results``), each batch one transaction that stores the
observations of its targets *and* marks those targets done. A process killed at any moment
therefore leaves every target either fully stored or not at all, and ``--resume`` probes
again exactly the second kind. Everything else (resolution, exclusions after resolution,
the per-address limiter, ``--rate``, full mode, ``--deep``) is the engine's, as for a scan
of one host.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vedette.checks import CheckContext, analyse
from vedette.model import Severity
from vedette.scan import RunSettings, Work, run
from vedette.store.records import TargetResult

if TYPE_CHECKING:
    from vedette.store.db import Store

__all__ = ["Progress", "RunStats", "StoreSink", "run_targets", "spooled"]

#: Targets read from the store at a time.
_PAGE = 500


@dataclass(slots=True)
class RunStats:
    """What the run did, for the progress bar and the closing summary."""

    targets: int = 0
    endpoints: int = 0
    errors: int = 0
    excluded: int = 0
    findings: int = 0
    deep: int = 0
    worst: Severity | None = None
    by_finding: dict[str, int] = field(default_factory=dict)


class Progress:
    """Receives counts as results are stored; the default does nothing (``--quiet``)."""

    def start(self, total: int, done: int) -> None:
        """``total`` targets in the scan, ``done`` already stored before this run."""

    def update(self, stats: RunStats) -> None:
        """Called after each stored batch."""

    def retotal(self, total: int, done: int) -> None:
        """The scan's size changed before probing (the cluster runner pins named targets)."""

    def stop(self) -> None:
        """Called once at the end (also on Ctrl-C)."""


async def spooled(
    store: Store,
    scan_id: int,
    *,
    lo: int | None = None,
    hi: int | None = None,
    keep_going: Callable[[], bool] = lambda: True,
) -> AsyncIterator[Work]:
    """The pending targets of ``scan_id`` (in the key range ``[lo, hi)`` when given), read
    from the store a page at a time; ``keep_going`` is asked before each page."""
    after: tuple[int, int] | None = None
    while keep_going():
        page = await asyncio.to_thread(
            store.pending_targets, scan_id, after=after, limit=_PAGE, lo=lo, hi=hi
        )
        if not page:
            return
        for pending in page:
            yield Work(pending.target_id, pending.target, pending.pin)
        after = (page[-1].order_key, page[-1].target_id)


class StoreSink:
    """Results into the store, a batch per transaction, counted for the progress bar.

    A batch is written when it holds ``batch`` targets, and at least twice a second for a
    slow sweep: a kill loses at most half a second of work. ``count_findings``: analyse the
    results as they are stored, for the bar, the summary and ``--fail-on`` (a cron run with
    ``--quiet`` skips it: reports analyse later)."""

    def __init__(
        self,
        store: Store,
        scan_id: int,
        settings: RunSettings,
        ctx: CheckContext,
        progress: Progress,
        *,
        count_findings: bool = True,
        batch: int = 100,
    ) -> None:
        self.store = store
        self.scan_id = scan_id
        self.mode = settings.mode
        self.ctx = ctx
        self.progress = progress
        self.count_findings = count_findings
        self.size = batch
        self.stats = RunStats()
        self._batch: list[TargetResult] = []
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None

    async def put(self, results: tuple[TargetResult, ...]) -> None:
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick())
        for result in results:
            self.stats.excluded += result.excluded
            if result.depth is not self.mode:
                self.stats.deep += len(result.observations)
        # A target's quick and full passes land in the same batch (one transaction).
        self._batch.extend(results)
        if len(self._batch) >= self.size:
            await self._flush()

    async def close(self, finished: bool) -> None:
        # Never cancel the ticker in the middle of a flush: the write runs in a thread that
        # a cancellation cannot stop, and the caller would read the store before that
        # transaction commits (targets seen as left over). Let it finish instead.
        self._stopping.set()
        if self._ticker is not None:
            await self._ticker
        if finished:
            await self._flush()

    async def _tick(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 0.5)
            if not self._stopping.is_set():
                await self._flush()

    async def _flush(self) -> None:
        async with self._lock:
            if not self._batch:
                return
            todo, self._batch = self._batch, []
            await asyncio.to_thread(self.store.record_results, self.scan_id, todo)
            self._count([r for r in todo if r.depth is self.mode])
            self.progress.update(self.stats)

    def _count(self, results: Sequence[TargetResult]) -> None:
        stats = self.stats
        for result in results:
            stats.targets += 1
            stats.endpoints += len(result.observations)
            stats.errors += sum(1 for o in result.observations if o.failure is not None)
            if not self.count_findings:
                continue
            for f in analyse(result.observations, self.ctx):
                stats.findings += 1
                stats.by_finding[f.id] = stats.by_finding.get(f.id, 0) + 1
                if stats.worst is None or f.severity > stats.worst:
                    stats.worst = f.severity


async def run_targets(
    store: Store,
    scan_id: int,
    settings: RunSettings,
    ctx: CheckContext,
    *,
    progress: Progress | None = None,
    lo: int | None = None,
    hi: int | None = None,
    keep_going: Callable[[], bool] = lambda: True,
    count_findings: bool = True,
) -> RunStats:
    """Probe every pending target of ``scan_id`` (within the key range ``[lo, hi)`` when
    given) and store the results. ``keep_going`` is asked before each page of targets and
    each target (a Dask shard stops when it loses its lease)."""
    sink = StoreSink(
        store, scan_id, settings, ctx, progress or Progress(), count_findings=count_findings
    )
    source = spooled(store, scan_id, lo=lo, hi=hi, keep_going=keep_going)
    await run(settings, source, sink, ctx=ctx, keep_going=keep_going)
    return sink.stats
