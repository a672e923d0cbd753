"""The mail-domain rules' DNS client: vedette's resolver setting, bounded, never raising.

:class:`DnsClient` implements :class:`vedette.mailauth.answers.Lookup` over dnspython's async
query functions, asking ``--resolver ADDRESS[:PORT]`` or ``/etc/resolv.conf``'s nameservers in
turn (never the C library's resolver). Each question has one deadline (``timeout``); a truncated
UDP answer is asked again over TCP; every failure becomes an answer with a :class:`DnsStatus`,
so a rule can say "the DKIM selector timed out" rather than crash. An answer that does not
parse is an ERROR that says why (dnspython's resolver would drop it and time out instead).

DNSSEC standing is UNKNOWN unless the client is told to trust the AD flag of a validating
resolver (``trust_ad``, vedette's ``--trust-ad``): then an answer with AD is SECURE, without it
INSECURE. Questions are cached for the client's life (a domain check asks the same names from
several rules) and counted (``asked``), so a report can say how many queries a check cost.

For vedette's own DNSSEC validation (:mod:`vedette.mailauth.dnssec`) the client also answers
:meth:`DnsClient.raw` questions: asked with DO and CD (checking disabled, so that a validating
resolver hands over even data it would reject), answered with the whole message's answer and
authority sections, RRSIGs included, as a :class:`RawAnswer`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vedette.mailauth.answers import DnsAnswer, DnsStatus, Security

if TYPE_CHECKING:
    import dns.asyncresolver
    import dns.message
    import dns.rrset


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """A whole response to one DO+CD question, for a validator to judge.

    Attributes:
        name, rdtype: what was asked (lower case, no final dot; upper-case type).
        status: the rcode as a :class:`DnsStatus` (``OK`` when the answer section holds the
            type asked, possibly after CNAMEs; ``NODATA``; ``NXDOMAIN``...).
        answer: the answer section's RRsets (RRSIGs are RRsets of their own, type RRSIG with
            the covered type), in order.
        authority: the authority section's RRsets (SOA, NSEC, NSEC3 and their RRSIGs).
        detail: for failures, one line saying what happened.
    """

    name: str
    rdtype: str
    status: DnsStatus
    answer: tuple[dns.rrset.RRset, ...] = ()
    authority: tuple[dns.rrset.RRset, ...] = ()
    detail: str = ""


#: What a CNAME chain that never ends says (dnspython gives up after 16 links).
CNAME_LOOP = "CNAME loop (or a chain of more than 16 CNAMEs)"


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
        self._raw_cache: dict[tuple[str, str], asyncio.Future[RawAnswer]] = {}
        self.asked = 0

    @property
    def trust_ad(self) -> bool:
        """Whether answers' standing comes from the resolver's AD flag."""
        return self._trust_ad

    def _dns(self) -> dns.asyncresolver.Resolver:
        """Where to ask: a resolver object only for its nameservers and port."""
        if self._resolver is None:
            import dns.asyncresolver
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
        import dns.message
        import dns.rcode

        response = await self._exchange(name, rdtype, checking_disabled=False)
        if isinstance(response, RawAnswer):  # the exchange failed
            return DnsAnswer(name, rdtype, response.status, detail=response.detail)
        security = Security.UNKNOWN
        if self._trust_ad:
            secure = bool(response.flags & dns.flags.AD)
            security = Security.SECURE if secure else Security.INSECURE
        status = _rcode_status(name, rdtype, response.rcode())
        if status is not None:
            # A name's absence is validated like data (AD on a signed denial); a failure is not.
            known = security if status[0] is DnsStatus.NXDOMAIN else Security.UNKNOWN
            return DnsAnswer(name, rdtype, status[0], security=known, detail=status[1])
        if not isinstance(response, dns.message.QueryMessage):
            return DnsAnswer(name, rdtype, DnsStatus.ERROR, detail=f"{name} {rdtype}: not a reply")
        try:
            chain = response.resolve_chaining()
        except dns.message.ChainTooLong:
            return DnsAnswer(name, rdtype, DnsStatus.ERROR, detail=f"{name} {rdtype}: {CNAME_LOOP}")
        except dns.exception.DNSException as exc:
            return DnsAnswer(name, rdtype, DnsStatus.ERROR, detail=f"{name} {rdtype}: {exc}")
        cnames = tuple(normalise(rrset[0].target.to_text()) for rrset in chain.cnames)
        records = tuple(chain.answer) if chain.answer is not None else ()
        found = DnsStatus.OK if records else DnsStatus.NODATA
        return DnsAnswer(name, rdtype, found, records, security, cnames)

    async def raw(self, name: str, rdtype: str) -> RawAnswer:
        """Ask ``rdtype`` for ``name`` with DO and CD set and return the whole response (see
        :class:`RawAnswer`). UDP first, TCP when the answer is truncated; one deadline."""
        key = (normalise(name) or ".", rdtype.upper())
        if key not in self._raw_cache:
            self.asked += 1
            self._raw_cache[key] = asyncio.ensure_future(self._ask_raw(*key))
        return await asyncio.shield(self._raw_cache[key])

    async def _ask_raw(self, name: str, rdtype: str) -> RawAnswer:
        import dns.rdatatype

        response = await self._exchange(name, rdtype, checking_disabled=True)
        if isinstance(response, RawAnswer):
            return response
        qtype = dns.rdatatype.from_text(rdtype)
        answer, authority = tuple(response.answer), tuple(response.authority)
        status = _rcode_status(name, rdtype, response.rcode())
        if status is not None:
            return RawAnswer(name, rdtype, status[0], answer, authority, status[1])
        found = any(r.rdtype == qtype for r in answer)
        return RawAnswer(
            name, rdtype, DnsStatus.OK if found else DnsStatus.NODATA, answer, authority
        )

    async def _exchange(
        self, name: str, rdtype: str, *, checking_disabled: bool
    ) -> dns.message.Message | RawAnswer:
        """One question (RD, DO, EDNS0 1232) to the nameservers in turn, UDP then TCP when
        truncated, within one deadline: the response, or a failure as a field-less
        :class:`RawAnswer`. An answer that does not parse (dnspython refuses, for example, a
        TLSA digest of the wrong length) is an ERROR saying why, not a silent timeout."""
        import dns.asyncquery
        import dns.exception
        import dns.flags
        import dns.message
        import dns.name
        import dns.rcode
        import dns.rdatatype

        try:
            qname = dns.name.from_text(name)
            qtype = dns.rdatatype.from_text(rdtype)
        except dns.exception.DNSException as exc:
            return RawAnswer(name, rdtype, DnsStatus.ERROR, detail=f"not a DNS question: {exc}")
        # DO so that a validating resolver sets AD (RFC 6840 5.7); EDNS0 with a 1232-byte buffer
        # (the DNS flag day 2020 value) keeps UDP answers unfragmented.
        query = dns.message.make_query(
            qname, qtype, want_dnssec=True, use_edns=0, payload=1232, flags=dns.flags.RD
        )
        if checking_disabled:
            query.flags |= dns.flags.CD
        resolver = self._dns()
        servers = [str(ns) for ns in resolver.nameservers]
        if not servers:
            return RawAnswer(name, rdtype, DnsStatus.ERROR, detail="no nameserver configured")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        # What to say if no nameserver gives a usable answer: a reply (SERVFAIL, REFUSED) or an
        # answer that cannot be used says more than a later silence.
        failure: dns.message.Message | RawAnswer | None = None
        for index, where in enumerate(servers):
            # The deadline is shared out among the nameservers still to ask, so that one that
            # never answers leaves time for the next.
            left = (deadline - loop.time()) / (len(servers) - index)
            if left <= 0:
                break
            try:
                async with asyncio.timeout(left):
                    response, _ = await dns.asyncquery.udp_with_fallback(
                        query, where, timeout=left, port=resolver.port
                    )
            except (TimeoutError, dns.exception.Timeout):
                if failure is None:
                    failure = RawAnswer(
                        name,
                        rdtype,
                        DnsStatus.TIMEOUT,
                        detail=f"{name} {rdtype}: no answer within {self._timeout:g} s",
                    )
                continue
            except (OSError, dns.exception.DNSException) as exc:
                if failure is None or isinstance(failure, RawAnswer):
                    detail = f"{name} {rdtype}: the answer cannot be used: {exc}"
                    failure = RawAnswer(name, rdtype, DnsStatus.ERROR, detail=detail)
                continue
            if response.rcode() in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
                failure = response  # another nameserver may answer; if none does, this stands
                continue
            return response
        if failure is None:
            detail = f"{name} {rdtype}: no answer within {self._timeout:g} s"
            return RawAnswer(name, rdtype, DnsStatus.TIMEOUT, detail=detail)
        return failure


def _rcode_status(name: str, rdtype: str, rcode: int) -> tuple[DnsStatus, str] | None:
    """The status and detail of a response code that is not NOERROR; ``None`` for NOERROR."""
    import dns.rcode

    if rcode == dns.rcode.NOERROR:
        return None
    if rcode == dns.rcode.NXDOMAIN:
        return DnsStatus.NXDOMAIN, f"{name} does not exist"
    if rcode == dns.rcode.SERVFAIL:
        return DnsStatus.SERVFAIL, f"{name} {rdtype}: the server failed (SERVFAIL)"
    if rcode == dns.rcode.REFUSED:
        return DnsStatus.REFUSED, f"{name} {rdtype}: the server refused the query (REFUSED)"
    return (
        DnsStatus.ERROR,
        f"{name} {rdtype}: the server answered {dns.rcode.to_text(dns.rcode.Rcode.make(rcode))}",
    )
