"""The SMTP client dialogue (RFC 5321, STARTTLS per RFC 3207), sans-I/O.

What vedette says, and nothing more::

    S: 220 mx.example.org ESMTP Postfix          greeting, possibly multi-line (220-...)
    C: EHLO vedette.invalid                      capabilities (HELO if EHLO is refused)
    S: 250-mx.example.org / 250-STARTTLS / 250 ...
    C: STARTTLS                                  sent even when not advertised, see below
    S: 220 2.0.0 Ready to start TLS
       [the driver runs the TLS handshake]
    C: EHLO vedette.invalid                      capabilities inside TLS
    S: 250-...
    C: QUIT
    S: 221 2.0.0 Bye                             (or the server just closes: fine)

Why STARTTLS is sent unadvertised: a server may accept it without listing it (some appliances
list it only after a first EHLO, some proxies strip it from the list - the "STRIPTLS" attack),
and the reply is the only way to know. A 5xx reply is then data, recorded in
``starttls_reply``, not an error.

Reply syntax (RFC 5321 4.2): every line is ``<3 digits>`` then ``-`` (more lines follow),
``SP`` (last line) or nothing at all (a bare ``250``, last line). All lines of one reply carry
the same code. vedette enforces both; a mismatch or any other shape is a ``ProtocolError``
because a client that guesses here (like ``b"250 " in data``) desynchronises on split reads.

The greeting decides what we are talking to: ``220`` is SMTP ready; any 4xx/5xx (``421``
busy, ``554`` "no SMTP service here", typical of block lists) is ``ServiceUnavailableError``;
any other shape or code (an HTTP answer, an NNTP ``200``, a TLS record) is
``NotProtocolError``. The greeting lines are recorded before either error is raised.

EHLO refused (any code other than 2xx): the server is pre-ESMTP, or dislikes our name; we fall
back to ``HELO`` and record the capabilities as an empty tuple, since HELO carries none. Inside
TLS there is no fallback: a refused EHLO is recorded as ``()``.
"""

from __future__ import annotations

import enum
import re

from vedette.errors import NotProtocolError, ProtocolError, ServiceUnavailableError
from vedette.model import Stage
from vedette.protocols._machine import LineDialogue

#: One reply line. Groups: code, separator ("-", " " or absent), text.
_LINE = re.compile(r"([0-9]{3})(?:([ -])(.*))?", re.ASCII | re.DOTALL)
#: What vedette accepts as an EHLO/HELO argument: a domain or an address literal, printable
#: ASCII without spaces, so the caller cannot smuggle a second command through it.
_EHLO_NAME = re.compile(r"[\x21-\x7e]{1,255}", re.ASCII)


class _Wait(enum.Enum):
    """Which reply the dialogue is reading."""

    GREETING = enum.auto()
    EHLO = enum.auto()
    HELO = enum.auto()
    STARTTLS = enum.auto()
    QUIT = enum.auto()


def _parse_line(line: str) -> tuple[int, bool, str] | None:
    """``(code, is_last, text)`` for a well-formed reply line, else None."""
    m = _LINE.fullmatch(line)
    if m is None:
        return None
    return int(m.group(1)), m.group(2) != "-", m.group(3) or ""


class SmtpDialogue(LineDialogue):
    """Client side of an SMTP session that only looks: EHLO, STARTTLS, EHLO, QUIT.

    Args:
        ehlo_name: the argument of EHLO/HELO (printable ASCII, no space, at most 255 chars).
        implicit_tls: the driver already ran TLS (port 465): the EHLO reply is recorded as
            ``capabilities_after_tls`` and no STARTTLS is sent.
        try_starttls: send STARTTLS after EHLO (ignored with ``implicit_tls``).

    Raises:
        ValueError: ``ehlo_name`` is not a single printable ASCII word.
    """

    _protocol_name = "SMTP"

    def __init__(
        self,
        *,
        ehlo_name: str = "vedette.invalid",
        implicit_tls: bool = False,
        try_starttls: bool = True,
    ) -> None:
        if not _EHLO_NAME.fullmatch(ehlo_name):
            raise ValueError(f"invalid EHLO name {ehlo_name!r}")
        super().__init__(implicit_tls=implicit_tls, try_starttls=try_starttls)
        self._ehlo_name = ehlo_name
        self._wait = _Wait.GREETING
        self._code: int | None = None

    def _sniff(self, head: bytes) -> bool:
        # "220-", "220 ", or "220" CRLF: three digits, then a separator or the line end.
        for i, byte in enumerate(head[:4]):
            if i < 3 and not 0x30 <= byte <= 0x39:
                return False
            if i == 3 and byte not in b" -\r\n":
                return False
        return True

    def _on_line(self, line: str) -> None:
        parsed = _parse_line(line)
        if parsed is None:
            if self._wait is _Wait.GREETING and not self._reply:
                raise NotProtocolError(f"not SMTP: first line {line[:80]!r}")
            raise ProtocolError(f"malformed SMTP reply line {line[:80]!r}")
        code, last, _text = parsed
        if self._reply and code != self._code:
            raise ProtocolError(
                f"SMTP reply lines disagree on the code: {self._code} then {line[:80]!r}"
            )
        self._code = code
        self._add_reply_line(line)
        if last:
            self._on_reply(code, self._take_reply())

    def _on_reply(self, code: int, reply: tuple[str, ...]) -> None:
        match self._wait:
            case _Wait.GREETING:
                self._greeting = reply
                if code == 220:
                    self._ehlo()
                elif 400 <= code <= 599:
                    raise ServiceUnavailableError(f"SMTP service refused: {reply[0][:200]}")
                else:
                    raise NotProtocolError(f"not an SMTP greeting: {reply[0][:200]!r}")
            case _Wait.EHLO:
                if 200 <= code <= 299:
                    self._record_capabilities(reply)
                    self._after_capabilities()
                elif self._in_tls:
                    self._record_capabilities(())
                    self._quit_smtp()
                else:
                    self._wait = _Wait.HELO
                    self._send(f"HELO {self._ehlo_name}", Stage.CAPABILITIES)
            case _Wait.HELO:
                self._record_capabilities(())
                if 200 <= code <= 299:
                    self._after_capabilities()
                else:
                    # Neither EHLO nor HELO: the session is not usable for anything else.
                    self._quit_smtp()
            case _Wait.STARTTLS:
                self._starttls_reply = reply
                if code == 220:
                    self._begin_tls()
                else:
                    # 454 "TLS not available", 502 "not implemented"...: a fact to record.
                    self._quit_smtp()
            case _Wait.QUIT:
                self._finish()

    def _ehlo(self) -> None:
        self._wait = _Wait.EHLO
        self._send(f"EHLO {self._ehlo_name}", self._capabilities_stage)

    def _after_capabilities(self) -> None:
        if self._try_starttls and not self._in_tls:
            self._wait = _Wait.STARTTLS
            self._send("STARTTLS", Stage.STARTTLS)
        else:
            self._quit_smtp()

    def _quit_smtp(self) -> None:
        self._wait = _Wait.QUIT
        self._quit("QUIT")

    def _after_tls(self) -> None:
        # RFC 3207 4.2: the client MUST discard what it knew and issue EHLO again.
        self._ehlo()
