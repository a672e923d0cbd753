"""The one dialogue driver (``probe.runner.drive_dialogue``) over a mock stream, no socket.

The same loop serves the probe (it runs the handshake itself and goes on inside TLS) and the
enumeration/resumption re-dials (they stop at STARTTLS and write their own ClientHellos).
"""

from __future__ import annotations

import asyncio

import pytest

from vedette.model import FailureKind, Service, Stage
from vedette.probe.defence import ReplyTimer
from vedette.probe.limits import Limits
from vedette.probe.runner import drive_dialogue
from vedette.probe.transport import ProbeFailed
from vedette.protocols.registry import new_dialogue


class MockStream:
    """Replies served in order, one per read; what the dialogue wrote, kept."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = list(replies)
        self.written: list[bytes] = []
        self.reads_stages: list[Stage] = []

    async def write(self, data: bytes, timeout: float, stage: Stage) -> None:
        self.written.append(data)

    async def read(self, max_bytes: int, deadline: float, stage: Stage) -> bytes:
        self.reads_stages.append(stage)
        return self.replies.pop(0) if self.replies else b""


GREETING = b"+OK ready\r\n"
CAPA = b"+OK\r\nUSER\r\nSTLS\r\n.\r\n"


def drive(stream: MockStream, **kw: object) -> None:
    dialogue = new_dialogue(Service.POP3)
    asyncio.run(drive_dialogue(stream, dialogue, Limits(), ReplyTimer(), **kw))  # type: ignore[arg-type]


def test_without_a_handshake_the_loop_stops_at_starttls():
    stream = MockStream([GREETING, CAPA, b"+OK begin TLS\r\n"])
    drive(stream)
    assert stream.written == [b"CAPA\r\n", b"STLS\r\n"]
    assert stream.replies == []


def test_a_refused_starttls_is_a_failure_at_its_stage():
    stream = MockStream([GREETING, CAPA, b"-ERR not now\r\n"])
    with pytest.raises(ProbeFailed) as exc:
        drive(stream)
    assert exc.value.failure.kind in (FailureKind.UNAVAILABLE, FailureKind.CLOSED)
    assert "did not accept STARTTLS" in exc.value.failure.detail


def test_with_a_handshake_the_loop_goes_on_inside_tls_and_reports_each_stage():
    stream = MockStream([GREETING, CAPA, b"+OK begin TLS\r\n", CAPA, b"+OK bye\r\n"])
    handshakes: list[int] = []
    stages: list[Stage] = []

    async def start_tls() -> None:
        handshakes.append(len(stream.written))

    drive(stream, start_tls=start_tls, on_stage=stages.append)
    assert handshakes == [2]  # after CAPA and STLS, before anything inside TLS
    assert stream.written[2:] == [b"CAPA\r\n", b"QUIT\r\n"]
    assert Stage.GREETING in stages and stages[-1] is Stage.CLOSE


def test_a_server_that_hangs_up_mid_dialogue_is_closed():
    stream = MockStream([GREETING])  # then EOF
    with pytest.raises(ProbeFailed) as exc:
        drive(stream, start_tls=lambda: asyncio.sleep(0))
    assert exc.value.failure.kind is FailureKind.CLOSED
