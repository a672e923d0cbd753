"""The one scan engine (``vedette.scan.run``) and its per-address window (``HostSlots``).

The window: a scan starts with a few connections to an address, opens one more for each
connection the server answered, up to ``--per-host``, and halves at a sign of defence. The
engine: explicit targets come back in their order, an endpoint reached twice is probed once,
and the exclusion list holds on the address a name resolves to, as in a fleet scan.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

from hypothesis import given, settings
from hypothesis import strategies as st

from vedette.model import FailureKind, Service
from vedette.probe.limits import HostSlots, Limits
from vedette.scan import MemorySink, RunSettings, ScanOptions, Work, run, scan
from vedette.targets import Pin

IP = "192.0.2.7"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _holding(slots: HostSlots, ip: str, n: int) -> int:
    """How many of ``n`` acquisitions get a slot at once (the others are left waiting)."""
    tasks = [asyncio.ensure_future(slots.acquire(ip)) for _ in range(n)]
    await asyncio.sleep(0)
    granted = sum(1 for t in tasks if t.done())
    for t in tasks:
        if not t.done():
            t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return granted


def test_the_window_starts_small_and_grows_with_each_answered_connection() -> None:
    async def main() -> None:
        slots = HostSlots(8, start=4)
        assert await _holding(slots, IP, 10) == 4
        for _ in range(4):
            slots.release(IP, answered=True)
        # Four answered connections: four more at once (slow start doubles per round).
        assert slots.window(IP) == 8
        assert await _holding(slots, IP, 10) == 8
        for _ in range(8):
            slots.release(IP, answered=True)
        assert slots.window(IP) == 8  # never past --per-host

    asyncio.run(main())


def test_unanswered_connections_do_not_widen_the_window() -> None:
    async def main() -> None:
        slots = HostSlots(8, start=4)
        assert await _holding(slots, IP, 4) == 4
        for _ in range(4):
            slots.release(IP, answered=False)
        assert slots.window(IP) == 4

    asyncio.run(main())


def test_a_defence_halves_the_window_and_growth_turns_linear() -> None:
    async def main() -> None:
        slots = HostSlots(16, start=4)
        assert await _holding(slots, IP, 8) == 4
        for _ in range(4):
            slots.release(IP, answered=True)
        assert await _holding(slots, IP, 8) == 8
        slots.defended(IP)
        assert slots.window(IP) == 4
        for _ in range(8):
            slots.release(IP, answered=True)
        # Past a defence: about one more per round of answered connections, not double.
        assert 5 < slots.window(IP) < 6
        assert await _holding(slots, IP, 8) == 5

    asyncio.run(main())


def test_a_fixed_window_without_slow_start() -> None:
    async def main() -> None:
        slots = HostSlots(3)
        assert await _holding(slots, IP, 5) == 3
        for _ in range(3):
            slots.release(IP, answered=True)
        slots.defended(IP)
        assert await _holding(slots, IP, 5) == 3

    asyncio.run(main())


def test_what_was_learned_of_an_address_outlives_its_last_connection() -> None:
    async def main() -> None:
        slots = HostSlots(8, start=2)
        assert await _holding(slots, IP, 2) == 2
        slots.release(IP, answered=True)
        slots.release(IP, answered=True)
        assert slots._slots == {}  # nothing held for an address with nothing open
        assert await _holding(slots, IP, 8) == 4
        assert await _holding(slots, "192.0.2.8", 8) == 2

    asyncio.run(main())


@settings(max_examples=60, deadline=None)
@given(
    ceiling=st.integers(1, 12),
    start=st.integers(1, 12),
    steps=st.lists(st.sampled_from(["acquire", "ok", "silent", "defended", "cancel"]), max_size=60),
)
def test_the_window_never_lets_more_than_the_ceiling_in(
    ceiling: int, start: int, steps: list[str]
) -> None:
    async def main() -> None:
        slots = HostSlots(ceiling, start=start)
        held: list[asyncio.Future[None]] = []
        waiting: list[asyncio.Future[None]] = []
        for step in steps:
            if step == "acquire":
                waiting.append(asyncio.ensure_future(slots.acquire(IP)))
            elif step in ("ok", "silent") and held:
                held.pop()
                slots.release(IP, answered=step == "ok")
            elif step == "defended":
                slots.defended(IP)
            elif step == "cancel" and waiting:
                waiting.pop().cancel()
            await asyncio.sleep(0)
            for fut in [f for f in waiting if f.done()]:
                waiting.remove(fut)
                if not fut.cancelled():
                    held.append(fut)
            assert len(held) <= ceiling
            assert 1 <= slots.window(IP) <= ceiling
        for fut in waiting:
            fut.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        for _ in held:
            slots.release(IP)
        assert slots._slots == {}

    asyncio.run(main())


class _Excluded:
    def __init__(self, names: set[str], addresses: set[str]) -> None:
        self.names, self.addresses = names, addresses

    def name_excluded(self, name: str) -> bool:
        return name in self.names

    def address_excluded(self, ip: str) -> bool:
        return ip in self.addresses


def _options(**kw: object) -> ScanOptions:
    return ScanOptions(limits=Limits(connect_timeout=2.0, endpoint_timeout=5.0), **kw)  # type: ignore[arg-type]


def test_explicit_targets_come_back_in_order_and_an_endpoint_once() -> None:
    a, b = _closed_port(), _closed_port()
    targets = [f"smtp://127.0.0.1:{b}", f"smtp://127.0.0.1:{a}", f"smtp://127.0.0.1:{b}"]
    observations = asyncio.run(scan(targets, _options()))
    assert [o.endpoint.port for o in observations] == [b, a]
    assert {o.failure.kind for o in observations if o.failure} == {FailureKind.REFUSED}


def test_the_exclusion_list_holds_on_the_address_a_name_is_pinned_to() -> None:
    port = _closed_port()
    options = _options(
        pins=(Pin(host="mail.example.test", port=port, addresses=("127.0.0.1", "127.0.0.2")),)
    )
    sink = MemorySink()

    async def main() -> None:
        async def source() -> AsyncIterator[Work]:
            yield Work(0, f"smtp://mail.example.test:{port}")
            yield Work(1, f"smtp://skip.example.test:{port}")

        await run(
            RunSettings(
                options=options,
                exclusions=_Excluded({"skip.example.test"}, {"127.0.0.2"}),
            ),
            source(),
            sink,
        )

    asyncio.run(main())
    observations = sink.observations()
    assert [(o.endpoint.host, o.endpoint.ip) for o in observations] == [
        ("mail.example.test", "127.0.0.1")
    ]
    assert observations[0].endpoint.service is Service.SMTP
