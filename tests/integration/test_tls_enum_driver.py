"""The enumeration driver's bounds: connections per host, hostile and silent servers."""

from __future__ import annotations

import asyncio
import time

from tests.integration.tls_truth import start_s_server
from vedette.model import Endpoint, Service
from vedette.probe.enumerate import RetryPolicy, enumerate_endpoint
from vedette.probe.limits import Limits
from vedette.tls.result import TlsScan


class CountingRelay:
    """A TCP relay to ``port`` that records how many connections were open at once."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.open = 0
        self.peak = 0
        self.total = 0

    async def handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.open += 1
        self.total += 1
        self.peak = max(self.peak, self.open)
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target)

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                try:
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
                except OSError:
                    pass
                finally:
                    dst.close()

            await asyncio.gather(pipe(r, uw), pipe(ur, w))
        finally:
            self.open -= 1


async def _through_relay(target: int, per_host: int) -> tuple[TlsScan, CountingRelay]:
    relay = CountingRelay(target)
    server = await asyncio.start_server(relay.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        ep = Endpoint(host="tls.vedette.test", ip="127.0.0.1", port=port, service=Service.HTTPS)
        scan = await enumerate_endpoint(ep, limits=Limits(per_host=per_host))
    return scan, relay


def test_connections_per_host_are_bounded_and_counted(tmp_path):
    server = start_s_server(tmp_path, "-cipher", "ALL:@SECLEVEL=0", "-min_protocol", "TLSv1")
    try:
        one, relay1 = asyncio.run(_through_relay(server.port, 1))
        four, relay4 = asyncio.run(_through_relay(server.port, 4))
    finally:
        server.stop()
    assert relay1.peak == 1 and relay4.peak <= 4
    assert relay4.peak > 1  # chains of one stage do run concurrently
    assert one.connections == relay1.total and four.connections == relay4.total
    assert one.versions == four.versions and one.suites == four.suites


async def _scripted(handler, policy: RetryPolicy, timeout: float = 20) -> tuple[TlsScan, float]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        ep = Endpoint(host=None, ip="127.0.0.1", port=port, service=Service.HTTPS)
        t0 = time.monotonic()
        scan = await enumerate_endpoint(ep, limits=Limits(endpoint_timeout=timeout), policy=policy)
        return scan, time.monotonic() - t0


def test_garbage_and_hang_ups_are_refusals_not_errors():
    async def garbage(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            await r.read(1)
            w.write(b"HTTP/1.0 400 Bad Request\r\n\r\n" * 100)
            await w.drain()
        except OSError:
            pass
        finally:
            w.close()

    scan, _ = asyncio.run(_scripted(garbage, RetryPolicy(hello_timeout=1)))
    assert scan.versions == () and not scan.incomplete
    # One hello per version (TLS 1.3 twice: with an empty key_share, then with an X25519
    # share), nothing accepted, nothing retried.
    assert scan.connections == 7


def test_a_silent_server_makes_the_result_incomplete_within_the_budget():
    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            await r.read(65536)
            await asyncio.sleep(30)
        finally:
            w.close()

    policy = RetryPolicy(hello_timeout=0.3, attempts=2, budget=3, backoff=0.05)
    scan, elapsed = asyncio.run(_scripted(silent, policy))
    assert scan.incomplete
    assert "no answer to the ClientHello" in (scan.incomplete_reason or "")
    assert scan.versions == ()
    assert scan.connections <= 6 + 3  # a hello per version plus the retry budget
    assert elapsed < 10  # hang detector: the 3 s budget, not the server's 30 s sleep
