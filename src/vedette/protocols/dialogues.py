"""Pick the client dialogue for a service.

This is what the probe layer calls: it knows a ``Service`` (a scheme of the target grammar)
and wants a fresh state machine to drive over one connection.

Notes for the driver (``vedette.probe``), beyond the loop in ``_base``:

* Only ``next_action()`` raises ``ProtocolError``; ``receive_data()`` just stores bytes (a
  line over ``MAX_LINE`` is reported by the following ``next_action()``). After a raise the
  dialogue only answers ``Close()``.
* ``Close()`` with ``closed_early`` True means the server hung up before the polite quit:
  record ``FailureKind.CLOSED`` at ``stage``. ``observation()`` holds every *complete* reply.
* Once ``stage`` is ``Stage.CLOSE`` the quit command is sent and everything worth keeping is
  recorded; a timeout, a reset or garbage there is not worth a failure.
* While a ``StartTls()`` is pending, bytes fed to ``receive_data()`` are discarded (they came in
  clear after the go-ahead); the driver need not read then, and must not reuse read-ahead
  buffers across the handshake.
* ``receive_data()`` after end of file, or ``tls_started()`` without a ``StartTls()``, raise
  ``RuntimeError``: driver bugs, not server faults.
"""

from __future__ import annotations

from typing import Protocol as TypingProtocol

from vedette.model import Protocol, Service, TlsMode
from vedette.protocols._base import Dialogue
from vedette.protocols.imap import ImapDialogue
from vedette.protocols.pop3 import Pop3Dialogue
from vedette.protocols.smtp import SmtpDialogue


class MailDialogue(Dialogue, TypingProtocol):
    """A ``Dialogue`` that also tells whether the server hung up before the polite quit."""

    @property
    def closed_early(self) -> bool:
        """True when end of file came before QUIT/LOGOUT was sent: the driver records
        ``FailureKind.CLOSED`` at ``stage``. ``observation()`` keeps the complete replies."""
        ...


def new_dialogue(
    service: Service, *, ehlo_name: str = "vedette.invalid", try_starttls: bool = True
) -> MailDialogue:
    """A new dialogue for one connection to ``service``.

    ``service.protocol`` chooses SMTP, IMAP or POP3. With ``TlsMode.IMPLICIT`` (465, 993, 995)
    the driver must have completed TLS *before* feeding the first byte: the dialogue reads the
    greeting, asks for capabilities once (recorded as ``capabilities_after_tls``) and quits;
    it never asks for StartTls. With ``TlsMode.STARTTLS`` it asks for capabilities in clear,
    then (if ``try_starttls``) sends STARTTLS/STLS and, when accepted, returns ``StartTls()``.

    The result is a ``MailDialogue``: a ``Dialogue`` plus ``closed_early`` (end of file before
    the polite quit). Lifecycle details are in ``vedette.protocols._machine``.

    Raises:
        ValueError: no dialogue exists for the protocol (HTTP, SIP), or ``ehlo_name`` is not a
            single printable ASCII word.
    """
    implicit = service.tls_mode is TlsMode.IMPLICIT
    match service.protocol:
        case Protocol.SMTP:
            return SmtpDialogue(
                ehlo_name=ehlo_name, implicit_tls=implicit, try_starttls=try_starttls
            )
        case Protocol.IMAP:
            return ImapDialogue(implicit_tls=implicit, try_starttls=try_starttls)
        case Protocol.POP3:
            return Pop3Dialogue(implicit_tls=implicit, try_starttls=try_starttls)
        case _:
            raise ValueError(f"no client dialogue for {service.protocol.value} ({service.value})")
