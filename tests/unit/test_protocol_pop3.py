"""The POP3 client dialogue against scripted server transcripts (no sockets)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.protocol_script import bytewise, chunkings, drive
from vedette.errors import NotProtocolError, ProtocolError, ServiceUnavailableError
from vedette.model import DialogueObservation, Service, Stage
from vedette.protocols import MailDialogue, NeedData, Send, StartTls
from vedette.protocols.pop3 import Pop3Dialogue
from vedette.protocols.registry import new_dialogue

# ---- transcripts -------------------------------------------------------------------------------

# Dovecot 2.3, port 110, disable_plaintext_auth = yes: before TLS no USER and no SASL
# mechanism; inside TLS both appear.
DOVECOT_CLEAR = (
    b"+OK Dovecot (Debian) ready.\r\n"  # greeting
    b"+OK\r\n"  # reply to CAPA: status line ...
    b"CAPA\r\n"  # ... then one capability per line
    b"TOP\r\n"
    b"UIDL\r\n"
    b"RESP-CODES\r\n"
    b"PIPELINING\r\n"
    b"AUTH-RESP-CODE\r\n"
    b"STLS\r\n"
    b"SASL\r\n"
    b".\r\n"  # end of the list
    b"+OK Begin TLS negotiation now.\r\n"  # reply to STLS
)
DOVECOT_TLS = (
    b"+OK\r\n"
    b"CAPA\r\n"
    b"TOP\r\n"
    b"UIDL\r\n"
    b"RESP-CODES\r\n"
    b"PIPELINING\r\n"
    b"AUTH-RESP-CODE\r\n"
    b"USER\r\n"
    b"SASL PLAIN\r\n"
    b".\r\n"
    b"+OK Logging out.\r\n"  # reply to QUIT
)
DOVECOT_OBSERVATION = DialogueObservation(
    greeting=("+OK Dovecot (Debian) ready.",),
    capabilities_before_tls=(
        "+OK",
        "CAPA",
        "TOP",
        "UIDL",
        "RESP-CODES",
        "PIPELINING",
        "AUTH-RESP-CODE",
        "STLS",
        "SASL",
    ),
    starttls_reply=("+OK Begin TLS negotiation now.",),
    capabilities_after_tls=(
        "+OK",
        "CAPA",
        "TOP",
        "UIDL",
        "RESP-CODES",
        "PIPELINING",
        "AUTH-RESP-CODE",
        "USER",
        "SASL PLAIN",
    ),
)

FULL_CONVERSATION = (b"CAPA\r\n", b"STLS\r\n", b"CAPA\r\n", b"QUIT\r\n")


def pop3(*, try_starttls: bool = True, service: Service = Service.POP3) -> Pop3Dialogue:
    dialogue = new_dialogue(service, try_starttls=try_starttls)
    assert isinstance(dialogue, Pop3Dialogue)
    return dialogue


def stage_of(dialogue: MailDialogue) -> Stage:
    # A function call, so that mypy does not narrow ``dialogue.stage`` across state changes.
    return dialogue.stage


# ---- normal flows ------------------------------------------------------------------------------


def test_dovecot_stls_flow() -> None:
    out = drive(pop3(), DOVECOT_CLEAR, DOVECOT_TLS)
    assert out.error is None
    assert out.sent == FULL_CONVERSATION
    assert out.tls_started
    assert out.observation == DOVECOT_OBSERVATION
    assert not out.closed_early
    assert out.stage is Stage.CLOSE


def test_implicit_tls_exchange() -> None:
    # Exchange 2016 on 995; its greeting text is fixed, its CAPA lists USER and SASL.
    implicit = (
        b"+OK The Microsoft Exchange POP3 service is ready.\r\n"
        b"+OK\r\n"
        b"TOP\r\n"
        b"UIDL\r\n"
        b"SASL NTLM GSSAPI PLAIN\r\n"
        b"USER\r\n"
        b".\r\n"
        b"+OK Microsoft Exchange Server POP3 server signing off.\r\n"
    )
    out = drive(pop3(service=Service.POP3S), implicit)
    assert out.error is None
    assert out.sent == (b"CAPA\r\n", b"QUIT\r\n")
    assert out.observation.capabilities_before_tls is None
    assert out.observation.capabilities_after_tls == (
        "+OK",
        "TOP",
        "UIDL",
        "SASL NTLM GSSAPI PLAIN",
        "USER",
    )


def test_capa_lines_are_dot_unstuffed() -> None:
    clear = b"+OK hi\r\n+OK list follows\r\nUSER\r\n..X-ODD\r\n.\r\n-ERR no TLS\r\n+OK bye\r\n"
    out = drive(pop3(), clear)
    assert out.observation.capabilities_before_tls == ("+OK list follows", "USER", ".X-ODD")


def test_apop_greeting_is_kept_verbatim() -> None:
    greeting = b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"
    out = drive(pop3(try_starttls=False), greeting + b"-ERR\r\n+OK\r\n")
    assert out.observation.greeting == ("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>",)


# ---- refusals that are data ---------------------------------------------------------------------


def test_capa_refused_records_empty_capabilities_and_still_tries_stls() -> None:
    clear = (
        b"+OK QPOP (version 2.53) at mail.example.net starting.\r\n"
        b'-ERR Unknown command: "CAPA".\r\n'  # a pre-RFC 2449 server
        b'-ERR Unknown command: "STLS".\r\n'
        b"+OK Pop server at mail.example.net signing off.\r\n"
    )
    out = drive(pop3(), clear)
    assert out.error is None
    assert out.sent == (b"CAPA\r\n", b"STLS\r\n", b"QUIT\r\n")
    assert out.observation.capabilities_before_tls == ()
    assert out.observation.starttls_reply == ('-ERR Unknown command: "STLS".',)
    assert out.observation.capabilities_after_tls is None
    assert not out.closed_early


def test_capa_refused_inside_tls_is_recorded_empty() -> None:
    out = drive(pop3(), b"+OK\r\n-ERR\r\n+OK go\r\n", b"-ERR no\r\n+OK bye\r\n")
    assert out.tls_started
    assert out.observation.capabilities_after_tls == ()
    assert out.sent == FULL_CONVERSATION


# ---- errors ------------------------------------------------------------------------------------


def test_err_greeting_is_service_unavailable() -> None:
    out = drive(pop3(), b"-ERR [SYS/TEMP] Too many connections, try again later\r\n")
    assert isinstance(out.error, ServiceUnavailableError)
    assert out.observation.greeting == ("-ERR [SYS/TEMP] Too many connections, try again later",)


@pytest.mark.parametrize(
    "first_bytes",
    [
        b"HTTP/1.0 200 OK\r\n\r\n",
        b"\x15\x03\x03\x00\x02\x02\x28",  # TLS handshake_failure alert
        b"220 mx ESMTP\r\n",
        b"* OK IMAP ready\r\n",
        b"+O\r\n",
        b"OK\r\n",
    ],
)
def test_not_pop3(first_bytes: bytes) -> None:
    out = drive(pop3(), first_bytes)
    assert isinstance(out.error, NotProtocolError)
    assert out.sent == ()


@pytest.mark.parametrize(
    ("clear", "stage"),
    [
        (b"+OK\r\nUSER\r\n", Stage.CAPABILITIES),  # no status line for CAPA
        (b"+OK\r\n-ERR\r\nwhat?\r\n", Stage.STARTTLS),
        (b"+OK\r\n+OKAY\r\n", Stage.CAPABILITIES),
    ],
)
def test_malformed_status_is_protocol_error(clear: bytes, stage: Stage) -> None:
    out = drive(pop3(), clear)
    assert type(out.error) is ProtocolError
    assert out.stage is stage


def test_endless_capa_list_is_too_large() -> None:
    out = drive(pop3(), b"+OK\r\n+OK\r\n" + b"X-CAP\r\n" * 300 + b".\r\n")
    assert isinstance(out.error, ProtocolError)
    assert out.error.too_large
    assert out.observation.capabilities_before_tls is None


def test_endless_line_is_too_large() -> None:
    out = drive(pop3(), [b"+OK hi\r\n+OK\r\n", b"SASL " + b"PLAIN " * 2000])
    assert isinstance(out.error, ProtocolError)
    assert out.error.too_large


# ---- end of file -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clear", "tls", "stage", "caps_before"),
    [
        (b"", b"", Stage.GREETING, None),
        (b"+OK ready\r\n", b"", Stage.CAPABILITIES, None),
        (b"+OK ready\r\n+OK\r\nUSER\r\n", b"", Stage.CAPABILITIES, None),  # list not ended
        (b"+OK ready\r\n+OK\r\nUSER\r\n.\r\n", b"", Stage.STARTTLS, ("+OK", "USER")),
        (b"+OK ready\r\n-ERR\r\n+OK\r\n", b"", Stage.CAPABILITIES_AFTER_TLS, ()),
    ],
)
def test_eof_before_quit_is_closed_early(
    clear: bytes, tls: bytes, stage: Stage, caps_before: tuple[str, ...] | None
) -> None:
    out = drive(pop3(), clear, tls)
    assert out.error is None
    assert out.closed_early
    assert out.stage is stage
    assert out.observation.capabilities_before_tls == caps_before


def test_eof_instead_of_quit_reply_is_a_normal_end() -> None:
    out = drive(pop3(), DOVECOT_CLEAR, DOVECOT_TLS.removesuffix(b"+OK Logging out.\r\n"))
    assert out.error is None
    assert not out.closed_early
    assert out.observation == DOVECOT_OBSERVATION


# ---- STARTTLS injection ------------------------------------------------------------------------


def test_bytes_after_stls_ok_are_discarded() -> None:
    injected = b"+OK\r\n-ERR\r\n+OK Begin TLS\r\n+OK\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n"
    out = drive(pop3(), injected, DOVECOT_TLS)
    assert out.error is None
    assert out.observation.capabilities_after_tls == DOVECOT_OBSERVATION.capabilities_after_tls


def test_waits_for_the_handshake() -> None:
    dialogue = pop3()
    assert dialogue.next_action() == NeedData()
    dialogue.receive_data(b"+OK\r\n-ERR\r\n+OK go\r\n")
    assert dialogue.next_action() == Send(b"CAPA\r\n")
    assert dialogue.next_action() == Send(b"STLS\r\n")
    assert dialogue.next_action() == StartTls()
    assert stage_of(dialogue) is Stage.TLS_HANDSHAKE
    dialogue.tls_started()
    assert dialogue.next_action() == Send(b"CAPA\r\n")
    assert stage_of(dialogue) is Stage.CAPABILITIES_AFTER_TLS


# ---- chunking does not matter -------------------------------------------------------------------


def test_every_byte_boundary() -> None:
    whole = drive(pop3(), DOVECOT_CLEAR, DOVECOT_TLS)
    split = drive(pop3(), bytewise(DOVECOT_CLEAR), bytewise(DOVECOT_TLS))
    assert split.summary == whole.summary


@given(st.data())
def test_any_chunking_gives_the_same_outcome(data: st.DataObject) -> None:
    transcripts = [
        (DOVECOT_CLEAR, DOVECOT_TLS),
        (b"+OK\r\n+OK\r\n..X\r\nUSER\r\n.\r\n-ERR\r\n+OK\r\n", b""),
        (b"+OK\r\n-ERR\r\n+OK go\r\n+OK injected\r\n", DOVECOT_TLS),
        (b"-ERR busy\r\n", b""),
        (b"+OK\r\n+OK\r\n" + b"X" * 9000 + b"\r\n", b""),
    ]
    clear, tls = data.draw(st.sampled_from(transcripts))
    whole = drive(pop3(), clear, tls)
    split = drive(pop3(), data.draw(chunkings(clear)), data.draw(chunkings(tls)))
    assert split.summary == whole.summary
