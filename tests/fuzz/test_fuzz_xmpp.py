"""Fuzzing the XMPP dialogue and its XML reader: only a ProtocolError or a clean Close, quickly.

The inputs mix fragments of real Prosody streams with the XML attacks a hostile server could
try on a parser (DTDs, entity declarations and references, external entities, processing
instructions, deep nesting, huge attributes, bad encodings), so that the fuzzer reaches every
state of the dialogue. Bounded: every run ends within a fixed number of actions and the reader
never holds more than ``MAX_STREAM_BYTES`` of input. Profiles as in test_fuzz_dialogues.py.
"""

from __future__ import annotations

import os
import re
import time

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.unit.protocol_script import chunkings, drive
from vedette.errors import ProtocolError
from vedette.model import Service, Stage
from vedette.protocols.registry import new_dialogue
from vedette.protocols.xmpp import MAX_STREAM_BYTES, XmlStreamReader

settings.register_profile(
    "fuzz-default", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz-long", max_examples=50_000, deadline=None, suppress_health_check=list(HealthCheck)
)
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fuzz-default")
_PROFILE = _PROFILE if _PROFILE.startswith("fuzz-") else "fuzz-default"

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
    b"from='chat.example.test' id='1' xmlns='jabber:client' version='1.0'>"
)
FRAGMENTS = [
    HEADER,
    b"<stream:features>",
    b"</stream:features>",
    b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>",
    b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>",
    b"<mechanism>PLAIN</mechanism>",
    b"<mechanism>SCRAM-SHA-1</mechanism>",
    b"</mechanisms>",
    b"<compression xmlns='http://jabber.org/features/compress'><method>zlib</method>",
    b"</compression>",
    b"<register xmlns='http://jabber.org/features/iq-register'/>",
    b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    b"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>",
    b"<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>go away</text>",
    b"</stream:error>",
    b"</stream:stream>",
    b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' version='0.9'>",
    b"<x:y xmlns:x='",
    b"'>",
    b"&amp;",
    b"&#10;",
    b"&#x0;",
    b"\xc3\xa9",
    b"\xff",
]
#: The attacks: each must stop the reader with a ProtocolError, nothing expanded or fetched.
ATTACKS = [
    b"<!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>]>",
    b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>",
    b"<!DOCTYPE x [<!ENTITY % p SYSTEM 'http://192.0.2.1/evil.dtd'> %p;]>",
    b"<!DOCTYPE x SYSTEM 'http://192.0.2.1/evil.dtd'>",
    b"<!ENTITY a 'b'>",
    b"&a;",
    b"&lol9;",
    b"<?php evil ?>",
    b"<!-- comment -->",
    b"<![CDATA[x]]>",
    b"<a>" * 40,
    b"<a b='" + b"x" * 5000 + b"'/>",
]
#: What the dialogue may send: stream headers, the STARTTLS request, the close. Nothing else.
ALLOWED = re.compile(
    rb"<\?xml version='1\.0'\?><stream:stream to='chat\.example\.test' version='1\.0' "
    rb"xmlns='jabber:(?:client|server)' xmlns:stream='http://etherx\.jabber\.org/streams'>"
    rb"|<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>|</stream:stream>"
)
SERVICES = [s for s in Service if s.protocol.value == "xmpp"]


@st.composite
def server_stream(draw: st.DrawFn) -> list[bytes]:
    pieces = st.one_of(
        st.sampled_from(FRAGMENTS),
        st.sampled_from(FRAGMENTS),
        st.sampled_from(ATTACKS),
        st.binary(max_size=24),
    )
    body = b"".join(draw(st.lists(pieces, max_size=20)))
    if draw(st.integers(0, 9)) > 0:
        body = HEADER + body
    return draw(chunkings(body))


@settings(settings.get_profile(_PROFILE))
@given(data=st.data(), service=st.sampled_from(SERVICES), try_starttls=st.booleans())
def test_dialogue_survives_any_bytes(
    data: st.DataObject, service: Service, try_starttls: bool
) -> None:
    clear = data.draw(server_stream(), label="clear")
    tls = data.draw(server_stream(), label="tls")
    out = drive(
        new_dialogue(service, try_starttls=try_starttls, server_name="chat.example.test"),
        clear,
        tls,
    )
    # One read per chunk, one EOF per phase, at most 4 sends, one StartTls, the final Close.
    assert out.actions <= len(clear) + len(tls) + 2 + 4 + 1 + 1 + 1
    assert len(out.sent) <= 4
    for sent in out.sent:
        assert ALLOWED.fullmatch(sent), sent
    obs = out.observation
    for field in (obs.greeting, obs.capabilities_before_tls, obs.starttls_reply):
        assert field is None or all(type(x) is str for x in field)
    for lines in (
        obs.greeting,
        obs.capabilities_before_tls or (),
        obs.capabilities_after_tls or (),
    ):
        for line in lines:
            assert "\r" not in line and "\n" not in line and line.isprintable()
    if out.error is None and not out.closed_early:
        assert out.stage is Stage.CLOSE
    event(f"ended at {out.stage.value}, {type(out.error).__name__ if out.error else 'no error'}")


@settings(settings.get_profile(_PROFILE))
@given(
    attack=st.sampled_from(ATTACKS[:7]),
    where=st.sampled_from(["prolog", "content"]),
    copies=st.integers(1, 50),
)
def test_declarations_and_entities_are_refused_quickly(
    attack: bytes, where: str, copies: int
) -> None:
    # The attacks that need a DTD or an entity: refused, whatever surrounds them.
    if where == "prolog":
        body = b"<?xml version='1.0'?>" + attack * copies + HEADER[21:]
    else:
        body = HEADER + b"<stream:features>" + attack * copies
    reader = XmlStreamReader()
    started = time.monotonic()
    reader.feed(body)
    try:
        while reader.next_event() is not None:
            pass
    except ProtocolError:
        pass
    else:
        raise AssertionError(f"accepted {body[:200]!r}")
    assert time.monotonic() - started < 2  # hang detector: milliseconds in practice


@settings(settings.get_profile(_PROFILE))
@given(
    size=st.integers(MAX_STREAM_BYTES - 64, 4 * MAX_STREAM_BYTES), chunk=st.integers(256, 70_000)
)
def test_the_byte_bound_holds_whatever_the_reads(size: int, chunk: int) -> None:
    body = HEADER + b"<stream:features><a b='" + b"x" * size
    out = drive(
        new_dialogue(Service.XMPP, server_name="chat.example.test"), chunkings_of(body, chunk)
    )
    assert out.error is not None and out.error.too_large


def chunkings_of(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]
