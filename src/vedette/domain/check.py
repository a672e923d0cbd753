"""``vedette domain check``: discover the MX, scan them, run every rule, and tie it together.

:func:`check_domains` is the whole of it for a list of domains: for each, the MX discovery
(:mod:`vedette.mailauth.mx`) through vedette's DNS client, then, at once, the DNS-only rules
and the scan of every MX on port 25 (role relay) by the scan engine (``vedette.scan.run``, the
addresses pinned to those the MX lookup gave, so the scan asks DNS nothing more), then the
rules that need the served chains (MTA-STS, DANE, CAA), the analysis of the scan
(``checks.analyse``, once a run for each MX endpoint however many domains name it) and the one
view (:mod:`vedette.domain.view`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vedette import analysis
from vedette import scan as engine
from vedette.domain.fetch import policy_fetcher
from vedette.domain.rules import RULES, Facts, Outcome, Rule
from vedette.domain.view import MxView, ResolvedFinding, one_view
from vedette.mailauth.answers import DnsAnswer, DnsStatus, Lookup
from vedette.mailauth.dnsclient import DnsClient
from vedette.mailauth.dnssec import ValidatingLookup, parse_trust_anchors
from vedette.mailauth.mtasts import PolicyFetch, PolicyFetcher, parse_sts_record, policy_url
from vedette.mailauth.mx import MxResult, discover_mx
from vedette.mailauth.recording import (
    RecordingLookup,
    ReplayLookup,
    answers_from_json,
    answers_to_json,
)
from vedette.mailauth.registry import DomainFinding
from vedette.model import Finding, Observation, ScanReport, Service
from vedette.plan import DEFAULT_EHLO, ScanMode
from vedette.probe.limits import Limits
from vedette.targets import Pin, TargetSpec, parse_target

__all__ = [
    "Analyser",
    "DomainReport",
    "DomainSettings",
    "ModeLookup",
    "Observed",
    "Scanner",
    "check_domains",
    "check_one",
    "dns_source",
    "extra_targets",
    "rejudge",
]

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
    def dnssec_mode(self) -> str:
        """``trust-ad`` (the resolver's AD flag) or ``chain`` (vedette's own validation)."""
        return "trust-ad" if self.trust_ad else "chain"

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
    findings: tuple[DomainFinding, ...]
    resolved: tuple[ResolvedFinding, ...]
    views: tuple[MxView, ...]
    dns_queries: int
    observed: Observed
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
    out: dict[str, tuple[str, ...]] = {}
    for host, by_address in chains.items():
        for chain in by_address.values():
            names = _dns_names(chain[0], host)
            if names is not None:
                out[host] = names
                break
    return out


@functools.lru_cache(maxsize=256)
def _dns_names(leaf: bytes, host: str) -> tuple[str, ...] | None:
    """The DNS names of a served leaf (``None``: unreadable); an MX's leaf, read once a run."""
    from vedette.x509 import load_der, match_certificate

    try:
        cert = load_der(leaf)
    except ValueError:
        return None
    return match_certificate(cert, host).dns_names


class ModeLookup:
    """A :class:`Lookup` that says how its answers' DNSSEC standing was found
    (``mailauth.dnssec.dnssec_mode`` reads ``dnssec_mode``): the rules read the answers of a
    recording (live) or of a replay (from the store), and the standing they carry is that of
    vedette's own validation (``chain``) or of the resolver's AD flag (``trust-ad``)."""

    def __init__(self, inner: Lookup, dnssec_mode: str) -> None:
        self._inner = inner
        self.dnssec_mode = dnssec_mode

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        return await self._inner.query(name, rdtype)


def dns_source(settings: DomainSettings) -> Lookup:
    """What the rules read DNS through: vedette's DNS client, and, unless ``--trust-ad`` makes
    the resolver's AD flag the DNSSEC standing, vedette's own validation over it (the chain of
    trust walked from ``--trust-anchor`` or the built-in IANA root keys), so that every answer
    carries its standing."""
    client = DnsClient(settings.resolver, timeout=settings.dns_timeout, trust_ad=settings.trust_ad)
    if settings.trust_ad:
        return client
    anchors = None
    if settings.trust_anchors is not None:
        anchors = parse_trust_anchors(settings.trust_anchors, "--trust-anchor")
    return ValidatingLookup(client, anchors)


def _wanted(mx: MxResult, extra: list[tuple[TargetSpec, Pin]]) -> list[tuple[TargetSpec, Pin]]:
    """Every endpoint a domain check scans: each MX on 25, then the ``--all-ports`` ones."""
    out = [
        (parse_target(f"smtp://{h.name}"), Pin(host=h.name, port=25, addresses=h.addresses))
        for h in mx.hosts
        if h.addresses
    ]
    return out + extra


class Scanner:
    """Scans endpoints for the domain checks of one run, each (name, port, address) once:
    domains that share an MX (hosted mail) share its scan."""

    def __init__(self, settings: DomainSettings) -> None:
        self._settings = settings
        self._done: dict[tuple[str, int, str, str], asyncio.Future[tuple[Observation, ...]]] = {}

    async def __call__(self, wanted: list[tuple[TargetSpec, Pin]]) -> tuple[Observation, ...]:
        mine: list[asyncio.Future[tuple[Observation, ...]]] = []
        for spec, pin in wanted:
            key = (spec.host, pin.port or 0, ",".join(pin.addresses), spec.text)
            if key not in self._done:
                self._done[key] = asyncio.ensure_future(self._scan(spec, pin))
            mine.append(self._done[key])
        results = await asyncio.gather(*(asyncio.shield(f) for f in mine))
        return tuple(o for r in results for o in r)

    async def _scan(self, spec: TargetSpec, pin: Pin) -> tuple[Observation, ...]:
        s = self._settings
        options = engine.ScanOptions(
            pins=(pin,), resolver=s.resolver, ehlo_name=s.ehlo_name, limits=s.limits, mode=s.mode
        )
        return await engine.scan([spec], options)


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """What one domain check observed, besides the MX scans (stored as ordinary observations):
    every DNS answer the rules read and every policy fetched. Enough to judge the domain
    again, under a newer vedette, without a packet (:func:`rejudge`)."""

    domain: str
    started_at: datetime
    finished_at: datetime
    dns: tuple[DnsAnswer, ...]
    fetches: Mapping[str, PolicyFetch]
    dkim_selectors: tuple[str, ...] = ()
    sending_ips: tuple[str, ...] = ()
    all_ports: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": OBSERVATION_SCHEMA,
            "domain": self.domain,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "dns": answers_to_json(self.dns),
            "fetches": {url: f.to_json() for url, f in self.fetches.items()},
            "dkim_selectors": list(self.dkim_selectors),
            "sending_ips": list(self.sending_ips),
            "all_ports": self.all_ports,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Observed:
        """The inverse of :meth:`to_json`; ``ValueError`` (one line) when damaged."""
        if data.get("schema") != OBSERVATION_SCHEMA:
            raise ValueError(f"not a {OBSERVATION_SCHEMA} document")
        try:
            fetches = data.get("fetches") or {}
            if not isinstance(fetches, dict) or len(fetches) > 4:
                raise ValueError("its policy fetches are not a small object")
            return cls(
                domain=str(data["domain"]),
                started_at=datetime.fromisoformat(str(data["started_at"])),
                finished_at=datetime.fromisoformat(str(data["finished_at"])),
                dns=answers_from_json(data.get("dns")),
                fetches={str(u): PolicyFetch.from_json(f) for u, f in fetches.items()},
                dkim_selectors=tuple(str(x) for x in data.get("dkim_selectors") or ()),
                sending_ips=tuple(str(x) for x in data.get("sending_ips") or ()),
                all_ports=bool(data.get("all_ports")),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"a stored domain check is damaged: {exc}") from None


#: The schema of a stored domain check's observation document.
OBSERVATION_SCHEMA = "vedette.domain-observation/1"

#: Scans endpoints for a check: live (:class:`Scanner`) or from stored observations.
ScanFn = Callable[[list[tuple[TargetSpec, Pin]]], Awaitable[tuple[Observation, ...]]]


async def _judge(
    domain: str,
    settings: DomainSettings,
    *,
    lookup: Lookup,
    fetch: PolicyFetcher,
    scan: ScanFn,
    roots: tuple[bytes, ...],
    now: datetime | None,
) -> tuple[MxResult, tuple[Observation, ...], dict[str, Outcome], datetime]:
    """MX, scans and rules over the sources given (live or recorded)."""
    mx = await discover_mx(lookup, domain)
    options: dict[str, Any] = {
        "dkim_selectors": settings.dkim_selectors,
        "sending_ips": settings.sending_ips,
        "trust_anchors": settings.trust_anchors,
    }
    base = Facts(domain=mx.domain, lookup=lookup, mx=mx, options=options, fetch=fetch)
    extra = await extra_targets(lookup, mx.domain) if settings.all_ports else []
    when = now or datetime.now(UTC)
    # The scan, the DNS rules and the MTA-STS policy fetch all start at once; the rules that
    # need the served chains start when the scan ends, those that need another rule's result
    # when it is there.
    scanned = asyncio.ensure_future(scan(_wanted(mx, extra)))
    prefetch = asyncio.ensure_future(_prefetch_policy(lookup, mx.domain, fetch))

    async def late_facts() -> Facts:
        chains = _chains(await scanned, mx)
        return dataclasses.replace(
            base, chains=chains, cert_names=_cert_names(chains), roots=roots, now=when
        )

    facts_after_scan = asyncio.ensure_future(late_facts())
    tasks: dict[str, asyncio.Future[Outcome]] = {}

    async def run(rule: Rule) -> Outcome:
        earlier = {name: await tasks[name] for name in rule.needs}
        facts = await facts_after_scan if rule.after_scan else base
        return await rule.run(dataclasses.replace(facts, earlier=earlier))

    for rule in RULES:
        tasks[rule.name] = asyncio.ensure_future(run(rule))
    started: list[asyncio.Future[Any]] = [*tasks.values(), prefetch, facts_after_scan, scanned]
    try:
        results = await asyncio.gather(*tasks.values())
        await prefetch
    finally:
        for task in started:  # nothing outlives the check when one part fails
            task.cancel()
    outcomes = dict(zip(tasks, results, strict=True))
    return mx, scanned.result(), outcomes, when


async def _prefetch_policy(lookup: Lookup, domain: str, fetch: PolicyFetcher) -> None:
    """Fetch the MTA-STS policy while the MX are scanned, when the domain publishes the TXT
    record that makes senders fetch it (the rule, after the scan, gets the same fetch)."""
    answer = await lookup.query(f"_mta-sts.{domain}", "TXT")
    if answer.status is DnsStatus.OK and parse_sts_record(answer.texts())[0] is not None:
        await fetch(policy_url(domain))


class Analyser:
    """The scan's findings for the endpoints of a domain, each endpoint (its observations
    through all its addresses: one group of ``checks.analyse``) analysed once a run and a date,
    however many domains name it (hosted mail: thousands of domains, three MX)."""

    def __init__(self, extra_roots: tuple[bytes, ...]) -> None:
        self._extra_roots = extra_roots
        self._contexts: dict[datetime, Any] = {}
        # Keyed by the observations' identities (they are kept alive here with their findings).
        self._done: dict[tuple[datetime, tuple[int, ...]], tuple[Any, tuple[Finding, ...]]] = {}

    def __call__(self, observations: Sequence[Observation], when: datetime) -> tuple[Finding, ...]:
        from vedette.checks import analyse

        ctx = self._contexts.get(when)
        if ctx is None:
            ctx = self._contexts[when] = analysis.context(when, self._extra_roots)
        groups: dict[tuple[str, int, Service], list[Observation]] = {}
        for obs in observations:
            groups.setdefault(obs.endpoint.group_key, []).append(obs)
        found: list[Finding] = []
        for members in groups.values():
            key = (when, tuple(id(o) for o in members))
            if key not in self._done:
                self._done[key] = (members, analyse(members, ctx))
            found.extend(self._done[key][1])
        found.sort(key=lambda f: (-f.severity, f.endpoint.label, f.id, f.detail))
        return tuple(found)


def _report(
    settings: DomainSettings,
    observed: Observed,
    mx: MxResult,
    observations: tuple[Observation, ...],
    outcomes: dict[str, Outcome],
    when: datetime,
    analyser: Analyser,
) -> DomainReport:
    scan = ScanReport(
        scan_id=None,
        targets=tuple(f"smtp://{h}" for h in mx.names),
        started_at=observed.started_at,
        finished_at=observed.finished_at,
        analysed_at=when,
        observations=observations,
        findings=analyser(observations, when),
    )
    view = one_view(mx, outcomes, scan, _cert_names(_chains(observations, mx)))
    return DomainReport(
        domain=mx.domain,
        started_at=observed.started_at,
        finished_at=observed.finished_at,
        mx=mx,
        scan=scan,
        outcomes=outcomes,
        findings=view.findings,
        resolved=view.resolved,
        views=view.mx,
        dns_queries=len(observed.dns),
        observed=observed,
        dnssec_source=settings.dnssec_source,
    )


def _recording(fetch: PolicyFetcher, log: dict[str, PolicyFetch]) -> PolicyFetcher:
    """``fetch``, each URL fetched once (the prefetch and the rule share it), every answer
    kept in ``log``."""
    pending: dict[str, asyncio.Future[PolicyFetch]] = {}

    async def recorded(url: str) -> PolicyFetch:
        if url not in pending:
            pending[url] = asyncio.ensure_future(fetch(url))
        got = await asyncio.shield(pending[url])
        log.setdefault(url, got)
        return got

    return recorded


async def check_one(
    domain: str,
    settings: DomainSettings,
    roots: tuple[bytes, ...],
    *,
    client: Lookup | None = None,
    scanner: ScanFn | None = None,
    fetcher: PolicyFetcher | None = None,
    analyser: Analyser | None = None,
    when: datetime | None = None,
) -> DomainReport:
    """Check one mail domain live (see the module docstring). ``client``, ``scanner``,
    ``fetcher`` and ``analyser`` may be shared by the checks of one run (a DNS cache, one scan
    and one analysis per MX, one TLS context); ``when``: the date certificates are judged at
    (default: now)."""
    started = datetime.now(UTC)
    if client is None:
        client = dns_source(settings)
    # Every answer a rule read, every policy fetched, is kept: the check's observations.
    lookup = RecordingLookup(client)
    fetches: dict[str, PolicyFetch] = {}
    if fetcher is None:
        fetcher = policy_fetcher(settings.resolver, settings.dns_timeout)
    fetch = _recording(fetcher, fetches)
    mx, observations, outcomes, when = await _judge(
        domain,
        settings,
        lookup=ModeLookup(lookup, settings.dnssec_mode),
        fetch=fetch,
        scan=scanner or Scanner(settings),
        roots=roots,
        now=when,
    )
    observed = Observed(
        domain=mx.domain,
        started_at=started,
        finished_at=datetime.now(UTC),
        dns=lookup.answers,
        fetches=fetches,
        dkim_selectors=settings.dkim_selectors,
        sending_ips=settings.sending_ips,
        all_ports=settings.all_ports,
    )
    analyser = analyser or Analyser(settings.extra_roots)
    return _report(settings, observed, mx, observations, outcomes, when, analyser)


async def rejudge(
    observed: Observed,
    observations: Sequence[Observation],
    settings: DomainSettings,
    roots: tuple[bytes, ...],
    *,
    now: datetime | None = None,
    analyser: Analyser | None = None,
) -> DomainReport:
    """Judge a stored domain check again, without a packet: its DNS answers replayed, its
    policy fetches replayed, its MX scans taken from ``observations`` (the stored scan's; the
    ones of this domain's endpoints are picked). Certificates are judged at ``now`` (default:
    when the check ran)."""
    settings = dataclasses.replace(
        settings,
        dkim_selectors=observed.dkim_selectors,
        sending_ips=observed.sending_ips,
        all_ports=observed.all_ports,
    )
    replay = ReplayLookup(observed.dns)

    async def fetch(url: str) -> PolicyFetch:
        return observed.fetches.get(url) or PolicyFetch(body=None, error="not recorded")

    async def stored(wanted: list[tuple[TargetSpec, Pin]]) -> tuple[Observation, ...]:
        keys = {(spec.host, pin.port) for spec, pin in wanted}
        return tuple(o for o in observations if (o.endpoint.host, o.endpoint.port) in keys)

    when = now or observed.finished_at
    mx, picked, outcomes, when = await _judge(
        observed.domain,
        settings,
        lookup=ModeLookup(replay, settings.dnssec_mode),
        fetch=fetch,
        scan=stored,
        roots=roots,
        now=when,
    )
    analyser = analyser or Analyser(settings.extra_roots)
    return _report(settings, observed, mx, picked, outcomes, when, analyser)


#: Domains checked at once, by default (``--concurrency``).
CONCURRENT_DOMAINS = 100


async def check_domains(
    domains: Sequence[str],
    settings: DomainSettings,
    *,
    on_done: Callable[[DomainReport], None] | None = None,
    concurrency: int = CONCURRENT_DOMAINS,
) -> list[DomainReport]:
    """Check each domain (at most ``concurrency`` at once), in the order given; ``on_done``
    gets each report as soon as it is made (the store records it there). What domains share
    is done once a run: the DNS cache, each MX endpoint's scan and its analysis (certificates
    judged at the run's start), the TLS context of the HTTPS fetches."""
    from vedette import trust

    roots = trust.mozilla_roots_der() + settings.extra_roots
    client = dns_source(settings)
    scanner = Scanner(settings)
    fetcher = policy_fetcher(settings.resolver, settings.dns_timeout)
    analyser = Analyser(settings.extra_roots)
    when = datetime.now(UTC)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(domain: str) -> DomainReport:
        async with gate:
            report = await check_one(
                domain,
                settings,
                roots,
                client=client,
                scanner=scanner,
                fetcher=fetcher,
                analyser=analyser,
                when=when,
            )
        if on_done is not None:
            on_done(report)
        return report

    return list(await asyncio.gather(*(one(d) for d in domains)))
