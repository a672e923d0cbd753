"""The IMAP client dialogue against scripted server transcripts (no sockets)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.protocol_script import bytewise, chunkings, drive
from vedette.errors import NotProtocolError, ProtocolError, ServiceUnavailableError
from vedette.model import DialogueObservation, Service, Stage
from vedette.protocols import NeedData, Send, StartTls
from vedette.protocols.imap import ImapDialogue
from vedette.protocols.registry import new_dialogue

# ---- transcripts -------------------------------------------------------------------------------

# Dovecot 2.3 on Debian, port 143, disable_plaintext_auth = yes (the default): LOGINDISABLED
# and no AUTH= before TLS; AUTH=PLAIN inside TLS.
DOVECOT_GREETING = (
    b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
    b"LOGINDISABLED] Dovecot (Debian) ready.\r\n"
)
DOVECOT_CLEAR = (
    DOVECOT_GREETING
    # reply to "a1 CAPABILITY": untagged data, then the tagged completion
    + b"* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
    b"LOGINDISABLED\r\n"
    b"a1 OK Pre-login capabilities listed, post-login capabilities have more.\r\n"
    b"a2 OK Begin TLS negotiation now.\r\n"  # reply to "a2 STARTTLS"
)
DOVECOT_TLS = (
    # reply to "a3 CAPABILITY", inside TLS
    b"* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN\r\n"
    b"a3 OK Pre-login capabilities listed, post-login capabilities have more.\r\n"
    # reply to "a4 LOGOUT"
    b"* BYE Logging out\r\n"
    b"a4 OK Logout completed.\r\n"
)
DOVECOT_OBSERVATION = DialogueObservation(
    greeting=(
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
        "LOGINDISABLED] Dovecot (Debian) ready.",
    ),
    capabilities_before_tls=(
        "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
        "LOGINDISABLED",
        "a1 OK Pre-login capabilities listed, post-login capabilities have more.",
    ),
    starttls_reply=("a2 OK Begin TLS negotiation now.",),
    capabilities_after_tls=(
        "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN",
        "a3 OK Pre-login capabilities listed, post-login capabilities have more.",
    ),
)

# Exchange Online on 993 (implicit TLS): no capability code in the greeting, a long opaque
# server id in brackets, and the tagged completion in upper case.
EXCHANGE_IMPLICIT = (
    b"* OK The Microsoft Exchange IMAP4 service is ready. "
    b"[TQBOADIAUABSADAANABDAEEAMAAwADEAMgAuAG4AYQBtAHAAcgBkADAANAAuAHAAcgBvAGQA]\r\n"
    b"* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT "
    b"CHILDREN IDLE NAMESPACE LITERAL+\r\n"
    b"a1 OK CAPABILITY completed.\r\n"
    b"* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n"
    b"a2 OK LOGOUT completed.\r\n"
)

CAP, STLS = b"a1 CAPABILITY\r\n", b"a2 STARTTLS\r\n"
FULL_CONVERSATION = (CAP, STLS, b"a3 CAPABILITY\r\n", b"a4 LOGOUT\r\n")


def imap(*, try_starttls: bool = True, service: Service = Service.IMAP) -> ImapDialogue:
    dialogue = new_dialogue(service, try_starttls=try_starttls)
    assert isinstance(dialogue, ImapDialogue)
    return dialogue


# ---- normal flows ------------------------------------------------------------------------------


def test_dovecot_starttls_flow() -> None:
    out = drive(imap(), DOVECOT_CLEAR, DOVECOT_TLS)
    assert out.error is None
    assert out.sent == FULL_CONVERSATION
    assert out.tls_started
    assert out.observation == DOVECOT_OBSERVATION
    assert not out.closed_early
    assert out.stage is Stage.CLOSE


def test_exchange_implicit_tls() -> None:
    out = drive(imap(service=Service.IMAPS), EXCHANGE_IMPLICIT)
    assert out.error is None
    assert out.sent == (CAP, b"a2 LOGOUT\r\n")
    assert not out.tls_started
    assert out.observation.capabilities_before_tls is None
    assert out.observation.starttls_reply is None
    assert out.observation.capabilities_after_tls == (
        "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT "
        "CHILDREN IDLE NAMESPACE LITERAL+",
        "a1 OK CAPABILITY completed.",
    )


def test_unsolicited_untagged_lines_belong_to_the_reply() -> None:
    clear = (
        b"* OK ready\r\n"
        b"* OK [ALERT] System shutdown in 10 minutes\r\n"  # unsolicited, allowed any time
        b"* CAPABILITY IMAP4rev1 STARTTLS\r\n"
        b"a1 OK done\r\n"
    )
    out = drive(imap(try_starttls=False), clear + b"a2 OK bye\r\n")
    assert out.observation.capabilities_before_tls == (
        "* OK [ALERT] System shutdown in 10 minutes",
        "* CAPABILITY IMAP4rev1 STARTTLS",
        "a1 OK done",
    )


def test_status_text_ending_in_braces_is_not_a_literal() -> None:
    # "{5}" at the end of an OK's text is just text: status responses cannot carry literals.
    clear = b"* OK ready {5}\r\n* CAPABILITY IMAP4rev1\r\na1 OK done {12}\r\na2 OK bye\r\n"
    out = drive(imap(try_starttls=False), clear)
    assert out.error is None
    assert out.observation.greeting == ("* OK ready {5}",)


def test_preauth_greeting_proceeds_and_records_starttls_refusal() -> None:
    clear = (
        b"* PREAUTH IMAP4rev1 server logged in as tunnel\r\n"
        b"* CAPABILITY IMAP4rev1 STARTTLS\r\n"
        b"a1 OK done\r\n"
        b"a2 BAD STARTTLS not allowed in authenticated state\r\n"
        b"* BYE\r\na3 OK\r\n"
    )
    out = drive(imap(), clear)
    assert out.error is None
    assert out.sent == (CAP, STLS, b"a3 LOGOUT\r\n")
    assert out.observation.starttls_reply == ("a2 BAD STARTTLS not allowed in authenticated state",)


def test_lower_case_status_and_tag_are_accepted() -> None:
    out = drive(imap(try_starttls=False), b"* ok hi\r\n* capability imap4rev1\r\nA1 ok\r\n")
    assert out.error is None
    assert out.observation.capabilities_before_tls == ("* capability imap4rev1", "A1 ok")


# ---- refusals that are data ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [b"NO", b"BAD"])
def test_capability_refused_records_what_was_received(status: bytes) -> None:
    clear = b"* OK ready\r\n* OK still here\r\na1 " + status + b" not now\r\n"
    out = drive(imap(try_starttls=False), clear + b"a2 OK\r\n")
    assert out.error is None
    assert out.observation.capabilities_before_tls == (
        "* OK still here",
        "a1 " + status.decode() + " not now",
    )


def test_starttls_rejected_is_recorded_and_session_logs_out() -> None:
    clear = (
        b"* OK IMAP4rev1 Service Ready\r\n"
        b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"
        b"a1 OK CAPABILITY completed\r\n"
        b"a2 BAD Command received in Invalid state.\r\n"  # Exchange without a certificate
        b"* BYE\r\n"
        b"a3 OK LOGOUT completed.\r\n"
    )
    out = drive(imap(), clear)
    assert out.error is None
    assert out.sent == (CAP, STLS, b"a3 LOGOUT\r\n")
    assert out.observation.starttls_reply == ("a2 BAD Command received in Invalid state.",)
    assert out.observation.capabilities_after_tls is None
    assert not out.tls_started
    assert not out.closed_early


# ---- errors ------------------------------------------------------------------------------------


def test_bye_greeting_is_service_unavailable() -> None:
    out = drive(imap(), b"* BYE Too many connections from your IP\r\n")
    assert isinstance(out.error, ServiceUnavailableError)
    assert out.observation.greeting == ("* BYE Too many connections from your IP",)
    assert out.sent == ()


@pytest.mark.parametrize(
    "first_bytes",
    [
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        b"\x16\x03\x03\x00\x5a\x02\x00\x00\x56",  # a TLS ServerHello
        b"220 mx.example.org ESMTP\r\n",
        b"+OK POP3 ready\r\n",
        b"* NO go away\r\n",  # NO is not a greeting
        b"* CAPABILITY IMAP4rev1\r\n",
        b"a1 OK\r\n",
    ],
)
def test_not_imap(first_bytes: bytes) -> None:
    out = drive(imap(), first_bytes)
    assert isinstance(out.error, NotProtocolError)
    assert out.sent == ()


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (b"+ go ahead\r\n", "continuation request"),
        (b"a9 OK wrong tag\r\n", "another tag"),
        (b"a1 MAYBE\r\n", "unknown status"),
        (b"a1\r\n", "no status"),
        (b"hello\r\n", "no tag"),
        (b"* 1 FETCH (BODY[] {5}\r\nhello)\r\n", "literal"),
        (b'* ID ("name" {7}\r\n', "literal"),
        (b'* LIST () "/" ~{3}\r\n', "literal8"),
    ],
)
def test_malformed_replies_are_protocol_errors(reply: bytes, why: str) -> None:
    out = drive(imap(), b"* OK ready\r\n" + reply + b"a1 OK\r\n")
    assert type(out.error) is ProtocolError, why
    assert out.stage is Stage.CAPABILITIES
    assert out.observation.capabilities_before_tls is None


def test_endless_line_is_too_large() -> None:
    out = drive(imap(), [b"* OK ready\r\n", b"* CAPABILITY " + b"X" * 9000])
    assert isinstance(out.error, ProtocolError)
    assert out.error.too_large


def test_endless_untagged_stream_is_too_large() -> None:
    out = drive(imap(), b"* OK ready\r\n" + b"* OK chatter\r\n" * 300 + b"a1 OK\r\n")
    assert isinstance(out.error, ProtocolError)
    assert out.error.too_large


# ---- end of file -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clear", "tls", "stage"),
    [
        (b"", b"", Stage.GREETING),
        (b"* OK rea", b"", Stage.GREETING),
        (b"* OK ready\r\n", b"", Stage.CAPABILITIES),
        (b"* OK ready\r\n* CAPABILITY IMAP4rev1\r\n", b"", Stage.CAPABILITIES),
        (b"* OK ready\r\n* CAPABILITY IMAP4rev1\r\na1 OK\r\n", b"", Stage.STARTTLS),
        (b"* OK ready\r\na1 OK\r\na2 OK\r\n", b"", Stage.CAPABILITIES_AFTER_TLS),
        (b"* OK ready\r\na1 OK\r\na2 OK\r\n", b"* CAPABILITY X\r\n", Stage.CAPABILITIES_AFTER_TLS),
    ],
)
def test_eof_before_logout_is_closed_early(clear: bytes, tls: bytes, stage: Stage) -> None:
    out = drive(imap(), clear, tls)
    assert out.error is None
    assert out.closed_early
    assert out.stage is stage


def test_eof_after_logout_is_a_normal_end() -> None:
    out = drive(imap(), DOVECOT_CLEAR, DOVECOT_TLS.split(b"* BYE")[0])
    assert out.error is None
    assert not out.closed_early
    assert out.observation == DOVECOT_OBSERVATION


# ---- STARTTLS injection ------------------------------------------------------------------------


def test_bytes_after_starttls_ok_are_discarded() -> None:
    injected = (
        b"* OK ready\r\n"
        b"a1 OK\r\n"
        b"a2 OK Begin TLS negotiation now.\r\n"  # reply to STARTTLS ...
        b"* CAPABILITY IMAP4rev1 AUTH=PLAIN EVIL\r\na3 OK\r\n"  # ... and an injected answer
    )
    out = drive(imap(), injected, DOVECOT_TLS)
    assert out.error is None
    assert out.observation.capabilities_after_tls == DOVECOT_OBSERVATION.capabilities_after_tls


def test_waits_for_the_handshake() -> None:
    dialogue = imap()
    dialogue.next_action()
    dialogue.receive_data(b"* OK ready\r\na1 OK\r\na2 OK go\r\n")
    assert dialogue.next_action() == Send(CAP)
    assert dialogue.next_action() == Send(STLS)
    assert dialogue.next_action() == StartTls()
    dialogue.receive_data(b"a3 OK injected\r\n")
    assert dialogue.next_action() == StartTls()
    dialogue.tls_started()
    assert dialogue.next_action() == Send(b"a3 CAPABILITY\r\n")
    assert dialogue.next_action() == NeedData()


# ---- chunking does not matter -------------------------------------------------------------------


def test_every_byte_boundary() -> None:
    whole = drive(imap(), DOVECOT_CLEAR, DOVECOT_TLS)
    split = drive(imap(), bytewise(DOVECOT_CLEAR), bytewise(DOVECOT_TLS))
    assert split.summary == whole.summary


@given(st.data())
def test_any_chunking_gives_the_same_outcome(data: st.DataObject) -> None:
    transcripts = [
        (Service.IMAP, DOVECOT_CLEAR, DOVECOT_TLS),
        (Service.IMAPS, EXCHANGE_IMPLICIT, b""),
        (Service.IMAP, b"* OK ready\r\n* 1 FETCH {5}\r\nhello\r\n", b""),
        (Service.IMAP, b"* OK ready\r\na1 NO\r\na2 BAD\r\n* BYE\r\n", b""),
        (Service.IMAP, b"* BYE busy\r\n", b""),
    ]
    service, clear, tls = data.draw(st.sampled_from(transcripts))
    whole = drive(imap(service=service), clear, tls)
    split = drive(imap(service=service), data.draw(chunkings(clear)), data.draw(chunkings(tls)))
    assert split.summary == whole.summary
