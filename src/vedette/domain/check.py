"""``vedette domain check``: discover the MX, scan them, run every rule, and tie it together.

:func:`check_domains` is the whole of it for a list of domains: for each, the MX discovery
(:mod:`vedette.mailauth.mx`) through vedette's DNS client, then, at once, the DNS-only rules
and the scan of every MX on port 25 (role relay) by the scan engine (``vedette.scan.run``, the
addresses pinned to those the MX lookup gave, so the scan asks DNS nothing more), then the
rules that need the served chains (MTA-STS, DANE, CAA), the analysis of the scan
(``analysis.make_report``) and the one view (:mod:`vedette.domain.view`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vedette import analysis
from vedette import scan as engine
from vedette.domain.fetch import policy_fetcher
from vedette.domain.rules import RULES, Facts, Outcome, Rule, available
from vedette.domain.view import MxView, ResolvedFinding, one_view
from vedette.mailauth.answers import DnsAnswer, DnsStatus, Lookup
from vedette.mailauth.dnsclient import DnsClient
from vedette.mailauth.mx import MxResult, discover_mx
from vedette.mailauth.recording import RecordingLookup
from vedette.mailauth.registry import DomainFinding
from vedette.model import Observation, ScanReport, Service
from vedette.plan import DEFAULT_EHLO, ScanMode
from vedette.probe.limits import Limits
from vedette.targets import Pin, TargetSpec, parse_target

__all__ = ["DomainReport", "DomainSettings", "check_domains", "extra_targets"]

#: RFC 6186 SRV names and what vedette scans at their targets (``--all-ports``).
SRV_SERVICES: tuple[tuple[str, Service], ...] = (
    ("_submission._tcp", Service.SUBMISSION),
    ("_submissions._tcp", Service.SMTPS),
    ("_imap._tcp", Service.IMAP),
    ("_imaps._tcp", Service.IMAPS),
    ("_pop3._tcp", Service.POP3),
    ("_pop3s._tcp", Service.POP3S),
)
#: Client set-up names (Thunderbird autoconfig, Outlook autodiscover), scanned on HTTPS.
SETUP_NAMES = ("autoconfig", "autodiscover")
#: SRV targets taken per name.
MAX_SRV = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainSettings:
    """How ``vedette domain check`` works (from its command line).

    Attributes:
        resolver: ``--resolver`` (``None``: the nameservers of /etc/resolv.conf).
        trust_ad: ``--trust-ad``: DNSSEC is the AD flag of that validating resolver.
        trust_anchors: ``--trust-anchor`` file text (DNSKEY/DS lines), ``None``: the built-in.
        dkim_selectors: ``--dkim-selector`` (``()``: the documented common list).
        sending_ips: ``--sending-ip``.
        all_ports: ``--all-ports``: also the SRV (RFC 6186) and autoconfig/autodiscover names.
        dns_timeout: seconds for each DNS question and for the whole MTA-STS policy fetch.
        limits: the probes' limits (``--timeout`` sets the connect/read/endpoint deadlines).
        mode: scan depth of the MX (quick by default).
        extra_roots: ``--ca`` roots, DER.
        ehlo_name: vedette's SMTP identity.
    """

    resolver: tuple[str, int] | None = None
    trust_ad: bool = False
    trust_anchors: str | None = None
    dkim_selectors: tuple[str, ...] = ()
    sending_ips: tuple[str, ...] = ()
    all_ports: bool = False
    dns_timeout: float = 5.0
    limits: Limits = field(default_factory=Limits)
    mode: ScanMode = ScanMode.QUICK
    extra_roots: tuple[bytes, ...] = ()
    ehlo_name: str = DEFAULT_EHLO

    @property
    def dnssec_source(self) -> str:
        """How DNSSEC standing is known, said in the report."""
        if self.trust_ad:
            return "trust-ad"
        if self.trust_anchors is not None:
            return "trust-anchor-file"
        return "built-in-root-anchor"


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainReport:
    """Everything ``vedette domain check`` found for one domain."""

    domain: str
    started_at: datetime
    finished_at: datetime
    mx: MxResult
    scan: ScanReport
    outcomes: dict[str, Outcome]
    not_checked: tuple[str, ...]
    findings: tuple[DomainFinding, ...]
    resolved: tuple[ResolvedFinding, ...]
    views: tuple[MxView, ...]
    dns_queries: int
    dns_answers: tuple[DnsAnswer, ...]
    dnssec_source: str
    error: str = ""


async def extra_targets(lookup: Lookup, domain: str) -> list[tuple[TargetSpec, Pin]]:
    """``--all-ports``: the submission/IMAP/POP3 servers the domain names in SRV records (RFC
    6186; a target ``.`` means not offered) and its autoconfig/autodiscover names on HTTPS,
    each pinned to the addresses vedette's DNS client gave."""
    found: list[tuple[TargetSpec, Pin]] = []
    answers = await asyncio.gather(*(lookup.query(f"{n}.{domain}", "SRV") for n, _ in SRV_SERVICES))
    wanted: list[tuple[str, int, Service]] = []
    for (_, service), answer in zip(SRV_SERVICES, answers, strict=True):
        if answer.status is not DnsStatus.OK:
            continue
        records = sorted(
            answer.records, key=lambda r: (getattr(r, "priority", 0), -getattr(r, "weight", 0))
        )
        for rr in records[:MAX_SRV]:
            target = rr.target.to_text().lower().rstrip(".")  # type: ignore[attr-defined]
            if target:
                wanted.append((target, int(rr.port), service))  # type: ignore[attr-defined]
    wanted.extend((f"{n}.{domain}", 443, Service.HTTPS) for n in SETUP_NAMES)
    for host, port, service in dict.fromkeys(wanted):
        a, aaaa = await asyncio.gather(lookup.query(host, "A"), lookup.query(host, "AAAA"))
        addresses = tuple(
            str(rd.to_text()) for x in (a, aaaa) for rd in x.records if x.status is DnsStatus.OK
        )
        if addresses:
            spec = parse_target(f"{service.value}://{host}:{port}")
            found.append((spec, Pin(host=host, port=port, addresses=addresses)))
    return found


def _chains(
    observations: tuple[Observation, ...], mx: MxResult
) -> dict[str, dict[str, tuple[bytes, ...]]]:
    names = set(mx.names)
    out: dict[str, dict[str, tuple[bytes, ...]]] = {}
    for obs in observations:
        ep = obs.endpoint
        if ep.port != 25 or ep.host not in names or ep.ip is None or obs.tls is None:
            continue
        if obs.tls.chain_der:
            out.setdefault(ep.host, {})[ep.ip] = obs.tls.chain_der
    return out


def _cert_names(chains: dict[str, dict[str, tuple[bytes, ...]]]) -> dict[str, tuple[str, ...]]:
    from vedette.x509 import load_der, match_certificate

    out: dict[str, tuple[str, ...]] = {}
    for host, by_address in chains.items():
        for chain in by_address.values():
            try:
                cert = load_der(chain[0])
            except ValueError:
                continue
            out[host] = match_certificate(cert, host).dns_names
            break
    return out


async def _scan(
    settings: DomainSettings, mx: MxResult, extra: list[tuple[TargetSpec, Pin]]
) -> tuple[Observation, ...]:
    specs: list[TargetSpec] = []
    pins: list[Pin] = []
    for host in mx.hosts:
        if host.addresses:
            specs.append(parse_target(f"smtp://{host.name}"))
            pins.append(Pin(host=host.name, port=25, addresses=host.addresses))
    for spec, pin in extra:
        specs.append(spec)
        pins.append(pin)
    if not specs:
        return ()
    options = engine.ScanOptions(
        pins=tuple(pins),
        resolver=settings.resolver,
        ehlo_name=settings.ehlo_name,
        limits=settings.limits,
        mode=settings.mode,
    )
    return await engine.scan(specs, options)


async def _run_rule(rule: Rule, facts: Facts) -> Outcome:
    return await rule.run(facts)


async def check_one(
    domain: str, settings: DomainSettings, roots: tuple[bytes, ...]
) -> DomainReport:
    """Check one mail domain (see the module docstring)."""
    started = datetime.now(UTC)
    client = DnsClient(settings.resolver, timeout=settings.dns_timeout, trust_ad=settings.trust_ad)
    # Every answer a rule read is kept: the check's DNS observations, stored and replayed.
    lookup = RecordingLookup(client)
    mx = await discover_mx(lookup, domain)
    domain = mx.domain
    options: dict[str, Any] = {
        "dkim_selectors": settings.dkim_selectors,
        "sending_ips": settings.sending_ips,
        "trust_anchors": settings.trust_anchors,
    }
    base = Facts(domain=domain, lookup=lookup, mx=mx, options=options)
    present = [r for r in RULES if available(r)]
    not_checked = tuple(r.name for r in RULES if not available(r))
    before = [r for r in present if not r.after_scan]
    extra = await extra_targets(lookup, domain) if settings.all_ports else []
    dns_rules = asyncio.gather(*(_run_rule(r, base) for r in before))
    observations, early = await asyncio.gather(_scan(settings, mx, extra), dns_rules)
    chains = _chains(observations, mx)
    now = datetime.now(UTC)
    facts = Facts(
        domain=domain,
        lookup=lookup,
        mx=mx,
        chains=chains,
        cert_names=_cert_names(chains),
        roots=roots,
        now=now,
        fetch=policy_fetcher(settings.resolver, settings.dns_timeout),
        options=options,
    )
    after = [r for r in present if r.after_scan]
    late = await asyncio.gather(*(_run_rule(r, facts) for r in after))
    outcomes: dict[str, Outcome] = {}
    for rule, outcome in zip([*before, *after], [*early, *late], strict=True):
        outcomes[rule.name] = outcome
    finished = datetime.now(UTC)
    scan = analysis.make_report(
        scan_id=None,
        targets=[f"smtp://{h}" for h in mx.names],
        started=started,
        finished=finished,
        observations=observations,
        ctx=analysis.context(finished, settings.extra_roots),
    )
    view = one_view(mx, outcomes, scan, facts.cert_names)
    return DomainReport(
        domain=domain,
        started_at=started,
        finished_at=finished,
        mx=mx,
        scan=scan,
        outcomes=outcomes,
        not_checked=not_checked,
        findings=view.findings,
        resolved=view.resolved,
        views=view.mx,
        dns_queries=client.asked,
        dns_answers=lookup.answers,
        dnssec_source=settings.dnssec_source,
    )


async def check_domains(domains: list[str], settings: DomainSettings) -> list[DomainReport]:
    """Check each domain (at once), in the order given."""
    from vedette import trust

    roots = trust.mozilla_roots_der() + settings.extra_roots
    return list(await asyncio.gather(*(check_one(d, settings, roots) for d in domains)))
