"""Misbehaving servers for robustness tests, in the spirit of dnspython's nanonameserver.

``ScriptedServers`` runs an asyncio loop in a thread, listening on 127.0.0.1 with port 0 for
each named behaviour; tests point the real CLI at them and assert on what a user sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def endless_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An SMTP-looking greeting that never ends its line."""
    writer.write(b"220 ")
    chunk = b"A" * 4096
    for _ in range(4096):  # 16 MiB at most, then give up
        writer.write(chunk)
        await writer.drain()


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(bytes(range(256)) * 4 + b"\r\n")
    await writer.drain()
    await asyncio.sleep(30)


async def close_mid_dialogue(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Greets like Postfix, reads EHLO, then hangs up halfway through the reply."""
    writer.write(b"220 mx.example.test ESMTP\r\n")
    await writer.drain()
    await reader.readline()
    writer.write(b"250-mx.example.test\r\n250-PIPEL")
    await writer.drain()
    writer.close()


async def plaintext_to_hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An 'implicit TLS' port that is really plaintext IMAP."""
    writer.write(b"* OK IMAP4rev1 ready, no TLS here\r\n")
    await writer.drain()
    await reader.read(4096)
    writer.write(b"* BAD what is this\r\n")
    await writer.drain()
    await asyncio.sleep(30)


async def byte_by_byte(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A tarpit: a valid greeting, one byte every 0.3 s, forever."""
    for byte in b"220 " + b"slow" * 1000:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.3)


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(60)


async def busy_421(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"421 4.7.0 mx.example.test Error: too many connections from 127.0.0.1\r\n")
    await writer.drain()
    writer.close()


async def blocked_554(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"554 5.7.1 Service unavailable; client host [127.0.0.1] blocked\r\n")
    await writer.drain()
    writer.close()


async def http_on_imap(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    writer.close()


BEHAVIOURS: dict[str, Handler] = {
    "endless_line": endless_line,
    "garbage": garbage,
    "close_mid_dialogue": close_mid_dialogue,
    "plaintext_to_hello": plaintext_to_hello,
    "byte_by_byte": byte_by_byte,
    "silent": silent,
    "busy_421": busy_421,
    "blocked_554": blocked_554,
    "http_on_imap": http_on_imap,
}


def server_tls_context(directory: Path) -> ssl.SSLContext:
    """A server context (OpenSSL through Python's ``ssl``) with a certificate for
    tls.vedette.test, accepting everything this OpenSSL build still can."""
    from vedette.pki.ca import CertificateAuthority

    root = CertificateAuthority.create_root("scripted servers test root")
    leaf = root.issue_server(["tls.vedette.test"], key_spec="rsa:2048")
    (directory / "leaf.pem").write_bytes(leaf.cert_pem())
    (directory / "leaf.key").write_bytes(leaf.key_pem())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(directory / "leaf.pem", directory / "leaf.key")
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


class SmtpFront:
    """A scripted SMTP server with STARTTLS, speaking TLS with Python's ``ssl`` (OpenSSL).

    The dialogue is scripted (greeting, EHLO with STARTTLS, ``220`` to STARTTLS, then EHLO
    and QUIT inside TLS), so both the quick probe and the enumeration meet a real TLS stack
    behind a mail server's defences:

    * ``greeting_delay``: seconds before the greeting (a tarpit: sendmail's greet_pause);
    * ``refuse_after``: connections served normally; every later one gets ``reply_421``
      (Postfix anvil once the rate is exceeded), until ``refuse_for`` seconds have passed
      since the first refusal (``None``: for ever);
    * ``greylist_first``: the first connections get ``451 4.7.1`` (greylisting), later ones
      are served;
    * ``greeting``: the ``220`` line sent first (a hostile banner, for instance).

    ``accepted`` keeps the monotonic time of every accepted connection.
    """

    def __init__(
        self,
        tls: ssl.SSLContext | None = None,
        *,
        greeting_delay: float = 0.0,
        refuse_after: int | None = None,
        refuse_for: float | None = None,
        greylist_first: int = 0,
        reply_421: bytes = b"421 4.7.0 mx.example.test Error: too many connections from "
        b"127.0.0.1\r\n",
        greeting: bytes = b"220 mx.example.test ESMTP\r\n",
    ) -> None:
        self.tls = tls
        self.greeting = greeting
        self.greeting_delay = greeting_delay
        self.refuse_after = refuse_after
        self.refuse_for = refuse_for
        self.greylist_first = greylist_first
        self.reply_421 = reply_421
        self.accepted: list[float] = []
        self.open = 0
        self.peak = 0
        self.served = 0
        self.refused = 0
        self._refusing_since: float | None = None

    def _refuse(self, now: float) -> bool:
        if self.refuse_after is None or self.served < self.refuse_after:
            return False
        if self._refusing_since is None:
            self._refusing_since = now
        return self.refuse_for is None or now - self._refusing_since < self.refuse_for

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """``handle``, closing the connection whatever happens (for ``asyncio.start_server``);
        ``open`` and ``peak`` count the connections open at once, from accept until the
        dialogue ends (the client hung up or said QUIT): the server's own closing handshake is
        not counted, or a client that has closed and reconnected would count twice."""
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            with contextlib.suppress(Exception):
                await self.handle(reader, writer)
        finally:
            self.open -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        now = time.monotonic()
        self.accepted.append(now)
        if len(self.accepted) <= self.greylist_first:
            writer.write(b"451 4.7.1 Greylisting in action, please come back later\r\n")
            await writer.drain()
            return
        if self._refuse(now):
            self.refused += 1
            writer.write(self.reply_421)
            await writer.drain()
            return
        self.served += 1
        if self.greeting_delay:
            await asyncio.sleep(self.greeting_delay)
        writer.write(self.greeting)
        await writer.drain()
        in_tls = False
        while line := await reader.readline():
            verb = line.strip().upper()
            if verb.startswith((b"EHLO", b"HELO")):
                offer = b"" if in_tls or self.tls is None else b"250-STARTTLS\r\n"
                writer.write(b"250-mx.example.test\r\n" + offer + b"250 PIPELINING\r\n")
            elif verb == b"STARTTLS" and self.tls is not None and not in_tls:
                writer.write(b"220 2.0.0 Ready to start TLS\r\n")
                await writer.drain()
                await writer.start_tls(self.tls)
                in_tls = True
                continue
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"502 5.5.2 Error: command not recognized\r\n")
            await writer.drain()


class ThreadedServer:
    """Context manager: ``handler`` listening on 127.0.0.1 in a loop of its own thread (for
    tests that run the CLI in a subprocess). ``port`` is set once entered."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)  # type: ignore[arg-type]
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self.handler(reader, writer)
        writer.close()
        self._tasks.discard(task)  # type: ignore[arg-type]

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._run, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class _Dns(asyncio.DatagramProtocol):
    """Answers every query with NXDOMAIN, except names in ``records`` (A only)."""

    def __init__(self, records: dict[str, str]) -> None:
        self.records = records
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        name = query.question[0].name.to_text().rstrip(".")
        if name in self.records:
            if query.question[0].rdtype == 1:
                response.answer.append(
                    dns.rrset.from_text(name + ".", 60, "IN", "A", self.records[name])
                )
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


class ScriptedServers:
    """Context manager: every behaviour listening on 127.0.0.1, plus a tiny DNS server."""

    def __init__(self, dns_records: dict[str, str] | None = None) -> None:
        self.ports: dict[str, int] = {}
        self.dns_port = 0
        self._dns_records = dns_records or {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.AbstractServer] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def _wrap(self, handler: Handler) -> Handler:
        async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)  # type: ignore[arg-type]
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await handler(reader, writer)
            writer.close()
            self._tasks.discard(task)  # type: ignore[arg-type]

        return run

    async def _start(self) -> None:
        for name, handler in BEHAVIOURS.items():
            server = await asyncio.start_server(self._wrap(handler), "127.0.0.1", 0)
            self._servers.append(server)
            self.ports[name] = server.sockets[0].getsockname()[1]
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _Dns(self._dns_records), local_addr=("127.0.0.1", 0)
        )
        self._dns_transport = transport
        self.dns_port = transport.get_extra_info("sockname")[1]

    async def _stop(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        self._dns_transport.close()

    def __enter__(self) -> ScriptedServers:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
