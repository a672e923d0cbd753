"""MX discovery: where mail for a domain is delivered (RFC 5321 5.1, RFC 7505).

:func:`discover_mx` asks the domain's MX records through a :class:`~vedette.mailauth.answers.
Lookup`, orders them by preference (lowest first; equal preferences keep the server's order),
and resolves each target's A and AAAA addresses, so that the scan connects to the addresses
this lookup saw. What a sending MTA would do is said plainly:

* **null MX** (RFC 7505): a single ``0 .`` record says the domain accepts no mail. It is a
  verdict, not a fault; mixed with other MX records it is an error senders resolve differently.
* **no MX** (RFC 5321 5.1): the domain's own A/AAAA addresses are an *implicit MX* of
  preference 0; a domain with neither receives no mail.
* an MX target that is a **CNAME** (RFC 5321 5.1: "MUST NOT"; RFC 2181 10.3), that names an
  **address literal** (``MX 10 192.0.2.1.``: senders look it up as a name), or that does not
  exist or has no address, is a finding on that MX.
* a lookup that failed (SERVFAIL, timeout...) is a status, never a guess.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
from dataclasses import dataclass
from typing import Any

from vedette.mailauth.answers import DnsAnswer, DnsStatus, Lookup, Security
from vedette.mailauth.registry import DomainFinding, domain_check
from vedette.model import Severity

__all__ = ["MxHost", "MxResult", "MxStatus", "discover_mx"]

#: MX targets resolved and scanned for one domain (real domains list one to five).
MAX_MX = 16

NULL_MX = domain_check(
    "domain.mx-null",
    "The domain accepts no mail (null MX)",
    Severity.INFO,
    "Nothing to do if the domain sends and receives no mail. If it should receive mail, replace "
    "the '0 .' MX record with MX records naming your mail servers.",
    references=("RFC 7505",),
)
NULL_MX_MIXED = domain_check(
    "domain.mx-null-mixed",
    "A null MX record is mixed with other MX records",
    Severity.HIGH,
    "Keep either the single '0 .' record (the domain accepts no mail) or your real MX records, "
    "not both: senders treat the mix differently and some bounce every message.",
    references=("RFC 7505 3",),
)
MX_CNAME = domain_check(
    "domain.mx-cname",
    "An MX record names an alias (CNAME), not a host",
    Severity.MEDIUM,
    "Point the MX record at the host name the CNAME leads to (the canonical name): MX targets "
    "must not be aliases, and some senders refuse them.",
    references=("RFC 5321 5.1", "RFC 2181 10.3"),
)
MX_ADDRESS_LITERAL = domain_check(
    "domain.mx-address-literal",
    "An MX record names an IP address instead of a host name",
    Severity.HIGH,
    "Give the mail server a host name with an A/AAAA record and name that in the MX record: "
    "senders look the MX target up as a name, so an address there leads nowhere.",
    references=("RFC 5321 5.1", "RFC 7505 3"),
)
MX_NO_ADDRESS = domain_check(
    "domain.mx-no-address",
    "An MX host has no address: mail to it cannot be delivered",
    Severity.HIGH,
    "Publish an A (and AAAA) record for the MX host, or remove the MX record that names it.",
    references=("RFC 5321 5.1",),
)
MX_LOOKUP_FAILED = domain_check(
    "domain.mx-lookup-failed",
    "The DNS lookup of the domain's mail servers failed",
    Severity.HIGH,
    "Make the domain's authoritative DNS servers answer MX and address queries (check that "
    "they are reachable, that the delegation is right and, if the zone is signed, that its "
    "signatures are valid): senders defer mail while the lookup fails.",
)
IMPLICIT_MX = domain_check(
    "domain.mx-implicit",
    "No MX record: mail goes to the domain's own address",
    Severity.LOW,
    "Publish an MX record naming the mail server (or a null MX '0 .' if the domain receives no "
    "mail): relying on the implicit MX is legal but fragile, and a web server's address then "
    "receives the mail.",
    references=("RFC 5321 5.1",),
)
NO_MAIL_HOST = domain_check(
    "domain.mx-missing",
    "The domain has no MX record and no address: it cannot receive mail",
    Severity.HIGH,
    "Publish MX records naming your mail servers, or a null MX '0 .' to say plainly that the "
    "domain receives no mail.",
    references=("RFC 5321 5.1", "RFC 7505"),
)
DOMAIN_MISSING = domain_check(
    "domain.nxdomain",
    "The domain does not exist in DNS",
    Severity.HIGH,
    "Check the spelling of the domain, and that it is delegated and its zone is published.",
)


class MxStatus(enum.StrEnum):
    """What the MX lookup says about where the domain's mail goes."""

    OK = "ok"  # MX records naming hosts
    IMPLICIT = "implicit"  # no MX: the domain's own address (RFC 5321 5.1)
    NULL = "null"  # "0 ." alone: the domain accepts no mail (RFC 7505)
    NO_MAIL = "no-mail"  # no MX and no address
    NXDOMAIN = "nxdomain"  # the domain does not exist
    FAILED = "failed"  # the lookup failed: nothing is known


@dataclass(frozen=True, slots=True, kw_only=True)
class MxHost:
    """One MX target.

    Attributes:
        name: the target as published (lower case, no final dot).
        preference: the MX preference (0 for an implicit MX).
        addresses: its IPv4 then IPv6 addresses, as the lookup gave them.
        cnames: the CNAME chain its address lookup followed (non-empty: a finding).
        address_status: the address lookup's status (``ok`` when any address came back).
        security: DNSSEC standing of its address answers (the weaker of A and AAAA).
        detail: for a failed address lookup, why.
    """

    name: str
    preference: int
    addresses: tuple[str, ...] = ()
    cnames: tuple[str, ...] = ()
    address_status: DnsStatus = DnsStatus.OK
    security: Security = Security.UNKNOWN
    detail: str = ""

    @property
    def usable(self) -> bool:
        """A sender can connect to it."""
        return bool(self.addresses)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "preference": self.preference,
            "addresses": list(self.addresses),
            "cnames": list(self.cnames),
            "address_status": str(self.address_status),
            "dnssec": str(self.security),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class MxResult:
    """Where the domain's mail goes.

    Attributes:
        domain: the domain asked (lower case, no final dot).
        status: see :class:`MxStatus`.
        hosts: the MX targets by preference (the implicit MX: the domain itself).
        security: DNSSEC standing of the MX answer.
        detail: for a failed lookup, why.
        findings: what is wrong (or notable).
    """

    domain: str
    status: MxStatus
    hosts: tuple[MxHost, ...] = ()
    security: Security = Security.UNKNOWN
    detail: str = ""
    findings: tuple[DomainFinding, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The MX host names, by preference."""
        return tuple(h.name for h in self.hosts)

    def addresses(self) -> tuple[str, ...]:
        """Every address of every MX, once, in preference order."""
        seen: dict[str, None] = {}
        for host in self.hosts:
            seen.update(dict.fromkeys(host.addresses))
        return tuple(seen)

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "status": str(self.status),
            "dnssec": str(self.security),
            "detail": self.detail,
            "hosts": [h.to_json() for h in self.hosts],
        }


def _name(text: str) -> str:
    return text.lower().rstrip(".")


def _is_address_literal(name: str) -> bool:
    text = name.strip("[]")
    if text.lower().startswith("ipv6:"):
        text = text[5:]
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_RANK = {Security.BOGUS: 0, Security.UNKNOWN: 1, Security.INSECURE: 2, Security.SECURE: 3}


def weakest(*levels: Security) -> Security:
    """The weakest DNSSEC standing among ``levels`` (bogus < unknown < insecure < secure)."""
    return min(levels, key=_RANK.__getitem__) if levels else Security.UNKNOWN


async def _host(lookup: Lookup, name: str, preference: int) -> MxHost:
    a, aaaa = await asyncio.gather(lookup.query(name, "A"), lookup.query(name, "AAAA"))
    answers = [x for x in (a, aaaa) if x.status is DnsStatus.OK]
    addresses = tuple(str(rd.to_text()) for x in answers for rd in x.records)
    cnames = a.cnames or aaaa.cnames
    if addresses:
        status, detail = DnsStatus.OK, ""
    else:
        # The more telling of the two: a failure over NXDOMAIN over "no data".
        worst = a if a.status.is_failure or not aaaa.status.is_failure else aaaa
        status, detail = worst.status, worst.detail
    return MxHost(
        name=name,
        preference=preference,
        addresses=addresses,
        cnames=cnames,
        address_status=status,
        security=weakest(*(x.security for x in (a, aaaa))),
        detail=detail,
    )


def _host_findings(domain: str, host: MxHost) -> list[DomainFinding]:
    out: list[DomainFinding] = []
    if host.cnames:
        out.append(
            MX_CNAME.hit(
                host.name,
                f"the MX of {domain} names {host.name}, an alias of " + " -> ".join(host.cnames),
            )
        )
    if not host.usable:
        if host.address_status.is_failure:
            out.append(
                MX_LOOKUP_FAILED.hit(
                    host.name,
                    f"the address lookup of MX host {host.name} failed: "
                    f"{host.detail or host.address_status}",
                )
            )
        else:
            why = (
                "does not exist (NXDOMAIN)"
                if host.address_status is DnsStatus.NXDOMAIN
                else "has no A or AAAA record"
            )
            out.append(MX_NO_ADDRESS.hit(host.name, f"MX host {host.name} of {domain} {why}"))
    return out


async def discover_mx(lookup: Lookup, domain: str) -> MxResult:
    """The MX hosts of ``domain`` by preference, each with its addresses, and the findings."""
    domain = _name(domain)
    answer = await lookup.query(domain, "MX")
    if answer.status.is_failure:
        return MxResult(
            domain=domain,
            status=MxStatus.FAILED,
            security=answer.security,
            detail=answer.detail or str(answer.status),
            findings=(
                MX_LOOKUP_FAILED.hit(
                    domain, f"MX lookup of {domain}: {answer.detail or answer.status}"
                ),
            ),
        )
    if answer.status is DnsStatus.NXDOMAIN:
        return MxResult(
            domain=domain,
            status=MxStatus.NXDOMAIN,
            security=answer.security,
            detail=f"{domain} does not exist",
            findings=(DOMAIN_MISSING.hit(domain, f"{domain}: NXDOMAIN"),),
        )
    if answer.status is DnsStatus.NODATA or not answer.records:
        return await _implicit(lookup, domain, answer)
    return await _explicit(lookup, domain, answer)


async def _implicit(lookup: Lookup, domain: str, answer: DnsAnswer) -> MxResult:
    host = await _host(lookup, domain, 0)
    if host.usable:
        return MxResult(
            domain=domain,
            status=MxStatus.IMPLICIT,
            hosts=(host,),
            security=answer.security,
            findings=(
                IMPLICIT_MX.hit(
                    domain,
                    f"{domain} publishes no MX record; senders deliver to its own address "
                    + ", ".join(host.addresses),
                ),
            ),
        )
    if host.address_status.is_failure:
        return MxResult(
            domain=domain,
            status=MxStatus.FAILED,
            security=answer.security,
            detail=host.detail,
            findings=(
                MX_LOOKUP_FAILED.hit(
                    domain,
                    f"{domain} has no MX record and the lookup of its address failed: "
                    f"{host.detail or host.address_status}",
                ),
            ),
        )
    return MxResult(
        domain=domain,
        status=MxStatus.NO_MAIL,
        security=answer.security,
        findings=(NO_MAIL_HOST.hit(domain, f"{domain} has neither MX nor A/AAAA records"),),
    )


async def _explicit(lookup: Lookup, domain: str, answer: DnsAnswer) -> MxResult:
    records: list[tuple[int, str]] = []
    for rd in answer.records:
        preference = getattr(rd, "preference", None)
        exchange = getattr(rd, "exchange", None)
        if preference is None or exchange is None:
            continue
        records.append((int(preference), _name(exchange.to_text())))
    # Stable: equal preferences keep the order the server gave.
    records.sort(key=lambda r: r[0])
    evidence = tuple(f"MX {p} {n or '.'}" for p, n in records)
    nulls = [r for r in records if r[1] == ""]
    if nulls and len(nulls) == len(records):
        return MxResult(
            domain=domain,
            status=MxStatus.NULL,
            security=answer.security,
            findings=(
                NULL_MX.hit(
                    domain,
                    f"{domain} publishes a null MX: senders bounce mail to it at once",
                    evidence=evidence,
                ),
            ),
        )
    findings: list[DomainFinding] = []
    if nulls:
        findings.append(
            NULL_MX_MIXED.hit(
                domain,
                f"{domain} publishes '0 .' together with {len(records) - len(nulls)} other "
                "MX record(s)",
                evidence=evidence,
            )
        )
    named = [r for r in records if r[1]]
    literal = [r for r in named if _is_address_literal(r[1])]
    for _, name in literal:
        findings.append(
            MX_ADDRESS_LITERAL.hit(
                name, f"the MX of {domain} names {name}, an address", evidence=evidence
            )
        )
    hosts_wanted: list[tuple[int, str]] = []
    seen: set[str] = set()
    for preference, name in named:
        if name in seen or _is_address_literal(name):
            continue
        seen.add(name)
        hosts_wanted.append((preference, name))
    hosts = tuple(await asyncio.gather(*(_host(lookup, n, p) for p, n in hosts_wanted[:MAX_MX])))
    for host in hosts:
        findings.extend(_host_findings(domain, host))
    status = MxStatus.OK
    if (
        not any(h.usable for h in hosts)
        and hosts
        and all(h.address_status.is_failure for h in hosts if not h.usable)
    ):
        status = MxStatus.FAILED
    return MxResult(
        domain=domain,
        status=status,
        hosts=hosts,
        security=answer.security,
        findings=tuple(findings),
    )
