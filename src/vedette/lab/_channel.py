"""The byte mover under every lab server: one asyncio protocol per connection.

Why not ``asyncio.start_server`` and ``StreamReader``? Because of STARTTLS. A server that
upgrades a connection must throw away every plaintext byte that arrived *before* the TLS
handshake: those bytes were sent by whoever sits on the wire, not by the TLS peer, and a server
that later reads them as if they came through TLS lets an attacker inject commands into the
authenticated session (CVE-2011-0411 in Postfix, CVE-2011-1430 and friends in other servers:
``STARTTLS\\r\\nRSET\\r\\n`` in one packet, the ``RSET`` executed after the handshake). A
``StreamReader`` keeps its own private buffer across ``start_tls``, so there is no clean way to
empty it. With our own protocol object the buffered plaintext lives in two places we own (the
raw inbox and the ``LineBuffer``), and :meth:`Channel.start_tls` clears both in the same
synchronous step that hands the transport to ``loop.start_tls`` (which pauses reading before
its first ``await``), so no plaintext byte can slip in between.

Every read has a deadline (``LabLimits.read_timeout``) and every line a bound
(``LabLimits.max_line``, enforced by :class:`vedette.protocols._base.LineBuffer`): a lab server
must not be hangable or inflatable by a client any more than a real one. Incoming bytes are
also bounded before they reach the line buffer: past ``_HIGH_WATER`` unread bytes the
transport stops reading until the session consumes them (TCP back-pressure does the rest).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vedette.errors import ProtocolError
from vedette.protocols import LineBuffer

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

log = logging.getLogger("vedette.lab")

# Unread bytes accepted from a peer before the transport stops reading from the socket.
_HIGH_WATER = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class LabLimits:
    """Bounds every lab server applies to every client.

    Attributes:
        read_timeout: seconds to wait for the next line of a command (idle clients are dropped,
            as Dovecot and Postfix do after their own idle timeouts).
        handshake_timeout: seconds allowed for a TLS handshake (implicit or after STARTTLS).
        session_timeout: a whole connection's lifetime.
        max_line: longest command line, in bytes, before the client is disconnected.
        max_message: largest SMTP message accepted by DATA (advertised as ``SIZE``).
        max_bad_commands: unknown or malformed commands tolerated before disconnecting.
        max_auth_failures: failed logins tolerated on one connection.
        max_connections: concurrent connections per server; more are told to come back later.
    """

    read_timeout: float = 30.0
    handshake_timeout: float = 10.0
    session_timeout: float = 600.0
    max_line: int = 8192
    max_message: int = 1024 * 1024
    max_bad_commands: int = 10
    max_auth_failures: int = 3
    max_connections: int = 64


class PeerGone(Exception):
    """The client closed the connection (or it was lost) while the server waited for it."""


class ReadTimeout(Exception):
    """The client sent nothing for ``read_timeout`` seconds."""


class Channel(asyncio.Protocol):
    """One connection: bounded line reads with deadlines, writes with back-pressure, STARTTLS.

    ``on_open`` is called once, when the connection (and, for implicit TLS, its handshake) is
    up; the server uses it to start the session task.
    """

    def __init__(self, limits: LabLimits, on_open: Callable[[Channel], None]) -> None:
        self.limits = limits
        self._on_open = on_open
        self._transport: asyncio.Transport | None = None
        self._inbox = bytearray()
        self._lines = LineBuffer(limits.max_line)
        self._eof = False
        self._reading_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()
        self.tls = False
        self.peer: str = "?"

    # --- asyncio.Protocol callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # After loop.start_tls the same protocol object is kept and this is *not* called again
        # (SSLProtocol is created with call_connection_made=False), but guard anyway.
        if self._transport is not None:
            return
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.tls = transport.get_extra_info("ssl_object") is not None
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = f"{peer[0]}:{peer[1]}"
        self._on_open(self)

    def data_received(self, data: bytes) -> None:
        self._inbox += data
        if len(self._inbox) > _HIGH_WATER and self._transport is not None:
            self._transport.pause_reading()
            self._reading_paused = True
        self._wake()

    def eof_received(self) -> bool | None:
        self._eof = True
        self._wake()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._can_write.set()  # release a writer blocked on back-pressure; write is a no-op now
        self._wake()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # --- what sessions use ----------------------------------------------------------------

    async def read_line(self) -> str:
        """The next line (latin-1, line ending removed).

        Raises ``PeerGone`` at EOF, ``ReadTimeout`` after ``read_timeout`` seconds of silence,
        and ``ProtocolError(too_large=True)`` for a line longer than ``max_line``.
        """
        while True:
            line = self._lines.next_line()
            if line is not None:
                return line
            if self._inbox:
                chunk = bytes(self._inbox)
                self._inbox.clear()
                self._resume_reading()
                self._lines.feed(chunk)  # raises on an endless line
                continue
            if self._eof:
                raise PeerGone
            await self._wait_for_data()

    async def _wait_for_data(self) -> None:
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        try:
            async with asyncio.timeout(self.limits.read_timeout):
                await self._waiter
        except TimeoutError:
            raise ReadTimeout from None
        finally:
            self._waiter = None

    def _resume_reading(self) -> None:
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        async with asyncio.timeout(self.limits.read_timeout):
            await self._can_write.wait()

    async def send(self, data: bytes) -> None:
        self.write(data)
        await self.drain()

    async def start_tls(self, context: ssl.SSLContext) -> None:
        """Run the server side of a TLS handshake on this connection (after STARTTLS/STLS).

        Everything received so far is discarded first: see the module docstring.
        """
        assert self._transport is not None
        dropped = len(self._inbox) + self._lines.pending
        if dropped:
            log.info("%s: discarded %d plaintext bytes sent before TLS", self.peer, dropped)
        self._inbox.clear()
        self._lines.clear()
        # loop.start_tls pauses and resumes reading itself; our own pause flag is stale now.
        self._reading_paused = False
        loop = asyncio.get_running_loop()
        new_transport = await loop.start_tls(
            self._transport,
            self,
            context,
            server_side=True,
            ssl_handshake_timeout=self.limits.handshake_timeout,
        )
        if new_transport is None:  # the peer went away during the handshake
            raise PeerGone
        assert isinstance(new_transport, asyncio.Transport)
        self._transport = new_transport
        self.tls = True

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


class LineServer:
    """A TCP listener running one session task per connection, with the lab's limits.

    Subclasses implement :meth:`session` (the protocol) and the three short replies a server
    gives when it drops a client: :meth:`busy_reply`, :meth:`timeout_reply`,
    :meth:`too_long_reply`. ``implicit_tls`` servers complete the TLS handshake before the
    session starts (``loop.create_server(ssl=...)``); others may upgrade with STARTTLS when
    ``tls_context`` is set.
    """

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None,
        implicit_tls: bool,
        limits: LabLimits,
        hostname: str,
    ) -> None:
        if implicit_tls and tls_context is None:
            raise ValueError("an implicit-TLS server needs a TLS context")
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.limits = limits
        self.hostname = hostname
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._channels: set[Channel] = set()

    async def start(self, bind: str, port: int = 0) -> int:
        """Listen on ``bind:port`` (port 0: an ephemeral port) and return the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Channel(self.limits, self._opened),
            host=bind,
            port=port,
            ssl=self.tls_context if self.implicit_tls else None,
            ssl_handshake_timeout=self.limits.handshake_timeout if self.implicit_tls else None,
            reuse_address=True,
        )
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        """Stop listening, drop every connection and wait for the sessions to end."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for ch in list(self._channels):
            ch.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _opened(self, ch: Channel) -> None:
        task = asyncio.get_running_loop().create_task(self._run(ch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, ch: Channel) -> None:
        self._channels.add(ch)
        try:
            if len(self._channels) > self.limits.max_connections:
                ch.write(self.busy_reply())
                return
            async with asyncio.timeout(self.limits.session_timeout):
                await self.session(ch)
        except PeerGone:
            pass
        except ReadTimeout:
            ch.write(self.timeout_reply())
        except ProtocolError as exc:
            log.info("%s: dropped: %s", ch.peer, exc)
            ch.write(self.too_long_reply() if exc.too_large else self.bad_reply(str(exc)))
        except TimeoutError:  # session_timeout, or a write blocked on a client not reading
            ch.write(self.timeout_reply())
        except (OSError, EOFError) as exc:  # includes ssl.SSLError from a failed STARTTLS
            log.info("%s: connection error: %s", ch.peer, exc)
        finally:
            self._channels.discard(ch)
            with contextlib.suppress(Exception):
                ch.close()

    async def session(self, ch: Channel) -> None:
        raise NotImplementedError

    def busy_reply(self) -> bytes:
        raise NotImplementedError

    def timeout_reply(self) -> bytes:
        raise NotImplementedError

    def too_long_reply(self) -> bytes:
        raise NotImplementedError

    def bad_reply(self, reason: str) -> bytes:
        raise NotImplementedError
