"""Fuzzing the mail dialogues: whatever a server sends, only a ProtocolError or a clean Close.

A dialogue is the first code that touches bytes from a hostile or broken server. The contract
(``vedette.protocols._base``) allows exactly two outcomes: the dialogue ends with ``Close()``,
or ``next_action()`` raises a ``ProtocolError`` subclass. Anything else (``IndexError``,
``UnicodeDecodeError``, an endless loop, an unbounded buffer) is a bug.

Inputs mix raw random bytes with fragments of real replies, so that the fuzzer gets past the
greeting often and reaches the STARTTLS and capability states. Run longer with::

    HYPOTHESIS_PROFILE=fuzz-long pytest tests/fuzz        # see tests/fuzz/README.md
"""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.unit.protocol_script import chunkings, drive
from vedette.errors import NotProtocolError
from vedette.model import Service, Stage
from vedette.protocols._base import MAX_LINE
from vedette.protocols.registry import new_dialogue

settings.register_profile(
    "fuzz-default", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz-long", max_examples=50_000, deadline=None, suppress_health_check=list(HealthCheck)
)
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fuzz-default")
_PROFILE = _PROFILE if _PROFILE.startswith("fuzz-") else "fuzz-default"

#: Reply fragments of each protocol, whole lines and pieces of lines, so that the fuzzer gets
#: past the greeting and reaches the capability, STARTTLS and quit states.
FRAGMENTS = {
    "smtp": [
        b"220 mx.example.org ESMTP\r\n",
        b"220-mx\r\n",
        b"220 go ahead\r\n",
        b"250-mx.example.org\r\n",
        b"250-STARTTLS\r\n",
        b"250-AUTH PLAIN LOGIN\r\n",
        b"250 CHUNKING\r\n",
        b"250\r\n",
        b"250 mx\r\n",
        b"421 busy\r\n",
        b"454 4.7.0 TLS not available\r\n",
        b"502 no\r\n",
        b"221 bye\r\n",
        b"25",
        b"0-",
    ],
    "imap": [
        b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n",
        b"* PREAUTH hi\r\n",
        b"* BYE\r\n",
        b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n",
        b"* 1 FETCH (BODY[] {5}\r\n",
        b"* OK {5}\r\n",
        b"+ go\r\n",
        b"a1 OK done\r\n",
        b"a2 OK begin TLS\r\n",
        b"a2 NO\r\n",
        b"a3 OK\r\n",
        b"a3 BAD\r\n",
        b"a4 OK\r\n",
        b"a2 OK\r\n",
        b"* ",
        b"a",
    ],
    "pop3": [
        b"+OK ready\r\n",
        b"+OK\r\n",
        b"-ERR no\r\n",
        b"USER\r\n",
        b"SASL PLAIN\r\n",
        b"STLS\r\n",
        b"..STUFFED\r\n",
        b".\r\n",
        b"+O",
        b"K\r\n",
    ],
}
GREETINGS = {
    "smtp": b"220 mx.example.org ESMTP\r\n",
    "imap": b"* OK ready\r\n",
    "pop3": b"+OK ready\r\n",
}
#: Framing oddities worth mixing into any protocol.
ODDITIES = [b"\r\n", b"\n", b"\r", b"{", b"\x00", b"\xff\xfe", b" ", b"-"]


@st.composite
def server_stream(draw: st.DrawFn, protocol: str) -> list[bytes]:
    """A server's bytes for one phase, cut into reads at random places."""
    pieces = st.one_of(
        st.sampled_from(FRAGMENTS[protocol]),
        st.sampled_from(FRAGMENTS[protocol]),
        st.sampled_from(FRAGMENTS[protocol]),
        st.sampled_from(ODDITIES),
        st.binary(max_size=24),
    )
    body = b"".join(draw(st.lists(pieces, max_size=16)))
    if draw(st.integers(0, 9)) > 0:  # usually start like the protocol does
        body = GREETINGS[protocol] + body
    return draw(chunkings(body))


#: Every command a dialogue may ever send. Nothing else, and never a password or AUTH.
ALLOWED = re.compile(
    rb"(?:EHLO vedette\.invalid|HELO vedette\.invalid|STARTTLS|QUIT"
    rb"|a[0-9]+ (?:CAPABILITY|STARTTLS|LOGOUT)|CAPA|STLS)\r\n"
)

MAIL_SERVICES = [s for s in Service if s.protocol.value in {"smtp", "imap", "pop3"}]


@pytest.mark.parametrize("service", MAIL_SERVICES, ids=lambda s: s.value)
@settings(settings.get_profile(_PROFILE))
@given(data=st.data(), try_starttls=st.booleans())
def test_dialogue_survives_any_bytes(
    service: Service, data: st.DataObject, try_starttls: bool
) -> None:
    clear = data.draw(server_stream(service.protocol.value), label="clear")
    tls = data.draw(server_stream(service.protocol.value), label="tls")
    # drive() lets nothing but ProtocolError through and fails on more than MAX_ACTIONS steps.
    out = drive(new_dialogue(service, try_starttls=try_starttls), clear, tls)
    # Bounded work: one read per chunk, at most one EOF per phase, at most 5 commands, one
    # StartTls and the final Close.
    assert out.actions <= len(clear) + len(tls) + 2 + 5 + 1 + 1 + 1
    for command in out.sent:
        assert ALLOWED.fullmatch(command), command
    assert len(out.sent) <= 5
    obs = out.observation
    for field in (
        obs.greeting,
        obs.capabilities_before_tls,
        obs.starttls_reply,
        obs.capabilities_after_tls,
    ):
        assert field is None or (isinstance(field, tuple) and all(type(x) is str for x in field))
    if out.error is None and not out.closed_early:
        assert out.stage is Stage.CLOSE
    event(f"ended at {out.stage.value}, {type(out.error).__name__ if out.error else 'no error'}")


@settings(settings.get_profile(_PROFILE))
@given(
    data=st.one_of(
        st.binary(min_size=1, max_size=20_000),
        st.sampled_from([b"220 ", b"* OK ", b"+OK "]).map(lambda h: h + b"x" * 9000),
    ),
    service=st.sampled_from(MAIL_SERVICES),
)
def test_one_large_read(data: bytes, service: Service) -> None:
    # A single read of arbitrary size: the line bound must hold whatever the chunking.
    out = drive(new_dialogue(service), [data])
    if b"\n" not in data[: MAX_LINE + 1] and len(data) > MAX_LINE:
        # No line end within the bound: the dialogue must refuse, not keep buffering.
        assert out.error is not None
        assert out.error.too_large or isinstance(out.error, NotProtocolError)
