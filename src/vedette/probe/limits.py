"""Every bound a probe obeys: ``Limits``, one value the CLI fills from its options, and the
connection rate of a fleet scan (``RateLimiter``, ``connection_rate``), which holds across
every connection of every endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Timeouts (seconds) and bounds for probing.

    Attributes:
        connect_timeout: TCP connect.
        read_timeout: one complete reply (greeting, capability list…) from the first byte asked
            for to its last line; a server that trickles bytes cannot stretch it.
        tls_timeout: the TLS handshake.
        endpoint_timeout: everything spent on one endpoint.
        max_read: bytes taken from the socket at a time (lines are bounded separately by the
            dialogues: 8192 bytes a line, 256 lines a reply).
        concurrency: endpoints probed at once, in all.
        per_host: endpoints probed at once on one IP address (mail servers limit connections
            per client address).
    """

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    tls_timeout: float = 10.0
    endpoint_timeout: float = 45.0
    max_read: int = 65536
    concurrency: int = 32
    per_host: int = 4


class RateLimiter:
    """A token bucket: at most ``rate`` acquisitions a second, bursts of at most one second's
    worth. ``None`` means no limit. Waiters are served in order (one lock), so a slow start
    cannot be overtaken by later arrivals. ``acquired`` counts what it let through."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._capacity = max(1.0, rate or 1.0)
        self._tokens = 1.0  # start with one token: no burst at the very start of a sweep
        self._last = clock()
        self._lock: asyncio.Lock | None = None
        self.acquired = 0

    async def acquire(self) -> None:
        self.acquired += 1
        if self._rate is None:
            return
        if self._lock is None:  # created on first use, inside the loop that uses it
            self._lock = asyncio.Lock()
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / self._rate)


# The connection rate of the scan running in this context. Every TCP connection vedette opens
# goes through ``transport.Connection.connect``, which waits here first: the quick probe, each
# hello of the TLS enumeration and its retries, the resumption probe, every STARTTLS re-dial.
# A context variable rather than a parameter so that no code path can open a connection
# outside the limit; asyncio tasks inherit it from the task that created them.
_CONNECTION_RATE: ContextVar[RateLimiter | None] = ContextVar("connection_rate", default=None)


@contextlib.contextmanager
def connection_rate(limiter: RateLimiter | None) -> Iterator[RateLimiter | None]:
    """Within this block (and in tasks created in it) new connections obey ``limiter``."""
    token = _CONNECTION_RATE.set(limiter)
    try:
        yield limiter
    finally:
        _CONNECTION_RATE.reset(token)


async def admit_connection() -> None:
    """Wait for the scan's connection rate, if one is set; called before every TCP connect."""
    limiter = _CONNECTION_RATE.get()
    if limiter is not None:
        await limiter.acquire()
