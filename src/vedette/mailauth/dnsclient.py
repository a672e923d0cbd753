"""The mail-domain rules' DNS client: vedette's resolver setting, bounded, never raising.

:class:`DnsClient` implements :class:`vedette.mailauth.answers.Lookup` over dnspython's async
resolver, pointed at ``--resolver ADDRESS[:PORT]`` or at ``/etc/resolv.conf``'s nameservers
(never the C library's resolver). Each question has one deadline (``timeout``); a truncated UDP
answer is asked again over TCP (dnspython's resolver does it); every failure becomes an answer
with a :class:`DnsStatus`, so a rule can say "the DKIM selector timed out" rather than crash.

DNSSEC standing is UNKNOWN unless the client is told to trust the AD flag of a validating
resolver (``trust_ad``, vedette's ``--trust-ad``): then an answer with AD is SECURE, without it
INSECURE. Questions are cached for the client's life (a domain check asks the same names from
several rules) and counted (``asked``), so a report can say how many queries a check cost.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from vedette.mailauth.answers import DnsAnswer, DnsStatus, Security

if TYPE_CHECKING:
    import dns.asyncresolver


def normalise(name: str) -> str:
    """Lower case, no final dot (how answers name what was asked)."""
    return name.lower().rstrip(".")


class DnsClient:
    """Answers questions through one nameserver setting, with a deadline per question."""

    def __init__(
        self,
        nameserver: tuple[str, int] | None = None,
        *,
        timeout: float = 5.0,
        trust_ad: bool = False,
    ) -> None:
        self._nameserver = nameserver
        self._timeout = timeout
        self._trust_ad = trust_ad
        self._resolver: dns.asyncresolver.Resolver | None = None
        self._cache: dict[tuple[str, str], asyncio.Future[DnsAnswer]] = {}
        self.asked = 0

    def _dns(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            import dns.asyncresolver
            import dns.flags
            import dns.resolver

            if self._nameserver is None:
                try:
                    resolver = dns.asyncresolver.Resolver(configure=True)
                except dns.resolver.NoResolverConfiguration:
                    resolver = dns.asyncresolver.Resolver(configure=False)
            else:
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = [self._nameserver[0]]
                resolver.port = self._nameserver[1]
            resolver.lifetime = self._timeout
            resolver.timeout = self._timeout
            # Ask with DO so that a validating resolver sets AD (RFC 6840 5.7); EDNS0 with a
            # 1232-byte buffer (the DNS flag day 2020 value) keeps UDP answers unfragmented.
            resolver.use_edns(0, dns.flags.DO, 1232)
            resolver.flags = dns.flags.RD | dns.flags.AD
            self._resolver = resolver
        return self._resolver

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        key = (normalise(name), rdtype.upper())
        if key not in self._cache:
            self.asked += 1
            self._cache[key] = asyncio.ensure_future(self._ask(*key))
        return await asyncio.shield(self._cache[key])

    async def _ask(self, name: str, rdtype: str) -> DnsAnswer:
        import dns.exception
        import dns.flags
        import dns.name
        import dns.rcode
        import dns.resolver

        try:
            qname = dns.name.from_text(name)
        except dns.exception.DNSException as exc:
            return DnsAnswer(name, rdtype, DnsStatus.ERROR, detail=f"not a DNS name: {exc}")
        try:
            answer = await self._dns().resolve(
                qname, rdtype, search=False, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            return DnsAnswer(name, rdtype, DnsStatus.NXDOMAIN, detail=f"{name} does not exist")
        except dns.resolver.NoNameservers as exc:
            status, detail = _no_nameservers(exc)
            return DnsAnswer(name, rdtype, status, detail=f"{name} {rdtype}: {detail}")
        except dns.exception.Timeout:
            return DnsAnswer(
                name,
                rdtype,
                DnsStatus.TIMEOUT,
                detail=f"{name} {rdtype}: no answer within {self._timeout:g} s",
            )
        except dns.exception.DNSException as exc:
            return DnsAnswer(name, rdtype, DnsStatus.ERROR, detail=f"{name} {rdtype}: {exc}")
        response = answer.response
        security = Security.UNKNOWN
        if self._trust_ad:
            secure = bool(response.flags & dns.flags.AD)
            security = Security.SECURE if secure else Security.INSECURE
        try:
            chain = response.resolve_chaining()
        except dns.exception.DNSException as exc:
            return DnsAnswer(name, rdtype, DnsStatus.ERROR, detail=f"{name} {rdtype}: {exc}")
        cnames = tuple(normalise(rrset[0].target.to_text()) for rrset in chain.cnames)
        records = tuple(chain.answer) if chain.answer is not None else ()
        status = DnsStatus.OK if records else DnsStatus.NODATA
        return DnsAnswer(name, rdtype, status, records, security, cnames)


def _no_nameservers(exc: BaseException) -> tuple[DnsStatus, str]:
    """The rcode the nameservers gave, from dnspython's NoNameservers."""
    import dns.rcode

    text = str(exc)
    if dns.rcode.to_text(dns.rcode.REFUSED) in text:
        return DnsStatus.REFUSED, "the server refused the query (REFUSED)"
    if "SERVFAIL" in text:
        return DnsStatus.SERVFAIL, "the server failed (SERVFAIL)"
    return DnsStatus.ERROR, "no nameserver gave a usable answer"
