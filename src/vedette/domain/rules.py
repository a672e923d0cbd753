"""The mail-domain rules ``vedette domain check`` runs, one line each.

A rule is an async function of the :class:`Facts` gathered so far that returns a result with
``findings`` (:class:`~vedette.mailauth.registry.DomainFinding`) and ``to_json()``. Rules that
need only DNS run while the MX are being scanned; those that need the chains the MX served
(MTA-STS, DANE, CAA) run after. Adding a rule is adding one :class:`Rule` line to
:data:`RULES`. A rule whose module is not part of this build is listed as not checked.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from vedette.mailauth.answers import Lookup
from vedette.mailauth.mx import MxResult
from vedette.mailauth.registry import DomainFinding, domain_check
from vedette.model import Severity

__all__ = ["RULES", "BimiOutcome", "Facts", "Outcome", "PerName", "Rule", "available"]


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
        earlier: the outcomes of the rules that ran before the scan (BIMI reads DMARC's).
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
    """One rule: its name in the report, the ``vedette.mailauth`` module that implements it,
    whether it needs the served chains, and how to call it."""

    name: str
    module: str
    after_scan: bool
    run: Callable[[Facts], Awaitable[Outcome]]


def _entry(module: str, name: str) -> Callable[..., Awaitable[Any]]:
    entry: Callable[..., Awaitable[Any]] = getattr(
        importlib.import_module(f"vedette.mailauth.{module}"), name
    )
    return entry


def available(rule: Rule) -> bool:
    """The rule's module is part of this build."""
    return _present(rule.module)


@functools.cache
def _present(module: str) -> bool:
    return importlib.util.find_spec(f"vedette.mailauth.{module}") is not None


async def _mta_sts(f: Facts) -> Outcome:
    from vedette.mailauth.mtasts import check_mta_sts

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
    return await _entry("spf", "check_spf")(  # type: ignore[no-any-return]
        f.lookup,
        f.domain,
        sending_ips=tuple(f.options.get("sending_ips", ())),
        mx_addresses={h.name: h.addresses for h in f.mx.hosts if h.addresses},
    )


async def _dkim(f: Facts) -> Outcome:
    selectors: Sequence[str] | None = f.options.get("dkim_selectors") or None
    return await _entry("dkim", "check_dkim")(f.lookup, f.domain, selectors)  # type: ignore[no-any-return]


async def _simple(module: str, entry: str, f: Facts) -> Outcome:
    return await _entry(module, entry)(f.lookup, f.domain)  # type: ignore[no-any-return]


async def _dane(f: Facts) -> Outcome:
    check = _entry("dane", "check_dane")
    results = {host: await check(f.lookup, host, f.chains.get(host) or None) for host in f.mx.names}
    return PerName(results)


async def _dnssec(f: Facts) -> Outcome:
    # The standing of the domain's MX answer and of each MX host's address answer.
    status = _entry("dnssec", "dnssec_status")
    asked = {f.domain: "MX"}
    asked.update((name, "A") for name in f.mx.names if name not in asked)
    return PerName({name: await status(f.lookup, name, rdtype) for name, rdtype in asked.items()})


async def _caa(f: Facts) -> Outcome:
    # The certificates the MX serve (each chain's leaf): their CAs must stay allowed to renew.
    seen = tuple(dict.fromkeys(c[0] for by in f.chains.values() for c in by.values() if c))
    return await _entry("caa", "check_caa")(f.lookup, f.domain, seen)  # type: ignore[no-any-return]


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

    record: Any
    logo_status: str  # "not-named" | "fetched" | "not-fetched"
    logo_error: str
    logo_findings: tuple[DomainFinding, ...]

    @property
    def findings(self) -> tuple[DomainFinding, ...]:
        return (*self.record.findings, *self.logo_findings)

    def to_json(self) -> dict[str, Any]:
        from vedette.mailauth.tags import findings_json

        data: dict[str, Any] = dict(self.record.to_json())
        data["findings"] = findings_json(self.findings)
        data["logo"] = {"status": self.logo_status, "error": self.logo_error}
        return data


async def _bimi(f: Facts) -> Outcome:
    module = importlib.import_module("vedette.mailauth.bimi")
    record = await module.check_bimi(f.lookup, f.domain, dmarc=f.earlier.get("dmarc"))
    url = record.logo_url
    if not url or f.fetch is None or not str(url).lower().startswith("https://"):
        return BimiOutcome(record, "not-named", "", ())
    got = await f.fetch(url)
    if got.body is None:
        finding = LOGO_UNREACHABLE.hit(url, got.error or "no body")
        return BimiOutcome(record, "not-fetched", got.error or "", (finding,))
    found = module.check_svg_tiny_ps(got.body, url)
    return BimiOutcome(record, "fetched", "", tuple(found))


#: Every rule, in report order.
RULES: tuple[Rule, ...] = (
    Rule("dnssec", "dnssec", False, _dnssec),
    Rule("spf", "spf", False, _spf),
    Rule("dkim", "dkim", False, _dkim),
    Rule("dmarc", "dmarc", False, lambda f: _simple("dmarc", "check_dmarc", f)),
    Rule("tlsrpt", "tlsrpt", False, lambda f: _simple("tlsrpt", "check_tlsrpt", f)),
    Rule("mta_sts", "mtasts", True, _mta_sts),
    Rule("bimi", "bimi", True, _bimi),
    Rule("dane", "dane", True, _dane),
    Rule("caa", "caa", True, _caa),
)
