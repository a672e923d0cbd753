"""The ManageSieve client dialogue (RFC 5804, port 4190, STARTTLS) and its capability parser.

ManageSieve is how mail clients upload Sieve filters; Dovecot (Pigeonhole) and Cyrus
(timsieved) serve it next to IMAP, with the same accounts. What vedette says, and nothing more::

    S: "IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"      the server speaks first: its
    S: "SIEVE" "fileinto reject envelope ..."               capabilities, one per line,
    S: "SASL" "PLAIN LOGIN"
    S: "STARTTLS"
    S: "VERSION" "1.0"
    S: OK "Dovecot (Debian) ready."                         ended by an OK response
    C: STARTTLS
    S: OK "Begin TLS negotiation now."
       [the driver runs the TLS handshake]
    S: "IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"      RFC 5804 2.2: the server re-issues
    S: "SASL" "PLAIN LOGIN"                                 its capabilities unasked
    S: ...
    S: OK "TLS negotiation successful."
    C: LOGOUT
    S: OK "Logout completed."                               (or BYE, or the server just closes)

What is recorded (``DialogueObservation``): the first response, capability lines *and* its
final ``OK`` line, is ``capabilities_before_tls``; that ``OK`` line alone, the server's banner,
is ``greeting`` (what the reports show as the greeting, as for the other protocols). The
``STARTTLS`` reply is ``starttls_reply``; the capabilities re-issued inside TLS, again with their
``OK`` line, are ``capabilities_after_tls``. vedette never sends ``CAPABILITY``: the server has
already said it all.

Responses. A capability line is a string (the capability name), optionally followed by one more
string (its value). A response ends with a status line: ``OK``, ``NO`` or ``BYE`` (any case),
optionally followed by a response code in parentheses, ``(TAG "x")`` or ``(ENCRYPT-NEEDED)``,
and a human-readable string. Strings are quoted (``"..."``, where ``\\"`` and ``\\\\`` are the
only escapes) or literals: ``{n}`` at the end of a line, then exactly n raw bytes, after which
the line goes on. How each outcome is taken:

* ``NO`` or ``BYE`` instead of the first ``OK``: ``ServiceUnavailableError`` (the server turned
  the session away); the status line is kept as ``greeting``.
* ``NO`` to ``STARTTLS`` is data (recorded, then ``LOGOUT``); ``BYE`` anywhere before our
  ``LOGOUT`` means the server is closing: recorded where it belongs, then
  ``ServiceUnavailableError``.
* A first line that is neither a capability nor a status line is ``NotProtocolError`` (an IMAP
  ``* OK``, an SMTP ``220``, a TLS record); later, it is a ``ProtocolError``, as are a
  malformed string, a bad escape, an unbalanced parenthesis or a literal past its bound.

Stored form. A literal's bytes are stored as the equivalent quoted string (``"`` and ``\\``
escaped; CR, LF and NUL, which no quoted string may hold and no stored line may contain, become
spaces), so that a stored line is one text line that ``parse_sieve_capabilities`` re-reads
without knowing where literals were. A line without literals is stored byte for byte. Every
line, literals spliced in, is bounded by ``MAX_LINE``.

Password before TLS: the ``SASL`` capability lists the mechanisms; ``PLAIN`` or ``LOGIN`` in
clear means a client may send the password unencrypted. Dovecot lists none before TLS when it
refuses plaintext authentication (``"SASL" ""``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from vedette.errors import NotProtocolError, ProtocolError, ServiceUnavailableError
from vedette.model import Stage
from vedette.protocols._base import MAX_LINE, LineBuffer
from vedette.protocols._machine import LineDialogue
from vedette.protocols.capabilities import Capabilities

#: Largest literal accepted (``{n}``); its content also counts towards the line's ``MAX_LINE``.
MAX_LITERAL = MAX_LINE

#: A literal announcement closing a physical line, as a token of its own: ``{n}`` (servers never
#: send the client's non-synchronising ``{n+}``). At most 9 digits, checked before int().
_LITERAL_AT_END = re.compile(r"(?:^|(?<=[ (]))\{([0-9]{1,9})\}\Z", re.ASCII)
_STATUSES = frozenset({"OK", "NO", "BYE"})
_STATUS_START = re.compile(r"(?:OK|NO|BYE)(?: |\Z)", re.ASCII | re.IGNORECASE)
#: Characters that end an atom (RFC 5804 4: ATOM-CHAR excludes them, and controls).
_ATOM_END = frozenset(' ()"{\\')


class _Kind(enum.Enum):
    ATOM = enum.auto()
    STRING = enum.auto()
    OPEN = enum.auto()
    CLOSE = enum.auto()


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    text: str  # an atom as written, a string's value (unescaped), or the parenthesis


def _quoted(value: str) -> str:
    """``value`` as a quoted string (the stored form of a literal)."""
    value = value.replace("\r", " ").replace("\n", " ").replace("\0", " ")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ends_in_quote(text: str) -> bool:
    """Whether ``text`` ends inside an unterminated quoted string."""
    inside = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif inside and ch == "\\":
            escaped = True
        elif ch == '"':
            inside = not inside
    return inside


def _tokenise(line: str) -> list[_Token]:
    """A stored (or spliced) ManageSieve line as tokens; ProtocolError when malformed.

    Tokens are separated by spaces (runs of them are accepted); parentheses delimit themselves.
    A quoted string accepts only ``\\"`` and ``\\\\`` as escapes and holds no NUL, CR or LF.
    """
    tokens: list[_Token] = []
    i, n = 0, len(line)
    need_space = False
    while i < n:
        ch = line[i]
        if ch == " ":
            need_space = False
            i += 1
            continue
        if ch == ")":
            tokens.append(_Token(_Kind.CLOSE, ch))
            need_space = True
            i += 1
            continue
        if need_space:
            raise ProtocolError(f"ManageSieve tokens run together at {i}: {line[:80]!r}")
        if ch == "(":
            tokens.append(_Token(_Kind.OPEN, ch))
            i += 1
            continue
        if ch == '"':
            value, i = _read_quoted(line, i + 1)
            tokens.append(_Token(_Kind.STRING, value))
        elif ch in _ATOM_END or ch < " " or ch == "\x7f":
            raise ProtocolError(f"unexpected {ch!r} in ManageSieve line: {line[:80]!r}")
        else:
            start = i
            while i < n and line[i] not in _ATOM_END and " " < line[i] != "\x7f":
                i += 1
            tokens.append(_Token(_Kind.ATOM, line[start:i]))
        need_space = True
    return tokens


def _read_quoted(line: str, i: int) -> tuple[str, int]:
    """The value of the quoted string whose content starts at ``line[i]``, and the index after
    its closing quote."""
    out: list[str] = []
    n = len(line)
    while i < n:
        ch = line[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= n or line[i + 1] not in '"\\':
                raise ProtocolError(f"bad escape in a ManageSieve string: {line[:80]!r}")
            out.append(line[i + 1])
            i += 2
            continue
        if ch in "\0\r\n":
            raise ProtocolError(f"control character in a ManageSieve string: {line[:80]!r}")
        out.append(ch)
        i += 1
    raise ProtocolError(f"unterminated ManageSieve string: {line[:80]!r}")


def _check_status(tokens: Sequence[_Token], line: str) -> None:
    """``OK|NO|BYE [SP "(" resp-code ")"] [SP string]``: parentheses balanced and closed before
    the text, at most one string after them."""
    depth = 0
    rest = tokens[1:]
    for pos, tok in enumerate(rest):
        if tok.kind is _Kind.OPEN:
            if depth == 0 and pos != 0:
                raise ProtocolError(f"misplaced ManageSieve response code: {line[:80]!r}")
            depth += 1
        elif tok.kind is _Kind.CLOSE:
            depth -= 1
            if depth < 0:
                raise ProtocolError(f"unbalanced ')' in ManageSieve response: {line[:80]!r}")
        elif depth == 0 and (tok.kind is not _Kind.STRING or pos != len(rest) - 1):
            raise ProtocolError(f"malformed ManageSieve response: {line[:80]!r}")
    if depth:
        raise ProtocolError(f"unbalanced '(' in ManageSieve response: {line[:80]!r}")


def _classify(line: str) -> tuple[str | None, list[_Token]]:
    """``(status, tokens)``: status ``OK``/``NO``/``BYE`` for a status line, None for a
    capability line; ProtocolError for anything else."""
    tokens = _tokenise(line)
    if not tokens:
        raise ProtocolError("empty ManageSieve line")
    first = tokens[0]
    if first.kind is _Kind.ATOM and first.text.upper() in _STATUSES:
        _check_status(tokens, line)
        return first.text.upper(), tokens
    if first.kind is _Kind.STRING and len(tokens) <= 2 and tokens[-1].kind is _Kind.STRING:
        return None, tokens
    raise ProtocolError(f"not a ManageSieve capability or response: {line[:80]!r}")


class _LiteralBuffer(LineBuffer):
    """A ``LineBuffer`` that joins literals: a line ending in ``{n}`` goes on after n raw bytes.

    ``next_line()`` returns whole logical lines with each literal replaced by the equivalent
    quoted string (see the module docstring), bounded by ``MAX_LINE`` in all.
    """

    def __init__(self) -> None:
        super().__init__(MAX_LINE)
        #: The logical line assembled so far, and the length of the literal it waits for.
        self._parts: list[str] = []
        self._size = 0
        self._literal: int | None = None

    def feed(self, data: bytes) -> None:
        if not data:
            self.eof = True
            return
        self._buf += data
        # A literal may hold anything, newlines included; past it a line must end in time.
        skip = self._literal or 0
        if len(self._buf) > skip + self._max_line and b"\n" not in self._buf[skip:]:
            raise ProtocolError(
                f"line longer than {self._max_line} bytes without an end", too_large=True
            )

    def next_line(self) -> str | None:
        while True:
            if self._literal is not None:
                if len(self._buf) < self._literal:
                    return None
                raw = bytes(self._buf[: self._literal])
                del self._buf[: self._literal]
                self._literal = None
                self._append(_quoted(raw.decode("latin-1")))
                continue
            physical = super().next_line()
            if physical is None:
                return None
            m = _LITERAL_AT_END.search(physical)
            if m is None or _ends_in_quote(physical[: m.start()]):
                self._append(physical)
                line, self._parts, self._size = "".join(self._parts), [], 0
                return line
            size = int(m.group(1))
            if size > MAX_LITERAL:
                raise ProtocolError(
                    f"ManageSieve literal of {size} bytes (at most {MAX_LITERAL})", too_large=True
                )
            self._append(physical[: m.start()])
            self._literal = size

    def _append(self, text: str) -> None:
        self._size += len(text)
        if self._size > self._max_line:
            raise ProtocolError(
                f"ManageSieve line longer than {self._max_line} bytes", too_large=True
            )
        self._parts.append(text)

    def clear(self) -> None:
        super().clear()
        self._parts, self._size, self._literal = [], 0, None


class _Wait(enum.Enum):
    CAPABILITIES = enum.auto()
    STARTTLS = enum.auto()
    LOGOUT = enum.auto()


class ManageSieveDialogue(LineDialogue):
    """Client side of a ManageSieve session that only looks: read, STARTTLS, read, LOGOUT.

    Args:
        implicit_tls: the driver already ran TLS (no standard port does: ManageSieve has no
            implicit-TLS variant, but a TLS wrapper can front it): the first response is
            recorded as ``capabilities_after_tls`` and no STARTTLS is sent.
        try_starttls: send STARTTLS after the capabilities (ignored with ``implicit_tls``).
    """

    _protocol_name = "ManageSieve"

    def __init__(self, *, implicit_tls: bool = False, try_starttls: bool = True) -> None:
        super().__init__(implicit_tls=implicit_tls, try_starttls=try_starttls)
        self._lines = _LiteralBuffer()
        self._wait = _Wait.CAPABILITIES
        self._seen_line = False

    def _sniff(self, head: bytes) -> bool:
        # A capability name (a quoted string or a literal) or a status word (OK, NO, BYE).
        if head[:1] in (b'"', b"{"):
            return True
        up = head.upper()
        return any(
            (word + sep).startswith(up[: len(word) + 1])
            for word in (b"OK", b"NO", b"BYE")
            for sep in (b" ", b"\r", b"\n")
        )

    def _on_line(self, line: str) -> None:
        if self._wait is _Wait.LOGOUT:
            # Polite end: read until a status line, without judging; EOF instead is fine too.
            self._add_reply_line(line)
            if _STATUS_START.match(line):
                self._finish()
            return
        try:
            status, _tokens = _classify(line)
        except ProtocolError as exc:
            if not self._seen_line:
                raise NotProtocolError(f"not ManageSieve: first line {line[:80]!r}") from exc
            raise
        self._seen_line = True
        if self._wait is _Wait.STARTTLS:
            self._on_starttls_reply(status, line)
            return
        self._add_reply_line(line)
        if status is None:
            return  # a capability line: the response goes on
        reply = self._take_reply()
        if not self._greeting:
            # The first response is the greeting; its status line is the server's banner.
            self._greeting = (line,)
            if status != "OK":
                raise ServiceUnavailableError(f"ManageSieve service refused: {line[:200]}")
        self._record_capabilities(reply)
        if status == "BYE":
            raise ServiceUnavailableError(f"ManageSieve server closing: {line[:200]}")
        if self._try_starttls and not self._in_tls:
            self._wait = _Wait.STARTTLS
            self._send("STARTTLS", Stage.STARTTLS)
        else:
            self._logout()

    def _on_starttls_reply(self, status: str | None, line: str) -> None:
        if status is None:
            raise ProtocolError(f"ManageSieve capability line instead of a reply: {line[:80]!r}")
        self._starttls_reply = (line,)
        if status == "OK":
            self._begin_tls()
        elif status == "BYE":
            raise ServiceUnavailableError(f"ManageSieve server closing: {line[:200]}")
        else:
            self._logout()

    def _logout(self) -> None:
        self._wait = _Wait.LOGOUT
        self._quit("LOGOUT")

    def _after_tls(self) -> None:
        # RFC 5804 2.2: the server re-issues its capabilities unasked; the client only reads.
        # A fresh literal-aware buffer (the base class just reset it to a plain one).
        self._lines = _LiteralBuffer()
        self._wait = _Wait.CAPABILITIES
        self._stage = Stage.CAPABILITIES_AFTER_TLS


def parse_sieve_capabilities(lines: Sequence[str]) -> Capabilities:
    """A stored capability response: names (upper-case), ``SASL`` mechanisms, ``STARTTLS``.

    Tolerant: a line that does not parse (or a status line) is skipped.
    """
    names: set[str] = set()
    sasl: set[str] = set()
    for line in lines:
        try:
            status, tokens = _classify(line)
        except ProtocolError:
            continue
        if status is not None:
            continue
        name = tokens[0].text.upper()
        names.add(name)
        if name == "SASL" and len(tokens) == 2:
            sasl.update(tokens[1].text.upper().split())
    return Capabilities(names=frozenset(names), starttls="STARTTLS" in names, sasl=frozenset(sasl))
