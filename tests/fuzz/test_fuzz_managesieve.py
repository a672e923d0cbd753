"""Fuzzing the ManageSieve dialogue: whatever a server sends, only a ProtocolError or a Close.

Same contract as ``test_fuzz_dialogues.py`` (which covers SMTP, IMAP and POP3), plus what is
ManageSieve's own: literals (``{n}`` then n raw bytes) that a line reader must join without
reading past their bound, and quoted strings with escapes that must survive being stored and
re-read. Inputs mix random bytes with fragments of real Dovecot responses and literal markers,
so that the fuzzer reaches the STARTTLS and after-TLS states. Derandomised; run longer with
``HYPOTHESIS_PROFILE=fuzz-long``.
"""

from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.unit.protocol_script import chunkings, drive
from vedette.errors import NotProtocolError
from vedette.model import Service, Stage
from vedette.protocols._base import MAX_LINE
from vedette.protocols.managesieve import parse_sieve_capabilities
from vedette.protocols.registry import new_dialogue

_LONG = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz-long"
FUZZ = settings(
    max_examples=50_000 if _LONG else 300,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)

FRAGMENTS = [
    b'"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"\r\n',
    b'"SASL" "PLAIN LOGIN"\r\n',
    b'"SASL" ""\r\n',
    b'"STARTTLS"\r\n',
    b'"VERSION" "1.0"\r\n',
    b'OK "Dovecot (Debian) ready."\r\n',
    b'OK "Begin TLS negotiation now."\r\n',
    b"OK\r\n",
    b'NO "no"\r\n',
    b'BYE "bye"\r\n',
    b'OK (TAG "x") "Done"\r\n',
    b'OK (A (B "c"))\r\n',
    b"{5}\r\n",
    b"{0}\r\n",
    b"{9999}\r\n",
    b"{99999999999}\r\n",
    b'"SASL" {11}\r\nPLAIN LOGIN\r\n',
    b'"A" "\\"\\\\"\r\n',
    b'"',
    b"\\",
    b"(",
    b")",
    b"OK",
    b"{",
    b"}",
]
ODDITIES = [b"\r\n", b"\n", b"\r", b"\x00", b"\xff\xfe", b" ", b"+"]
GREETING = b'"STARTTLS"\r\nOK\r\n'
ALLOWED = re.compile(rb"(?:STARTTLS|LOGOUT)\r\n")


@st.composite
def server_stream(draw: st.DrawFn, *, clear: bool = True) -> list[bytes]:
    """One phase of a server's bytes, cut into reads. In clear it usually starts with a
    greeting, often followed by the STARTTLS go-ahead, so that the TLS phase is reached."""
    pieces = st.one_of(
        st.sampled_from(FRAGMENTS),
        st.sampled_from(FRAGMENTS),
        st.sampled_from(ODDITIES),
        st.binary(max_size=24),
    )
    body = b"".join(draw(st.lists(pieces, max_size=16)))
    if clear and draw(st.integers(0, 9)) > 0:
        body = GREETING + (b"OK\r\n" if draw(st.booleans()) else b"") + body
    return draw(chunkings(body))


@FUZZ
@given(clear=server_stream(), tls=server_stream(clear=False), try_starttls=st.booleans())
def test_dialogue_survives_any_bytes(
    clear: list[bytes], tls: list[bytes], try_starttls: bool
) -> None:
    # drive() lets nothing but ProtocolError through and fails on more than MAX_ACTIONS steps.
    out = drive(new_dialogue(Service.SIEVE, try_starttls=try_starttls), clear, tls)
    # One read per chunk, an EOF per phase, two commands, one StartTls, the final Close.
    assert out.actions <= len(clear) + len(tls) + 2 + 2 + 1 + 1 + 1
    assert all(ALLOWED.fullmatch(c) for c in out.sent), out.sent
    assert len(out.sent) <= 2
    obs = out.observation
    for lines in (
        obs.greeting,
        obs.capabilities_before_tls,
        obs.starttls_reply,
        obs.capabilities_after_tls,
    ):
        for line in lines or ():
            # One text line each, bounded, whatever literals the server sent.
            assert type(line) is str and "\r" not in line and "\n" not in line
            assert len(line) <= MAX_LINE
    # The parser never fails on what the dialogue stored.
    parse_sieve_capabilities(obs.capabilities_before_tls or ())
    parse_sieve_capabilities(obs.capabilities_after_tls or ())
    if out.error is None and not out.closed_early:
        assert out.stage is Stage.CLOSE
    event(f"ended at {out.stage.value}, {type(out.error).__name__ if out.error else 'no error'}")


@FUZZ
@given(data=st.data())
def test_chunking_does_not_change_the_outcome(data: st.DataObject) -> None:
    whole = b"".join(data.draw(server_stream(), label="clear"))
    tls = b"".join(data.draw(server_stream(clear=False), label="tls"))
    one = drive(new_dialogue(Service.SIEVE), [whole], [tls])
    cut = drive(
        new_dialogue(Service.SIEVE),
        data.draw(chunkings(whole), label="cuts"),
        data.draw(chunkings(tls), label="tls cuts"),
    )
    assert cut.summary == one.summary


#: Capability names and values as a server might send them: any printable text, quotes and
#: backslashes included (they are escaped on the wire), and SASL mechanism names.
_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
_MECHS = st.lists(st.from_regex(r"[A-Z0-9-]{1,12}", fullmatch=True), max_size=5)


def _wire(value: str, literal: bool) -> bytes:
    raw = value.encode("latin-1")
    if literal:
        return b"{%d}\r\n" % len(raw) + raw
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


@FUZZ
@given(
    names=st.lists(_TEXT, max_size=6),
    mechs=_MECHS,
    starttls=st.booleans(),
    literals=st.lists(st.booleans(), min_size=16, max_size=16),
)
def test_capabilities_survive_the_wire_and_the_store(
    names: list[str], mechs: list[str], starttls: bool, literals: list[bool]
) -> None:
    # Whatever the quoting (quoted with escapes, or literals), the stored lines re-read to the
    # capabilities the server advertised.
    flags = iter(literals)
    lines = [_wire("X-" + n, next(flags)) + b" " + _wire(n, next(flags)) for n in names]
    lines.append(_wire("SASL", next(flags)) + b" " + _wire(" ".join(mechs), next(flags)))
    if starttls:
        lines.append(_wire("STARTTLS", next(flags)))
    greeting = b"".join(line + b"\r\n" for line in lines) + b'OK "ready"\r\nNO "no TLS"\r\n'
    out = drive(new_dialogue(Service.SIEVE), greeting)
    assert out.error is None, out
    parsed = parse_sieve_capabilities(out.observation.capabilities_before_tls or ())
    assert parsed.sasl == {m.upper() for m in mechs}
    assert parsed.starttls is starttls
    assert {("X-" + n).upper() for n in names} <= parsed.names


@FUZZ
@given(
    data=st.one_of(
        st.binary(min_size=1, max_size=20_000),
        st.sampled_from([b'"', b"OK ", b"{9000}\r\n"]).map(lambda h: h + b"x" * 9000),
    )
)
def test_one_large_read(data: bytes) -> None:
    out = drive(new_dialogue(Service.SIEVE), [data])
    if b"\n" not in data[: MAX_LINE + 1] and len(data) > MAX_LINE:
        assert out.error is not None
        assert out.error.too_large or isinstance(out.error, NotProtocolError)
