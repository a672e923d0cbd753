"""The resumable fleet runner: spooled targets in, stored observations out.

One asyncio loop probes many targets at once. The targets come from the store page by page in
permutation order (``Store.pending_targets``), so memory holds only what is in flight; the
results go back in batches (``Store.record_results``), each batch one transaction that stores
the observations of its targets *and* marks those targets done. A process killed at any moment
therefore leaves every target either fully stored or not at all, and ``--resume`` probes
again exactly the second kind.

Limits that hold across the whole run:

* ``concurrency`` endpoints probed at once, and ``per_host`` at once on one address;
* ``rate``: new TCP connections per second, a token bucket (``probe.limits.RateLimiter``)
  that every connection waits on — the quick probe's, and in full mode every connection of
  the TLS enumeration, its retries and the resumption probe;
* the exclusion list, checked again here on the address actually connected to (after
  resolution), whatever was checked when the targets were spooled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vedette.checks import CheckContext, analyse
from vedette.errors import ResolveError
from vedette.model import Endpoint, Observation, Severity
from vedette.plan import ScanMode, ScanPlan
from vedette.probe.limits import (
    ConnectionLimits,
    EndpointClock,
    HostSlots,
    RateLimiter,
    connection_limits,
)
from vedette.probe.runner import probe_endpoint, unresolved_observation
from vedette.probe.transport import scanner_ssl_context
from vedette.resolve import Resolver
from vedette.scale.targets import Exclusions
from vedette.scan import ScanOptions, scan_options
from vedette.store.records import PendingTarget, TargetResult
from vedette.targets import parse_target, plan_ports

if TYPE_CHECKING:
    import dns.asyncresolver

    from vedette.store.db import Store

__all__ = ["FleetSettings", "Progress", "RateLimiter", "RunStats", "run_targets"]

#: Targets read from the store at a time.
_PAGE = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetSettings:
    """How a fleet scan probes (stored with the scan, so a resumed scan probes the same way).

    Attributes:
        options: ports, service, pins, resolver, EHLO name and limits, as for ``vedette scan``.
        exclusions: never contacted, checked after resolution.
        rate: new connections per second over the whole run, ``None`` for no limit.
        mode: how deep each target is probed.
        deep: finding ids whose endpoints a quick scan probes again in full.
        ptr: look up the reverse name of bare-IP targets (only through ``--resolver``).
        batch: targets per store transaction.
        count_findings: analyse results as they are stored, for the progress bar, the summary
            and ``--fail-on`` (a cron run with ``--quiet`` skips it: reports analyse later).
    """

    options: ScanOptions
    exclusions: Exclusions = field(default_factory=Exclusions)
    rate: float | None = None
    mode: ScanMode = ScanMode.QUICK
    deep: frozenset[str] = frozenset()
    ptr: bool = False
    batch: int = 100
    count_findings: bool = True

    @classmethod
    def from_plan(
        cls, plan: ScanPlan, exclusions: Exclusions, *, count_findings: bool = True
    ) -> FleetSettings:
        """How to probe a fleet scan's targets, from its plan (``exclusions``: the plan's
        entries parsed, plus any given when it resumed)."""
        return cls(
            options=scan_options(plan),
            exclusions=exclusions,
            rate=plan.limits.rate,
            mode=plan.mode,
            deep=plan.deep,
            ptr=plan.resolution.resolver is not None,
            count_findings=count_findings,
        )


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


async def reverse_name(resolver: dns.asyncresolver.Resolver, ip: str) -> str | None:
    """The first PTR name of ``ip`` (without the trailing dot), ``None`` when there is none."""
    import dns.exception
    import dns.reversename

    try:
        answer = await resolver.resolve(dns.reversename.from_address(ip), "PTR")
    except (dns.exception.DNSException, ValueError):
        return None
    for rr in answer:
        return str(rr.to_text()).rstrip(".")
    return None


class _Run:
    def __init__(
        self,
        store: Store,
        scan_id: int,
        settings: FleetSettings,
        ctx: CheckContext,
        progress: Progress,
    ) -> None:
        self.store = store
        self.scan_id = scan_id
        self.settings = settings
        self.options = settings.options
        self.limits = settings.options.limits
        self.ctx = ctx
        self.progress = progress
        self.stats = RunStats()
        self.rate = RateLimiter(settings.rate)
        self.overall = asyncio.Semaphore(self.limits.concurrency)
        self.hosts = HostSlots(self.limits.per_host)
        self.ssl = scanner_ssl_context()
        self.resolver = Resolver(self.options.resolver, timeout=self.limits.connect_timeout)
        self.ptr_resolver: dns.asyncresolver.Resolver | None = None
        if settings.ptr and self.options.resolver is not None:
            import dns.asyncresolver  # only here: dnspython is a noticeable part of start-up

            r = dns.asyncresolver.Resolver(configure=False)
            r.nameservers = [self.options.resolver[0]]
            r.port = self.options.resolver[1]
            r.lifetime = r.timeout = self.limits.connect_timeout
            self.ptr_resolver = r

    # --- one target ---------------------------------------------------------------------------

    async def addresses(self, host: str, is_ip: bool, port: int, pin: str) -> tuple[str, ...]:
        if is_ip:
            return (host,)
        if pin:
            return (pin,)
        for p in self.options.pins:
            if p.host == host and p.port in (port, None):
                return p.addresses
        if self.options.pinned:
            return self.options.pinned
        return await self.resolver.resolve(host)

    async def target(
        self, pending: PendingTarget, clocks: dict[Endpoint, EndpointClock]
    ) -> TargetResult:
        """Probe one target; ``clocks`` receives the clock of each endpoint (for ``deepen``)."""
        spec = parse_target(pending.target)
        observations: list[Observation] = []
        endpoints: list[Endpoint] = []
        host = None if spec.is_ip else spec.host
        if host is not None and self.settings.exclusions.name_excluded(host):
            self.stats.excluded += 1
            return TargetResult(target_id=pending.target_id, observations=())
        for port, svc in plan_ports(spec, ports=self.options.ports, service=self.options.service):
            try:
                ips = await self.addresses(spec.host, spec.is_ip, port, pending.pin)
            except ResolveError as exc:
                ep = Endpoint(host=host, ip=None, port=port, service=svc)
                observations.append(unresolved_observation(ep, str(exc)))
                continue
            for ip in ips:
                # The exclusion list is honoured on the address actually connected to.
                if self.settings.exclusions.address_excluded(ip):
                    self.stats.excluded += 1
                    continue
                endpoints.append(Endpoint(host=host, ip=ip, port=port, service=svc))
        ptr_task = None
        if spec.is_ip and self.ptr_resolver is not None and endpoints:
            ptr_task = asyncio.ensure_future(reverse_name(self.ptr_resolver, spec.host))
        depth = self.settings.mode
        for ep in endpoints:
            clocks.setdefault(ep, EndpointClock(self.limits.endpoint_timeout))
        observations.extend(
            await asyncio.gather(*(self.probe(ep, depth, clocks[ep]) for ep in endpoints))
        )
        ptr = await ptr_task if ptr_task is not None else None
        return TargetResult(
            target_id=pending.target_id,
            observations=tuple(observations),
            ptr=ptr,
            depth=self.settings.mode,
        )

    async def probe(self, ep: Endpoint, depth: ScanMode, clock: EndpointClock) -> Observation:
        """Probe ``ep`` (in full: then enumerate its TLS), within what is left on ``clock``,
        the endpoint's one ``--endpoint-timeout``."""
        assert ep.ip is not None
        async with self.overall:
            await self.hosts.acquire(ep.ip)
            try:
                obs = await probe_endpoint(
                    ep,
                    limits=self.limits,
                    ehlo_name=self.options.ehlo_name,
                    ssl_context=self.ssl,
                    clock=clock,
                )
                if depth is ScanMode.FULL and obs.tls is not None:
                    # Full: the TLS enumeration (versions, suites, groups) on top of the quick
                    # probe. Its connections share this endpoint's slot; each one waits for
                    # the scan's connection rate (``connection_rate`` in ``run_targets``).
                    from vedette.probe.enumerate import enumerate_observed

                    (obs,) = await enumerate_observed(
                        (obs,),
                        limits=self.limits,
                        ehlo_name=self.options.ehlo_name,
                        clocks={ep: clock},
                    )
                return obs
            finally:
                self.hosts.release(ep.ip)

    async def deepen(
        self, result: TargetResult, clocks: dict[Endpoint, EndpointClock]
    ) -> TargetResult | None:
        """``--deep``: the endpoints of a quick result that carry a listed finding, in full,
        within what the quick pass left of each endpoint's clock (``clocks``)."""
        findings = analyse(result.observations, self.ctx)
        hit = {f.endpoint for f in findings if f.id in self.settings.deep}
        todo = [o.endpoint for o in result.observations if o.endpoint in hit and o.endpoint.ip]
        if not todo:
            return None
        # The full pass is stored beside the quick one (its own endpoint keys).
        for ep in todo:
            clocks.setdefault(ep, EndpointClock(self.limits.endpoint_timeout))
        full = await asyncio.gather(*(self.probe(ep, ScanMode.FULL, clocks[ep]) for ep in todo))
        self.stats.deep += len(full)
        return TargetResult(
            target_id=result.target_id,
            observations=tuple(full),
            ptr=result.ptr,
            depth=ScanMode.FULL,
        )

    # --- the loop -----------------------------------------------------------------------------

    def count(self, results: Sequence[TargetResult]) -> None:
        for result in results:
            self.stats.targets += 1
            self.stats.endpoints += len(result.observations)
            self.stats.errors += sum(1 for o in result.observations if o.failure is not None)
            if not self.settings.count_findings:
                continue
            for f in analyse(result.observations, self.ctx):
                self.stats.findings += 1
                self.stats.by_finding[f.id] = self.stats.by_finding.get(f.id, 0) + 1
                if self.stats.worst is None or f.severity > self.stats.worst:
                    self.stats.worst = f.severity

    async def run(self, lo: int | None, hi: int | None, keep_going: Callable[[], bool]) -> None:
        queue: asyncio.Queue[PendingTarget | None] = asyncio.Queue(maxsize=_PAGE)
        workers = max(1, self.limits.concurrency)

        async def feed() -> None:
            after: tuple[int, int] | None = None
            while keep_going():
                page = await asyncio.to_thread(
                    self.store.pending_targets, self.scan_id, after=after, limit=_PAGE, lo=lo, hi=hi
                )
                if not page:
                    break
                for pending in page:
                    await queue.put(pending)
                after = (page[-1].order_key, page[-1].target_id)
            for _ in range(workers):
                await queue.put(None)

        batch: list[TargetResult] = []
        flush_lock = asyncio.Lock()

        async def flush() -> None:
            nonlocal batch
            async with flush_lock:
                if not batch:
                    return
                todo, batch = batch, []
                await asyncio.to_thread(self.store.record_results, self.scan_id, todo)
                self.count([r for r in todo if r.depth == self.settings.mode])
                self.progress.update(self.stats)

        async def work() -> None:
            while (pending := await queue.get()) is not None:
                if not keep_going():
                    continue  # stopping: the rest of the page stays pending (drained)
                clocks: dict[Endpoint, EndpointClock] = {}
                result = await self.target(pending, clocks)
                extra = None
                if self.settings.deep and self.settings.mode is ScanMode.QUICK:
                    extra = await self.deepen(result, clocks)
                # A target's quick and full passes land in the same batch (one transaction).
                batch.append(result)
                if extra is not None:
                    batch.append(extra)
                if len(batch) >= self.settings.batch:
                    await flush()

        stopping = asyncio.Event()

        async def tick() -> None:
            # Results of a slow sweep still reach the store (and the progress bar) twice a
            # second: a kill loses at most half a second of work.
            while not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 0.5)
                await flush()

        ticker = asyncio.create_task(tick())
        try:
            await asyncio.gather(feed(), *(work() for _ in range(workers)))
        finally:
            # Never cancel the ticker in the middle of a flush: the write runs in a thread
            # that a cancellation cannot stop, and the caller would read the store before
            # that transaction commits (targets seen as left over). Let it finish instead.
            stopping.set()
            await ticker
        await flush()


async def run_targets(
    store: Store,
    scan_id: int,
    settings: FleetSettings,
    ctx: CheckContext,
    *,
    progress: Progress | None = None,
    lo: int | None = None,
    hi: int | None = None,
    keep_going: Callable[[], bool] = lambda: True,
) -> RunStats:
    """Probe every pending target of ``scan_id`` (within the key range ``[lo, hi)`` when
    given) and store the results. ``keep_going`` is asked before each page of targets (a
    Dask shard stops when it loses its lease)."""
    run = _Run(store, scan_id, settings, ctx, progress or Progress())
    # Every connection opened by the tasks of this run waits for the one rate limiter and
    # holds a slot on its address: --per-host counts connections, whichever endpoint (and in
    # full mode, whichever probe of the enumeration) they serve.
    limits = ConnectionLimits(rate=run.rate, hosts=HostSlots(run.limits.per_host))
    with connection_limits(limits):
        await run.run(lo, hi, keep_going)
    return run.stats
