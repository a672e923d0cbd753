"""Session resumption against openssl s_server, with and without tickets and a session cache."""

from __future__ import annotations

import asyncio
import http.server
import ssl
import threading
import time
from pathlib import Path

import pytest

from tests.integration.scripted import SmtpFront, ThreadedServer, server_tls_context
from tests.integration.tls_truth import start_s_server
from vedette.model import Endpoint, Service
from vedette.probe.enumerate import RetryPolicy, enumerate_endpoint
from vedette.probe.limits import Limits
from vedette.probe.resumption import TICKET_WAIT, probe_resumption_tls13


@pytest.mark.parametrize(
    ("flags", "resumed"),
    [
        ((), True),  # tickets and a session-id cache
        (("-no_ticket",), True),  # session ids only
        (("-no_ticket", "-no_cache"), False),  # nothing to resume with
    ],
)
def test_resumption_as_s_server_allows(
    tmp_path: Path, flags: tuple[str, ...], resumed: bool
) -> None:
    server = start_s_server(tmp_path, "-max_protocol", "TLSv1.2", *flags)
    try:
        ep = Endpoint(
            host="tls.vedette.test", ip="127.0.0.1", port=server.port, service=Service.HTTPS
        )
        scan = asyncio.run(enumerate_endpoint(ep, policy=RetryPolicy(hello_timeout=3)))
        assert scan.resumption is resumed
        assert scan.session_ticket is (not flags)
    finally:
        server.stop()


@pytest.mark.parametrize("tickets", [2, 0])
def test_tls13_resumption_after_starttls_needs_no_long_wait(tmp_path: Path, tickets: int) -> None:
    """After STARTTLS the client speaks next, so a server without TLS 1.3 tickets would leave
    the probe waiting; the probe's NOOP draws a reply, and tickets always precede it."""
    ctx = server_tls_context(tmp_path)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.num_tickets = tickets
    front = SmtpFront(ctx)
    with ThreadedServer(front.serve) as server:
        ep = Endpoint(
            host="tls.vedette.test", ip="127.0.0.1", port=server.port, service=Service.SUBMISSION
        )
        started = time.monotonic()
        resumed, used = asyncio.run(probe_resumption_tls13(ep, Limits(), "scanner.test"))
        elapsed = time.monotonic() - started
    assert resumed is (tickets > 0)
    assert used == (2 if tickets else 1)
    # The ticket wait is 1 s; without tickets the NOOP's reply ends it after one round trip.
    assert elapsed < TICKET_WAIT * 0.8, elapsed


class _Head(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("tickets", [2, 0])
def test_tls13_resumption_on_https_asks_with_head(tmp_path: Path, tickets: int) -> None:
    """HTTPS servers wait for a request: the probe's HEAD draws the answer that ends the wait."""
    ctx = server_tls_context(tmp_path)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.num_tickets = tickets
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Head)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        port = httpd.server_address[1]
        ep = Endpoint(host="tls.vedette.test", ip="127.0.0.1", port=port, service=Service.HTTPS)
        started = time.monotonic()
        resumed, _ = asyncio.run(probe_resumption_tls13(ep, Limits(), "scanner.test"))
        elapsed = time.monotonic() - started
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert resumed is (tickets > 0)
    assert elapsed < TICKET_WAIT * 0.8, elapsed


@pytest.mark.parametrize("tickets", [2, 0])
def test_tls13_resumption_on_sips_pings_with_options(tmp_path: Path, tickets: int) -> None:
    """A SIP server over TLS (Lync/Skype on 5061) waits for a request: an OPTIONS ping."""
    ctx = server_tls_context(tmp_path)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.num_tickets = tickets
    requests: list[bytes] = []

    async def sip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writer.start_tls(ctx)
        request = await reader.readuntil(b"\r\n\r\n")
        requests.append(request)
        call_id = next(h for h in request.split(b"\r\n") if h.startswith(b"Call-ID:"))
        writer.write(b"SIP/2.0 200 OK\r\n" + call_id + b"\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    with ThreadedServer(sip) as server:
        ep = Endpoint(
            host="tls.vedette.test", ip="127.0.0.1", port=server.port, service=Service.SIPS
        )
        started = time.monotonic()
        resumed, _ = asyncio.run(probe_resumption_tls13(ep, Limits(), "scanner.test"))
        elapsed = time.monotonic() - started
    assert resumed is (tickets > 0)
    assert elapsed < TICKET_WAIT * 0.8, elapsed
    assert requests[0].startswith(b"OPTIONS sip:tls.vedette.test SIP/2.0\r\n")
