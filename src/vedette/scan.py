"""The scan engine: targets in, observations out, for every kind of scan.

One engine serves ``vedette scan HOST``, a target file, a CIDR sweep and a Dask shard alike::

    await run(settings, source, sink)

* ``source`` yields :class:`Work` (a target as written, a key the sink gets back, an address
  pinned at spooling time): a list of explicit targets (:func:`listed`), or the store's
  spooled targets page by page (``vedette.scale.runner``).
* For each target the engine resolves the name (through ``vedette.resolve``, SRV records for
  XMPP, unless ``--ip``/``--resolve``/a pin decides), drops excluded names and addresses,
  expands it into endpoints (one per address and port) and probes each endpoint: the quick
  probe, then in full mode the TLS enumeration, all within the endpoint's one
  ``--endpoint-timeout``; ``--deep`` probes again in full the endpoints of a quick pass that
  carry a listed finding.
* ``sink`` receives each target's results (its quick pass and, with ``--deep``, its full pass
  together): in memory (:class:`MemorySink`), or stored in batches with a progress bar
  (``vedette.scale.runner``).

Limits that hold for every connection of the run, whatever asked for it (the quick probe,
every hello of the enumeration and its retries, the resumption probes, STARTTLS re-dials):
``--concurrency`` endpoints at once, one per-address limiter (``probe.limits.HostSlots``: a
window that starts at :data:`SLOW_START` connections and grows like TCP's slow start, within
``--per-host``, while the server answers and shows no defence), and ``--rate`` new
connections a second.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Protocol

from vedette.errors import ResolveError
from vedette.model import Endpoint, Observation, Service
from vedette.plan import Resolution, ScanMode, ScanPlan
from vedette.probe.limits import (
    ConnectionLimits,
    EndpointClock,
    HostSlots,
    Limits,
    RateLimiter,
    connection_limits,
    report_defence,
)
from vedette.probe.runner import probe_endpoint, unresolved_observation
from vedette.probe.transport import scanner_ssl_context
from vedette.resolve import Resolver
from vedette.store.records import TargetResult
from vedette.targets import TargetSpec, parse_target, plan_ports
from vedette.tls.registry import SSL_MODULE_NAMES

if TYPE_CHECKING:
    import dns.asyncresolver

    from vedette.checks import CheckContext

__all__ = [
    "SLOW_START",
    "Excluded",
    "MemorySink",
    "RunSettings",
    "ScanOptions",
    "Sink",
    "Work",
    "listed",
    "run",
    "scan",
    "scan_options",
]

#: Connections a scan opens at once to an address it knows nothing of yet; the window then
#: grows within ``--per-host`` while the server answers without defending itself.
SLOW_START = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanOptions(Resolution):
    """How to turn targets into endpoints and probe them: the plan's :class:`Resolution`
    (ports, service, ``--ip``, ``--resolve``, ``--resolver``, EHLO name, exclusions, XMPP
    domain) with what the probes add.

    Attributes:
        limits: timeouts and bounds, as the probes take them.
        mode: ``QUICK`` (one handshake per endpoint) or ``FULL`` (plus the TLS enumeration of
            ``vedette.probe.enumerate`` on every endpoint that reached TLS).
    """

    limits: Limits = field(default_factory=Limits)
    mode: ScanMode = ScanMode.QUICK

    def __post_init__(self) -> None:
        # A mode given as its text ("full", from an argument parser) is the mode: compared
        # by identity below, a plain string would silently mean quick.
        object.__setattr__(self, "mode", ScanMode(self.mode))


def scan_options(plan: ScanPlan) -> ScanOptions:
    """What the probes take, from a scan's plan."""
    res, lim = plan.resolution, plan.limits
    return ScanOptions(
        **{f.name: getattr(res, f.name) for f in fields(Resolution)},
        mode=plan.mode,
        limits=Limits(
            connect_timeout=lim.connect_timeout,
            read_timeout=lim.read_timeout,
            tls_timeout=lim.read_timeout,
            endpoint_timeout=lim.endpoint_timeout,
            concurrency=lim.concurrency,
            per_host=lim.per_host,
        ),
    )


class Excluded(Protocol):
    """What must never be contacted (``scale.targets.Exclusions`` is one)."""

    def name_excluded(self, name: str) -> bool: ...

    def address_excluded(self, ip: str) -> bool: ...


class _Nothing:
    def name_excluded(self, name: str) -> bool:
        return False

    def address_excluded(self, ip: str) -> bool:
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSettings:
    """How the engine probes (a fleet scan's are rebuilt from its stored plan on resume).

    Attributes:
        options: ports, service, pins, resolver, EHLO name, limits and mode.
        exclusions: never contacted, checked after resolution.
        rate: new connections per second over the whole run, ``None`` for no limit.
        deep: finding ids whose endpoints a quick scan probes again in full.
        ptr: look up the reverse name of bare-IP targets (only through ``--resolver``).
        unique: probe an endpoint once however many targets lead to it (explicit targets;
            a fleet's spool removes repeats before the run).
    """

    options: ScanOptions
    exclusions: Excluded = field(default_factory=_Nothing)
    rate: float | None = None
    deep: frozenset[str] = frozenset()
    ptr: bool = False
    unique: bool = False

    @property
    def mode(self) -> ScanMode:
        return self.options.mode

    @classmethod
    def from_plan(cls, plan: ScanPlan, exclusions: Excluded | None = None) -> RunSettings:
        """How to probe a scan's targets, from its plan (``exclusions``: the plan's entries
        parsed, plus any given when it resumed)."""
        return cls(
            options=scan_options(plan),
            exclusions=_Nothing() if exclusions is None else exclusions,
            rate=plan.limits.rate,
            deep=plan.deep,
            ptr=plan.resolution.resolver is not None,
        )


@dataclass(frozen=True, slots=True)
class Work:
    """One target for the engine: as written (or parsed), the key its result goes back
    under, and the address it was pinned to when spooled (``""``: resolve it)."""

    key: int
    target: str | TargetSpec
    pin: str = ""


class Sink(Protocol):
    """Where results go. ``put`` gets one target's results at once (its quick pass, then its
    ``--deep`` full pass if any), to be kept together. ``close`` is called once at the end,
    ``finished`` when every target was done (keep all), not when the run failed or was
    interrupted (what was not kept yet may be dropped: those targets stay pending)."""

    async def put(self, results: tuple[TargetResult, ...]) -> None: ...

    async def close(self, finished: bool) -> None: ...


class MemorySink:
    """Keeps every result; :meth:`observations` gives them in the order of the work keys."""

    def __init__(self) -> None:
        self._results: list[TargetResult] = []

    async def put(self, results: tuple[TargetResult, ...]) -> None:
        self._results.extend(results)

    async def close(self, finished: bool) -> None:
        return None

    def observations(self) -> tuple[Observation, ...]:
        ordered = sorted(self._results, key=lambda r: r.target_id)
        return tuple(o for r in ordered for o in r.observations)


_VERSION_CODES = {name: code for code, name in SSL_MODULE_NAMES.items()}


def _session_codes(obs: Observation) -> tuple[int, int | None] | None:
    """The quick probe's (version, suite) as code points, ``None`` without a known version."""
    from vedette.trust import suite_codes

    if obs.tls is None or obs.tls.version not in _VERSION_CODES:
        return None
    return _VERSION_CODES[obs.tls.version], suite_codes().get(obs.tls.cipher or "")


@functools.cache
def profile_suites() -> tuple[int, ...]:
    """The TLS ≤ 1.2 registry suites the built-in client profiles offer, the most offered
    first (ties by code): what ``--mode clients`` asks a server about."""
    from vedette.tls.registry import legacy_suites
    from vedette.trust import trust_data

    legacy = set(legacy_suites())
    counts = Counter(c for p in trust_data().profiles for c in set(p.hello.suites) if c in legacy)
    return tuple(sorted(counts, key=lambda c: (-counts[c], c)))


async def listed(targets: Iterable[str | TargetSpec]) -> AsyncIterator[Work]:
    """A source of explicit targets, keyed by their position."""
    for key, target in enumerate(targets):
        yield Work(key, target)


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


class _Engine:
    def __init__(self, settings: RunSettings, ctx: CheckContext | None) -> None:
        self.settings = settings
        self.options = settings.options
        self.limits = settings.options.limits
        self.ctx = ctx
        self.overall = asyncio.Semaphore(max(1, self.limits.concurrency))
        self.ssl = scanner_ssl_context()
        self.resolver = Resolver(self.options.resolver, timeout=self.limits.connect_timeout)
        self.seen: set[tuple[str | None, str | None, int, Service]] | None = (
            set() if settings.unique else None
        )
        self.ptr_resolver: dns.asyncresolver.Resolver | None = None
        if settings.ptr and self.options.resolver is not None:
            import dns.asyncresolver  # only here: dnspython is a noticeable part of start-up

            r = dns.asyncresolver.Resolver(configure=False)
            r.nameservers = [self.options.resolver[0]]
            r.port = self.options.resolver[1]
            r.lifetime = r.timeout = self.limits.connect_timeout
            self.ptr_resolver = r

    # --- where a target's endpoints are ------------------------------------------------------

    def _pinned(self, spec: TargetSpec, port: int) -> tuple[str, ...] | None:
        for pin in self.options.pins:
            if pin.host == spec.host and pin.port in (port, None):
                return pin.addresses
        return self.options.pinned or None

    async def _located(self, domain: str, svc: Service) -> tuple[tuple[str, int], ...]:
        # RFC 6120 3.2.1: every SRV target of the domain (all are scanned, in order); a
        # domain without SRV records is its own server on the default port (3.2.2).
        found: list[tuple[str, int]] = []
        errors: list[str] = []
        for target, port in await self.resolver.srv(f"{svc.srv}.{domain}"):
            try:
                found.extend((ip, port) for ip in await self.resolver.resolve(target))
            except ResolveError as exc:
                errors.append(str(exc))
        if errors and not found:
            raise ResolveError(f"the SRV targets of {domain} do not resolve: {errors[0]}")
        return tuple(found)

    async def _addresses(
        self, spec: TargetSpec, port: int, svc: Service, pin: str
    ) -> tuple[tuple[str, int], ...]:
        if spec.is_ip:
            return ((spec.host, port),)
        if pin:
            return ((pin, port),)
        pinned = self._pinned(spec, port)
        if pinned is not None:
            return tuple((ip, port) for ip in pinned)
        if svc.srv and spec.port is None and self.options.xmpp_domain is None:
            found = await self._located(spec.host, svc)
            if found:
                return found
        return tuple((ip, port) for ip in await self.resolver.resolve(spec.host))

    def _new(self, key: tuple[str | None, str | None, int, Service]) -> bool:
        if self.seen is None:
            return True
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    # --- one target --------------------------------------------------------------------------

    async def target(self, work: Work) -> tuple[TargetResult, ...]:
        spec = parse_target(work.target) if isinstance(work.target, str) else work.target
        exclusions = self.settings.exclusions
        observations: list[Observation] = []
        endpoints: list[Endpoint] = []
        excluded = 0
        if not spec.is_ip and exclusions.name_excluded(spec.host):
            return (TargetResult(target_id=work.key, observations=(), excluded=1),)
        jobs = plan_ports(spec, ports=self.options.ports, service=self.options.service)
        answers = await asyncio.gather(
            *(self._addresses(spec, port, svc, work.pin) for port, svc in jobs),
            return_exceptions=True,
        )
        for (port, svc), answer in zip(jobs, answers, strict=True):
            host = None if spec.is_ip else spec.host
            if svc.srv and self.options.xmpp_domain is not None:
                host = self.options.xmpp_domain
            if isinstance(answer, ResolveError):
                if self._new((host, None, port, svc)):
                    ep = Endpoint(host=host, ip=None, port=port, service=svc)
                    observations.append(unresolved_observation(ep, str(answer)))
                continue
            if isinstance(answer, BaseException):
                raise answer
            for ip, at in answer:
                # The exclusion list is honoured on the address actually connected to.
                if exclusions.address_excluded(ip):
                    excluded += 1
                elif self._new((host, ip, at, svc)):
                    endpoints.append(Endpoint(host=host, ip=ip, port=at, service=svc))
        ptr_task = None
        if spec.is_ip and self.ptr_resolver is not None and endpoints:
            ptr_task = asyncio.ensure_future(reverse_name(self.ptr_resolver, spec.host))
        clocks = {ep: EndpointClock(self.limits.endpoint_timeout) for ep in endpoints}
        mode = self.settings.mode
        observations.extend(
            await asyncio.gather(*(self.probe(ep, mode, clocks[ep]) for ep in endpoints))
        )
        ptr = await ptr_task if ptr_task is not None else None
        result = TargetResult(
            target_id=work.key,
            observations=tuple(observations),
            ptr=ptr,
            depth=mode,
            excluded=excluded,
        )
        deeper = await self.deepen(result, clocks)
        return (result,) if deeper is None else (result, deeper)

    async def probe(self, ep: Endpoint, depth: ScanMode, clock: EndpointClock) -> Observation:
        """Probe ``ep`` (in full: then enumerate its TLS), within what is left on ``clock``,
        the endpoint's one ``--endpoint-timeout``."""
        assert ep.ip is not None
        async with self.overall:
            obs = await probe_endpoint(
                ep,
                limits=self.limits,
                ehlo_name=self.options.ehlo_name,
                ssl_context=self.ssl,
                clock=clock,
            )
            if obs.defences:
                report_defence(ep.ip)
            if depth is ScanMode.CLIENTS and obs.tls is not None:
                obs = await self._clients(obs, clock)
            if depth is ScanMode.FULL and obs.tls is not None:
                from vedette.probe.enumerate import enumerate_observed

                (obs,) = await enumerate_observed(
                    (obs,),
                    limits=self.limits,
                    ehlo_name=self.options.ehlo_name,
                    clocks={ep: clock},
                )
            return obs

    async def _clients(self, obs: Observation, clock: EndpointClock) -> Observation:
        """``--mode clients``: the two hellos of ``tls.plan.client_hellos`` after the quick
        probe, folded with its session into a partial ``tls_scan``."""
        from vedette.probe.defence import merge
        from vedette.probe.enumerate import probe_hellos
        from vedette.tls.plan import client_hellos, clients_scan

        assert obs.tls is not None
        probes = client_hellos(obs.endpoint.host, profile_suites())
        outcomes, used, defences = await probe_hellos(
            obs.endpoint,
            probes,
            limits=self.limits,
            ehlo_name=self.options.ehlo_name,
            clock=clock,
        )
        tls_scan = clients_scan(_session_codes(obs), outcomes, connections=used)
        return replace(obs, tls_scan=tls_scan, defences=merge(obs.defences, defences))

    async def deepen(
        self, result: TargetResult, clocks: dict[Endpoint, EndpointClock]
    ) -> TargetResult | None:
        """``--deep``: the endpoints of a quick result that carry a listed finding, in full,
        within what the quick pass left of each endpoint's clock (``clocks``)."""
        if not self.settings.deep or self.settings.mode is not ScanMode.QUICK:
            return None
        from vedette.checks import analyse

        assert self.ctx is not None, "--deep needs the analysis context"
        findings = analyse(result.observations, self.ctx)
        hit = {f.endpoint for f in findings if f.id in self.settings.deep}
        todo = [o.endpoint for o in result.observations if o.endpoint in hit and o.endpoint.ip]
        if not todo:
            return None
        # The full pass is stored beside the quick one (its own endpoint keys).
        full = await asyncio.gather(*(self.probe(ep, ScanMode.FULL, clocks[ep]) for ep in todo))
        return TargetResult(
            target_id=result.target_id,
            observations=tuple(full),
            ptr=result.ptr,
            depth=ScanMode.FULL,
        )

    # --- the loop ----------------------------------------------------------------------------

    async def run(
        self, source: AsyncIterable[Work], sink: Sink, keep_going: Callable[[], bool]
    ) -> None:
        workers = max(1, self.limits.concurrency)
        queue: asyncio.Queue[Work | None] = asyncio.Queue(maxsize=workers * 2)

        async def feed() -> None:
            async for work in source:
                if not keep_going():
                    break
                await queue.put(work)
            for _ in range(workers):
                await queue.put(None)

        async def work() -> None:
            while (item := await queue.get()) is not None:
                if not keep_going():
                    continue  # stopping: what is queued stays pending (drained)
                await sink.put(await self.target(item))

        tasks = [asyncio.ensure_future(feed())]
        tasks.extend(asyncio.ensure_future(work()) for _ in range(workers))
        finished = False
        try:
            await asyncio.gather(*tasks)
            finished = True
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await sink.close(finished)


async def run(
    settings: RunSettings,
    source: AsyncIterable[Work],
    sink: Sink,
    *,
    ctx: CheckContext | None = None,
    keep_going: Callable[[], bool] = lambda: True,
) -> None:
    """Probe every target ``source`` yields and give the results to ``sink``.

    ``ctx`` (the analysis context) is needed for ``--deep`` only. ``keep_going`` is asked
    before each target (a Dask shard stops when it loses its lease)."""
    engine = _Engine(settings, ctx)
    limits = settings.options.limits
    # Every connection opened by the tasks of this run waits for the one rate limiter and
    # holds a slot on its address: --per-host counts connections, whichever endpoint (and in
    # full mode, whichever probe of the enumeration) they serve.
    hosts = HostSlots(limits.per_host, start=SLOW_START)
    with connection_limits(ConnectionLimits(rate=RateLimiter(settings.rate), hosts=hosts)):
        await engine.run(source, sink, keep_going)


async def scan(
    specs: Sequence[TargetSpec | str], options: ScanOptions, *, exclusions: Excluded | None = None
) -> tuple[Observation, ...]:
    """Resolve and probe explicit targets; one observation per endpoint, in target order."""
    settings = RunSettings(options=options, exclusions=exclusions or _Nothing(), unique=True)
    sink = MemorySink()
    await run(settings, listed(specs), sink)
    return sink.observations()
