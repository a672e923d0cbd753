"""The XMPP dialogue, its XML reader and its capability rules, against scripted server bytes.

The transcripts are what Prosody 0.12 (Debian bookworm) sends; the hostile ones are the classic
XML attacks (billion laughs, external entities, deep nesting, huge attributes).
"""

from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.protocol_script import bytewise, chunkings, drive
from vedette.errors import NotProtocolError, ProtocolError, ServiceUnavailableError
from vedette.model import DialogueObservation, Endpoint, Protocol, Service, Stage
from vedette.protocols.registry import (
    entry,
    new_dialogue,
    parse_capabilities,
    plaintext_password_mechanisms,
)
from vedette.protocols.xmpp import MAX_STREAM_BYTES, XmppDialogue, stream_header

DOMAIN = "chat.example.test"
HEADER = (
    b"<?xml version='1.0'?><stream:stream to='chat.example.test' version='1.0' "
    b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
)
STARTTLS = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
CLOSE = b"</stream:stream>"

SERVER_HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
    b"from='chat.example.test' id='6054661f' xmlns='jabber:client' xml:lang='en' version='1.0'>"
)
# Prosody 0.12, c2s_require_encryption = false, allow_unencrypted_plain_auth = true.
OPEN_FEATURES = (
    b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
    b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
    b"<mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>"
)
# c2s_require_encryption = true: STARTTLS required, nothing else before TLS.
REQUIRED_FEATURES = (
    b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
    b"</stream:features>"
)
PROCEED = b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
TLS_FEATURES = (
    b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
    b"<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>"
    b"<register xmlns='http://jabber.org/features/iq-register'/>"
    b"<compression xmlns='http://jabber.org/features/compress'><method>zlib</method>"
    b"</compression><sm xmlns='urn:xmpp:sm:3'/></stream:features>"
)
OPEN_CLEAR = SERVER_HEADER + OPEN_FEATURES + PROCEED
OPEN_TLS = SERVER_HEADER + TLS_FEATURES + CLOSE
OPEN_OBSERVATION = DialogueObservation(
    greeting=("stream from=chat.example.test version=1.0",),
    capabilities_before_tls=("starttls", "mechanism PLAIN", "mechanism SCRAM-SHA-1"),
    starttls_reply=("proceed",),
    capabilities_after_tls=(
        "mechanism SCRAM-SHA-1",
        "mechanism PLAIN",
        "register",
        "compression zlib",
        "sm urn:xmpp:sm:3",
    ),
)


def _dialogue(service: Service = Service.XMPP, domain: str | None = DOMAIN) -> XmppDialogue:
    dialogue = new_dialogue(service, server_name=domain)
    assert isinstance(dialogue, XmppDialogue)
    return dialogue


def test_the_whole_walk_against_prosody() -> None:
    out = drive(_dialogue(), OPEN_CLEAR, OPEN_TLS)
    assert out.error is None and not out.closed_early and out.tls_started
    assert out.sent == (HEADER, STARTTLS, HEADER, CLOSE)
    assert out.observation == OPEN_OBSERVATION
    assert out.stage is Stage.CLOSE


@given(st.data())
def test_the_outcome_does_not_depend_on_how_bytes_are_cut(data: st.DataObject) -> None:
    clear = data.draw(chunkings(OPEN_CLEAR))
    tls = data.draw(chunkings(OPEN_TLS))
    assert (
        drive(_dialogue(), clear, tls).summary == drive(_dialogue(), OPEN_CLEAR, OPEN_TLS).summary
    )


def test_one_byte_at_a_time() -> None:
    out = drive(_dialogue(), bytewise(OPEN_CLEAR), bytewise(OPEN_TLS))
    assert out.observation == OPEN_OBSERVATION and out.error is None


def test_bytes_after_proceed_in_clear_never_reach_the_tls_stream() -> None:
    # A man in the middle appends forged features after the go-ahead (STARTTLS injection).
    forged = SERVER_HEADER + b"<stream:features><iq-forged xmlns='x'/></stream:features>"
    out = drive(_dialogue(), OPEN_CLEAR + forged + b"<garbage", OPEN_TLS)
    assert out.error is None
    assert out.observation.capabilities_after_tls == OPEN_OBSERVATION.capabilities_after_tls


def test_server_to_server_uses_jabber_server_and_records_a_featureless_stream() -> None:
    # Prosody answers a server-to-server stream without ``from`` inside TLS with an error.
    error = (
        b"<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        b"<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>No stream features to offer</text>"
        b"</stream:error></stream:stream>"
    )
    s2s_header = SERVER_HEADER.replace(b"jabber:client", b"jabber:server")
    out = drive(
        _dialogue(Service.XMPP_SERVER), s2s_header + REQUIRED_FEATURES + PROCEED, s2s_header + error
    )
    assert out.sent[0] == HEADER.replace(b"jabber:client", b"jabber:server")
    assert out.error is None and not out.closed_early
    assert out.observation.capabilities_before_tls == ("starttls required",)
    assert out.observation.capabilities_after_tls == (
        "stream-error undefined-condition: No stream features to offer",
    )


def test_direct_tls_opens_the_stream_inside_tls_and_records_it_after_tls() -> None:
    out = drive(_dialogue(Service.XMPPS), SERVER_HEADER + TLS_FEATURES + CLOSE)
    assert out.sent == (HEADER, CLOSE)
    assert out.observation.capabilities_before_tls is None
    assert out.observation.capabilities_after_tls == OPEN_OBSERVATION.capabilities_after_tls
    assert not out.tls_started and out.error is None


def test_starttls_is_asked_for_even_when_not_advertised_and_a_failure_is_recorded() -> None:
    features = (
        b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
    )
    failure = b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>"
    out = drive(_dialogue(), SERVER_HEADER + features + failure)
    assert out.sent == (HEADER, STARTTLS, CLOSE)
    assert out.observation.capabilities_before_tls == ("bind",)
    assert out.observation.starttls_reply == ("failure",)
    assert out.error is None and not out.closed_early and not out.tls_started


def test_a_stream_error_in_reply_to_starttls_is_the_reply() -> None:
    error = (
        b"<stream:error><unsupported-stanza-type xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        b"</stream:error>"
    )
    out = drive(_dialogue(), SERVER_HEADER + REQUIRED_FEATURES.replace(b"<required/>", b"") + error)
    assert out.observation.starttls_reply == ("stream-error unsupported-stanza-type",)
    assert out.error is None and not out.closed_early


def test_host_unknown_says_the_domain_is_not_served() -> None:
    error = (
        b"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        b"<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>This server does not serve "
        b"wrong.example.test</text></stream:error></stream:stream>"
    )
    out = drive(_dialogue(domain="wrong.example.test"), SERVER_HEADER + error)
    assert isinstance(out.error, ServiceUnavailableError)
    assert "does not serve 'wrong.example.test'" in str(out.error)
    assert "host-unknown" in str(out.error)
    assert out.observation.greeting == ("stream from=chat.example.test version=1.0",)


def test_eof_before_the_features_is_an_early_close() -> None:
    out = drive(_dialogue(), SERVER_HEADER + b"<stream:features><starttls")
    assert out.closed_early and out.stage is Stage.CAPABILITIES and out.error is None
    assert out.observation.capabilities_before_tls is None


def test_eof_after_our_goodbye_is_the_normal_end() -> None:
    out = drive(_dialogue(Service.XMPPS), SERVER_HEADER + TLS_FEATURES)
    assert not out.closed_early and out.error is None


@pytest.mark.parametrize(
    "first",
    [b"220 mx.example.org ESMTP\r\n", b"HTTP/1.1 400 Bad Request\r\n", b"\x16\x03\x01\x00"],
)
def test_a_server_that_is_not_xmpp_is_named_so(first: bytes) -> None:
    out = drive(_dialogue(), first)
    assert isinstance(out.error, NotProtocolError)


def test_an_xml_document_that_is_not_a_stream_is_not_xmpp() -> None:
    out = drive(_dialogue(), b"<?xml version='1.0'?><html><body>hi</body></html>")
    assert isinstance(out.error, NotProtocolError)


# ---- hostile XML: refused at once, without expansion -------------------------------------------

BILLION_LAUGHS = (
    b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
    + b"".join(
        b"<!ENTITY lol%d '%s'>" % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>&lol9;"
)
XXE = (
    b"<?xml version='1.0'?><!DOCTYPE s [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
    b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>&x;"
)
PARAMETER_ENTITY = (
    b"<?xml version='1.0'?><!DOCTYPE s [<!ENTITY % p SYSTEM 'http://192.0.2.1/x.dtd'> %p;]>"
    b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
)
ENTITY_AFTER_HEADER = SERVER_HEADER + b"<stream:features>&undefined;</stream:features>"
DEEP = SERVER_HEADER + b"<a>" * 10_000
HUGE_ATTRIBUTE = SERVER_HEADER + b"<stream:features x='" + b"A" * (4 * MAX_STREAM_BYTES)
WIDE = SERVER_HEADER + b"<stream:features>" + b"<f xmlns='u'/>" * 5000


@pytest.mark.parametrize(
    "payload",
    [BILLION_LAUGHS, XXE, PARAMETER_ENTITY, ENTITY_AFTER_HEADER, DEEP, HUGE_ATTRIBUTE, WIDE],
    ids=["billion-laughs", "xxe", "parameter-entity", "undefined-entity", "deep", "huge", "wide"],
)
def test_hostile_xml_is_a_protocol_error_at_once_and_bounded(payload: bytes) -> None:
    tracemalloc.start()
    started = time.monotonic()
    try:
        out = drive(_dialogue(), [payload[i : i + 4096] for i in range(0, len(payload), 4096)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(out.error, ProtocolError), out
    assert out.observation.capabilities_before_tls is None
    assert time.monotonic() - started < 5  # hang detector: it takes milliseconds
    assert peak < 8 * 1024 * 1024  # nothing expanded: a few times the bounded input at most


def test_a_stream_longer_than_the_bound_is_too_large() -> None:
    out = drive(_dialogue(), SERVER_HEADER + b"<stream:features>" + b" " * MAX_STREAM_BYTES)
    assert out.error is not None and out.error.too_large


# ---- the domain in the stream header -----------------------------------------------------------


@pytest.mark.parametrize(
    "hostile",
    ["a'><x/>", 'a"b', "a b", "a<b", "a&b", "", "x" * 300, "a\r\nb", "é.example"],
)
def test_a_hostile_domain_never_reaches_the_stream_header(hostile: str) -> None:
    with pytest.raises(ValueError, match="invalid XMPP domain"):
        new_dialogue(Service.XMPP, server_name=hostile)
    # The resumption ping falls back to a header without ``to`` rather than inject.
    ep = Endpoint(host=hostile, ip="127.0.0.1", port=5222, service=Service.XMPP)
    assert entry(Protocol.XMPP).ping(ep) == stream_header(None)


def test_without_a_name_the_header_has_no_to() -> None:
    out = drive(_dialogue(domain=None), b"")
    assert out.sent[0].startswith(b"<?xml version='1.0'?><stream:stream version='1.0' ")


def test_the_resumption_ping_is_a_new_stream_header_on_both_ports() -> None:
    for service in (Service.XMPP, Service.XMPPS):
        ep = Endpoint(host=DOMAIN, ip="127.0.0.1", port=service.default_port, service=service)
        assert entry(Protocol.XMPP).ping(ep) == HEADER
    s2s = Endpoint(host=DOMAIN, ip="127.0.0.1", port=5269, service=Service.XMPP_SERVER)
    ping = entry(Protocol.XMPP).ping(s2s)
    assert ping is not None and b"xmlns='jabber:server'" in ping


# ---- capabilities and the plaintext-password rule ------------------------------------------------


def _mechanisms(lines: tuple[str, ...]) -> frozenset[str]:
    caps = parse_capabilities(Protocol.XMPP, lines)
    return plaintext_password_mechanisms(Protocol.XMPP, caps)


def test_plain_before_tls_without_required_counts() -> None:
    caps = parse_capabilities(Protocol.XMPP, OPEN_OBSERVATION.capabilities_before_tls or ())
    assert caps.starttls and caps.sasl == {"PLAIN", "SCRAM-SHA-1"}
    assert _mechanisms(("starttls", "mechanism PLAIN", "mechanism SCRAM-SHA-1")) == {"PLAIN"}


def test_mechanisms_listed_with_required_starttls_do_not_count() -> None:
    # RFC 6120 5.3.1: with <required/> TLS is mandatory-to-negotiate before any other feature.
    lines = ("starttls required", "mechanism PLAIN")
    assert _mechanisms(lines) == frozenset()
    caps = parse_capabilities(Protocol.XMPP, lines)
    assert caps.starttls and "STARTTLS-REQUIRED" in caps.names


def test_starttls_alone_is_mandatory_too_and_scram_only_is_no_password() -> None:
    assert parse_capabilities(Protocol.XMPP, ("starttls",)).starttls
    assert _mechanisms(("starttls", "mechanism SCRAM-SHA-1")) == frozenset()
    assert _mechanisms(("mechanism LOGIN",)) == {"LOGIN"}


def test_legacy_iq_auth_counts_as_a_password_command() -> None:
    assert _mechanisms(("starttls", "iq-auth")) == {"IQ-AUTH"}
    assert _mechanisms(("starttls required", "iq-auth")) == frozenset()


def test_the_parser_tolerates_odd_stored_lines() -> None:
    caps = parse_capabilities(Protocol.XMPP, ("", "stream-error x: y", "mechanism", "weird ns"))
    assert not caps.starttls and caps.sasl == frozenset()


def test_odd_text_in_features_is_stored_as_one_printable_line() -> None:
    features = (
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
        "<mechanism>PL\u00e9\u4e2d&#10;AIN&#x7f;</mechanism></mechanisms>"
        "<x xmlns='urn:a&#13;&#10;b'/></stream:features>"
    ).encode()
    out = drive(_dialogue(Service.XMPPS), SERVER_HEADER + features + CLOSE)
    assert out.observation.capabilities_after_tls == (
        "mechanism PL\\xe9\\u4e2d AIN\\x7f",
        "x urn:a b",
    )
