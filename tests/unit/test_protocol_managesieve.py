"""The ManageSieve client dialogue and capability parser against scripted server bytes.

The Dovecot transcripts are what Dovecot 2.3.19 / Pigeonhole (Debian 12, dovecot-managesieved)
sent on 127.0.0.1:4190, captured byte for byte, with ``disable_plaintext_auth = no`` and
``= yes``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from tests.unit.protocol_script import bytewise, chunkings, drive
from vedette.errors import NotProtocolError, ProtocolError, ServiceUnavailableError
from vedette.model import DialogueObservation, Endpoint, Protocol, Service, Stage
from vedette.protocols import NeedData, Send
from vedette.protocols._base import MAX_LINE
from vedette.protocols.managesieve import (
    MAX_LITERAL,
    ManageSieveDialogue,
    parse_sieve_capabilities,
)
from vedette.protocols.registry import (
    DialogueSettings,
    entry,
    new_dialogue,
    parse_capabilities,
    plaintext_password_mechanisms,
)

# ---- transcripts --------------------------------------------------------------------------------

_SIEVE_EXTENSIONS = (
    b'"SIEVE" "fileinto reject envelope encoded-character vacation subaddress '
    b"comparator-i;ascii-numeric relational regex imap4flags copy include variables body "
    b'enotify environment mailbox date index ihave duplicate mime foreverypart extracttext"\r\n'
)
# disable_plaintext_auth = no: PLAIN and LOGIN offered in clear.
DOVECOT_OPEN_CLEAR = (
    b'"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"\r\n'
    + _SIEVE_EXTENSIONS
    + b'"NOTIFY" "mailto"\r\n'
    b'"SASL" "PLAIN LOGIN"\r\n'
    b'"STARTTLS"\r\n'
    b'"VERSION" "1.0"\r\n'
    b'OK "Dovecot (Debian) ready."\r\n'
    b'OK "Begin TLS negotiation now."\r\n'  # reply to STARTTLS
)
# disable_plaintext_auth = yes: no mechanism before TLS ("SASL" with an empty value).
DOVECOT_CLOSED_CLEAR = DOVECOT_OPEN_CLEAR.replace(b'"SASL" "PLAIN LOGIN"', b'"SASL" ""')
# Inside TLS (both settings): the capabilities again, unasked, without STARTTLS.
DOVECOT_TLS = (
    b'"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"\r\n'
    + _SIEVE_EXTENSIONS
    + b'"NOTIFY" "mailto"\r\n'
    b'"SASL" "PLAIN LOGIN"\r\n'
    b'"VERSION" "1.0"\r\n'
    b'OK "TLS negotiation successful."\r\n'
    b'OK "Logout completed."\r\n'  # reply to LOGOUT
)


def _lines(data: bytes) -> tuple[str, ...]:
    return tuple(data.decode("latin-1").split("\r\n")[:-1])


DOVECOT_OPEN_OBSERVATION = DialogueObservation(
    greeting=('OK "Dovecot (Debian) ready."',),
    capabilities_before_tls=_lines(DOVECOT_OPEN_CLEAR)[:-1],
    starttls_reply=('OK "Begin TLS negotiation now."',),
    capabilities_after_tls=_lines(DOVECOT_TLS)[:-1],
)


def sieve(*, try_starttls: bool = True) -> ManageSieveDialogue:
    dialogue = new_dialogue(Service.SIEVE, try_starttls=try_starttls)
    assert isinstance(dialogue, ManageSieveDialogue)
    return dialogue


def caps(lines: tuple[str, ...] | None) -> frozenset[str]:
    """The password mechanisms a stored capability response offers."""
    assert lines is not None
    parsed = parse_capabilities(Protocol.MANAGESIEVE, lines)
    return plaintext_password_mechanisms(Protocol.MANAGESIEVE, parsed)


# ---- normal flows -------------------------------------------------------------------------------


def test_dovecot_starttls_flow_records_both_capability_lists() -> None:
    out = drive(sieve(), DOVECOT_OPEN_CLEAR, DOVECOT_TLS)
    assert out.error is None
    # The server speaks first, before and after TLS: vedette only asks for TLS and leaves.
    assert out.sent == (b"STARTTLS\r\n", b"LOGOUT\r\n")
    assert out.tls_started
    assert out.observation == DOVECOT_OPEN_OBSERVATION
    assert not out.closed_early
    assert out.stage is Stage.CLOSE


def test_dovecot_capabilities_say_whether_a_password_may_cross_in_clear() -> None:
    open_ = drive(sieve(), DOVECOT_OPEN_CLEAR, DOVECOT_TLS).observation
    closed = drive(sieve(), DOVECOT_CLOSED_CLEAR, DOVECOT_TLS).observation
    before = parse_capabilities(Protocol.MANAGESIEVE, open_.capabilities_before_tls or ())
    assert before.starttls
    assert before.names == {"IMPLEMENTATION", "SIEVE", "NOTIFY", "SASL", "STARTTLS", "VERSION"}
    assert caps(open_.capabilities_before_tls) == {"PLAIN", "LOGIN"}
    assert caps(closed.capabilities_before_tls) == frozenset()
    assert closed.capabilities_before_tls is not None
    assert '"SASL" ""' in closed.capabilities_before_tls
    # Inside TLS both servers offer PLAIN; STARTTLS is no longer listed (RFC 5804 2.2).
    after = parse_capabilities(Protocol.MANAGESIEVE, closed.capabilities_after_tls or ())
    assert after.sasl == {"PLAIN", "LOGIN"} and not after.starttls


@given(clear=chunkings(DOVECOT_OPEN_CLEAR), tls=chunkings(DOVECOT_TLS))
@settings(max_examples=60, derandomize=True, database=None)
def test_the_outcome_does_not_depend_on_how_reads_are_cut(
    clear: list[bytes], tls: list[bytes]
) -> None:
    assert drive(sieve(), clear, tls).observation == DOVECOT_OPEN_OBSERVATION


def test_byte_by_byte_reads() -> None:
    out = drive(sieve(), bytewise(DOVECOT_OPEN_CLEAR), bytewise(DOVECOT_TLS))
    assert out.observation == DOVECOT_OPEN_OBSERVATION


def test_without_starttls_the_dialogue_leaves_after_the_capabilities() -> None:
    out = drive(sieve(try_starttls=False), DOVECOT_OPEN_CLEAR[: DOVECOT_OPEN_CLEAR.index(b"OK")])
    # Cut before the OK: the greeting never completed, so nothing is recorded.
    assert out.closed_early and out.stage is Stage.GREETING
    assert out.observation.capabilities_before_tls is None and out.observation.greeting == ()
    greeting = DOVECOT_OPEN_CLEAR[: DOVECOT_OPEN_CLEAR.index(b'OK "Begin')]
    out = drive(sieve(try_starttls=False), greeting + b'OK "Logout completed."\r\n')
    assert out.sent == (b"LOGOUT\r\n",)
    assert out.observation.starttls_reply is None
    assert out.observation.greeting == ('OK "Dovecot (Debian) ready."',)


def test_a_tls_wrapper_in_front_records_the_capabilities_as_after_tls() -> None:
    # No standard port has implicit TLS, but the dialogue honours the setting (a TLS proxy).
    build = entry(Protocol.MANAGESIEVE).dialogue
    assert build is not None
    greeting = DOVECOT_TLS[: DOVECOT_TLS.index(b'OK "Logout')]
    out = drive(build(DialogueSettings(implicit_tls=True)), greeting + b"OK\r\n")
    assert out.error is None and out.sent == (b"LOGOUT\r\n",)
    assert out.observation.capabilities_before_tls is None
    assert out.observation.capabilities_after_tls == _lines(greeting)
    assert out.observation.greeting == ('OK "TLS negotiation successful."',)


def test_status_words_and_response_codes() -> None:
    # Lower-case status words, response codes with strings, a bare OK: all valid RFC 5804.
    clear = (
        b'"IMPLEMENTATION" "Example Sieve"\r\n'
        b'"SASL" "SCRAM-SHA-256"\r\n'
        b'ok (TAG "x" SOMETHING (NESTED 1)) "hi"\r\n'
        b'NO (ENCRYPT-NEEDED) "TLS is not configured"\r\n'
        b"OK\r\n"
    )
    out = drive(sieve(), clear)
    assert out.error is None
    assert out.observation.greeting == ('ok (TAG "x" SOMETHING (NESTED 1)) "hi"',)
    assert out.observation.starttls_reply == ('NO (ENCRYPT-NEEDED) "TLS is not configured"',)
    assert out.sent == (b"STARTTLS\r\n", b"LOGOUT\r\n")
    assert caps(out.observation.capabilities_before_tls) == frozenset()  # SCRAM: no password


# ---- literals and quoted strings ----------------------------------------------------------------


def test_literals_are_joined_and_stored_as_quoted_strings() -> None:
    # A server may send any string as a literal: {n} CRLF then n raw bytes, the line goes on.
    clear = (
        b'{14}\r\nIMPLEMENTATION {12}\r\nSieve\r\n"2\\0"\r\n'  # CRLF, quote, backslash inside
        b'"SASL" {11}\r\nPLAIN LOGIN\r\n'
        b"{8}\r\nSTARTTLS\r\n"
        b"OK {5}\r\nready\r\n"
        b'NO "no"\r\n'
        b"OK\r\n"
    )
    out = drive(sieve(), clear)
    assert out.error is None
    assert out.observation.capabilities_before_tls == (
        '"IMPLEMENTATION" "Sieve  \\"2\\\\0\\""',  # CR LF stored as spaces; " and \ escaped
        '"SASL" "PLAIN LOGIN"',
        '"STARTTLS"',
        'OK "ready"',
    )
    parsed = parse_sieve_capabilities(out.observation.capabilities_before_tls or ())
    assert parsed.starttls and parsed.sasl == {"PLAIN", "LOGIN"}
    assert out.observation.greeting == ('OK "ready"',)


def test_a_literal_of_nothing_and_a_brace_inside_quotes() -> None:
    clear = b'"SASL" {0}\r\n\r\n"X-NOTE" "ends in {3}"\r\nOK\r\n'
    out = drive(sieve(try_starttls=False), clear + b"OK\r\n")
    assert out.error is None
    assert out.observation.capabilities_before_tls == ('"SASL" ""', '"X-NOTE" "ends in {3}"', "OK")


def test_a_literal_above_the_bound_is_refused_before_it_is_read() -> None:
    out = drive(sieve(), f'"SASL" {{{MAX_LITERAL + 1}}}\r\n'.encode())
    assert isinstance(out.error, ProtocolError) and out.error.too_large
    assert out.stage is Stage.GREETING


def test_literals_cannot_make_a_line_longer_than_the_bound() -> None:
    chunk = b"{4000}\r\n" + b"x" * 4000 + b" "
    out = drive(sieve(), b'"A" ' + chunk * 3 + b"\r\nOK\r\n")
    assert isinstance(out.error, ProtocolError) and out.error.too_large


def test_an_endless_literal_tail_is_refused() -> None:
    # The literal itself is fine; the line after it never ends.
    out = drive(sieve(), [b'"A" {10}\r\n0123456789', b"y" * (MAX_LINE + 10)])
    assert isinstance(out.error, ProtocolError) and out.error.too_large


def test_quoted_string_escapes() -> None:
    clear = b'"X-NAME" "a \\"quoted\\" \\\\ word"\r\n"SASL" "PLAIN"\r\nOK\r\n'
    out = drive(sieve(try_starttls=False), clear + b"OK\r\n")
    assert out.error is None
    parsed = parse_sieve_capabilities(out.observation.capabilities_before_tls or ())
    assert parsed.names == {"X-NAME", "SASL"} and parsed.sasl == {"PLAIN"}


@pytest.mark.parametrize(
    "line",
    [
        b'"SASL" "PLAIN\\x"',  # \x is not an escape (only \" and \\)
        b'"SASL" "PLAIN',  # unterminated
        b'"SASL" "PLAIN" "LOGIN"',  # a capability has at most one value
        b'"SASL""PLAIN"',  # tokens run together
        b'"SASL" PLAIN',  # a value is a string, not an atom
        b'"SASL" {5+}',  # the client's non-synchronising literal
        b'OK (TAG "x"',  # unbalanced
        b'OK "a" "b"',  # one text string at most
        b'OK "a" (TAG)',  # the code comes before the text
        b"OK )",
        b"OK \x01",
    ],
)
def test_malformed_lines_are_protocol_errors(line: bytes) -> None:
    out = drive(sieve(), b'"IMPLEMENTATION" "x"\r\n' + line + b"\r\nOK\r\n")
    assert type(out.error) is ProtocolError, out
    assert out.observation.capabilities_before_tls is None


# ---- refusals and ends --------------------------------------------------------------------------


def test_bye_instead_of_the_greeting_is_a_refused_service() -> None:
    out = drive(sieve(), b'BYE (TRYLATER) "Too many connections"\r\n')
    assert isinstance(out.error, ServiceUnavailableError)
    assert out.observation.greeting == ('BYE (TRYLATER) "Too many connections"',)
    assert out.stage is Stage.GREETING and out.sent == ()


def test_no_after_the_capabilities_is_a_refused_service() -> None:
    out = drive(sieve(), b'"IMPLEMENTATION" "x"\r\nNO "Maintenance"\r\n')
    assert isinstance(out.error, ServiceUnavailableError)
    assert out.observation.greeting == ('NO "Maintenance"',)
    assert out.observation.capabilities_before_tls is None


def test_starttls_refused_is_recorded_and_the_session_ends_politely() -> None:
    clear = b'"IMPLEMENTATION" "x"\r\n"SASL" "PLAIN"\r\nOK\r\nNO "TLS support not compiled in"\r\n'
    out = drive(sieve(), clear)  # the server closes without answering LOGOUT: fine
    assert out.error is None and not out.closed_early
    assert out.sent == (b"STARTTLS\r\n", b"LOGOUT\r\n")
    assert out.observation.starttls_reply == ('NO "TLS support not compiled in"',)
    assert not out.tls_started


def test_bye_to_starttls_is_a_refused_service_with_the_reply_kept() -> None:
    out = drive(sieve(), b'"STARTTLS"\r\nOK\r\nBYE "Server shutting down"\r\n')
    assert isinstance(out.error, ServiceUnavailableError)
    assert out.stage is Stage.STARTTLS
    assert out.observation.starttls_reply == ('BYE "Server shutting down"',)
    assert out.observation.capabilities_before_tls == ('"STARTTLS"', "OK")


def test_bye_inside_tls_keeps_what_was_said() -> None:
    out = drive(sieve(), b'"STARTTLS"\r\nOK\r\nOK\r\n', b'"SASL" "PLAIN"\r\nBYE "later"\r\n')
    assert isinstance(out.error, ServiceUnavailableError)
    assert out.stage is Stage.CAPABILITIES_AFTER_TLS
    assert out.observation.capabilities_after_tls == ('"SASL" "PLAIN"', 'BYE "later"')


def test_a_capability_line_where_the_starttls_reply_is_due_is_an_error() -> None:
    out = drive(sieve(), b'"STARTTLS"\r\nOK\r\n"SASL" "PLAIN"\r\n')
    assert type(out.error) is ProtocolError
    assert out.stage is Stage.STARTTLS


def test_eof_inside_tls_before_the_capabilities_is_a_close_at_that_stage() -> None:
    out = drive(sieve(), b'"STARTTLS"\r\nOK\r\nOK\r\n', b'"SASL" "PL')
    assert out.error is None and out.closed_early
    assert out.stage is Stage.CAPABILITIES_AFTER_TLS
    assert out.observation.capabilities_after_tls is None


def test_bytes_after_the_go_ahead_never_reach_the_tls_side() -> None:
    # A man in the middle appends forged capabilities in clear right after the go-ahead.
    forged = b'"SASL" "PLAIN"\r\nOK "forged"\r\n'
    out = drive(sieve(), [DOVECOT_OPEN_CLEAR + forged], DOVECOT_TLS)
    assert out.observation == DOVECOT_OPEN_OBSERVATION


def test_garbage_after_logout_is_not_a_failure() -> None:
    greeting = DOVECOT_OPEN_CLEAR[: DOVECOT_OPEN_CLEAR.index(b'OK "Begin')]
    out = drive(sieve(try_starttls=False), greeting + b"\x00\xff garbage\r\n")
    assert out.error is None and not out.closed_early and out.stage is Stage.CLOSE


@pytest.mark.parametrize(
    "first",
    [
        b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n",
        b"+OK Dovecot ready.\r\n",
        b"220 mx.example.net ESMTP\r\n",
        b"\x16\x03\x03\x00\x02\x02\x28",
        b"HTTP/1.1 400 Bad Request\r\n",
        b"OKAY\r\n",  # not the word OK
        b"NOPE\r\n",
        b"OK\x00\r\n",
    ],
)
def test_another_service_on_the_port_is_not_managesieve(first: bytes) -> None:
    dialogue = sieve()
    assert dialogue.next_action() == NeedData()  # the server speaks first
    out = drive(dialogue, first)
    assert isinstance(out.error, NotProtocolError), out
    assert out.sent == ()


def test_the_first_line_decides_not_protocol_only_once() -> None:
    # A bad second line is an ordinary protocol error, not "another service".
    out = drive(sieve(), b'"IMPLEMENTATION" "x"\r\n* OK\r\n')
    assert type(out.error) is ProtocolError


# ---- the registry entry -------------------------------------------------------------------------


def test_registry_entry() -> None:
    e = entry(Protocol.MANAGESIEVE)
    ep = Endpoint(host="mail.example.test", ip="192.0.2.7", port=4190, service=Service.SIEVE)
    # After STARTTLS the server re-issues its capabilities unasked: nothing to send to make it
    # speak (what the TLS 1.3 resumption probe needs to know to wait for tickets).
    assert e.ping(ep) is None
    assert "disable_plaintext_auth = yes" in e.password_fix
    assert "auth_allow_cleartext = no" in e.password_fix
    assert Service.SIEVE.default_port == 4190 and Service.SIEVE.scanned_by_default
    assert Service.for_port(4190) is Service.SIEVE


def test_first_command_after_the_greeting_is_starttls() -> None:
    dialogue = sieve()
    dialogue.receive_data(b'"STARTTLS"\r\nOK\r\n')
    assert dialogue.next_action() == Send(b"STARTTLS\r\n")
    assert dialogue.stage is Stage.STARTTLS


def test_parser_is_tolerant_of_stored_oddities() -> None:
    parsed = parse_sieve_capabilities(
        ['"SASL" "plain  xoauth2"', "garbage \x00", '"STARTTLS', "OK", '"SASL"', "{5}"]
    )
    assert parsed.names == {"SASL"}
    assert parsed.sasl == {"PLAIN", "XOAUTH2"}
    assert not parsed.starttls
