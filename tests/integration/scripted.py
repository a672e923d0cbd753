"""Misbehaving servers for robustness tests, in the spirit of dnspython's nanonameserver.

``ScriptedServers`` runs an asyncio loop in a thread, listening on 127.0.0.1 with port 0 for
each named behaviour; tests point the real CLI at them and assert on what a user sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable

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
    "http_on_imap": http_on_imap,
}


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
