"""The POP3 client dialogue (RFC 1939, CAPA per RFC 2449, STLS per RFC 2595), sans-I/O.

What vedette says, and nothing more::

    S: +OK Dovecot ready.
    C: CAPA
    S: +OK                                       status line, then one capability per line
    S: TOP / UIDL / RESP-CODES / PIPELINING / AUTH-RESP-CODE / STLS / USER / SASL PLAIN
    S: .                                         end of the list
    C: STLS
    S: +OK Begin TLS negotiation
       [the driver runs the TLS handshake]
    C: CAPA
    S: +OK / ... / .
    C: QUIT
    S: +OK Logging out.                          (or the server just closes: fine)

POP3 replies are one status line, ``+OK`` or ``-ERR`` (RFC 1939 3: upper case, but vedette
compares without case, as real clients do). CAPA alone is multi-line: after ``+OK`` come lines
up to a line holding a single ``.``; a line starting with ``.`` had one more ``.`` prepended by
the server ("byte-stuffing"), which vedette removes. The recorded capability reply is the
status line followed by the un-stuffed capability lines; the terminating ``.`` is framing and is
not recorded.

``-ERR`` to CAPA means a pre-RFC 2449 server: the capabilities are recorded as ``()``.
``-ERR`` to STLS is recorded as the STARTTLS reply and the session ends with QUIT. Anything
other than ``+OK``/``-ERR`` where a status is due is a ``ProtocolError`` (on the first line,
``NotProtocolError``); a ``-ERR`` greeting (``-ERR too many connections``) is
``ServiceUnavailableError``.
"""

from __future__ import annotations

import enum
import re

from vedette.errors import NotProtocolError, ProtocolError, ServiceUnavailableError
from vedette.model import Stage
from vedette.protocols._machine import LineDialogue

_STATUS = re.compile(r"(\+OK|-ERR)(?: .*)?", re.ASCII | re.DOTALL | re.IGNORECASE)


class _Wait(enum.Enum):
    GREETING = enum.auto()
    CAPA = enum.auto()
    CAPA_LIST = enum.auto()
    STLS = enum.auto()
    QUIT = enum.auto()


def _status(line: str) -> bool | None:
    """True for ``+OK``, False for ``-ERR``, None for anything else."""
    m = _STATUS.fullmatch(line)
    if m is None:
        return None
    return m.group(1).upper() == "+OK"


class Pop3Dialogue(LineDialogue):
    """Client side of a POP3 session that only looks: CAPA, STLS, CAPA, QUIT.

    Args:
        implicit_tls: the driver already ran TLS (port 995): the CAPA reply is recorded as
            ``capabilities_after_tls`` and no STLS is sent.
        try_starttls: send STLS after CAPA (ignored with ``implicit_tls``).
        redial: the connection only leads to a TLS handshake (the enumeration's re-dials):
            STLS straight after the greeting (RFC 2595 4 asks for no CAPA first), one round
            trip fewer per connection; the first connection read the capabilities.
    """

    _protocol_name = "POP3"

    def __init__(
        self, *, implicit_tls: bool = False, try_starttls: bool = True, redial: bool = False
    ) -> None:
        super().__init__(implicit_tls=implicit_tls, try_starttls=try_starttls)
        self._redial = redial and try_starttls and not implicit_tls
        self._wait = _Wait.GREETING

    def _sniff(self, head: bytes) -> bool:
        up = head.upper()
        return b"+OK".startswith(up[:3]) or b"-ERR".startswith(up[:4])

    def _on_line(self, line: str) -> None:
        match self._wait:
            case _Wait.GREETING:
                ok = _status(line)
                if ok is None:
                    raise NotProtocolError(f"not POP3: first line {line[:80]!r}")
                self._greeting = (line,)
                if not ok:
                    raise ServiceUnavailableError(f"POP3 service refused: {line[:200]}")
                if self._redial:
                    self._after_capabilities()
                else:
                    self._capa()
            case _Wait.CAPA:
                ok = self._expect_status(line)
                if ok:
                    self._add_reply_line(line)
                    self._wait = _Wait.CAPA_LIST
                else:
                    self._record_capabilities(())
                    self._after_capabilities()
            case _Wait.CAPA_LIST:
                if line == ".":
                    self._record_capabilities(self._take_reply())
                    self._after_capabilities()
                else:
                    # RFC 1939 3: a leading "." on a data line was stuffed by the server.
                    self._add_reply_line(line[1:] if line.startswith(".") else line)
            case _Wait.STLS:
                ok = self._expect_status(line)
                self._starttls_reply = (line,)
                if ok:
                    self._begin_tls()
                else:
                    self._quit_pop3()
            case _Wait.QUIT:
                self._finish()

    def _expect_status(self, line: str) -> bool:
        ok = _status(line)
        if ok is None:
            raise ProtocolError(f"malformed POP3 status line {line[:80]!r}")
        return ok

    def _capa(self) -> None:
        self._wait = _Wait.CAPA
        self._send("CAPA", self._capabilities_stage)

    def _after_capabilities(self) -> None:
        if self._try_starttls and not self._in_tls:
            self._wait = _Wait.STLS
            self._send("STLS", Stage.STARTTLS)
        else:
            self._quit_pop3()

    def _quit_pop3(self) -> None:
        self._wait = _Wait.QUIT
        self._quit("QUIT")

    def _after_tls(self) -> None:
        # RFC 2595 4: the client must discard cached capabilities and issue CAPA again.
        self._capa()
