"""A scripted TLS peer that answers like a 2009–2013 OpenSSL server, in front of s_server.

Debian's OpenSSL 3 (and tlslite-ng) cannot serve export suites, DEFLATE compression or a
ServerHello without ``renegotiation_info``. This peer answers the hellos that matter with
ServerHello flights written here as annotated bytes — modelled on what OpenSSL 0.9.8/1.0.1
servers sent — and never built by vedette's codec, so the codec is tested against an
independent rendering of the wire format.

Routing: a ClientHello that carries ``supported_versions`` (extension 43: TLS 1.3 capable,
which includes Python's ``ssl`` quick probe) or is not a TLS handshake record (SSLv2) is
forwarded byte for byte to a real ``openssl s_server``, so the quick probe completes a real
handshake. A TLS ≤ 1.2 hello without ``supported_versions`` gets the scripted answer: the
first suite of ``prefer`` that the client offered, or a ``handshake_failure`` alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

# --- the scripted flight, byte by byte ------------------------------------------------------

# A ServerHello's random as a 0.9.8 server sent it: 4 bytes gmt_unix_time (2011-06-01) and
# 28 random bytes (fixed: the peer needs no secrets, no key exchange ever completes).
SERVER_RANDOM = bytes.fromhex(
    "4de58100"  # gmt_unix_time
    "3f1a9c2e5b7d8e0f112233445566778899aabbccddeeff0011223344"  # 28 random bytes
)
# OpenSSL always assigned a 32-byte session id on a full handshake.
SESSION_ID = bytes.fromhex("20") + bytes.fromhex(  # length 32
    "c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc"
)
# renegotiation_info (RFC 5746) in an initial handshake: type ff01, length 1, empty
# renegotiated_connection (length byte 0). OpenSSL sends it from 0.9.8m on.
RENEGOTIATION_INFO = bytes.fromhex("ff01000100")
# ServerHelloDone: handshake type 14, empty body.
SERVER_HELLO_DONE = bytes.fromhex("0e000000")
# Alert record: level fatal (2), handshake_failure (40) — OpenSSL's "no shared cipher".
HANDSHAKE_FAILURE = bytes.fromhex("15030100020228")

TLS_RSA_EXPORT_WITH_RC4_40_MD5 = 0x0003  # the FREAK-era default of many 0.9.8 servers
TLS_RSA_EXPORT_WITH_DES40_CBC_SHA = 0x0008
TLS_RSA_WITH_AES_256_CBC_SHA = 0x0035  # what 1.0.1 servers commonly preferred
TLS_RSA_WITH_AES_128_CBC_SHA = 0x002F


def server_hello_flight(version: int, suite: int, compression: int, *, reneg: bool) -> bytes:
    """One record: ServerHello then ServerHelloDone (Certificate left out: nothing reads it)."""
    extensions = RENEGOTIATION_INFO if reneg else b""
    body = (
        version.to_bytes(2, "big")  # server_version
        + SERVER_RANDOM
        + SESSION_ID
        + suite.to_bytes(2, "big")  # cipher_suite
        + bytes([compression])  # compression_method: 0 null, 1 DEFLATE (RFC 3749)
        # A 0.9.8 server without RFC 5746 sent no extensions block at all (not even a zero
        # length), which is legal: the block is optional in a ServerHello.
        + ((len(extensions).to_bytes(2, "big") + extensions) if extensions else b"")
    )
    hello = bytes([2]) + len(body).to_bytes(3, "big") + body  # handshake type 2
    payload = hello + SERVER_HELLO_DONE
    return bytes([0x16]) + version.to_bytes(2, "big") + len(payload).to_bytes(2, "big") + payload


# --- reading the ClientHello (minimal, independent of vedette.tls) --------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    version: int
    suites: tuple[int, ...]
    compression: tuple[int, ...]
    extensions: tuple[int, ...]


def parse_client_hello(body: bytes) -> Hello:
    """Parse a ClientHello body (after the 4-byte handshake header)."""
    version = int.from_bytes(body[0:2], "big")
    at = 2 + 32  # client_version, random
    at += 1 + body[at]  # session_id
    n = int.from_bytes(body[at : at + 2], "big")
    suites = tuple(int.from_bytes(body[i : i + 2], "big") for i in range(at + 2, at + 2 + n, 2))
    at += 2 + n
    compression = tuple(body[at + 1 : at + 1 + body[at]])
    at += 1 + body[at]
    exts: list[int] = []
    if at + 2 <= len(body):
        end = at + 2 + int.from_bytes(body[at : at + 2], "big")
        at += 2
        while at + 4 <= end:
            exts.append(int.from_bytes(body[at : at + 2], "big"))
            at += 4 + int.from_bytes(body[at + 2 : at + 4], "big")
    return Hello(version=version, suites=suites, compression=compression, extensions=tuple(exts))


async def _read_hello(reader: asyncio.StreamReader) -> tuple[bytes, Hello | None]:
    """Read the client's first handshake message; return the raw bytes read and the hello."""
    raw = await reader.readexactly(5)
    if raw[0] != 0x16:  # SSLv2 or garbage: not ours to answer
        return raw, None
    handshake = b""
    while True:
        header = raw[-5:]  # the record header just read
        record = await reader.readexactly(int.from_bytes(header[3:5], "big"))
        raw += record
        handshake += record
        if len(handshake) >= 4 and len(handshake) >= 4 + int.from_bytes(handshake[1:4], "big"):
            break
        raw += await reader.readexactly(5)  # the next record header of a long hello
    if handshake[0] != 1:
        return raw, None
    return raw, parse_client_hello(handshake[4 : 4 + int.from_bytes(handshake[1:4], "big")])


@dataclass(frozen=True, slots=True, kw_only=True)
class Behaviour:
    prefer: tuple[int, ...]  # the server's suite order
    deflate: bool = False  # choose DEFLATE when the client offers it
    reneg: bool = True  # send renegotiation_info


class LegacyPeer:
    def __init__(self, upstream_port: int, behaviour: Behaviour) -> None:
        self.upstream_port = upstream_port
        self.behaviour = behaviour
        self.scripted = 0  # hellos answered with scripted bytes
        self.port = 0

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await src.read(65536):
                dst.write(chunk)
                await dst.drain()
        dst.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            raw, hello = await asyncio.wait_for(_read_hello(reader), 10)
            if hello is None or 43 in hello.extensions:
                up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
                up_w.write(raw)
                await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer))
                return
            self.scripted += 1
            b = self.behaviour
            chosen = [s for s in b.prefer if s in hello.suites]
            if not chosen:
                writer.write(HANDSHAKE_FAILURE)
            else:
                version = min(hello.version, 0x0303)
                method = 1 if b.deflate and 1 in hello.compression else 0
                writer.write(server_hello_flight(version, chosen[0], method, reneg=b.reneg))
            await writer.drain()
            # Like a real server, wait for the client's next flight (vedette hangs up).
            await asyncio.wait_for(reader.read(65536), 5)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()


@contextlib.contextmanager
def running_peer(upstream_port: int, behaviour: Behaviour) -> Iterator[LegacyPeer]:
    """Run the peer on 127.0.0.1 in a thread with its own event loop."""
    peer = LegacyPeer(upstream_port, behaviour)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        server = await asyncio.start_server(peer._client, "127.0.0.1", 0)
        peer.port = server.sockets[0].getsockname()[1]
        started.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the scripted TLS peer did not start")
    try:
        yield peer
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
