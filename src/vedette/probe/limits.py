"""Every bound a probe obeys: ``Limits``, one value the CLI fills from its options, and the
connection limits of a fleet scan (``ConnectionLimits``: the rate and the per-address slots,
set with ``connection_limits``), which hold for every connection of every endpoint."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
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
        endpoint_timeout: everything spent on one endpoint, all steps together (the quick
            probe, the TLS enumeration and resumption probes of a full scan, a ``--deep``
            re-scan: ``EndpointClock``), waits for the scan's rate or a slot not counted.
        max_read: bytes taken from the socket at a time (lines are bounded separately by the
            dialogues: 8192 bytes a line, 256 lines a reply).
        concurrency: endpoints probed at once, in all.
        per_host: the most connections open at once to one IP address (a scan starts below it
            and widens while the server answers: ``HostSlots``; mail servers limit connections
            per client address).
    """

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    tls_timeout: float = 10.0
    endpoint_timeout: float = 45.0
    max_read: int = 65536
    concurrency: int = 32
    per_host: int = 8


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


class _Window:
    """One address's share of the scan: connections open now, how many may be, who waits."""

    __slots__ = ("ceiling", "in_use", "size", "threshold", "users", "waiters")

    def __init__(self, size: float, ceiling: int) -> None:
        self.size = size
        self.ceiling = ceiling
        self.threshold = float(ceiling)  # slow start until the first defence, then linear
        self.in_use = 0
        self.users = 0  # holders and waiters: the window is dropped when none is left
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def room(self) -> bool:
        return self.in_use < max(1, int(self.size))


class HostSlots:
    """Connections at once per IP address, for every connection of a scan.

    With ``start`` (the scan engine's choice), the number allowed on an address grows like
    TCP's slow start: it begins at ``start``, each connection the server answered adds one
    (doubling per round of connections) up to the ceiling ``per_host``; a sign of defence on
    the address (``defended``: a rate limit, a connection cap, a tarpit, a retry of the TLS
    enumeration) halves it, and from then on it grows by one per round only. Without
    ``start`` the number is fixed at ``per_host``.

    Windows vanish when their address has no connection open or waiting, so a sweep of
    millions of addresses does not keep one per address it ever saw; what was learned of the
    last addresses (``_REMEMBERED``) is kept for when they come back.
    """

    _REMEMBERED = 4096

    def __init__(self, per_host: int, *, start: int | None = None) -> None:
        self.per_host = per_host
        self._start = float(per_host if start is None else min(start, per_host))
        self._adaptive = start is not None and start < per_host
        self._slots: dict[str, _Window] = {}
        self._learned: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()

    def window(self, ip: str) -> float:
        """How many connections ``ip`` may have open now."""
        if ip in self._slots:
            return self._slots[ip].size
        return self._learned.get(ip, (self._start, 0.0))[0]

    async def acquire(self, ip: str) -> None:
        w = self._slots.get(ip)
        if w is None:
            w = self._slots[ip] = _Window(self._start, self.per_host)
            if ip in self._learned:
                w.size, w.threshold = self._learned.pop(ip)
        w.users += 1
        if w.room() and not w.waiters:
            w.in_use += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        w.waiters.append(fut)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                # Granted, then cancelled before it could be used: give it back.
                w.in_use -= 1
                self._wake(w)
            else:
                w.waiters.remove(fut)
            self._drop(ip, w)
            raise

    def release(self, ip: str, *, answered: bool = False) -> None:
        """Give back a slot; ``answered``: the server answered on that connection."""
        w = self._slots[ip]
        w.in_use -= 1
        if answered and self._adaptive and w.size < w.ceiling:
            w.size = min(float(w.ceiling), w.size + (1.0 if w.size < w.threshold else 1.0 / w.size))
        self._wake(w)
        self._drop(ip, w)

    def defended(self, ip: str) -> None:
        """The server on ``ip`` showed a defence: halve its window, leave slow start."""
        if not self._adaptive:
            return
        w = self._slots.get(ip)
        if w is None:
            size, _ = self._learned.get(ip, (self._start, 0.0))
            self._remember(ip, max(1.0, size / 2), max(1.0, size / 2))
            return
        w.size = w.threshold = max(1.0, min(w.size, float(max(w.in_use, 1))) / 2)

    def _wake(self, w: _Window) -> None:
        while w.waiters and w.room():
            fut = w.waiters.popleft()
            if not fut.done():
                w.in_use += 1
                fut.set_result(None)

    def _drop(self, ip: str, w: _Window) -> None:
        w.users -= 1
        if w.users == 0:
            del self._slots[ip]
            if self._adaptive and w.size != self._start:
                self._remember(ip, w.size, w.threshold)

    def _remember(self, ip: str, size: float, threshold: float) -> None:
        self._learned[ip] = (size, threshold)
        self._learned.move_to_end(ip)
        while len(self._learned) > self._REMEMBERED:
            self._learned.popitem(last=False)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What every TCP connection of a scan waits for: a slot on its address (``hosts``,
    held until the connection closes) and a token of the connection rate (``rate``)."""

    rate: RateLimiter | None = None
    hosts: HostSlots | None = None


# The connection limits of the scan running in this context. Every TCP connection vedette
# opens goes through ``transport.Connection.connect``, which waits here first: the quick
# probe, each hello of the TLS enumeration and its retries, the resumption probe, every
# STARTTLS re-dial. A context variable rather than a parameter so that no code path can open
# a connection outside the limits; asyncio tasks inherit it from the task that created them.
_SCAN_LIMITS: ContextVar[ConnectionLimits | None] = ContextVar("scan_limits", default=None)


@contextlib.contextmanager
def connection_limits(limits: ConnectionLimits) -> Iterator[ConnectionLimits]:
    """Within this block (and in tasks created in it) new connections obey ``limits``."""
    token = _SCAN_LIMITS.set(limits)
    try:
        yield limits
    finally:
        _SCAN_LIMITS.reset(token)


class _Deadline:
    """An endpoint's ``asyncio.timeout`` whose clock stops while any work under it waits for
    the scan's pacing (``unclocked``): a connection waiting for the scan's rate or a slot on
    its address, an enumeration probe waiting for a connection slot. That wait is the scan's
    pacing, not the server's slowness (with ``--rate 4`` and 32 endpoints at once, the last
    would otherwise spend 8 s of their 45 before connecting, and a full scan's TLS
    enumeration, dozens of connections each paced by the rate, would end incomplete).
    ``paused`` adds up the time the clock stood still."""

    def __init__(self, timeout: asyncio.Timeout) -> None:
        self._timeout = timeout
        self._waiting = 0
        self._left: float | None = None
        self._since = 0.0
        self.paused = 0.0
        self.open = True

    def pause(self, now: float) -> None:
        if self._waiting == 0:
            self._since = now
            when = self._timeout.when()
            self._left = None if when is None or self._timeout.expired() else when - now
            if self._left is not None:
                self._timeout.reschedule(None)
        self._waiting += 1

    def resume(self, now: float) -> None:
        self._waiting -= 1
        if self._waiting == 0:
            self.paused += now - self._since
            if self._left is not None and self.open:
                self._timeout.reschedule(now + self._left)
            self._left = None


_DEADLINES: ContextVar[tuple[_Deadline, ...]] = ContextVar("endpoint_deadlines", default=())


@contextlib.asynccontextmanager
async def endpoint_timeout(seconds: float) -> AsyncIterator[None]:
    """``asyncio.timeout(seconds)`` for one endpoint's work, not counting the time its
    connections wait in ``admit_connection`` (nested ones all stop their clocks)."""
    async with EndpointClock(seconds).running():
        yield


class EndpointClock:
    """The one ``--endpoint-timeout`` of an endpoint, spent over several steps: the quick
    probe, then in full mode the TLS enumeration and the resumption probes, and a ``--deep``
    re-scan. Each step runs under ``running()``, an ``endpoint_timeout`` for what is left, so
    the steps together never take longer than ``seconds`` (waits for the scan's pacing, see
    ``unclocked``, not counted). A step started with nothing left times out at its first
    wait."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.spent = 0.0

    @property
    def left(self) -> float:
        return max(0.0, self.seconds - self.spent)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline: _Deadline | None = None
        try:
            async with asyncio.timeout(self.left) as timeout:
                deadline = _Deadline(timeout)
                token = _DEADLINES.set((*_DEADLINES.get(), deadline))
                try:
                    yield
                finally:
                    deadline.open = False
                    _DEADLINES.reset(token)
        finally:
            paused = 0.0 if deadline is None else deadline.paused
            self.spent += max(0.0, loop.time() - started - paused)


@contextlib.asynccontextmanager
async def unclocked() -> AsyncIterator[None]:
    """Within this block the clocks of the endpoints being worked on stand still: for waits
    that are the scan's pacing (a rate token, a slot on an address), not the server's time."""
    deadlines = _DEADLINES.get()
    loop = asyncio.get_running_loop()
    for deadline in deadlines:
        deadline.pause(loop.time())
    try:
        yield
    finally:
        for deadline in deadlines:
            deadline.resume(loop.time())


def _nothing(answered: bool = False) -> None:
    return None


#: What gives back a connection's slot: called once, when the connection closes (or failed
#: to open), with whether the server answered on it (which widens a slow-starting window).
Release = Callable[[bool], None]


async def admit_connection(ip: str) -> Release:
    """Wait for a slot on ``ip`` and a rate token, when the scan sets them; called before
    every TCP connect. Returns what releases the slot."""
    limits = _SCAN_LIMITS.get()
    if limits is None:
        return _nothing
    async with unclocked():
        return await _admit(limits, ip)


def report_defence(ip: str) -> None:
    """The server on ``ip`` defended itself against this scan (``probe.defence``): the scan
    opens fewer connections to it at once from now on."""
    limits = _SCAN_LIMITS.get()
    if limits is not None and limits.hosts is not None:
        limits.hosts.defended(ip)


async def _admit(limits: ConnectionLimits, ip: str) -> Release:
    release: Release = _nothing
    hosts = limits.hosts
    if hosts is not None:
        await hosts.acquire(ip)
        released = False

        def release(answered: bool = False) -> None:
            nonlocal released
            if not released:
                released = True
                hosts.release(ip, answered=answered)

    try:
        if limits.rate is not None:
            await limits.rate.acquire()
    except BaseException:
        release(False)
        raise
    return release
