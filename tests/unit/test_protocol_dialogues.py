"""``new_dialogue`` and the lifecycle rules every mail dialogue shares."""

from __future__ import annotations

import pytest

from tests.unit.protocol_script import drive
from vedette.errors import NotProtocolError, ProtocolError
from vedette.model import Service, Stage
from vedette.protocols import Close, NeedData, Send
from vedette.protocols.imap import ImapDialogue
from vedette.protocols.pop3 import Pop3Dialogue
from vedette.protocols.registry import new_dialogue
from vedette.protocols.smtp import SmtpDialogue

GREETING_AND_FIRST_COMMAND = {
    Service.SMTP: (b"220 mx\r\n", b"EHLO vedette.invalid\r\n", SmtpDialogue),
    Service.SUBMISSION: (b"220 mx\r\n", b"EHLO vedette.invalid\r\n", SmtpDialogue),
    Service.SMTPS: (b"220 mx\r\n", b"EHLO vedette.invalid\r\n", SmtpDialogue),
    Service.IMAP: (b"* OK hi\r\n", b"a1 CAPABILITY\r\n", ImapDialogue),
    Service.IMAPS: (b"* OK hi\r\n", b"a1 CAPABILITY\r\n", ImapDialogue),
    Service.POP3: (b"+OK hi\r\n", b"CAPA\r\n", Pop3Dialogue),
    Service.POP3S: (b"+OK hi\r\n", b"CAPA\r\n", Pop3Dialogue),
}


@pytest.mark.parametrize("service", list(GREETING_AND_FIRST_COMMAND), ids=str)
def test_service_picks_protocol_and_tls_mode(service: Service) -> None:
    greeting, first, cls = GREETING_AND_FIRST_COMMAND[service]
    dialogue = new_dialogue(service)
    assert isinstance(dialogue, cls)
    assert dialogue.stage is Stage.GREETING
    assert dialogue.next_action() == NeedData()  # the server speaks first
    dialogue.receive_data(greeting)
    assert dialogue.next_action() == Send(first)
    implicit = service in {Service.SMTPS, Service.IMAPS, Service.POP3S}
    expected = Stage.CAPABILITIES_AFTER_TLS if implicit else Stage.CAPABILITIES
    assert dialogue.stage is expected


@pytest.mark.parametrize("service", [Service.HTTPS, Service.SIPS])
def test_no_dialogue_for_http_and_sip(service: Service) -> None:
    with pytest.raises(ValueError, match="no client dialogue"):
        new_dialogue(service)


@pytest.mark.parametrize("service", list(GREETING_AND_FIRST_COMMAND), ids=str)
def test_dead_after_an_error(service: Service) -> None:
    dialogue = new_dialogue(service)
    dialogue.next_action()
    dialogue.receive_data(b"HTTP/1.1 400 Bad Request\r\n")
    with pytest.raises(NotProtocolError):
        dialogue.next_action()
    dialogue.receive_data(b"more")  # ignored
    assert dialogue.next_action() == Close()
    assert dialogue.stage is Stage.GREETING
    assert not dialogue.closed_early


def test_error_is_raised_by_next_action_not_receive_data() -> None:
    dialogue = new_dialogue(Service.IMAP)
    dialogue.next_action()
    dialogue.receive_data(b"* OK hi\r\n")
    dialogue.next_action()
    dialogue.receive_data(b"x" * 10_000)  # too long, but storing bytes never raises
    with pytest.raises(ProtocolError) as info:
        dialogue.next_action()
    assert info.value.too_large


def test_data_after_eof_is_a_driver_bug() -> None:
    dialogue = new_dialogue(Service.POP3)
    dialogue.next_action()
    dialogue.receive_data(b"+OK")
    dialogue.receive_data(b"")
    with pytest.raises(RuntimeError):
        dialogue.receive_data(b"\r\n")


def test_close_is_final() -> None:
    out = drive(new_dialogue(Service.POP3, try_starttls=False), b"+OK\r\n-ERR\r\n+OK bye\r\n")
    assert out.sent == (b"CAPA\r\n", b"QUIT\r\n")
    dialogue = new_dialogue(Service.POP3, try_starttls=False)
    drive(dialogue, b"+OK\r\n-ERR\r\n+OK bye\r\n")
    dialogue.receive_data(b"+OK late\r\n")
    assert dialogue.next_action() == Close()
    assert dialogue.next_action() == Close()
