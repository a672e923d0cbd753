"""The SMTP client dialogue against scripted server transcripts (no sockets)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.protocol_script import bytewise, chunkings, drive
from vedette.errors import NotProtocolError, ProtocolError, ServiceUnavailableError
from vedette.model import DialogueObservation, Service, Stage
from vedette.protocols import MailDialogue, NeedData, Send, StartTls
from vedette.protocols.registry import new_dialogue
from vedette.protocols.smtp import SmtpDialogue

# ---- transcripts -------------------------------------------------------------------------------

# Postfix 3.7 on Debian, submission port, smtpd_tls_auth_only = yes: AUTH appears only in TLS.
POSTFIX_CLEAR = (
    b"220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n"  # greeting
    # reply to EHLO: the server's name, then one keyword (+ parameters) per line
    b"250-mail.example.org\r\n"
    b"250-PIPELINING\r\n"
    b"250-SIZE 10240000\r\n"
    b"250-VRFY\r\n"
    b"250-ETRN\r\n"
    b"250-STARTTLS\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n"
    b"250-8BITMIME\r\n"
    b"250-DSN\r\n"
    b"250-SMTPUTF8\r\n"
    b"250 CHUNKING\r\n"  # "250 " with a space: last line
    b"220 2.0.0 Ready to start TLS\r\n"  # reply to STARTTLS
)
POSTFIX_TLS = (
    # reply to the second EHLO, inside TLS: now with AUTH
    b"250-mail.example.org\r\n"
    b"250-PIPELINING\r\n"
    b"250-SIZE 10240000\r\n"
    b"250-VRFY\r\n"
    b"250-ETRN\r\n"
    b"250-AUTH PLAIN LOGIN\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n"
    b"250-8BITMIME\r\n"
    b"250-DSN\r\n"
    b"250-SMTPUTF8\r\n"
    b"250 CHUNKING\r\n"
    b"221 2.0.0 Bye\r\n"  # reply to QUIT
)

POSTFIX_OBSERVATION = DialogueObservation(
    greeting=("220 mail.example.org ESMTP Postfix (Debian/GNU)",),
    capabilities_before_tls=(
        "250-mail.example.org",
        "250-PIPELINING",
        "250-SIZE 10240000",
        "250-VRFY",
        "250-ETRN",
        "250-STARTTLS",
        "250-ENHANCEDSTATUSCODES",
        "250-8BITMIME",
        "250-DSN",
        "250-SMTPUTF8",
        "250 CHUNKING",
    ),
    starttls_reply=("220 2.0.0 Ready to start TLS",),
    capabilities_after_tls=(
        "250-mail.example.org",
        "250-PIPELINING",
        "250-SIZE 10240000",
        "250-VRFY",
        "250-ETRN",
        "250-AUTH PLAIN LOGIN",
        "250-ENHANCEDSTATUSCODES",
        "250-8BITMIME",
        "250-DSN",
        "250-SMTPUTF8",
        "250 CHUNKING",
    ),
)

# Exchange 2016 front end on port 25: a bracketed client address on the first EHLO line,
# a bare multi-line greeting is not used, and STARTTLS answers "SMTP server ready".
EXCHANGE_CLEAR = (
    b"220 EXCH01.corp.example.com Microsoft ESMTP MAIL Service ready at "
    b"Tue, 4 Jun 2024 10:12:01 +0200\r\n"
    b"250-EXCH01.corp.example.com Hello [192.0.2.10]\r\n"
    b"250-SIZE 37748736\r\n"
    b"250-PIPELINING\r\n"
    b"250-DSN\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n"
    b"250-STARTTLS\r\n"
    b"250-X-ANONYMOUSTLS\r\n"
    b"250-AUTH NTLM\r\n"
    b"250-X-EXPS GSSAPI NTLM\r\n"
    b"250-8BITMIME\r\n"
    b"250-BINARYMIME\r\n"
    b"250-CHUNKING\r\n"
    b"250-SMTPUTF8\r\n"
    b"250 XRDST\r\n"
    b"220 2.0.0 SMTP server ready\r\n"
)
EXCHANGE_TLS = (
    b"250-EXCH01.corp.example.com Hello [192.0.2.10]\r\n"
    b"250-SIZE 37748736\r\n"
    b"250-AUTH NTLM LOGIN\r\n"
    b"250 XRDST\r\n"
    b"221 2.0.0 Service closing transmission channel\r\n"
)

EHLO = b"EHLO vedette.invalid\r\n"
FULL_CONVERSATION = (EHLO, b"STARTTLS\r\n", EHLO, b"QUIT\r\n")


def smtp(*, try_starttls: bool = True, service: Service = Service.SUBMISSION) -> SmtpDialogue:
    dialogue = new_dialogue(service, try_starttls=try_starttls)
    assert isinstance(dialogue, SmtpDialogue)
    return dialogue


def stage_of(dialogue: MailDialogue) -> Stage:
    # A function call, so that mypy does not narrow ``dialogue.stage`` across state changes.
    return dialogue.stage


# ---- normal flows ------------------------------------------------------------------------------


def test_postfix_starttls_flow() -> None:
    out = drive(smtp(), POSTFIX_CLEAR, POSTFIX_TLS)
    assert out.error is None
    assert out.sent == FULL_CONVERSATION
    assert out.tls_started
    assert out.observation == POSTFIX_OBSERVATION
    assert not out.closed_early
    assert out.stage is Stage.CLOSE


def test_exchange_starttls_flow() -> None:
    out = drive(smtp(service=Service.SMTP), EXCHANGE_CLEAR, EXCHANGE_TLS)
    assert out.error is None
    assert out.sent == FULL_CONVERSATION
    assert out.observation.greeting == (
        "220 EXCH01.corp.example.com Microsoft ESMTP MAIL Service ready at "
        "Tue, 4 Jun 2024 10:12:01 +0200",
    )
    assert out.observation.capabilities_before_tls is not None
    assert "250-X-ANONYMOUSTLS" in out.observation.capabilities_before_tls
    assert out.observation.capabilities_after_tls == (
        "250-EXCH01.corp.example.com Hello [192.0.2.10]",
        "250-SIZE 37748736",
        "250-AUTH NTLM LOGIN",
        "250 XRDST",
    )


def test_multiline_greeting_and_bare_code_lines() -> None:
    clear = (
        b"220-mx.example.net ESMTP\r\n"  # multi-line greeting: 220-, 220-, then 220 SP
        b"220-No UCE, no relaying\r\n"
        b"220 ready\r\n"
        b"250-mx.example.net\r\n"
        b"250\r\n"  # a bare code is a valid last line (RFC 5321 4.2: text is optional)
        b"454 4.7.0 TLS not available due to local problem\r\n"
        b"221 Bye\r\n"
    )
    out = drive(smtp(), clear)
    assert out.error is None
    assert out.observation.greeting == (
        "220-mx.example.net ESMTP",
        "220-No UCE, no relaying",
        "220 ready",
    )
    assert out.observation.capabilities_before_tls == ("250-mx.example.net", "250")


def test_bare_lf_line_endings_are_accepted() -> None:
    out = drive(smtp(try_starttls=False), b"220 mx\n250 mx\n221 bye\n")
    assert out.error is None
    assert out.observation.capabilities_before_tls == ("250 mx",)


def test_without_try_starttls_no_starttls_is_sent() -> None:
    out = drive(smtp(try_starttls=False), POSTFIX_CLEAR.split(b"220 2.0.0")[0] + b"221 Bye\r\n")
    assert out.sent == (EHLO, b"QUIT\r\n")
    assert out.observation.starttls_reply is None
    assert out.observation.capabilities_after_tls is None
    assert not out.tls_started


def test_implicit_tls_records_capabilities_after_tls_only() -> None:
    # Port 465: the driver did TLS before the first byte; no STARTTLS must be asked for.
    out = drive(
        smtp(service=Service.SMTPS), b"220 mail.example.org ESMTP Postfix\r\n" + POSTFIX_TLS
    )
    assert out.error is None
    assert out.sent == (EHLO, b"QUIT\r\n")
    assert not out.tls_started
    assert out.observation.capabilities_before_tls is None
    assert out.observation.starttls_reply is None
    assert out.observation.capabilities_after_tls == POSTFIX_OBSERVATION.capabilities_after_tls


def test_custom_ehlo_name() -> None:
    dialogue = new_dialogue(Service.SMTP, ehlo_name="scanner.example.org", try_starttls=False)
    assert dialogue.next_action() == NeedData()
    dialogue.receive_data(b"220 mx ESMTP\r\n")
    assert dialogue.next_action() == Send(b"EHLO scanner.example.org\r\n")


@pytest.mark.parametrize("name", ["", "two words", "evil\r\nMAIL FROM:<x>", "é.example", "a" * 256])
def test_ehlo_name_cannot_inject_commands(name: str) -> None:
    with pytest.raises(ValueError, match="EHLO name"):
        new_dialogue(Service.SMTP, ehlo_name=name)


# ---- refusals that are data ---------------------------------------------------------------------


def test_ehlo_refused_falls_back_to_helo() -> None:
    clear = (
        b"220 old.example.net SMTP ready\r\n"
        b"502 5.5.2 Error: command not recognized\r\n"  # reply to EHLO
        b"250 old.example.net\r\n"  # reply to HELO
        b"502 5.5.1 STARTTLS not implemented\r\n"  # reply to STARTTLS, tried anyway
        b"221 Bye\r\n"
    )
    out = drive(smtp(), clear)
    assert out.error is None
    assert out.sent == (EHLO, b"HELO vedette.invalid\r\n", b"STARTTLS\r\n", b"QUIT\r\n")
    assert out.observation.capabilities_before_tls == ()  # HELO carries no capabilities
    assert out.observation.starttls_reply == ("502 5.5.1 STARTTLS not implemented",)
    assert not out.tls_started


def test_ehlo_and_helo_refused_quits_without_starttls() -> None:
    clear = b"220 mx\r\n500 no\r\n500 no either\r\n221 Bye\r\n"
    out = drive(smtp(), clear)
    assert out.sent == (EHLO, b"HELO vedette.invalid\r\n", b"QUIT\r\n")
    assert out.observation.capabilities_before_tls == ()
    assert out.observation.starttls_reply is None


def test_starttls_sent_even_when_not_advertised_and_accepted() -> None:
    # The EHLO list lacks STARTTLS (stripped by a middlebox, or a quirky server), yet the
    # reply to STARTTLS is what tells whether TLS is there.
    clear = b"220 mx\r\n250-mx\r\n250 8BITMIME\r\n220 go ahead\r\n"
    out = drive(smtp(), clear, b"250-mx\r\n250 STARTTLS-IS-GONE\r\n221 bye\r\n")
    assert out.tls_started
    assert out.observation.starttls_reply == ("220 go ahead",)


def test_starttls_rejected_is_recorded_and_session_quits() -> None:
    clear = (
        b"220 mx ESMTP\r\n"
        b"250-mx\r\n"
        b"250 STARTTLS\r\n"
        b"454 4.7.0 TLS not available due to local problem\r\n"
        b"221 2.0.0 Bye\r\n"
    )
    out = drive(smtp(), clear)
    assert out.error is None
    assert out.sent == (EHLO, b"STARTTLS\r\n", b"QUIT\r\n")
    assert out.observation.starttls_reply == ("454 4.7.0 TLS not available due to local problem",)
    assert out.observation.capabilities_after_tls is None
    assert not out.tls_started
    assert not out.closed_early


def test_ehlo_refused_inside_tls_is_recorded_empty() -> None:
    out = drive(smtp(), b"220 mx\r\n250 mx\r\n220 go\r\n", b"550 no\r\n221 bye\r\n")
    assert out.observation.capabilities_after_tls == ()
    assert out.sent == FULL_CONVERSATION


# ---- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "greeting",
    [
        b"421 4.3.2 Service not available, closing transmission channel\r\n",
        b"554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"
        b"\r\n",
        b"554-mx.example.net\r\n554 No SMTP service here\r\n",
        b"450 try later\r\n",
    ],
)
def test_refusing_greeting_is_service_unavailable(greeting: bytes) -> None:
    out = drive(smtp(), greeting)
    assert isinstance(out.error, ServiceUnavailableError)
    assert out.observation.greeting == tuple(greeting.decode().splitlines())
    assert out.sent == ()
    assert out.stage is Stage.GREETING


@pytest.mark.parametrize(
    "first_bytes",
    [
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",  # a web server
        b"\x15\x03\x01\x00\x02\x02\x46",  # a TLS alert: the port wants implicit TLS
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
        b"* OK IMAP4rev1 ready\r\n",  # the wrong mail protocol
        b"+OK POP3 ready\r\n",
        b"200 news.example.net NNTP ready\r\n",  # 3 digits, but not an SMTP greeting code
        b"22\r\n",
        b"2200 too many digits\r\n",
    ],
)
def test_not_smtp(first_bytes: bytes) -> None:
    out = drive(smtp(), first_bytes)
    assert isinstance(out.error, NotProtocolError)
    assert out.sent == ()


def test_binary_garbage_without_newline_is_named_at_once() -> None:
    dialogue = smtp()
    dialogue.next_action()
    dialogue.receive_data(b"\x00\x01")  # no line end, and no end of file either
    with pytest.raises(NotProtocolError):
        dialogue.next_action()


@pytest.mark.parametrize(
    ("clear", "stage"),
    [
        (b"220 mx\r\n250-mx\r\n251 PIPELINING\r\n", Stage.CAPABILITIES),  # codes disagree
        (b"220-mx\r\n221 other code\r\n", Stage.GREETING),
        (b"220 mx\r\n250-mx\r\nPIPELINING\r\n", Stage.CAPABILITIES),  # no code at all
        (b"220 mx\r\n250_mx\r\n", Stage.CAPABILITIES),  # bad separator
        (b"220 mx\r\n250 mx\r\n\r\n", Stage.STARTTLS),  # empty line
    ],
)
def test_malformed_replies_are_protocol_errors(clear: bytes, stage: Stage) -> None:
    out = drive(smtp(), clear)
    assert type(out.error) is ProtocolError
    assert not out.error.too_large
    assert out.stage is stage


def test_endless_line_is_too_large() -> None:
    out = drive(smtp(), [b"220 mx\r\n", b"250-" + b"A" * 9000])
    assert isinstance(out.error, ProtocolError)
    assert out.error.too_large
    assert out.stage is Stage.CAPABILITIES


def test_endless_greeting_line_is_too_large() -> None:
    out = drive(smtp(), [b"220 " + b"A" * 5000, b"A" * 5000])
    assert isinstance(out.error, ProtocolError)
    assert out.error.too_large


def test_too_many_reply_lines_is_too_large() -> None:
    clear = b"220 mx\r\n" + b"250-X\r\n" * 300 + b"250 end\r\n"
    out = drive(smtp(), clear)
    assert isinstance(out.error, ProtocolError)
    assert out.error.too_large
    assert out.observation.capabilities_before_tls is None


# ---- end of file -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clear", "tls", "stage", "caps_before"),
    [
        (b"", b"", Stage.GREETING, None),
        (b"220-mx\r\n", b"", Stage.GREETING, None),  # cut inside the greeting
        (b"220 mx\r\n", b"", Stage.CAPABILITIES, None),
        (b"220 mx\r\n250-mx\r\n250-STARTT", b"", Stage.CAPABILITIES, None),  # mid-reply
        (b"220 mx\r\n250 mx\r\n", b"", Stage.STARTTLS, ("250 mx",)),
        (b"220 mx\r\n250 mx\r\n220 go\r\n", b"", Stage.CAPABILITIES_AFTER_TLS, ("250 mx",)),
    ],
)
def test_eof_before_quit_is_closed_early(
    clear: bytes, tls: bytes, stage: Stage, caps_before: tuple[str, ...] | None
) -> None:
    out = drive(smtp(), clear, tls)
    assert out.error is None
    assert out.closed_early
    assert out.stage is stage
    # Only complete replies are kept: a cut reply is not recorded half.
    assert out.observation.capabilities_before_tls == caps_before


def test_eof_instead_of_quit_reply_is_a_normal_end() -> None:
    out = drive(smtp(), b"220 mx\r\n250 mx\r\n220 go\r\n", b"250 mx\r\n")  # no 221
    assert out.error is None
    assert not out.closed_early
    assert out.stage is Stage.CLOSE
    assert out.sent == FULL_CONVERSATION


def test_garbage_after_quit_does_not_fail_the_probe() -> None:
    out = drive(smtp(try_starttls=False), b"220 mx\r\n250 mx\r\n\x00garbage\r\n")
    assert out.error is None
    assert not out.closed_early


# ---- STARTTLS injection ------------------------------------------------------------------------


def test_bytes_after_starttls_go_ahead_are_discarded() -> None:
    # An attacker in the middle appends a fake EHLO reply to the "220 ready" in the same packet,
    # hoping the client reads it as coming from inside TLS (a capability list without AUTH
    # restrictions, or anything). It must be thrown away.
    injected = (
        b"220 mx\r\n"
        b"250 mx\r\n"
        b"220 2.0.0 Ready to start TLS\r\n"  # reply to STARTTLS ...
        b"250-evil.example\r\n250 AUTH PLAIN\r\n"  # ... plus injected, in the same read
    )
    out = drive(smtp(), [injected, b"221 more injected\r\n"], POSTFIX_TLS)
    assert out.error is None
    assert out.observation.capabilities_after_tls == POSTFIX_OBSERVATION.capabilities_after_tls
    assert not any("evil" in line for line in out.observation.capabilities_after_tls or ())


def test_data_fed_while_waiting_for_tls_is_ignored() -> None:
    dialogue = smtp()
    dialogue.next_action()
    dialogue.receive_data(b"220 mx\r\n")
    assert dialogue.next_action() == Send(EHLO)
    assert dialogue.next_action() == NeedData()
    dialogue.receive_data(b"250 mx\r\n")
    assert dialogue.next_action() == Send(b"STARTTLS\r\n")
    assert dialogue.next_action() == NeedData()
    dialogue.receive_data(b"220 go\r\n")
    assert dialogue.next_action() == StartTls()
    assert stage_of(dialogue) is Stage.TLS_HANDSHAKE
    dialogue.receive_data(b"250 injected\r\n")
    dialogue.receive_data(b"")  # an EOF in clear does not end the TLS stream either
    assert dialogue.next_action() == StartTls()  # still waiting for the handshake
    dialogue.tls_started()
    assert dialogue.next_action() == Send(EHLO)
    assert stage_of(dialogue) is Stage.CAPABILITIES_AFTER_TLS
    assert dialogue.next_action() == NeedData()


def test_tls_started_without_request_is_a_driver_bug() -> None:
    with pytest.raises(RuntimeError):
        smtp().tls_started()


# ---- chunking does not matter -------------------------------------------------------------------


def test_every_byte_boundary() -> None:
    whole = drive(smtp(), POSTFIX_CLEAR, POSTFIX_TLS)
    split = drive(smtp(), bytewise(POSTFIX_CLEAR), bytewise(POSTFIX_TLS))
    assert split.summary == whole.summary


@given(st.data())
def test_any_chunking_gives_the_same_outcome(data: st.DataObject) -> None:
    transcripts = [
        (POSTFIX_CLEAR, POSTFIX_TLS),
        (EXCHANGE_CLEAR, EXCHANGE_TLS),
        (b"220 mx\r\n502 no\r\n250 mx\r\n454 no TLS\r\n221 bye\r\n", b""),
        (b"220 mx\r\n250-mx\r\n251 x\r\n", b""),  # an error: the same error in every chunking
        (b"220 mx\r\n250-" + b"A" * 9000 + b"\r\n", b""),
        (b"220 mx\r\n250 mx\r\n220 go\r\n250 injected\r\n", POSTFIX_TLS),
    ]
    clear, tls = data.draw(st.sampled_from(transcripts))
    whole = drive(smtp(), clear, tls)
    split = drive(smtp(), data.draw(chunkings(clear)), data.draw(chunkings(tls)))
    assert split.summary == whole.summary
