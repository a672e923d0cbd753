"""The mail-domain rules ``vedette domain check`` runs, one line each.

A rule is an async function of the :class:`Facts` gathered so far that returns a result with
``findings`` (:class:`~vedette.mailauth.registry.DomainFinding`) and ``to_json()``. Rules that
need only DNS run while the MX are being scanned; those that need the chains the MX served
(MTA-STS, DANE, CAA) run after. Adding a rule is adding one :class:`Rule` line to
:data:`RULES`. A rule whose module is not part of this build is listed as not checked.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from vedette.mailauth.answers import Lookup
from vedette.mailauth.mx import MxResult
from vedette.mailauth.registry import DomainFinding

__all__ = ["RULES", "Facts", "Outcome", "PerName", "Rule", "available"]


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
        fetch: the MTA-STS policy fetch.
        options: ``dkim_selectors``, ``sending_ips``, ``trust_anchors``.
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
    return importlib.util.find_spec(f"vedette.mailauth.{rule.module}") is not None


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
        mx_addresses=f.mx.addresses(),
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
    status = _entry("dnssec", "dnssec_status")
    names = dict.fromkeys([f.domain, *f.mx.names])
    return PerName({name: await status(f.lookup, name) for name in names})


async def _caa(f: Facts) -> Outcome:
    seen = tuple(dict.fromkeys(der for by in f.chains.values() for c in by.values() for der in c))
    return await _entry("caa", "check_caa")(f.lookup, f.domain, seen)  # type: ignore[no-any-return]


#: Every rule, in report order.
RULES: tuple[Rule, ...] = (
    Rule("dnssec", "dnssec", False, _dnssec),
    Rule("spf", "spf", False, _spf),
    Rule("dkim", "dkim", False, _dkim),
    Rule("dmarc", "dmarc", False, lambda f: _simple("dmarc", "check_dmarc", f)),
    Rule("tlsrpt", "tlsrpt", False, lambda f: _simple("tlsrpt", "check_tlsrpt", f)),
    Rule("bimi", "bimi", False, lambda f: _simple("bimi", "check_bimi", f)),
    Rule("mta_sts", "mtasts", True, _mta_sts),
    Rule("dane", "dane", True, _dane),
    Rule("caa", "caa", True, _caa),
)
