"""Bytes a server sends in clear after its STARTTLS go-ahead never count as TLS data.

The scripted SMTP server below answers STARTTLS with ``220`` and then, in a separate packet
before the handshake, a forged capability reply advertising AUTH. A scanner that kept those
bytes (the CVE-2011-0411 class of bug, on the client side) would report AUTH inside TLS that
the server never sent there.
"""

from __future__ import annotations

import asyncio
import ssl

from vedette.model import Endpoint, Service
from vedette.pki.ca import self_signed_server
from vedette.probe import probe_endpoint


async def _run(tmp_path) -> object:
    issued = self_signed_server(["inject.vedette.test"])
    (tmp_path / "c.pem").write_bytes(issued.cert_pem())
    (tmp_path / "k.pem").write_bytes(issued.key_pem())
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(reader, writer)
        finally:
            writer.close()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 inject.vedette.test ESMTP\r\n")
        await reader.readline()  # EHLO
        writer.write(b"250-inject.vedette.test\r\n250 STARTTLS\r\n")
        await reader.readline()  # STARTTLS
        # The go-ahead and the forged reply in one segment: the client reads both before
        # it starts the handshake.
        writer.write(b"220 go ahead\r\n250-forged\r\n250 AUTH PLAIN LOGIN FORGED\r\n")
        await writer.drain()
        await writer.start_tls(server_ctx)
        await reader.readline()  # EHLO inside TLS
        writer.write(b"250-inject.vedette.test\r\n250 SIZE 1000\r\n")
        await reader.readline()  # QUIT
        writer.write(b"221 bye\r\n")
        await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await probe_endpoint(
            Endpoint(host="inject.vedette.test", ip="127.0.0.1", port=port, service=Service.SMTP)
        )
    finally:
        server.close()
        await server.wait_closed()


def test_cleartext_bytes_after_starttls_go_ahead_are_discarded(tmp_path):
    obs = asyncio.run(_run(tmp_path))
    assert obs.failure is None, obs.failure
    assert obs.tls is not None
    after = obs.dialogue.capabilities_after_tls
    assert after == ("250-inject.vedette.test", "250 SIZE 1000")
    assert not any("FORGED" in line for line in after)
