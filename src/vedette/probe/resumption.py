"""Session resumption: does the server resume a session it handed out (TLS 1.2, TLS 1.3)?

Resumption needs a completed handshake (the session's master secret), so this is the one part
of the enumeration that uses real crypto: Python's ``ssl`` driven over memory BIOs (asyncio's
``start_tls`` cannot offer a saved ``SSLSession``), on top of vedette's own ``Connection`` so
that STARTTLS dialogues, timeouts and read bounds are the scanner's usual ones.

TLS 1.2 is pinned: a TLS 1.2 session (ticket or session id) is usable as soon as the handshake
ends, whereas TLS 1.3 tickets arrive after it, only once the client reads application data.
Two connections: the first saves the session, the second offers it and reads
``session_reused``.

TLS 1.3 is probed apart (``probe_resumption_tls13``), pinned to TLS 1.3: after the handshake
the client keeps reading (``SSLObject.read`` until it wants more bytes) so that OpenSSL
processes the NewSessionTicket messages servers send right after their Finished. Servers
write their tickets before any application data, so the first application bytes end the
wait: a mail server on implicit TLS greets, and after STARTTLS (where the client speaks next)
the probe sends the protocol's harmless ``NOOP`` and reads its reply; on HTTPS it sends
``HEAD /``, on SIPS an ``OPTIONS`` ping; a server that answers none of these is waited for
``TICKET_WAIT`` seconds at most. A server that issues no ticket thus costs one round trip, not
the whole wait. The ticket is then offered as a PSK on a second connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from vedette.model import Endpoint, Stage, TlsMode
from vedette.probe.limits import Limits
from vedette.probe.runner import drive_to_starttls
from vedette.probe.stream import Stream
from vedette.probe.transport import Connection, ProbeFailed, scanner_ssl_context
from vedette.protocols.registry import entry, has_dialogue, new_dialogue

#: Seconds to wait for TLS 1.3 session tickets after the handshake.
TICKET_WAIT = 1.0


def _nudge(ep: Endpoint) -> bytes | None:
    """What to send after the handshake so that the server answers (and so shows that its
    tickets, written before any answer, are all in); ``None`` when it speaks first."""
    return entry(ep.service.protocol).ping(ep)


def _context(tls13: bool = False) -> ssl.SSLContext:
    # Nothing is authenticated here: the question is resumption, not trust.
    ctx = scanner_ssl_context()
    if tls13:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    else:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def _read_tickets(
    conn: Stream,
    sslobj: ssl.SSLObject,
    bios: tuple[ssl.MemoryBIO, ssl.MemoryBIO],
    limits: Limits,
    nudge: bytes | None,
) -> None:
    """Feed the server's post-handshake bytes until a ticket made the session resumable, or
    application data shows that no ticket is coming (``nudge``, if any, asks for some)."""
    incoming, outgoing = bios
    if nudge is not None:
        with contextlib.suppress(ssl.SSLError):
            sslobj.write(nudge)
    if outgoing.pending:  # the client Finished: servers send tickets once they have it
        await conn.write(outgoing.read(), limits.read_timeout, Stage.TLS_HANDSHAKE)
    deadline = asyncio.get_running_loop().time() + min(TICKET_WAIT, limits.read_timeout)
    while True:
        try:
            data = sslobj.read(1)  # processes NewSessionTicket messages on the way
        except ssl.SSLWantReadError:
            data = b""
        except ssl.SSLError:
            return
        session = sslobj.session
        if session is not None and session.has_ticket:
            return
        if data:
            return  # the server's application data: its tickets, if any, came before it
        try:
            chunk = await conn.read(limits.max_read, deadline, Stage.TLS_HANDSHAKE)
        except ProbeFailed:
            return  # no (further) ticket in time
        if not chunk:
            return
        incoming.write(chunk)


async def _handshake(
    ep: Endpoint,
    ctx: ssl.SSLContext,
    limits: Limits,
    ehlo_name: str,
    session: ssl.SSLSession | None,
    *,
    tickets: bool = False,
) -> ssl.SSLObject:
    assert ep.ip is not None
    conn: Stream = await Connection.connect(ep.ip, ep.port, timeout=limits.connect_timeout)
    try:
        if ep.service.tls_mode is TlsMode.STARTTLS and has_dialogue(ep.service.protocol):
            dialogue = new_dialogue(
                ep.service, ehlo_name=ehlo_name, server_name=ep.host, redial=True
            )
            await drive_to_starttls(conn, dialogue, limits)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        sslobj = ctx.wrap_bio(
            incoming, outgoing, server_side=False, server_hostname=ep.host, session=session
        )
        deadline = asyncio.get_running_loop().time() + limits.read_timeout
        while True:
            try:
                sslobj.do_handshake()
                break
            except ssl.SSLWantReadError:
                if outgoing.pending:
                    await conn.write(outgoing.read(), limits.read_timeout, Stage.TLS_HANDSHAKE)
                chunk = await conn.read(limits.max_read, deadline, Stage.TLS_HANDSHAKE)
                if not chunk:
                    raise ConnectionError("closed during the handshake") from None
                incoming.write(chunk)
        if tickets:
            await _read_tickets(conn, sslobj, (incoming, outgoing), limits, _nudge(ep))
        # A clean close_notify: OpenSSL drops a session from its cache when the connection
        # ends without one, so an abrupt close would hide session-id resumption.
        with contextlib.suppress(ssl.SSLError):  # SSLWantReadError: no reply awaited
            sslobj.unwrap()
        if outgoing.pending:
            await conn.write(outgoing.read(), limits.read_timeout, Stage.TLS_HANDSHAKE)
        # Let the server close first (its close_notify, then EOF): the
        # connection is then really gone before the next one opens under the per-host limit
        # (bounded: a mail server waiting for a command after TLS never closes first).
        closing = asyncio.get_running_loop().time() + 0.3
        with contextlib.suppress(ProbeFailed):
            while await conn.read(limits.max_read, closing, Stage.TLS_HANDSHAKE):
                pass
        return sslobj
    finally:
        await conn.close()


async def _probe(
    ep: Endpoint, limits: Limits, ehlo_name: str, *, tls13: bool
) -> tuple[bool | None, int]:
    """(resumed?, connections used): one full handshake saves the session, a second offers
    it. False when there was nothing to offer; ``None`` when no handshake completed."""
    ctx = _context(tls13=tls13)
    used = 0
    try:
        used += 1
        first = await _handshake(ep, ctx, limits, ehlo_name, None, tickets=tls13)
        session = first.session
        # TLS 1.2 resumes by ticket or session id; TLS 1.3 only by a ticket.
        if session is None or not (session.has_ticket or (session.id and not tls13)):
            return False, used
        used += 1
        second = await _handshake(ep, ctx, limits, ehlo_name, session)
        return second.session_reused, used
    except (ProbeFailed, ssl.SSLError, OSError, ValueError):
        return None, used


async def probe_resumption(ep: Endpoint, limits: Limits, ehlo_name: str) -> tuple[bool | None, int]:
    """TLS 1.2: (resumed?, connections used); ``None`` when no session could be obtained."""
    return await _probe(ep, limits, ehlo_name, tls13=False)


async def probe_resumption_tls13(
    ep: Endpoint, limits: Limits, ehlo_name: str
) -> tuple[bool | None, int]:
    """TLS 1.3: (resumed?, connections used); False when no ticket came in time."""
    return await _probe(ep, limits, ehlo_name, tls13=True)
