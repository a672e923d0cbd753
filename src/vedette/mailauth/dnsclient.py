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

The wire work is vedette's own where dnspython would cost most (a fleet check asks tens of
thousands of questions): the query is built by hand (RD, CD when asked, EDNS0 with DO and a
1232-byte buffer: what ``dns.message.make_query`` builds), and each answer's header, question
and section framing are read by hand; only the sections a reader needs are parsed by
dnspython (the answer section at once; an authority section holding only a SOA, as every
unsigned denial has, when :attr:`RawAnswer.authority` is first read). Questions to one
nameserver share connected UDP sockets (:class:`_UdpChannel`): each socket carries at most
:data:`UDP_QUESTIONS_PER_SOCKET` questions, each with a random id not in flight on it, and is
closed once they are answered, so the source port still changes every few dozen questions.
An answer is taken only when it comes from the nameserver's address and port (the socket is
connected, and the source is checked again), carries the id of a question in flight on that
socket, has QR set and repeats that question (name case-insensitively, type and class
exactly; an error reply may omit it, as dnspython allows); anything else is dropped and the
question keeps waiting until its deadline.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

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
        authority: the authority section's RRsets (SOA, NSEC, NSEC3 and their RRSIGs); the
            client may hand a :class:`DeferredSection`, parsed when first read.
        detail: for failures, one line saying what happened.
    """

    name: str
    rdtype: str
    status: DnsStatus
    answer: tuple[dns.rrset.RRset, ...] = ()
    authority: Sequence[dns.rrset.RRset] = ()
    detail: str = ""


class DeferredSection(Sequence["dns.rrset.RRset"]):
    """A section's RRsets, parsed by ``parse`` when first read (an unsigned denial's lone SOA,
    which no rule reads, is never parsed)."""

    __slots__ = ("_parse", "_rrsets")

    def __init__(self, parse: Callable[[], tuple[dns.rrset.RRset, ...]]) -> None:
        self._parse: Callable[[], tuple[dns.rrset.RRset, ...]] | None = parse
        self._rrsets: tuple[dns.rrset.RRset, ...] = ()

    def _get(self) -> tuple[dns.rrset.RRset, ...]:
        if self._parse is not None:
            self._rrsets, self._parse = self._parse(), None
        return self._rrsets

    @overload
    def __getitem__(self, index: int) -> dns.rrset.RRset: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[dns.rrset.RRset]: ...
    def __getitem__(self, index: int | slice) -> dns.rrset.RRset | Sequence[dns.rrset.RRset]:
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return repr(self._get())


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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pools: dict[tuple[str, int], _Channels] = {}
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

        response = await self._exchange(name, rdtype, checking_disabled=False)
        if isinstance(response, RawAnswer):  # the exchange failed
            return DnsAnswer(name, rdtype, response.status, detail=response.detail)
        security = Security.UNKNOWN
        if self._trust_ad:
            secure = bool(response.flags & dns.flags.AD)
            security = Security.SECURE if secure else Security.INSECURE
        status = _rcode_status(name, rdtype, response.rcode)
        if status is not None:
            # A name's absence is validated like data (AD on a signed denial); a failure is not.
            known = security if status[0] is DnsStatus.NXDOMAIN else Security.UNKNOWN
            return DnsAnswer(name, rdtype, status[0], security=known, detail=status[1])
        try:
            message = dns.message.from_wire(response.wire)
        except dns.exception.DNSException as exc:
            return DnsAnswer(name, rdtype, DnsStatus.ERROR, detail=_unusable(name, rdtype, exc))
        if not isinstance(message, dns.message.QueryMessage):
            return DnsAnswer(name, rdtype, DnsStatus.ERROR, detail=f"{name} {rdtype}: not a reply")
        try:
            chain = message.resolve_chaining()
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
        import dns.exception

        response = await self._exchange(name, rdtype, checking_disabled=True)
        if isinstance(response, RawAnswer):
            return response
        try:
            answer, authority = response.sections()
        except dns.exception.DNSException as exc:
            return RawAnswer(name, rdtype, DnsStatus.ERROR, detail=_unusable(name, rdtype, exc))
        status = _rcode_status(name, rdtype, response.rcode)
        if status is not None:
            return RawAnswer(name, rdtype, status[0], answer, authority, status[1])
        qtype = _rdtype(rdtype)
        found = any(r.rdtype == qtype for r in answer)
        return RawAnswer(
            name,
            rdtype,
            DnsStatus.OK if found else DnsStatus.NODATA,
            answer,
            authority,
        )

    def _channels(self, where: tuple[str, int]) -> _Channels:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop: sockets of the old one are not reused
            self._loop, self._pools = loop, {}
        pool = self._pools.get(where)
        if pool is None:
            pool = self._pools[where] = _Channels(loop, where)
        return pool

    async def _exchange(
        self, name: str, rdtype: str, *, checking_disabled: bool
    ) -> _Reply | RawAnswer:
        """One question (RD, DO, EDNS0 1232) to the nameservers in turn, UDP then TCP when
        truncated, within one deadline: the reply, or a failure as a field-less
        :class:`RawAnswer`. An answer that cannot be read is an ERROR saying why, not a silent
        timeout."""
        try:
            question = _question(name, rdtype)
        except (ValueError, LookupError) as exc:
            return RawAnswer(name, rdtype, DnsStatus.ERROR, detail=f"not a DNS question: {exc}")
        flags = _RD | (_CD if checking_disabled else 0)
        resolver = self._dns()
        servers = [str(ns) for ns in resolver.nameservers]
        if not servers:
            return RawAnswer(name, rdtype, DnsStatus.ERROR, detail="no nameserver configured")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        # What to say if no nameserver gives a usable answer: a reply (SERVFAIL, REFUSED) or an
        # answer that cannot be used says more than a later silence.
        failure: _Reply | RawAnswer | None = None
        for index, address in enumerate(servers):
            # The deadline is shared out among the nameservers still to ask, so that one that
            # never answers leaves time for the next.
            left = (deadline - loop.time()) / (len(servers) - index)
            if left <= 0:
                break
            where = (address, int(resolver.port))
            try:
                async with asyncio.timeout(left):
                    reply = await self._channels(where).ask(question, flags)
                    if reply.truncated:
                        reply = await _tcp(where, question, flags)
            except TimeoutError:
                if failure is None:
                    failure = RawAnswer(
                        name,
                        rdtype,
                        DnsStatus.TIMEOUT,
                        detail=f"{name} {rdtype}: no answer within {self._timeout:g} s",
                    )
                continue
            except (OSError, EOFError, ValueError) as exc:
                if failure is None or isinstance(failure, RawAnswer):
                    detail = _unusable(name, rdtype, exc)
                    failure = RawAnswer(name, rdtype, DnsStatus.ERROR, detail=detail)
                continue
            if reply.rcode in (_SERVFAIL, _REFUSED):
                failure = reply  # another nameserver may answer; if none does, this stands
                continue
            return reply
        if failure is None:
            detail = f"{name} {rdtype}: no answer within {self._timeout:g} s"
            return RawAnswer(name, rdtype, DnsStatus.TIMEOUT, detail=detail)
        return failure


def _unusable(name: str, rdtype: str, exc: BaseException) -> str:
    return f"{name} {rdtype}: the answer cannot be used: {exc}"


# --- the wire ----------------------------------------------------------------------------------

_QR, _RD, _CD, _TC = 0x8000, 0x0100, 0x0010, 0x0200
_OPCODE = 0x7800
_FORMERR, _SERVFAIL, _NOTIMP, _REFUSED = 1, 2, 4, 5
_SOA, _OPT = 6, 41
#: EDNS0 (RFC 6891) OPT record: root owner, 1232-byte UDP buffer, version 0, DO (RFC 3225).
_EDNS = b"\x00" + struct.pack("!HHIH", _OPT, 1232, 0x8000, 0)
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
#: Questions one UDP socket carries before a new one (a new source port) is opened.
UDP_QUESTIONS_PER_SOCKET = 64
#: Datagrams read from one socket each time the event loop says it is readable.
_READS_PER_WAKE = 64


@functools.lru_cache(maxsize=64)
def _rdtype(rdtype: str) -> int:
    import dns.rdatatype

    return int(dns.rdatatype.from_text(rdtype))


def _qname(name: str) -> bytes:
    """``name`` in wire form (ValueError when it is no DNS name). Plain ASCII names are
    encoded here; others (escapes, IDNA) by dnspython, as before."""
    if name in ("", "."):
        return b"\x00"
    if name.isascii() and "\\" not in name:
        labels = name.rstrip(".").split(".")
        wire = b"".join(len(x).to_bytes(1, "big") + x.encode() for x in labels) + b"\x00"
        if all(0 < len(x) < 64 for x in labels) and len(wire) <= 255:
            return wire
    import dns.exception
    import dns.name

    try:
        return dns.name.from_text(name).to_wire() or b"\x00"
    except dns.exception.DNSException as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None


def _question(name: str, rdtype: str) -> bytes:
    """The question section (class IN) for ``name``/``rdtype``."""
    return _qname(name) + struct.pack("!HH", _rdtype(rdtype), 1)


def _query(qid: int, question: bytes, flags: int) -> bytes:
    return _HEADER.pack(qid, flags, 1, 0, 0, 1) + question + _EDNS


def _skip_name(wire: bytes, at: int) -> int:
    """The offset after the (possibly compressed) name at ``at``; ValueError when it runs
    past the end or points forward."""
    end = len(wire)
    while True:
        if at >= end:
            raise ValueError("a name runs past the end of the message")
        length = wire[at]
        if length == 0:
            return at + 1
        if length & 0xC0 == 0xC0:
            if at + 1 >= end or (((length & 0x3F) << 8) | wire[at + 1]) >= at:
                raise ValueError("a bad compression pointer")
            return at + 2
        if length & 0xC0:
            raise ValueError("an unknown label type")
        at += 1 + length


class _Reply:
    """One answer, checked as the reply to its question, its sections framed but not parsed."""

    __slots__ = ("an", "an_end", "flags", "ns", "ns_end", "rcode", "soa_only", "truncated", "wire")

    def __init__(self, wire: bytes, question: bytes) -> None:
        if len(wire) < 12:
            raise ValueError("the answer is shorter than a DNS header")
        _, flags, qd, an, ns, ar = _HEADER.unpack_from(wire)
        self.wire, self.flags, self.an, self.ns = wire, flags, an, ns
        self.truncated = bool(flags & _TC)
        at = 12
        for _ in range(qd):
            at = _skip_name(wire, at) + 4
        extended, types = 0, []
        marks = []
        for section, count in enumerate((an, ns, ar)):
            for _ in range(count):
                at = _skip_name(wire, at)
                if at + 10 > len(wire):
                    raise ValueError("a record runs past the end of the message")
                rdtype, _, ttl, size = _RR.unpack_from(wire, at)
                at += 10 + size
                if at > len(wire):
                    raise ValueError("a record's data runs past the end of the message")
                if section == 1:
                    types.append(rdtype)
                elif section == 2 and rdtype == _OPT:
                    extended = ttl >> 24
            marks.append(at)
        self.an_end, self.ns_end = marks[0], marks[1]
        self.rcode = (flags & 0xF) | (extended << 4)
        self.soa_only = an == 0 and all(t == _SOA for t in types)

    def sections(
        self,
    ) -> tuple[tuple[dns.rrset.RRset, ...], Sequence[dns.rrset.RRset]]:
        """The answer and authority sections parsed by dnspython (the additional section is
        not read); an authority holding only a SOA with no answer (an unsigned denial) is
        parsed when first read (a SOA that does not parse then gives no records)."""
        if self.an == 0 and (self.ns == 0 or self.soa_only):
            return (), (DeferredSection(self._authority) if self.ns else ())
        message = self._parse(self.an, self.ns, self.ns_end)
        return tuple(message.answer), tuple(message.authority)

    def _parse(self, an: int, ns: int, end: int) -> dns.message.Message:
        import dns.message

        header = self.wire[:4] + struct.pack("!HHHH", 1, an, ns, 0)
        return dns.message.from_wire(header + self.wire[12:end])

    def _authority(self) -> tuple[dns.rrset.RRset, ...]:
        import dns.exception

        try:
            return tuple(self._parse(0, self.ns, self.ns_end).authority)
        except dns.exception.DNSException:
            return ()


def _answers(wire: bytes, qid: int, question: bytes) -> _Reply | None:
    """``wire`` as the reply to ``question`` sent with ``qid``, or ``None`` when it is not one
    (another id, no QR, another opcode, another question): such a datagram is ignored. A reply
    whose records run past its end raises ValueError (the question fails, saying why)."""
    if len(wire) < 12:
        return None
    rid, flags, qd = struct.unpack_from("!HHH", wire)
    if rid != qid or not flags & _QR or flags & _OPCODE:
        return None
    if qd == 0:
        if flags & 0xF not in (_FORMERR, _SERVFAIL, _NOTIMP, _REFUSED):
            return None
    elif qd != 1:
        return None
    else:
        asked = wire[12 : 12 + len(question)]
        name = len(question) - 4
        if asked[:name].lower() != question[:name].lower() or asked[name:] != question[name:]:
            return None
    return _Reply(wire, question)


class _UdpChannel:
    """One connected UDP socket to a nameserver, carrying up to
    :data:`UDP_QUESTIONS_PER_SOCKET` questions, its answers sorted out by id."""

    def __init__(self, loop: asyncio.AbstractEventLoop, where: tuple[str, int]) -> None:
        family = socket.AF_INET6 if ":" in where[0] else socket.AF_INET
        self._loop, self._where = loop, where
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.setblocking(False)
            self._sock.connect(where)
        except OSError:
            self._sock.close()
            raise
        self._pending: dict[int, tuple[bytes, asyncio.Future[_Reply]]] = {}
        self.used = 0
        self.closed = False
        loop.add_reader(self._sock.fileno(), self._readable)

    async def ask(self, question: bytes, flags: int) -> _Reply:
        qid = secrets.randbits(16)
        while qid in self._pending:
            qid = secrets.randbits(16)
        self.used += 1
        future: asyncio.Future[_Reply] = self._loop.create_future()
        self._pending[qid] = (question, future)
        try:
            data = _query(qid, question, flags)
            try:
                self._sock.send(data)
            except BlockingIOError:
                await self._loop.sock_sendall(self._sock, data)
            return await future
        finally:
            del self._pending[qid]
            self._close_if_done()

    def _readable(self) -> None:
        for _ in range(_READS_PER_WAKE):
            try:
                wire, source = self._sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error (port unreachable...) for this socket
                for _, future in self._pending.values():
                    if not future.done():
                        future.set_exception(OSError(exc.errno, exc.strerror))
                return
            if (source[0], source[1]) != self._where or len(wire) < 2:
                continue
            entry = self._pending.get(int.from_bytes(wire[:2], "big"))
            if entry is None or entry[1].done():
                continue
            try:
                reply = _answers(wire, int.from_bytes(wire[:2], "big"), entry[0])
            except ValueError as exc:
                entry[1].set_exception(exc)
                continue
            if reply is not None:
                entry[1].set_result(reply)

    @property
    def full(self) -> bool:
        return self.used >= UDP_QUESTIONS_PER_SOCKET

    def _close_if_done(self) -> None:
        # A socket with nothing in flight is closed (nothing outlives the questions, and an
        # idle client holds no socket); a busy one carries its share first.
        if not self._pending and not self.closed:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()


class _Channels:
    """The UDP sockets to one nameserver: questions go to the newest until it has carried
    its share; each closes once its questions are answered."""

    def __init__(self, loop: asyncio.AbstractEventLoop, where: tuple[str, int]) -> None:
        import ipaddress

        self._loop = loop
        self._where = (str(ipaddress.ip_address(where[0])), where[1])
        self._current: _UdpChannel | None = None

    async def ask(self, question: bytes, flags: int) -> _Reply:
        channel = self._current
        if channel is None or channel.full or channel.closed:
            channel = self._current = _UdpChannel(self._loop, self._where)
        return await channel.ask(question, flags)


async def _tcp(where: tuple[str, int], question: bytes, flags: int) -> _Reply:
    """The question again over TCP (RFC 7766), for a truncated UDP answer: one connection,
    a two-byte length and at most 65535 bytes back (the caller's deadline bounds it)."""
    qid = secrets.randbits(16)
    reader, writer = await asyncio.open_connection(where[0], where[1])
    try:
        data = _query(qid, question, flags)
        writer.write(len(data).to_bytes(2, "big") + data)
        await writer.drain()
        size = int.from_bytes(await reader.readexactly(2), "big")
        wire = await reader.readexactly(size)
    finally:
        writer.close()
    reply = _answers(wire, qid, question)
    if reply is None:
        raise ValueError("the TCP answer is not a reply to the question")
    return reply


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
