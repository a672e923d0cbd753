"""From targets to observations: planning endpoints, resolving names, probing.

This module is the seam between the CLI (options) and the probe layer (bytes). It resolves each
named target through ``vedette.resolve`` unless an address is pinned (``--ip``, ``--resolve``),
expands every target into endpoints (one per address and port), and probes them concurrently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

from vedette.errors import ResolveError
from vedette.model import Endpoint, Observation, Service
from vedette.plan import Resolution, ScanMode, ScanPlan
from vedette.probe.limits import EndpointClock, Limits
from vedette.probe.runner import run_probes, unresolved_observation
from vedette.resolve import Resolver
from vedette.targets import TargetSpec, plan_ports


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


def _pinned_for(spec: TargetSpec, port: int, options: ScanOptions) -> tuple[str, ...] | None:
    for pin in options.pins:
        if pin.host == spec.host and pin.port in (port, None):
            return pin.addresses
    return options.pinned or None


async def plan_endpoints(
    specs: Sequence[TargetSpec], options: ScanOptions
) -> tuple[list[Endpoint], list[Observation]]:
    """Endpoints to probe, and observations for those whose name did not resolve."""
    resolver = Resolver(options.resolver, timeout=options.limits.connect_timeout)
    endpoints: list[Endpoint] = []
    unresolved: list[Observation] = []
    seen: set[tuple[str | None, str | None, int, Service]] = set()

    async def located(domain: str, svc: Service) -> tuple[tuple[str, int], ...]:
        # RFC 6120 3.2.1: every SRV target of the domain (all are scanned, in order); a
        # domain without SRV records is its own server on the default port (3.2.2).
        found: list[tuple[str, int]] = []
        errors: list[str] = []
        for target, port in await resolver.srv(f"{svc.srv}.{domain}"):
            try:
                found.extend((ip, port) for ip in await resolver.resolve(target))
            except ResolveError as exc:
                errors.append(str(exc))
        if errors and not found:
            raise ResolveError(f"the SRV targets of {domain} do not resolve: {errors[0]}")
        return tuple(found)

    async def addresses(
        spec: TargetSpec, port: int, svc: Service
    ) -> tuple[tuple[str, int], ...] | str:
        if spec.is_ip:
            return ((spec.host, port),)
        pinned = _pinned_for(spec, port, options)
        if pinned is not None:
            return tuple((ip, port) for ip in pinned)
        try:
            if svc.srv and spec.port is None and options.xmpp_domain is None:
                found = await located(spec.host, svc)
                if found:
                    return found
            return tuple((ip, port) for ip in await resolver.resolve(spec.host))
        except ResolveError as exc:
            return str(exc)

    jobs = [
        (spec, port, svc)
        for spec in specs
        for port, svc in plan_ports(spec, ports=options.ports, service=options.service)
    ]
    answers = await asyncio.gather(*(addresses(spec, port, svc) for spec, port, svc in jobs))
    for (spec, port, svc), answer in zip(jobs, answers, strict=True):
        host = None if spec.is_ip else spec.host
        if svc.srv and options.xmpp_domain is not None:
            host = options.xmpp_domain
        if isinstance(answer, str):
            ep = Endpoint(host=host, ip=None, port=port, service=svc)
            if (host, None, port, svc) not in seen:
                seen.add((host, None, port, svc))
                unresolved.append(unresolved_observation(ep, answer))
            continue
        for ip, at in answer:
            key = (host, ip, at, svc)
            if key not in seen:
                seen.add(key)
                endpoints.append(Endpoint(host=host, ip=ip, port=at, service=svc))
    return endpoints, unresolved


async def scan(
    specs: Sequence[TargetSpec],
    options: ScanOptions,
    *,
    on_result: Callable[[Observation], None] | None = None,
) -> tuple[Observation, ...]:
    """Resolve, probe, and return one observation per endpoint (unresolved ones first)."""
    endpoints, unresolved = await plan_endpoints(specs, options)
    if options.mode is not ScanMode.FULL:
        observed = await run_probes(
            endpoints, limits=options.limits, ehlo_name=options.ehlo_name, on_result=on_result
        )
        return (*unresolved, *observed)
    from vedette.probe.enumerate import enumerate_observed

    # One --endpoint-timeout per endpoint: the enumeration has what the quick probe left.
    clocks = {ep: EndpointClock(options.limits.endpoint_timeout) for ep in endpoints}
    quick = await run_probes(
        endpoints, limits=options.limits, ehlo_name=options.ehlo_name, clocks=clocks
    )
    observed = await enumerate_observed(
        quick, limits=options.limits, ehlo_name=options.ehlo_name, clocks=clocks
    )
    if on_result is not None:
        for obs in observed:
            on_result(obs)
    return (*unresolved, *observed)
