"""ManageSieve against a scripted server that is not one (STARTTLS injection, where the
server's unasked capabilities inside TLS make it easy to fall for, is in
test_starttls_injection.py with the other protocols)."""

from __future__ import annotations

import asyncio
import json

from tests.cli import run_vedette
from tests.integration.scripted import ThreadedServer


def test_another_service_on_a_sieve_port_is_named_not_a_traceback() -> None:
    # An IMAP server where ManageSieve was expected: vedette says so and exits cleanly.
    async def imap(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK IMAP4rev1 ready\r\n")
        await writer.drain()
        await reader.read(100)

    with ThreadedServer(imap) as server:
        proc = run_vedette(
            "scan", f"sieve://127.0.0.1:{server.port}", "--mode", "quick", "--json", "--no-store"
        )
    (ep,) = json.loads(proc.stdout)["endpoints"]
    assert ep["status"] == "not-protocol"
    assert ep["failure"]["detail"] == "not ManageSieve: the server's first bytes are b'* OK'"
    assert "endpoint.not-protocol" in ep["findings"]
