"""The probe (``probe.runner.probe_endpoint``) and its one dialogue driver (``drive_dialogue``)
over a scripted stream (``tests/unit/mock_stream.py``): no socket, every protocol with a dialogue.

What is asserted is what a user of ``vedette scan`` sees: the Observation (greeting, capabilities
before and after TLS, the STARTTLS reply, the TLS session, the failure and its stage, the
defences) and the findings it gives, plus the bytes the probe put on the wire. The transcripts
are the shapes real servers send (Postfix, Dovecot, Pigeonhole, slapd, Prosody); the dialogue
unit tests pin each protocol's parsing, these pin the driver around them.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.ldap_messages import (
    OPENLDAP_ROOT_DSE,
    ROOT_DSE_LINES,
    entry,
    extended_response,
    openldap_clear,
    openldap_tls,
    request,
    search_done,
)
from tests.unit.mock_stream import (
    EOF,
    RESET,
    STALL,
    Dialer,
    Event,
    MockStream,
    Pause,
    Script,
    refused,
)
from tests.unit.protocol_script import chunkings
from vedette.checks import CheckContext, analyse
from vedette.model import (
    Defence,
    DefenceKind,
    DialogueObservation,
    Endpoint,
    FailureKind,
    Observation,
    Protocol,
    Service,
    Stage,
    TlsMode,
    TlsObservation,
)
from vedette.probe.defence import ReplyTimer
from vedette.probe.limits import Limits
from vedette.probe.runner import drive_dialogue, drive_to_starttls, probe_endpoint
from vedette.probe.transport import ProbeFailed, fail
from vedette.protocols.ldap import MAX_MESSAGE, NOTICE_OF_DISCONNECTION_OID
from vedette.protocols.registry import (
    new_dialogue,
    parse_capabilities,
    plaintext_password_mechanisms,
)

HOST = "mail.example.test"
IP = "192.0.2.1"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
#: Short deadlines: a stalled server costs a fifth of a second.
LIMITS = Limits(read_timeout=0.2, connect_timeout=0.3, tls_timeout=0.4, endpoint_timeout=5.0)
CHAIN = (b"leaf-der", b"intermediate-der")


def _lines(data: bytes) -> tuple[str, ...]:
    return tuple(data.decode("latin-1").split("\r\n")[:-1])


# ---- transcripts, one per protocol --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Walk:
    """A server that offers STARTTLS and answers every command, and what the probe sees."""

    service: Service
    greeting: bytes  # the server's first reply (LDAP: none, the client speaks first)
    caps: bytes  # the capability reply in clear (ManageSieve: in the greeting)
    go_ahead: bytes  # the reply to STARTTLS
    caps_tls: bytes  # the capabilities inside TLS
    quit_reply: bytes  # the reply to the polite quit (LDAP's unbind has none)
    sent_clear: tuple[object, ...]  # what the probe wrote in clear (LDAP: the operations)
    sent_tls: tuple[object, ...]
    observation: DialogueObservation
    plaintext: frozenset[str]  # ways to send a password in clear, offered before TLS
    refusal: bytes  # a "too many connections" / "shutting down" first reply
    refusal_defence: DefenceKind | None
    starttls_refused: bytes  # the server's reply to STARTTLS, refusing it, and the rest
    starttls_refused_reply: tuple[str, ...]
    oversized: bytes  # a reply past the dialogue's bound, in place of the capabilities
    oversized_stage: Stage = Stage.CAPABILITIES

    @property
    def clear(self) -> bytes:
        return self.caps + self.go_ahead

    @property
    def tls(self) -> bytes:
        return self.caps_tls + self.quit_reply

    @property
    def server_clear(self) -> bytes:
        return self.greeting + self.clear


_POSTFIX_EHLO = (
    b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n"
    b"250-AUTH PLAIN LOGIN\r\n250 CHUNKING\r\n"
)
_POSTFIX_EHLO_TLS = _POSTFIX_EHLO.replace(b"250-STARTTLS\r\n", b"")
SMTP = Walk(
    service=Service.SUBMISSION,
    greeting=b"220 mx.example.test ESMTP Postfix (Debian/GNU)\r\n",
    caps=_POSTFIX_EHLO,
    go_ahead=b"220 2.0.0 Ready to start TLS\r\n",
    caps_tls=_POSTFIX_EHLO_TLS,
    quit_reply=b"221 2.0.0 Bye\r\n",
    sent_clear=(b"EHLO vedette.invalid\r\n", b"STARTTLS\r\n"),
    sent_tls=(b"EHLO vedette.invalid\r\n", b"QUIT\r\n"),
    observation=DialogueObservation(
        greeting=("220 mx.example.test ESMTP Postfix (Debian/GNU)",),
        capabilities_before_tls=_lines(_POSTFIX_EHLO),
        starttls_reply=("220 2.0.0 Ready to start TLS",),
        capabilities_after_tls=_lines(_POSTFIX_EHLO_TLS),
    ),
    plaintext=frozenset({"PLAIN", "LOGIN"}),
    refusal=b"421 4.7.0 mx.example.test Error: too many connections from 192.0.2.9\r\n",
    refusal_defence=DefenceKind.RATE_LIMITED,
    starttls_refused=b"454 4.7.0 TLS not available due to local problem\r\n221 2.0.0 Bye\r\n",
    starttls_refused_reply=("454 4.7.0 TLS not available due to local problem",),
    oversized=b"250-" + b"x" * 20_000 + b"\r\n",
)

_DOVECOT_CAPS = b"* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS"
_IMAP_BEFORE = _DOVECOT_CAPS + b" AUTH=PLAIN\r\na1 OK Pre-login capabilities listed.\r\n"
_IMAP_AFTER = (
    _DOVECOT_CAPS.replace(b" STARTTLS", b"")
    + b" AUTH=PLAIN\r\na3 OK Pre-login capabilities listed.\r\n"
)
IMAP = Walk(
    service=Service.IMAP,
    greeting=b"* OK Dovecot (Debian) ready.\r\n",
    caps=_IMAP_BEFORE,
    go_ahead=b"a2 OK Begin TLS negotiation now.\r\n",
    caps_tls=_IMAP_AFTER,
    quit_reply=b"* BYE Logging out\r\na4 OK Logout completed.\r\n",
    sent_clear=(b"a1 CAPABILITY\r\n", b"a2 STARTTLS\r\n"),
    sent_tls=(b"a3 CAPABILITY\r\n", b"a4 LOGOUT\r\n"),
    observation=DialogueObservation(
        greeting=("* OK Dovecot (Debian) ready.",),
        capabilities_before_tls=_lines(_IMAP_BEFORE),
        starttls_reply=("a2 OK Begin TLS negotiation now.",),
        capabilities_after_tls=_lines(_IMAP_AFTER),
    ),
    plaintext=frozenset({"PLAIN", "LOGIN"}),  # LOGIN: the command, no LOGINDISABLED
    refusal=b"* BYE Too many connections from this IP\r\n",
    refusal_defence=DefenceKind.RATE_LIMITED,
    starttls_refused=b"a2 NO [UNAVAILABLE] TLS support isn't enabled.\r\n* BYE\r\na3 OK bye\r\n",
    starttls_refused_reply=("a2 NO [UNAVAILABLE] TLS support isn't enabled.",),
    oversized=b"* CAPABILITY " + b"x" * 20_000 + b"\r\n",
)

_POP3_CAPA = b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nUSER\r\nSTLS\r\nSASL PLAIN\r\n.\r\n"
_POP3_CAPA_TLS = _POP3_CAPA.replace(b"STLS\r\n", b"")
POP3 = Walk(
    service=Service.POP3,
    greeting=b"+OK Dovecot (Debian) ready.\r\n",
    caps=_POP3_CAPA,
    go_ahead=b"+OK Begin TLS negotiation now.\r\n",
    caps_tls=_POP3_CAPA_TLS,
    quit_reply=b"+OK Logging out.\r\n",
    sent_clear=(b"CAPA\r\n", b"STLS\r\n"),
    sent_tls=(b"CAPA\r\n", b"QUIT\r\n"),
    observation=DialogueObservation(
        greeting=("+OK Dovecot (Debian) ready.",),
        capabilities_before_tls=_lines(_POP3_CAPA)[:-1],
        starttls_reply=("+OK Begin TLS negotiation now.",),
        capabilities_after_tls=_lines(_POP3_CAPA_TLS)[:-1],
    ),
    plaintext=frozenset({"PLAIN", "USER"}),
    refusal=b"-ERR [SYS/TEMP] Maximum number of connections from user+IP exceeded\r\n",
    refusal_defence=DefenceKind.CONNECTION_CAP,
    starttls_refused=b"-ERR TLS support isn't enabled.\r\n+OK Logging out.\r\n",
    starttls_refused_reply=("-ERR TLS support isn't enabled.",),
    oversized=b"+OK\r\n" + b"x" * 20_000 + b"\r\n",
)

_SIEVE_CAPS = (
    b'"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"\r\n'
    b'"SIEVE" "fileinto reject envelope vacation"\r\n'
    b'"SASL" "PLAIN LOGIN"\r\n'
    b'"STARTTLS"\r\n'
    b'"VERSION" "1.0"\r\n'
)
_SIEVE_CAPS_TLS = _SIEVE_CAPS.replace(b'"STARTTLS"\r\n', b"")
SIEVE = Walk(
    service=Service.SIEVE,
    # ManageSieve's greeting is the capability list, ended by OK (RFC 5804 1.7).
    greeting=_SIEVE_CAPS + b'OK "Dovecot (Debian) ready."\r\n',
    caps=b"",
    go_ahead=b'OK "Begin TLS negotiation now."\r\n',
    # After TLS the server re-issues its capabilities unasked (RFC 5804 2.2).
    caps_tls=_SIEVE_CAPS_TLS + b'OK "TLS negotiation successful."\r\n',
    quit_reply=b'OK "Logout completed."\r\n',
    sent_clear=(b"STARTTLS\r\n",),
    sent_tls=(b"LOGOUT\r\n",),
    observation=DialogueObservation(
        greeting=('OK "Dovecot (Debian) ready."',),
        capabilities_before_tls=(*_lines(_SIEVE_CAPS), 'OK "Dovecot (Debian) ready."'),
        starttls_reply=('OK "Begin TLS negotiation now."',),
        capabilities_after_tls=(*_lines(_SIEVE_CAPS_TLS), 'OK "TLS negotiation successful."'),
    ),
    plaintext=frozenset({"PLAIN", "LOGIN"}),
    refusal=b'BYE "Too many connections"\r\n',
    refusal_defence=DefenceKind.RATE_LIMITED,
    starttls_refused=b'NO "TLS not configured"\r\nOK "Logout completed."\r\n',
    starttls_refused_reply=('NO "TLS not configured"',),
    oversized=b'"IMPLEMENTATION" "' + b"x" * 20_000 + b'"\r\n',
    oversized_stage=Stage.GREETING,  # the greeting is the capability list
)

_ROOT_DSE = entry(1, OPENLDAP_ROOT_DSE) + search_done(1)
_LDAP_GO_AHEAD = extended_response(3)
LDAP = Walk(
    service=Service.LDAP,
    greeting=b"",
    caps=openldap_clear()[: -len(_LDAP_GO_AHEAD)],
    go_ahead=_LDAP_GO_AHEAD,
    caps_tls=openldap_tls(),
    quit_reply=b"",
    sent_clear=((1, "searchRequest"), (2, "bindRequest"), (3, "extendedReq")),
    sent_tls=((4, "searchRequest"), (5, "unbindRequest")),
    observation=DialogueObservation(
        greeting=(),
        capabilities_before_tls=(
            *ROOT_DSE_LINES,
            "simple bind as a non-existent DN: 49 invalidCredentials",
        ),
        starttls_reply=("StartTLS: 0 success",),
        capabilities_after_tls=(
            *ROOT_DSE_LINES[:4],
            "supportedSASLMechanisms: SCRAM-SHA-256",
            "supportedSASLMechanisms: PLAIN",
            "rootDSE search: 0 success",
        ),
    ),
    plaintext=frozenset({"SIMPLE BIND"}),
    refusal=extended_response(0, 52, "server shutting down", NOTICE_OF_DISCONNECTION_OID),
    refusal_defence=None,  # a server going away for everyone is not defending itself
    starttls_refused=extended_response(3, 2, "refused"),
    starttls_refused_reply=("StartTLS: 2 protocolError (refused)",),
    # A message whose BER header announces more than the bound: refused at the header.
    oversized=_ROOT_DSE + b"\x30\x84" + (MAX_MESSAGE + 1).to_bytes(4, "big") + b"\x00" * 100,
)

_XMPP_HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
    b"from='mail.example.test' id='6054661f' xmlns='jabber:client' xml:lang='en' version='1.0'>"
)
_XMPP_CLIENT_HEADER = (
    b"<?xml version='1.0'?><stream:stream to='mail.example.test' version='1.0' "
    b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
)
XMPP = Walk(
    service=Service.XMPP,
    greeting=_XMPP_HEADER,
    caps=(
        b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
        b"<mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>"
    ),
    go_ahead=b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    caps_tls=(
        _XMPP_HEADER + b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
        b"<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>"
        b"</stream:features>"
    ),
    quit_reply=b"</stream:stream>",
    sent_clear=(_XMPP_CLIENT_HEADER, b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
    sent_tls=(_XMPP_CLIENT_HEADER, b"</stream:stream>"),
    observation=DialogueObservation(
        greeting=("stream from=mail.example.test version=1.0",),
        capabilities_before_tls=("starttls", "mechanism PLAIN", "mechanism SCRAM-SHA-1"),
        starttls_reply=("proceed",),
        capabilities_after_tls=("mechanism SCRAM-SHA-1", "mechanism PLAIN"),
    ),
    plaintext=frozenset({"PLAIN"}),
    refusal=(
        _XMPP_HEADER + b"<stream:error><system-shutdown "
        b"xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"
    ),
    refusal_defence=None,
    starttls_refused=b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>",
    starttls_refused_reply=("failure",),
    oversized=b"<stream:features x='" + b"A" * 100_000,
)

WALKS = (SMTP, IMAP, POP3, SIEVE, LDAP, XMPP)
BY_PROTOCOL = pytest.mark.parametrize("walk", WALKS, ids=lambda w: w.service.protocol.value)


def test_every_protocol_with_a_dialogue_is_walked_here() -> None:
    from vedette.protocols.registry import entry as registry_entry
    from vedette.protocols.registry import has_dialogue

    # Protocols probed in several rounds (SMB, no TLS) are walked in tests/unit/test_smb_*.py.
    with_dialogue = {p for p in Protocol if has_dialogue(p) and registry_entry(p).rounds == 1}
    assert {w.service.protocol for w in WALKS} == with_dialogue


# ---- helpers -----------------------------------------------------------------------------------


def endpoint(walk: Walk, service: Service | None = None) -> Endpoint:
    svc = service or walk.service
    return Endpoint(host=HOST, ip=IP, port=svc.default_port, service=svc)


def probe(
    walk: Walk,
    clear: Script,
    tls: Script = (),
    *,
    limits: Limits = LIMITS,
    service: Service | None = None,
    **stream: object,
) -> tuple[Observation, MockStream]:
    """``probe_endpoint`` against the scripted server (empty chunks left out: a read that
    returns nothing is end of file)."""
    conn = MockStream(
        [c for c in clear if c != b""],
        [c for c in tls if c != b""],
        chain_der=CHAIN,
        **stream,  # type: ignore[arg-type]
    )
    dialer = Dialer(conn)
    ep = endpoint(walk, service)
    obs = asyncio.run(probe_endpoint(ep, limits=limits, connect=dialer))
    assert dialer.dialled == [(IP, ep.port, limits.connect_timeout)]
    assert conn.closed, "the probe closes its connection whatever happened"
    return obs, conn


def said(walk: Walk, written: Sequence[bytes]) -> tuple[object, ...]:
    """What the probe wrote, as a reader of the protocol sees it (LDAP: message ids and
    operations, the bind's DN and password being random)."""
    if walk.service.protocol is Protocol.LDAP:
        return tuple(request(data)[:2] for data in written)
    return tuple(written)


def findings(obs: Observation) -> dict[str, str]:
    watched = ("tls.plaintext-auth", "tls.none", "tls.handshake-failed")
    return {f.id: f.detail for f in analyse([obs], CheckContext(now=NOW)) if f.id in watched}


def offered_in_clear(walk: Walk, obs: Observation) -> frozenset[str]:
    assert obs.dialogue is not None and obs.dialogue.capabilities_before_tls is not None
    protocol = walk.service.protocol
    caps = parse_capabilities(protocol, obs.dialogue.capabilities_before_tls, obs.dialogue.greeting)
    return plaintext_password_mechanisms(protocol, caps)


# ---- the normal walk ---------------------------------------------------------------------------


@BY_PROTOCOL
def test_a_starttls_walk_records_both_capability_lists_and_the_session(walk: Walk) -> None:
    obs, conn = probe(walk, [walk.greeting, walk.clear], [walk.tls])
    assert obs.failure is None
    assert obs.dialogue == walk.observation
    assert obs.tls == TlsObservation(
        version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", sni=HOST, chain_der=CHAIN
    )
    assert said(walk, conn.before_tls) == walk.sent_clear
    assert said(walk, conn.after_tls) == walk.sent_tls
    assert conn.handshakes == [(HOST, LIMITS.tls_timeout)]
    assert obs.connections == 1 and obs.defences == ()
    assert conn.unread == []
    # What the user is told: a password may cross in clear before STARTTLS.
    assert offered_in_clear(walk, obs) == walk.plaintext
    found = findings(obs)
    assert "tls.plaintext-auth" in found and "tls.none" not in found


#: (service, what the server says inside TLS, the probe's last command: its polite quit)
IMPLICIT = [
    (Service.SMTPS, SMTP.greeting + SMTP.tls, b"QUIT\r\n"),
    (
        Service.IMAPS,
        IMAP.greeting + IMAP.tls.replace(b"a3 ", b"a1 ").replace(b"a4 ", b"a2 "),
        b"a2 LOGOUT\r\n",
    ),
    (Service.POP3S, POP3.greeting + POP3.tls, b"QUIT\r\n"),
    (Service.LDAPS, openldap_tls(1), (2, "unbindRequest")),  # no bind probe on ldaps
    (Service.XMPPS, XMPP.tls, b"</stream:stream>"),  # the client's stream header first
]


@pytest.mark.parametrize(("service", "server", "last"), IMPLICIT, ids=lambda v: str(v)[:6])
def test_implicit_tls_handshakes_first_and_records_capabilities_as_after_tls(
    service: Service, server: bytes, last: object
) -> None:
    (walk,) = [w for w in WALKS if w.service.protocol is service.protocol]
    assert service.tls_mode is TlsMode.IMPLICIT
    obs, conn = probe(walk, [], [server], service=service)
    assert conn.tls_at == 0 and conn.before_tls == []  # the handshake before any byte
    assert obs.failure is None and obs.tls is not None
    assert obs.dialogue is not None
    assert obs.dialogue.capabilities_before_tls is None
    after = walk.observation.capabilities_after_tls
    assert after is not None and obs.dialogue.capabilities_after_tls is not None
    assert obs.dialogue.capabilities_after_tls[0] == after[0]
    assert said(walk, conn.after_tls)[-1] == last
    assert "tls.plaintext-auth" not in findings(obs)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(WALKS), st.data())
def test_how_the_server_bytes_are_cut_into_reads_changes_nothing(
    walk: Walk, data: st.DataObject
) -> None:
    clear = data.draw(chunkings(walk.server_clear), label="clear")
    tls = data.draw(chunkings(walk.tls), label="tls")
    obs, conn = probe(walk, clear, tls)
    assert obs.failure is None
    assert obs.dialogue == walk.observation
    assert obs.tls is not None and obs.tls.chain_der == CHAIN
    assert said(walk, conn.before_tls) == walk.sent_clear
    assert said(walk, conn.after_tls) == walk.sent_tls


@BY_PROTOCOL
def test_reads_are_bounded_by_max_read(walk: Walk) -> None:
    small = Limits(read_timeout=0.2, max_read=7)
    obs, conn = probe(walk, [walk.server_clear], [walk.tls], limits=small)
    assert obs.failure is None and obs.dialogue == walk.observation
    assert {size for _, size in conn.reads} == {7}


@BY_PROTOCOL
def test_bytes_sent_in_clear_after_the_go_ahead_never_count_as_inside_tls(walk: Walk) -> None:
    # The STARTTLS-injection class (CVE-2011-0411): what the server sends in clear right
    # after its go-ahead must not be read as said inside TLS.
    injected = walk.caps_tls
    obs, conn = probe(walk, [walk.greeting, walk.caps, walk.go_ahead, injected], [walk.tls])
    assert obs.failure is None
    assert obs.dialogue == walk.observation
    assert conn.discarded_before_tls == [injected]


# ---- refusals ----------------------------------------------------------------------------------


@BY_PROTOCOL
def test_a_refusing_first_reply_is_unavailable_with_the_defence_it_shows(walk: Walk) -> None:
    obs, conn = probe(walk, [walk.refusal])
    assert obs.failure is not None
    assert obs.failure.kind is FailureKind.UNAVAILABLE
    assert obs.tls is None and conn.handshakes == []
    if walk.refusal_defence is None:
        assert obs.defences == ()
    else:
        (reply,) = _lines(walk.refusal)
        assert obs.defences == (Defence(kind=walk.refusal_defence, evidence=reply),)
        assert obs.failure.stage is Stage.GREETING
        assert obs.dialogue == DialogueObservation(greeting=(reply,))
        assert conn.written == []  # nothing said to a server that turned us away


@BY_PROTOCOL
def test_a_refused_starttls_is_recorded_and_the_user_told_there_is_no_tls(walk: Walk) -> None:
    obs, conn = probe(walk, [walk.greeting, walk.caps, walk.starttls_refused])
    assert obs.failure is None  # the server answered: refusing TLS is a fact, not a failure
    assert obs.tls is None and conn.handshakes == []
    assert obs.dialogue is not None
    assert obs.dialogue.capabilities_before_tls == walk.observation.capabilities_before_tls
    assert obs.dialogue.starttls_reply == walk.starttls_refused_reply
    assert obs.dialogue.capabilities_after_tls is None
    found = findings(obs)
    assert "tls.none" in found
    assert "tls.plaintext-auth" in found  # and passwords may cross in clear: no TLS at all


#: What a re-dial writes where it differs from the first connection: LDAP, IMAP and POP3 ask
#: for TLS straight away (the capabilities were read on the first connection).
REDIAL_SAID: dict[Protocol, tuple[object, ...]] = {
    Protocol.LDAP: ((1, "extendedReq"),),
    Protocol.IMAP: (b"a1 STARTTLS\r\n",),
    Protocol.POP3: (b"STLS\r\n",),
}


def redial_server(walk: Walk, *, refuse: bool) -> list[bytes]:
    """What the server says to a re-dial: LDAP's goes straight to StartTLS (message 1), IMAP
    and POP3 to STARTTLS/STLS after the greeting (IMAP's tag is then a1)."""
    if walk.service.protocol is Protocol.LDAP:
        return [extended_response(1, 2, "refused") if refuse else extended_response(1)]
    reply = walk.starttls_refused if refuse else walk.go_ahead
    if walk.service.protocol in REDIAL_SAID:
        return [walk.greeting, reply.replace(b"a2 ", b"a1 ", 1)]
    return [c for c in (walk.greeting, walk.caps, reply) if c]


@BY_PROTOCOL
def test_a_redial_that_is_refused_starttls_fails_at_its_stage(walk: Walk) -> None:
    # The enumeration's and the resumption probe's re-dials: drive_to_starttls.
    conn = MockStream(redial_server(walk, refuse=True))
    dialogue = new_dialogue(walk.service, server_name=HOST, redial=True)
    with pytest.raises(ProbeFailed) as exc:
        asyncio.run(drive_to_starttls(conn, dialogue, LIMITS))
    assert exc.value.failure.kind is FailureKind.UNAVAILABLE
    assert exc.value.failure.detail == "the server did not accept STARTTLS"
    assert conn.handshakes == []


@BY_PROTOCOL
def test_a_redial_stops_at_the_go_ahead_and_leaves_tls_to_the_caller(walk: Walk) -> None:
    conn = MockStream(redial_server(walk, refuse=False))
    dialogue = new_dialogue(walk.service, server_name=HOST, redial=True)
    asyncio.run(drive_to_starttls(conn, dialogue, LIMITS))
    assert conn.handshakes == [] and conn.unread == []
    # The STARTTLS request last; LDAP: no rootDSE, no bind; IMAP, POP3: no capabilities.
    assert said(walk, conn.written) == REDIAL_SAID.get(walk.service.protocol, walk.sent_clear)


def test_a_refused_connection_is_a_failure_at_connect_with_no_dialogue() -> None:
    dialer = Dialer(refused(f"{IP}:587"))
    obs = asyncio.run(probe_endpoint(endpoint(SMTP), limits=LIMITS, connect=dialer))
    assert obs.failure is not None
    assert (obs.failure.kind, obs.failure.stage) == (FailureKind.REFUSED, Stage.CONNECT)
    assert obs.connections == 0 and obs.dialogue is None and obs.tls is None


@BY_PROTOCOL
def test_a_failed_handshake_keeps_what_was_said_in_clear(walk: Walk) -> None:
    alert = fail(FailureKind.TLS_ERROR, Stage.TLS_HANDSHAKE, "TLS handshake failed: bad mac")
    obs, conn = probe(walk, [walk.greeting, walk.clear], [walk.tls], handshake_failure=alert)
    assert obs.failure == alert.failure
    assert obs.tls is None
    assert obs.dialogue is not None
    assert obs.dialogue.starttls_reply == walk.observation.starttls_reply
    assert conn.after_tls == []
    assert "tls.handshake-failed" in findings(obs)


# ---- hang-ups, stalls, floods ------------------------------------------------------------------


@BY_PROTOCOL
@pytest.mark.parametrize("how", [EOF, RESET], ids=["eof", "reset"])
def test_a_server_that_hangs_up_mid_dialogue_is_closed_at_that_stage(
    walk: Walk, how: Event
) -> None:
    half = walk.go_ahead[: len(walk.go_ahead) // 2]
    obs, conn = probe(walk, [walk.greeting, walk.caps, half, how])
    assert obs.failure is not None
    assert (obs.failure.kind, obs.failure.stage) == (FailureKind.CLOSED, Stage.STARTTLS)
    if how is EOF:
        assert (
            obs.failure.detail == "the server closed the connection in the middle of the dialogue"
        )
    else:
        assert obs.failure.detail == f"{IP}:{walk.service.default_port} reset the connection"
    assert obs.dialogue is not None
    assert obs.dialogue.capabilities_before_tls == walk.observation.capabilities_before_tls
    assert obs.dialogue.starttls_reply is None  # only complete replies are kept
    assert obs.tls is None and conn.handshakes == []


@BY_PROTOCOL
def test_a_server_that_stalls_times_out_at_the_stage_it_stalled_in(walk: Walk) -> None:
    started = time.monotonic()
    obs, conn = probe(walk, [walk.greeting, walk.caps, STALL])
    took = time.monotonic() - started
    assert obs.failure is not None
    assert (obs.failure.kind, obs.failure.stage) == (FailureKind.TIMEOUT, Stage.STARTTLS)
    assert obs.failure.detail == f"{conn.where} sent no complete reply in time"
    assert LIMITS.read_timeout <= took < LIMITS.read_timeout + 2  # its deadline, not sooner
    assert obs.defences == ()  # an ordinary timeout, nothing trickled


@BY_PROTOCOL
def test_a_stall_inside_tls_times_out_there_and_keeps_the_session(walk: Walk) -> None:
    obs, _ = probe(walk, [walk.greeting, walk.clear], [STALL])
    assert obs.failure is not None
    assert (obs.failure.kind, obs.failure.stage) == (
        FailureKind.TIMEOUT,
        Stage.CAPABILITIES_AFTER_TLS,
    )
    assert obs.tls is not None and obs.tls.chain_der == CHAIN
    assert obs.dialogue is not None
    assert obs.dialogue.capabilities_before_tls == walk.observation.capabilities_before_tls


@BY_PROTOCOL
def test_no_answer_to_the_polite_quit_is_not_a_failure(walk: Walk) -> None:
    # Everything is recorded once the dialogue says goodbye; a server that does not answer
    # in time has not failed the probe.
    obs, _ = probe(walk, [walk.greeting, walk.clear], [walk.caps_tls, STALL])
    assert obs.failure is None
    assert obs.dialogue == walk.observation


@BY_PROTOCOL
def test_each_reply_has_its_own_deadline(walk: Walk) -> None:
    # Every reply takes 60 % of the reply deadline: slow, but each within its own.
    slow = Pause(0.6 * LIMITS.read_timeout)
    # XMPP's stream header and features answer one client header: one reply.
    xmpp = walk.service.protocol is Protocol.XMPP
    replies = [walk.greeting + walk.caps] if xmpp else [walk.greeting, walk.caps]
    clear: list[bytes | Pause] = []
    for reply in (*replies, walk.go_ahead):
        clear += [slow, reply] if reply else []
    obs, _ = probe(walk, clear, [slow, walk.caps_tls, slow, walk.quit_reply])
    assert obs.failure is None
    assert obs.dialogue == walk.observation


def test_a_trickle_cannot_stretch_the_reply_deadline() -> None:
    drip = Pause(LIMITS.read_timeout / 4)
    trickle: list[bytes | Pause] = []
    for byte in SMTP.greeting:
        trickle += [drip, bytes([byte])]
    started = time.monotonic()
    obs, _ = probe(SMTP, trickle)
    assert time.monotonic() - started < 2 * LIMITS.read_timeout
    assert obs.failure is not None
    assert (obs.failure.kind, obs.failure.stage) == (FailureKind.TIMEOUT, Stage.GREETING)
    (defence,) = obs.defences
    assert defence.kind is DefenceKind.TARPIT  # bytes trickled, then no end


def test_a_tarpit_trickling_its_greeting_is_a_timeout_and_a_tarpit_defence() -> None:
    obs, _ = probe(SMTP, [b"2", b"20 mx", STALL])
    assert obs.failure is not None
    assert (obs.failure.kind, obs.failure.stage) == (FailureKind.TIMEOUT, Stage.GREETING)
    assert obs.defences == (
        Defence(
            kind=DefenceKind.TARPIT, evidence="6 byte(s) of the greeting trickled, then no end"
        ),
    )


def test_the_endpoint_clock_bounds_a_server_slower_than_the_reply_deadline() -> None:
    limits = Limits(read_timeout=30.0, endpoint_timeout=0.3)
    started = time.monotonic()
    obs, _ = probe(IMAP, [IMAP.greeting, STALL], limits=limits)
    assert time.monotonic() - started < 5
    assert obs.failure is not None
    assert (obs.failure.kind, obs.failure.stage) == (FailureKind.TIMEOUT, Stage.CAPABILITIES)
    assert obs.failure.detail == "the probe took longer than 0.3 s in all"


@BY_PROTOCOL
def test_an_oversized_reply_is_too_large_and_reading_stops_near_the_bound(walk: Walk) -> None:
    flood = b"x" * 1_000_000
    first = [walk.oversized] if walk.oversized_stage is Stage.GREETING else [walk.greeting]
    rest = [] if walk.oversized_stage is Stage.GREETING else [walk.oversized]
    obs, conn = probe(walk, [*first, *rest, flood], limits=Limits(max_read=4096))
    assert obs.failure is not None
    assert (obs.failure.kind, obs.failure.stage) == (FailureKind.TOO_LARGE, walk.oversized_stage)
    assert obs.tls is None
    read = len(conn.reads) * 4096
    assert conn.unread, "the probe stopped reading the flood"
    assert read < 200_000  # bounded by the dialogue's limit, not by what the server sends


# ---- the driver alone --------------------------------------------------------------------------


def test_the_driver_reports_each_stage_and_hands_the_handshake_over() -> None:
    conn = MockStream([POP3.greeting, POP3.clear], [POP3.tls])
    stages: list[Stage] = []
    handshakes: list[int] = []

    async def start_tls() -> None:
        handshakes.append(len(conn.written))
        await conn.start_tls(ssl.create_default_context(), HOST, 1.0)

    dialogue = new_dialogue(Service.POP3)
    asyncio.run(
        drive_dialogue(
            conn, dialogue, LIMITS, ReplyTimer(), start_tls=start_tls, on_stage=stages.append
        )
    )
    assert handshakes == [2]  # after CAPA and STLS, before anything inside TLS
    assert conn.after_tls == [b"CAPA\r\n", b"QUIT\r\n"]
    assert list(dict.fromkeys(stages)) == [
        Stage.GREETING,
        Stage.CAPABILITIES,
        Stage.STARTTLS,
        Stage.CAPABILITIES_AFTER_TLS,
        Stage.CLOSE,
    ]
    assert conn.reads[0][0] is Stage.GREETING
