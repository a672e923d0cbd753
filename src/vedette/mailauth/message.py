"""A received message as mail authentication sees it: sans-I/O, bounded, never raising.

:func:`read_message` splits a message (RFC 5322) into its header fields and body and reads what
``vedette eml`` needs from the header: the ``Received`` hops (who handed the message to whom,
from which address), the ``From`` domain(s), the envelope sender (``Return-Path``) and the
receivers' ``Authentication-Results`` (RFC 8601). It tolerates what real mail holds (LF line
ends, 8-bit bytes in header fields, broken MIME: only the header is read here) and bounds what a
hostile message could use against the reader: the whole size, the header block, the number of
fields and the length of one field. Each problem is one line in :attr:`Message.errors`; the
reader itself never raises.

Authentication-Results are parsed by a small parser written to RFC 8601's grammar
(:func:`parse_authentication_results`): ``authserv-id; method=result reason=... ptype.prop=value``,
with comments and quoted strings. It keeps the interface narrow so that the ``authres`` library
can take its place.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from email.utils import getaddresses

#: Largest message read at all (the body is only hashed by DKIM, never parsed).
MAX_MESSAGE = 64 << 20
#: Largest header block (all header fields together).
MAX_HEADER_BLOCK = 1 << 20
#: Most header fields.
MAX_FIELDS = 1000
#: Longest single header field, folded lines included (RFC 5322 allows 998 a line; long
#: DKIM-Signature and ARC fields fold over many lines).
MAX_FIELD = 64 << 10
#: Most Authentication-Results results kept per field.
MAX_RESULTS = 100

_NAME = re.compile(rb"^[\x21-\x39\x3b-\x7e]+$")


def text_of(raw: bytes, limit: int = 300) -> str:
    """A header value as one printable line: 8-bit bytes decoded as UTF-8 (or replaced),
    control characters and line breaks turned into spaces, cut at ``limit``."""
    text = raw.decode("utf-8", errors="replace")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class HeaderField:
    """One header field: ``name`` as written (ASCII), ``value`` the raw bytes after the colon
    (folding kept), ``index`` its position from the top (0)."""

    name: str
    value: bytes
    index: int

    @property
    def text(self) -> str:
        return text_of(self.value, MAX_FIELD)


@dataclass(frozen=True, slots=True)
class ReceivedHop:
    """One ``Received`` field (RFC 5321 4.4): ``by_host`` the receiving host, ``from_host`` the
    name the client gave, ``ip`` the client's address in brackets (None when absent),
    ``index`` its order from the top (0 is the last hop)."""

    index: int
    from_host: str
    by_host: str
    ip: str | None
    text: str

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "from": self.from_host,
            "by": self.by_host,
            "ip": self.ip,
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class AuthResult:
    """One result of an Authentication-Results field: ``method`` (dkim, spf, dmarc, arc...),
    ``result`` (pass, fail...), ``reason`` and the properties (``header.d``,
    ``smtp.mailfrom``...)."""

    method: str
    result: str
    reason: str
    props: dict[str, str]

    def to_json(self) -> dict[str, object]:
        return {
            "method": self.method,
            "result": self.result,
            "reason": self.reason,
            "properties": dict(self.props),
        }


@dataclass(frozen=True, slots=True)
class AuthResults:
    """One Authentication-Results field: who wrote it and what it said."""

    authserv_id: str
    results: tuple[AuthResult, ...]
    index: int
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "authserv_id": self.authserv_id,
            "index": self.index,
            "results": [r.to_json() for r in self.results],
            "errors": list(self.errors),
        }


@dataclass(frozen=True, slots=True)
class Message:
    """A message read by :func:`read_message`.

    ``raw``: the bytes DKIM and ARC verify (empty when the message was refused whole);
    ``fields``: the header fields, top first; ``body``: the body bytes; ``errors``: one line
    per problem found (the reader went on past each); ``complete``: False when a limit cut the
    header, so that signatures cannot be judged."""

    raw: bytes
    fields: tuple[HeaderField, ...]
    body: bytes
    errors: tuple[str, ...]
    complete: bool

    def named(self, name: str) -> tuple[HeaderField, ...]:
        low = name.lower()
        return tuple(f for f in self.fields if f.name.lower() == low)

    @property
    def from_domains(self) -> tuple[str, ...]:
        """The domains of the addresses of every From field (RFC 5322 3.6.2), lower case."""
        out: list[str] = []
        for f in self.named("From"):
            for _, address in getaddresses([f.text]):
                domain = address.rpartition("@")[2].strip().lower().rstrip(".")
                if "@" in address and domain and domain not in out:
                    out.append(domain)
        return tuple(out)

    @property
    def mail_from_domain(self) -> str | None:
        """The domain of the envelope sender the last hop recorded (``Return-Path``), or None
        (the null sender ``<>`` too)."""
        for f in self.named("Return-Path"):
            _, address = getaddresses([f.text])[0] if f.text else ("", "")
            domain = address.rpartition("@")[2].strip().lower().rstrip(".")
            if "@" in address and domain:
                return domain
            return None
        return None

    @property
    def received(self) -> tuple[ReceivedHop, ...]:
        return tuple(parse_received(f.value, i) for i, f in enumerate(self.named("Received")))

    @property
    def authentication_results(self) -> tuple[AuthResults, ...]:
        return tuple(
            parse_authentication_results(f.value, i)
            for i, f in enumerate(self.named("Authentication-Results"))
        )

    def hop_by(self, receiver: str) -> ReceivedHop | None:
        """The topmost Received hop whose ``by`` host is ``receiver`` (case-insensitive) or
        ends with ``.receiver``."""
        want = receiver.lower().rstrip(".")
        for hop in self.received:
            by = hop.by_host.lower().rstrip(".")
            if by == want or by.endswith("." + want):
                return hop
        return None


def read_message(data: bytes) -> Message:
    """Split ``data`` into header fields and body (never raises; see :class:`Message`)."""
    errors: list[str] = []
    complete = True
    if len(data) > MAX_MESSAGE:
        return Message(b"", (), b"", (f"message larger than {MAX_MESSAGE >> 20} MiB",), False)
    # The header ends at the first empty line (CRLF CRLF, or LF LF in a file saved by a
    # Unix tool).
    end, sep = _header_end(data)
    if end < 0:
        head, body = data, b""
        if data.strip():
            errors.append("no empty line after the header: the message has no body")
    else:
        head, body = data[:end], data[end + sep :]
    if len(head) > MAX_HEADER_BLOCK:
        errors.append(
            f"header block of {len(head)} bytes, more than {MAX_HEADER_BLOCK >> 10} KiB: "
            "read up to the limit, signatures not judged"
        )
        head = head[:MAX_HEADER_BLOCK]
        complete = False
    fields: list[HeaderField] = []
    lines = re.split(rb"\r?\n", head)
    current: list[bytes] | None = None
    current_name = ""

    def close() -> None:
        nonlocal current
        if current is None:
            return
        value = b"\r\n".join(current)
        if len(value) > MAX_FIELD:
            errors.append(
                f"header field {current_name} of {len(value)} bytes, longer than "
                f"{MAX_FIELD >> 10} KiB: cut"
            )
            value = value[:MAX_FIELD]
        fields.append(HeaderField(current_name, value, len(fields)))
        current = None

    for number, line in enumerate(lines, start=1):
        if line[:1] in (b" ", b"\t"):
            if current is None:
                errors.append(f"header line {number}: a continuation line with no field")
            else:
                current.append(line)
            continue
        close()
        if not line:
            continue
        name, colon, value = line.partition(b":")
        name = name.rstrip(b" \t")
        if not colon or not name or not _NAME.match(name):
            errors.append(f"header line {number}: not a header field ({text_of(line, 60)!r})")
            continue
        if len(fields) >= MAX_FIELDS:
            errors.append(f"more than {MAX_FIELDS} header fields: the rest ignored")
            complete = False
            break
        current, current_name = [value], name.decode("ascii")
    else:
        close()
    for f in fields:
        if b"\r" in f.value.replace(b"\r\n", b"") or b"\x00" in f.value:
            errors.append(f"header field {f.name} holds a bare CR or NUL (header injection?)")
        elif any(b > 0x7F for b in f.value):
            errors.append(f"header field {f.name} holds 8-bit bytes (not RFC 5322 ASCII)")
    for name in ("From", "Date", "Subject", "Message-ID", "To"):
        count = sum(1 for f in fields if f.name.lower() == name.lower())
        if count > 1:
            errors.append(f"{count} {name} fields (RFC 5322 3.6 allows one)")
    if not any(f.name.lower() == "from" for f in fields):
        errors.append("no From field")
    return Message(data, tuple(fields), body, tuple(errors), complete)


def _header_end(data: bytes) -> tuple[int, int]:
    """Where the header ends (the offset of the empty line) and the empty line's length."""
    if data[:1] == b"\n":
        return 0, 1
    if data[:2] == b"\r\n":
        return 0, 2
    m = re.search(rb"\r?\n(\r?\n)", data)
    if m is None:
        return -1, 0
    return m.start(1), len(m.group(1))


# --- Received -----------------------------------------------------------------------------------

_BRACKET = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]")


def _strip_comments(text: str) -> str:
    out: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out)


def parse_received(value: bytes, index: int) -> ReceivedHop:
    """The ``from``/``by`` hosts and the client's address of one Received field. The address
    is the first bracketed address in the ``from`` clause (comments included, where Postfix
    and Exchange write it); only a valid IP address is kept."""
    text = text_of(value, MAX_FIELD)
    main = text.split(";", 1)[0]
    clauses = re.split(r"\s(?=(?:from|by|via|with|id|for)\s)", " " + main, flags=re.IGNORECASE)
    from_part = by_part = ""
    for clause in clauses:
        word = clause.strip().split(" ", 1)
        if len(word) == 2 and word[0].lower() == "from" and not from_part:
            from_part = word[1]
        elif len(word) == 2 and word[0].lower() == "by" and not by_part:
            by_part = word[1]
    ip: str | None = None
    for m in _BRACKET.finditer(from_part):
        try:
            ip = str(ipaddress.ip_address(m.group(1)))
            break
        except ValueError:
            continue

    def host(part: str) -> str:
        words = _strip_comments(part).split()
        return words[0].lower() if words else ""

    return ReceivedHop(index, host(from_part), host(by_part), ip, text_of(value, 300))


# --- Authentication-Results (RFC 8601) ------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    """RFC 8601 words: comments dropped, quoted strings unquoted, ``;`` ``=`` kept apart."""
    out: list[str] = []
    i, n = 0, len(text)
    buf: list[str] = []

    def flush() -> None:
        if buf:
            out.append("".join(buf))
            buf.clear()

    while i < n:
        ch = text[i]
        if ch == "(":
            flush()
            depth = 1
            i += 1
            while i < n and depth:
                if text[i] == "\\":
                    i += 1
                elif text[i] == "(":
                    depth += 1
                elif text[i] == ")":
                    depth -= 1
                i += 1
            continue
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            i += 1
            continue
        if ch in ";=":
            flush()
            out.append(ch)
        elif ch.isspace():
            flush()
        else:
            buf.append(ch)
        i += 1
    flush()
    return out


def parse_authentication_results(value: bytes, index: int = 0) -> AuthResults:
    """One Authentication-Results field (RFC 8601 2.2), tolerant: a result it cannot read is
    an error line, the others are kept."""
    tokens = _tokens(text_of(value, MAX_FIELD))
    errors: list[str] = []
    if not tokens or tokens[0] in (";", "="):
        return AuthResults("", (), index, ("no authserv-id",))
    authserv = tokens[0].lower()
    # Split on ';' into result specs; the first spec is the authserv-id (and a version).
    specs: list[list[str]] = [[]]
    for tok in tokens[1:]:
        if tok == ";":
            specs.append([])
        else:
            specs[-1].append(tok)
    results: list[AuthResult] = []
    for spec in specs[1:]:
        if not spec:
            continue
        if len(spec) == 1 and spec[0].lower() == "none":
            continue
        if len(results) >= MAX_RESULTS:
            errors.append(f"more than {MAX_RESULTS} results: the rest ignored")
            break
        pairs: list[tuple[str, str]] = []
        j = 0
        ok = True
        while j < len(spec):
            if j + 2 < len(spec) and spec[j + 1] == "=":
                pairs.append((spec[j], spec[j + 2]))
                j += 3
            elif j + 1 < len(spec) and spec[j + 1] == "=":
                pairs.append((spec[j], ""))
                j += 2
            else:
                ok = False
                j += 1
        if not pairs:
            errors.append(f"unreadable result {' '.join(spec)[:60]!r}")
            continue
        method = pairs[0][0].split("/", 1)[0].lower()
        result = pairs[0][1].lower()
        reason = ""
        props: dict[str, str] = {}
        for key, val in pairs[1:]:
            low = key.lower()
            if low == "reason":
                reason = val
            elif "." in low:
                props[low] = val
        if not ok:
            errors.append(f"result {method}: stray words ignored")
        results.append(AuthResult(method, result, reason, props))
    return AuthResults(authserv, tuple(results), index, tuple(errors))
