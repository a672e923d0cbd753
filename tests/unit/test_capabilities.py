"""Capability parsing and cleartext-password exposure on real servers' capability replies."""

from __future__ import annotations

import pytest

from tests.unit.protocol_script import drive
from vedette.model import Protocol, Service
from vedette.protocols.capabilities import Capabilities
from vedette.protocols.registry import (
    new_dialogue,
    parse_capabilities,
    plaintext_password_mechanisms,
)

# ---- IMAP: Dovecot with and without disable_plaintext_auth -----------------------------------

DOVECOT_IMAP_PLAINTEXT_ALLOWED = (
    "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN",
    "a1 OK Pre-login capabilities listed, post-login capabilities have more.",
)
DOVECOT_IMAP_PLAINTEXT_DISABLED = (
    "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED",
    "a1 OK Pre-login capabilities listed, post-login capabilities have more.",
)


def test_imap_dovecot_plaintext_allowed() -> None:
    caps = parse_capabilities(Protocol.IMAP, DOVECOT_IMAP_PLAINTEXT_ALLOWED)
    assert caps == Capabilities(
        names=frozenset(
            {
                "IMAP4REV1",
                "SASL-IR",
                "LOGIN-REFERRALS",
                "ID",
                "ENABLE",
                "IDLE",
                "LITERAL+",
                "STARTTLS",
                "AUTH=PLAIN",
            }
        ),
        starttls=True,
        sasl=frozenset({"PLAIN"}),
        login_disabled=False,
    )
    # Both the LOGIN command and SASL PLAIN would carry the password in clear.
    assert plaintext_password_mechanisms(Protocol.IMAP, caps) == {"LOGIN", "PLAIN"}


def test_imap_dovecot_login_disabled() -> None:
    caps = parse_capabilities(Protocol.IMAP, DOVECOT_IMAP_PLAINTEXT_DISABLED)
    assert caps.starttls
    assert caps.login_disabled
    assert caps.sasl == frozenset()
    assert plaintext_password_mechanisms(Protocol.IMAP, caps) == frozenset()


def test_imap_capability_response_code_in_greeting_and_tagged_ok() -> None:
    greeting = (
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
        "LOGINDISABLED] Dovecot (Debian) ready.",
    )
    caps = parse_capabilities(Protocol.IMAP, greeting)
    assert caps.login_disabled
    assert caps.starttls
    tagged = ("a1 OK [CAPABILITY IMAP4rev1 AUTH=SCRAM-SHA-256 AUTH=XOAUTH2] done",)
    caps = parse_capabilities(Protocol.IMAP, tagged)
    assert caps.sasl == {"SCRAM-SHA-256", "XOAUTH2"}
    # Challenge-response and bearer-token mechanisms are not cleartext passwords; the LOGIN
    # command still is, since LOGINDISABLED is absent.
    assert plaintext_password_mechanisms(Protocol.IMAP, caps) == {"LOGIN"}


def test_imap_exchange_online() -> None:
    caps = parse_capabilities(
        Protocol.IMAP,
        (
            "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT "
            "CHILDREN IDLE NAMESPACE LITERAL+",
            "a1 OK CAPABILITY completed.",
        ),
    )
    assert not caps.starttls
    assert caps.sasl == {"PLAIN", "XOAUTH2"}


def test_imap_capability_refused() -> None:
    caps = parse_capabilities(Protocol.IMAP, ("a1 BAD unknown command",))
    assert caps == Capabilities()


# ---- SMTP: Postfix with and without AUTH -------------------------------------------------------

POSTFIX_WITHOUT_AUTH = (
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
)
POSTFIX_WITH_AUTH = (
    "250-mail.example.org",
    "250-PIPELINING",
    "250-SIZE 10240000",
    "250-STARTTLS",
    "250-AUTH PLAIN LOGIN",
    "250-AUTH=PLAIN LOGIN",  # broken_sasl_auth_clients = yes: the pre-RFC form as well
    "250-ENHANCEDSTATUSCODES",
    "250 8BITMIME",
)


def test_smtp_postfix_without_auth() -> None:
    caps = parse_capabilities(Protocol.SMTP, POSTFIX_WITHOUT_AUTH)
    assert caps.names == {
        "PIPELINING",
        "SIZE",
        "VRFY",
        "ETRN",
        "STARTTLS",
        "ENHANCEDSTATUSCODES",
        "8BITMIME",
        "DSN",
        "SMTPUTF8",
        "CHUNKING",
    }
    assert "MAIL.EXAMPLE.ORG" not in caps.names  # the first line is the server's name
    assert caps.starttls
    assert caps.sasl == frozenset()
    assert plaintext_password_mechanisms(Protocol.SMTP, caps) == frozenset()


def test_smtp_postfix_with_auth() -> None:
    caps = parse_capabilities(Protocol.SMTP, POSTFIX_WITH_AUTH)
    assert "AUTH" in caps.names
    assert caps.sasl == {"PLAIN", "LOGIN"}
    assert plaintext_password_mechanisms(Protocol.SMTP, caps) == {"PLAIN", "LOGIN"}


def test_smtp_old_auth_form_alone() -> None:
    caps = parse_capabilities(Protocol.SMTP, ("250-mx", "250 AUTH=LOGIN"))
    assert caps.names == {"AUTH"}
    assert caps.sasl == {"LOGIN"}


def test_smtp_exchange_ntlm_only_is_not_cleartext() -> None:
    caps = parse_capabilities(
        Protocol.SMTP,
        ("250-EXCH01 Hello [192.0.2.10]", "250-STARTTLS", "250-AUTH NTLM", "250 XRDST"),
    )
    assert caps.sasl == {"NTLM"}
    assert plaintext_password_mechanisms(Protocol.SMTP, caps) == frozenset()


def test_smtp_single_line_and_refused_replies() -> None:
    assert parse_capabilities(Protocol.SMTP, ("250 mx.example.org",)) == Capabilities()
    assert parse_capabilities(Protocol.SMTP, ()) == Capabilities()
    assert parse_capabilities(Protocol.SMTP, ("502 5.5.2 no",)) == Capabilities()


def test_smtp_lower_case_keywords_are_upper_cased() -> None:
    caps = parse_capabilities(Protocol.SMTP, ("250-mx", "250-starttls", "250 auth cram-md5 plain"))
    assert caps.starttls
    assert caps.sasl == {"CRAM-MD5", "PLAIN"}
    assert plaintext_password_mechanisms(Protocol.SMTP, caps) == {"PLAIN"}


# ---- POP3 --------------------------------------------------------------------------------------


def test_pop3_user_and_sasl_plain() -> None:
    lines = ("+OK", "CAPA", "TOP", "UIDL", "RESP-CODES", "STLS", "USER", "SASL PLAIN")
    caps = parse_capabilities(Protocol.POP3, lines)
    assert caps.starttls
    assert caps.user_command
    assert caps.sasl == {"PLAIN"}
    assert caps.names == {"CAPA", "TOP", "UIDL", "RESP-CODES", "STLS", "USER", "SASL"}
    assert plaintext_password_mechanisms(Protocol.POP3, caps) == {"USER", "PLAIN"}


def test_pop3_dovecot_plaintext_disabled() -> None:
    caps = parse_capabilities(Protocol.POP3, ("+OK", "CAPA", "TOP", "STLS", "SASL"))
    assert caps.starttls
    assert not caps.user_command
    assert caps.sasl == frozenset()
    assert plaintext_password_mechanisms(Protocol.POP3, caps) == frozenset()


def test_pop3_capa_refused_or_missing() -> None:
    assert parse_capabilities(Protocol.POP3, ()) == Capabilities()
    assert parse_capabilities(Protocol.POP3, ("-ERR unknown command",)) == Capabilities()


def test_pop3_apop_and_cram_are_not_cleartext() -> None:
    caps = parse_capabilities(Protocol.POP3, ("+OK", "SASL CRAM-MD5 SCRAM-SHA-1", "APOP"))
    assert plaintext_password_mechanisms(Protocol.POP3, caps) == frozenset()


# ---- tolerance and round trip with the dialogues ----------------------------------------------


@pytest.mark.parametrize("protocol", [Protocol.SMTP, Protocol.IMAP, Protocol.POP3])
def test_garbage_lines_never_raise(protocol: Protocol) -> None:
    lines = ("", "\x00\xff", "250", "* CAPABILITY", "a1 OK [CAPABILITY", "+OK", ".", "   ")
    assert isinstance(parse_capabilities(protocol, lines), Capabilities)


def test_http_has_no_capability_syntax() -> None:
    with pytest.raises(ValueError, match="no capability syntax"):
        parse_capabilities(Protocol.HTTP, ())


def test_parses_what_the_dialogue_stores() -> None:
    clear = (
        b"* OK ready\r\n"
        b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN AUTH=LOGIN\r\n"
        b"a1 OK done\r\n"
        b"a2 NO TLS unavailable\r\n"
        b"a3 OK bye\r\n"
    )
    out = drive(new_dialogue(Service.IMAP), clear)
    assert out.observation.capabilities_before_tls is not None
    caps = parse_capabilities(Protocol.IMAP, out.observation.capabilities_before_tls)
    assert plaintext_password_mechanisms(Protocol.IMAP, caps) == {"LOGIN", "PLAIN"}
