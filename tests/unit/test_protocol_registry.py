"""The protocol registry: every protocol has one entry, and nothing else names protocols."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vedette.model import Endpoint, Protocol, Service, TlsMode
from vedette.protocols import NeedData, Send, StartTls
from vedette.protocols.capabilities import Capabilities
from vedette.protocols.registry import (
    REGISTRY,
    entry,
    has_capabilities,
    has_dialogue,
    new_dialogue,
    parse_capabilities,
    plaintext_password_mechanisms,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "vedette"


def _endpoint(service: Service, host: str = "mail.example.test") -> Endpoint:
    return Endpoint(host=host, ip="192.0.2.7", port=service.default_port, service=service)


def test_every_protocol_has_exactly_one_entry() -> None:
    assert set(REGISTRY) == set(Protocol)
    assert all(REGISTRY[p].protocol is p for p in Protocol)


def test_only_the_registry_and_the_lab_name_a_protocol() -> None:
    # A new protocol is its dialogue module, its registry entry and its model members: the
    # probe, the checks and the reports ask the registry instead of listing protocols.
    named = re.compile(r"Protocol\.(?:" + "|".join(p.name for p in Protocol) + r")\b")
    allowed = {"model.py", "protocols/registry.py"}
    offenders = [
        f"{path.relative_to(SRC)}:{n}"
        for path in sorted(SRC.rglob("*.py"))
        if path.relative_to(SRC).parts[0] != "lab" and str(path.relative_to(SRC)) not in allowed
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if named.search(line)
    ]
    assert offenders == []


@pytest.mark.parametrize("service", list(Service))
def test_a_dialogue_exists_exactly_where_capabilities_are_read(service: Service) -> None:
    protocol = service.protocol
    # SMB speaks a dialogue (NEGOTIATE, over several rounds) but has no capability list in
    # the mail sense, nor TLS: the plaintext checks must not read it.
    if entry(protocol).rounds == 1:
        assert has_dialogue(protocol) == has_capabilities(protocol)
    else:
        assert has_dialogue(protocol) and not has_capabilities(protocol)
    if has_dialogue(protocol):
        dialogue = new_dialogue(service, server_name="mail.example.test")
        assert dialogue.observation().greeting == ()
    else:
        with pytest.raises(ValueError, match="no client dialogue"):
            new_dialogue(service)
        with pytest.raises(ValueError, match="no capability syntax"):
            parse_capabilities(protocol, ())


MAIL = (Protocol.SMTP, Protocol.IMAP, Protocol.POP3)


@pytest.mark.parametrize("service", [s for s in Service if s.protocol in MAIL])
def test_the_mail_resumption_ping_after_starttls_is_a_harmless_command(service: Service) -> None:
    ping = entry(service.protocol).ping(_endpoint(service))
    if service.tls_mode is TlsMode.IMPLICIT:
        assert ping is None  # the server's greeting comes first
    else:
        assert ping is not None and ping.endswith(b"NOOP\r\n")


def test_https_and_sips_pings_name_the_host_and_bracket_ipv6() -> None:
    http = entry(Protocol.HTTP).ping(_endpoint(Service.HTTPS, host="2001:db8::1"))
    assert http == b"HEAD / HTTP/1.1\r\nHost: [2001:db8::1]\r\nConnection: close\r\n\r\n"
    sip = entry(Protocol.SIP).ping(_endpoint(Service.SIPS))
    assert sip is not None and sip.startswith(b"OPTIONS sip:mail.example.test SIP/2.0\r\n")
    assert sip.endswith(b"Content-Length: 0\r\n\r\n")


def test_the_greeting_counts_only_where_it_carries_capabilities() -> None:
    greeting = ("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready",)
    caps = parse_capabilities(Protocol.IMAP, (), greeting)
    assert caps.starttls and caps.sasl == {"PLAIN"}
    # A POP3 greeting is not a CAPA reply, whatever it says.
    assert parse_capabilities(Protocol.POP3, (), ("+OK STLS USER",)) == Capabilities()


def test_password_commands_come_from_each_entry() -> None:
    imap = Capabilities(names=frozenset({"IMAP4REV1"}))
    assert plaintext_password_mechanisms(Protocol.IMAP, imap) == {"LOGIN"}
    disabled = Capabilities(names=frozenset({"LOGINDISABLED"}), login_disabled=True)
    assert plaintext_password_mechanisms(Protocol.IMAP, disabled) == frozenset()
    pop3 = Capabilities(names=frozenset({"USER"}), user_command=True, sasl=frozenset({"PLAIN"}))
    assert plaintext_password_mechanisms(Protocol.POP3, pop3) == {"USER", "PLAIN"}
    smtp = Capabilities(sasl=frozenset({"LOGIN", "CRAM-MD5", "XOAUTH2"}))
    assert plaintext_password_mechanisms(Protocol.SMTP, smtp) == {"LOGIN"}


@pytest.mark.parametrize(
    ("service", "greeting", "command", "go_ahead"),
    [
        (Service.IMAP, b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n", b"a1 STARTTLS\r\n",
         b"a1 OK Begin TLS negotiation now.\r\n"),
        (Service.POP3, b"+OK ready\r\n", b"STLS\r\n", b"+OK Begin TLS negotiation now.\r\n"),
    ],
)  # fmt: skip
def test_a_redial_asks_for_tls_straight_after_the_greeting(
    service: Service, greeting: bytes, command: bytes, go_ahead: bytes
) -> None:
    # The enumeration's re-dials need TLS only: one round trip fewer per connection than the
    # first connection's capabilities-then-STARTTLS, tens of connections per endpoint.
    first = new_dialogue(service)
    redial = new_dialogue(service, redial=True)
    for dialogue in (first, redial):
        assert isinstance(dialogue.next_action(), NeedData)
        dialogue.receive_data(greeting)
    sent = redial.next_action()
    assert isinstance(sent, Send) and sent.data == command
    assert isinstance(redial.next_action(), NeedData)
    redial.receive_data(go_ahead)
    assert isinstance(redial.next_action(), StartTls)
    asked = first.next_action()
    assert isinstance(asked, Send) and asked.data != command  # CAPABILITY / CAPA first
