"""The IMAP client dialogue (RFC 9051 / RFC 3501, STARTTLS per RFC 2595 and 9051 6.2.1), sans-I/O.

What vedette says, and nothing more::

    S: * OK [CAPABILITY IMAP4rev1 ... STARTTLS LOGINDISABLED] Dovecot ready.
    C: a1 CAPABILITY
    S: * CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS ...
    S: a1 OK Pre-login capabilities listed, post-login capabilities have more.
    C: a2 STARTTLS
    S: a2 OK Begin TLS negotiation now.
       [the driver runs the TLS handshake]
    C: a3 CAPABILITY
    S: * CAPABILITY ... AUTH=PLAIN
    S: a3 OK ...
    C: a4 LOGOUT
    S: * BYE Logging out
    S: a4 OK Logout completed.                   (or the server just closes: fine)

Why CAPABILITY is always sent, although many greetings carry a ``[CAPABILITY ...]`` response
code: the code is optional, some proxies rewrite the greeting, and the explicit reply is what
RFC 9051 defines. The greeting is recorded verbatim too, so a check can compare both.

Replies. A command's reply is every untagged (``* ...``) line up to and including the tagged
completion ``<tag> OK|NO|BAD ...``. All of it is recorded, whatever the status: a ``NO`` or
``BAD`` to CAPABILITY or STARTTLS is data about the server, not an error. A ``+``
continuation request (we never send a literal), a completion with another tag, or a line that
is neither is a ``ProtocolError``.

Literals. IMAP can embed ``{n}`` CRLF followed by n raw bytes inside a response, which a
line reader would misread. Status responses (OK/NO/BAD/BYE/PREAUTH) and CAPABILITY data end in
free text or atoms and can never carry one, so a ``{5}`` at their end is just text. Any other
untagged response ending in ``{n}`` (FETCH, LIST, ID data...) has no business in an
unauthenticated session that only asked for CAPABILITY, so vedette refuses it with a
``ProtocolError`` rather than guess where the literal ends.

``* PREAUTH`` greetings (the connection is already authenticated, e.g. a local tunnel) are
accepted; STARTTLS is then not valid (RFC 9051 6.2.1) and the server's ``BAD`` is recorded as
the STARTTLS reply, which is itself worth reporting: a client that requires TLS must drop such a
connection.
"""

from __future__ import annotations

import enum
import re

from vedette.errors import NotProtocolError, ProtocolError, ServiceUnavailableError
from vedette.model import Stage
from vedette.protocols._machine import LineDialogue

_GREETING = re.compile(r"\* (OK|PREAUTH|BYE)(?: .*)?", re.ASCII | re.DOTALL | re.IGNORECASE)
#: Untagged responses whose syntax ends in text or atoms, never in a literal.
_NO_LITERAL = frozenset({"OK", "NO", "BAD", "BYE", "PREAUTH", "CAPABILITY"})
#: A literal announcement at the end of a line: {n}, {n+} (LITERAL+) or ~{n} (literal8).
_LITERAL_AT_END = re.compile(r"~?\{[0-9]+\+?\}\Z", re.ASCII)
_STATUSES = frozenset({"OK", "NO", "BAD"})


class _Wait(enum.Enum):
    GREETING = enum.auto()
    CAPABILITY = enum.auto()
    STARTTLS = enum.auto()
    LOGOUT = enum.auto()


class ImapDialogue(LineDialogue):
    """Client side of an IMAP session that only looks: CAPABILITY, STARTTLS, CAPABILITY, LOGOUT.

    Tags are ``a1``, ``a2``... in the order commands are sent.

    Args:
        implicit_tls: the driver already ran TLS (port 993): the CAPABILITY reply is recorded
            as ``capabilities_after_tls`` and no STARTTLS is sent.
        try_starttls: send STARTTLS after CAPABILITY (ignored with ``implicit_tls``).
        redial: the connection only leads to a TLS handshake (the enumeration's re-dials):
            STARTTLS straight after the greeting (RFC 9051 6.2.1 asks for no CAPABILITY
            first), one round trip fewer per connection; the first connection read them.
    """

    _protocol_name = "IMAP"

    def __init__(
        self, *, implicit_tls: bool = False, try_starttls: bool = True, redial: bool = False
    ) -> None:
        super().__init__(implicit_tls=implicit_tls, try_starttls=try_starttls)
        self._redial = redial and try_starttls and not implicit_tls
        self._wait = _Wait.GREETING
        self._counter = 0
        self._tag = ""

    def _sniff(self, head: bytes) -> bool:
        return b"* ".startswith(head[:2])

    def _command(self, verb: str, stage: Stage) -> None:
        self._counter += 1
        self._tag = f"a{self._counter}"
        self._send(f"{self._tag} {verb}", stage)

    def _on_line(self, line: str) -> None:
        if self._wait is _Wait.GREETING:
            self._on_greeting(line)
            return
        if self._wait is _Wait.LOGOUT:
            # Polite end: read until our tagged completion (the * BYE before it included),
            # without judging; EOF instead is fine too.
            self._add_reply_line(line)
            if _tag_of(line) == self._tag.upper():
                self._finish()
            return
        if line.startswith("* "):
            words = line[2:].split(" ", 1)
            if words[0].upper() not in _NO_LITERAL and _LITERAL_AT_END.search(line):
                raise ProtocolError(f"IMAP literal in an unexpected response: {line[:80]!r}")
            self._add_reply_line(line)
            return
        if line.startswith("+"):
            raise ProtocolError(f"unexpected IMAP continuation request: {line[:80]!r}")
        tag = _tag_of(line)
        if tag != self._tag.upper():
            raise ProtocolError(f"unexpected IMAP line (expected tag {self._tag}): {line[:80]!r}")
        status = line.split(" ", 2)[1].upper() if line.count(" ") >= 1 else ""
        if status not in _STATUSES:
            raise ProtocolError(f"malformed IMAP tagged completion: {line[:80]!r}")
        self._add_reply_line(line)
        self._on_reply(status == "OK", self._take_reply())

    def _on_greeting(self, line: str) -> None:
        m = _GREETING.fullmatch(line)
        if m is None:
            raise NotProtocolError(f"not IMAP: first line {line[:80]!r}")
        self._greeting = (line,)
        if m.group(1).upper() == "BYE":
            raise ServiceUnavailableError(f"IMAP service refused: {line[:200]}")
        if self._redial:
            self._wait = _Wait.STARTTLS
            self._command("STARTTLS", Stage.STARTTLS)
            return
        self._command("CAPABILITY", self._capabilities_stage)
        self._wait = _Wait.CAPABILITY

    def _on_reply(self, ok: bool, reply: tuple[str, ...]) -> None:
        match self._wait:
            case _Wait.CAPABILITY:
                self._record_capabilities(reply)
                if self._try_starttls and not self._in_tls:
                    self._wait = _Wait.STARTTLS
                    self._command("STARTTLS", Stage.STARTTLS)
                else:
                    self._logout()
            case _Wait.STARTTLS:
                self._starttls_reply = reply
                if ok:
                    self._begin_tls()
                else:
                    self._logout()
            case _:  # pragma: no cover - GREETING and LOGOUT never complete a tagged reply
                raise AssertionError(self._wait)

    def _logout(self) -> None:
        self._wait = _Wait.LOGOUT
        self._counter += 1
        self._tag = f"a{self._counter}"
        self._quit(f"{self._tag} LOGOUT")

    def _after_tls(self) -> None:
        # RFC 9051 6.2.1: capabilities seen before TLS must be forgotten; ask again.
        self._wait = _Wait.CAPABILITY
        self._command("CAPABILITY", Stage.CAPABILITIES_AFTER_TLS)


def _tag_of(line: str) -> str:
    """The first word of a line, upper-cased (tags are compared case-insensitively)."""
    return line.split(" ", 1)[0].upper()
