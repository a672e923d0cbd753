"""The mail-domain rules ``vedette domain check`` runs, one line each.

A rule is an async function of the :class:`Facts` gathered so far that returns a result with
``findings`` (:class:`~vedette.mailauth.registry.DomainFinding`) and ``to_json()``. Rules that
need only DNS run while the MX are being scanned; those that need the chains the MX served
(MTA-STS, DANE, CAA) run after it; a rule that reads another's result (BIMI reads DMARC's)
waits for it. Adding a rule is adding one :class:`Rule` line to :data:`RULES`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from vedette.mailauth.answers import Lookup
from vedette.mailauth.bimi import BimiResult, check_bimi, check_svg_tiny_ps
from vedette.mailauth.caa import check_caa
from vedette.mailauth.dane import check_dane
from vedette.mailauth.dkim import check_dkim
from vedette.mailauth.dmarc import DmarcResult, check_dmarc
from vedette.mailauth.dnssec import dnssec_status
from vedette.mailauth.mtasts import check_mta_sts
from vedette.mailauth.mx import MxResult
from vedette.mailauth.registry import DomainFinding, domain_check
from vedette.mailauth.spf import check_spf
from vedette.mailauth.tags import findings_json
from vedette.mailauth.tlsrpt import check_tlsrpt
from vedette.model import Severity

__all__ = ["RULES", "BimiOutcome", "Facts", "Outcome", "PerName", "Rule"]


class Outcome(Protocol):
    """What every rule returns."""

    @property
    def findings(self) -> tuple[DomainFinding, ...]: ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """What the rules may read.

    Attributes:
        domain: the mail domain.
        lookup: vedette's DNS client (every rule reads DNS through it).
        mx: the MX discovery.
        chains: per MX host, per address, the chain it served on port 25 (leaf first).
        cert_names: per MX host, the DNS names of the certificate it served on port 25.
        roots: trust anchors (Mozilla's and ``--ca``) for chains judged here.
        now: the date certificates are judged at.
        fetch: the HTTPS fetch (MTA-STS policy, BIMI logo), bounded and recorded.
        options: ``dkim_selectors``, ``sending_ips``, ``trust_anchors``.
        earlier: the outcomes of the rules named in the rule's ``needs``.
    """

    domain: str
    lookup: Lookup
    mx: MxResult
    chains: Mapping[str, Mapping[str, tuple[bytes, ...]]] = field(default_factory=dict)
    cert_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    roots: tuple[bytes, ...] = ()
    now: datetime | None = None
    fetch: Callable[[str], Awaitable[Any]] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    earlier: Mapping[str, Outcome] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PerName:
    """A per-name rule's results (DANE per MX, DNSSEC per name) as one outcome."""

    results: Mapping[str, Any]

    @property
    def findings(self) -> tuple[DomainFinding, ...]:
        return tuple(f for r in self.results.values() for f in r.findings)

    def to_json(self) -> dict[str, Any]:
        return {name: r.to_json() for name, r in self.results.items()}


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: its name in the report, whether it runs after the scan (it needs the served
    chains), how to call it, and the rules whose results it reads (``Facts.earlier``)."""

    name: str
    after_scan: bool
    run: Callable[[Facts], Awaitable[Outcome]]
    needs: tuple[str, ...] = ()


async def _mta_sts(f: Facts) -> Outcome:
    return await check_mta_sts(
        f.lookup,
        f.domain,
        f.mx.names,
        f.cert_names,
        f.fetch,
        roots_der=f.roots,
        now=f.now,
    )


async def _spf(f: Facts) -> Outcome:
    return await check_spf(
        f.lookup,
        f.domain,
        sending_ips=tuple(f.options.get("sending_ips", ())),
        mx_addresses={h.name: h.addresses for h in f.mx.hosts if h.addresses},
    )


async def _dkim(f: Facts) -> Outcome:
    selectors: Sequence[str] | None = f.options.get("dkim_selectors") or None
    return await check_dkim(f.lookup, f.domain, selectors)


async def _dmarc(f: Facts) -> Outcome:
    return await check_dmarc(f.lookup, f.domain)


async def _tlsrpt(f: Facts) -> Outcome:
    return await check_tlsrpt(f.lookup, f.domain)


async def _dane(f: Facts) -> Outcome:
    # Each MX, matched against the chain each of its addresses served on port 25.
    results = await asyncio.gather(
        *(check_dane(f.lookup, host, f.chains.get(host) or None) for host in f.mx.names)
    )
    return PerName(dict(zip(f.mx.names, results, strict=True)))


async def _dnssec(f: Facts) -> Outcome:
    # The standing of the domain's MX answer and of each MX host's address answer.
    asked = {f.domain: "MX"}
    asked.update((name, "A") for name in f.mx.names if name not in asked)
    results = await asyncio.gather(
        *(dnssec_status(f.lookup, name, rdtype) for name, rdtype in asked.items())
    )
    return PerName(dict(zip(asked, results, strict=True)))


async def _caa(f: Facts) -> Outcome:
    # The certificates the MX serve (each chain's leaf): their CAs must stay allowed to renew.
    seen = tuple(dict.fromkeys(c[0] for by in f.chains.values() for c in by.values() if c))
    return await check_caa(f.lookup, f.domain, seen)


LOGO_UNREACHABLE = domain_check(
    "domain.bimi-logo-unreachable",
    "The BIMI logo could not be fetched: mailbox providers show no logo",
    Severity.MEDIUM,
    "Serve the SVG at the l= URL over HTTPS with a certificate from a public CA, answering 200 "
    "without a redirect (at most 32 KiB is what providers expect).",
    references=("draft-brand-indicators-for-message-identification",),
)


@dataclass(frozen=True, slots=True)
class BimiOutcome:
    """The BIMI record (``mailauth.bimi``) and, when it names a logo, the logo fetched over
    HTTPS (as the MTA-STS policy: bounded, recorded) and checked against SVG Tiny PS."""

    record: BimiResult
    logo_status: str  # "not-named" | "fetched" | "not-fetched"
    logo_error: str
    logo_findings: tuple[DomainFinding, ...]

    @property
    def findings(self) -> tuple[DomainFinding, ...]:
        return (*self.record.findings, *self.logo_findings)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.record.to_json())
        data["findings"] = findings_json(self.findings)
        data["logo"] = {"status": self.logo_status, "error": self.logo_error}
        return data


async def _bimi(f: Facts) -> Outcome:
    dmarc = f.earlier.get("dmarc")
    record = await check_bimi(
        f.lookup, f.domain, dmarc=dmarc if isinstance(dmarc, DmarcResult) else None
    )
    url = record.logo_url
    if not url or f.fetch is None or not str(url).lower().startswith("https://"):
        return BimiOutcome(record, "not-named", "", ())
    got = await f.fetch(url)
    if got.body is None:
        finding = LOGO_UNREACHABLE.hit(url, got.error or "no body")
        return BimiOutcome(record, "not-fetched", got.error or "", (finding,))
    found = check_svg_tiny_ps(got.body, url)
    return BimiOutcome(record, "fetched", "", tuple(found))


#: Every rule, in report order.
RULES: tuple[Rule, ...] = (
    Rule("dnssec", False, _dnssec),
    Rule("spf", False, _spf),
    Rule("dkim", False, _dkim),
    Rule("dmarc", False, _dmarc),
    Rule("tlsrpt", False, _tlsrpt),
    Rule("bimi", False, _bimi, needs=("dmarc",)),
    Rule("mta_sts", True, _mta_sts),
    Rule("dane", True, _dane),
    Rule("caa", True, _caa),
)
