"""The connection limits of a fleet scan (``probe.limits``): time spent waiting for the scan's
rate or a slot on an address is not the endpoint's, and no slot leaks."""

from __future__ import annotations

import asyncio
import socket

import pytest

from vedette.model import Endpoint, FailureKind, Service
from vedette.probe.limits import (
    ConnectionLimits,
    EndpointClock,
    HostSlots,
    Limits,
    RateLimiter,
    connection_limits,
    unclocked,
)
from vedette.probe.runner import probe_endpoint


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_waiting_for_the_scan_rate_does_not_use_up_the_endpoint_timeout() -> None:
    # 6 endpoints at once, 4 connections a second, 1 s for each endpoint: the last ones wait
    # over a second for their turn to connect. Each is refused at once when it connects;
    # none may be reported as a probe that took too long.
    port = _closed_port()
    limits = Limits(endpoint_timeout=1.0, connect_timeout=1.0)
    ep = Endpoint(host=None, ip="127.0.0.1", port=port, service=Service.SMTP)

    async def scan() -> list[FailureKind | None]:
        with connection_limits(ConnectionLimits(rate=RateLimiter(4.0), hosts=HostSlots(6))):
            observations = await asyncio.gather(
                *(probe_endpoint(ep, limits=limits) for _ in range(6))
            )
        return [None if o.failure is None else o.failure.kind for o in observations]

    assert asyncio.run(scan()) == [FailureKind.REFUSED] * 6


def test_a_slot_wait_cancelled_or_timed_out_leaks_nothing() -> None:
    async def main() -> None:
        hosts = HostSlots(1)
        await hosts.acquire("192.0.2.1")
        waiter = asyncio.create_task(hosts.acquire("192.0.2.1"))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        try:
            async with asyncio.timeout(0.01):
                await hosts.acquire("192.0.2.1")
        except TimeoutError:
            pass
        hosts.release("192.0.2.1")
        async with asyncio.timeout(1.0):  # the slot is free again, and only one exists
            await hosts.acquire("192.0.2.1")
        hosts.release("192.0.2.1")
        assert hosts._slots == {}

    asyncio.run(main())


def test_the_endpoint_timeout_still_ends_a_silent_server_after_the_wait() -> None:
    # A listener that never speaks: each endpoint connects in its turn (4 a second), then its
    # own 0.5 s run out on the greeting, well before the 10 s read timeout.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = int(listener.getsockname()[1])
        limits = Limits(endpoint_timeout=0.5, read_timeout=10.0)
        ep = Endpoint(host=None, ip="127.0.0.1", port=port, service=Service.SMTP)

        async def scan() -> tuple[list[FailureKind | None], float]:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with connection_limits(ConnectionLimits(rate=RateLimiter(4.0), hosts=HostSlots(4))):
                observations = await asyncio.gather(
                    *(probe_endpoint(ep, limits=limits) for _ in range(4))
                )
            kinds = [None if o.failure is None else o.failure.kind for o in observations]
            return kinds, loop.time() - t0

        kinds, took = asyncio.run(scan())
    assert kinds == [FailureKind.TIMEOUT] * 4
    assert took < 5.0


def test_the_steps_of_an_endpoint_share_one_clock() -> None:
    # The quick probe spends 0.3 s of 0.6; the next step (the enumeration) has what is left,
    # not a fresh 0.6 s, and ends in a timeout after about 0.3 s.
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        clock = EndpointClock(0.6)
        async with clock.running():
            await asyncio.sleep(0.3)
        t0 = loop.time()
        with pytest.raises(TimeoutError):
            async with clock.running():
                await asyncio.sleep(30)
        return loop.time() - t0, clock.left

    second, left = asyncio.run(main())
    assert second < 0.55
    assert left == 0.0


def test_pacing_waits_do_not_count_on_the_shared_clock() -> None:
    # 0.5 s waiting for the scan's pacing inside a 0.4 s clock is not the server's time: the
    # step is not cut short, and the clock records only the 0.1 s of work.
    async def main() -> float:
        clock = EndpointClock(0.4)
        async with clock.running():
            async with unclocked():
                await asyncio.sleep(0.5)
            await asyncio.sleep(0.1)
        return clock.spent

    spent = asyncio.run(main())
    assert 0.05 < spent < 0.35
