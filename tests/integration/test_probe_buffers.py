"""vedette shrinks asyncio's per-connection TLS read buffer (256 KiB → 16 KiB) so that
thousands of connections fit in memory; data larger than the buffer must still flow."""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import ssl

import vedette.probe.transport as transport
from vedette.pki.ca import self_signed_server


def test_tls_read_buffer_is_small():
    assert asyncio.sslproto.SSLProtocol.max_size == transport._SSL_READ_BUFFER == 16 * 1024


def test_large_replies_cross_the_small_buffer(tmp_path):
    issued = self_signed_server(["big.vedette.test"])
    (tmp_path / "c.pem").write_bytes(issued.cert_pem())
    (tmp_path / "k.pem").write_bytes(issued.key_pem())
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    payload = bytes(range(256)) * 4096  # 1 MiB, 64 times the buffer

    async def run() -> bytes:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(payload)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        conn = await transport.Connection.connect("127.0.0.1", port, timeout=5)
        await conn.start_tls(transport.scanner_ssl_context(), "big.vedette.test", 5)
        got = bytearray()
        loop = asyncio.get_running_loop()
        while chunk := await conn.read(65536, loop.time() + 5, transport.Stage.GREETING):
            got += chunk
        await conn.close()
        server.close()
        await server.wait_closed()
        return bytes(got)

    assert asyncio.run(run()) == payload
