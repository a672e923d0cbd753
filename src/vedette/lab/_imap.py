"""The lab's IMAP4rev1 server (RFC 3501), enough for imaplib, curl and mail clients to log in
over TLS, list, select and read the sample mailbox.

The part that matters for vedette is what is offered *before* TLS, set per scenario by
:class:`ImapPolicy`:

* ``LOGINDISABLED`` (RFC 3501 section 6.2.3): the server announces that ``LOGIN`` is refused on
  this connection, and it must then really refuse it (``NO``) — a client that sends it anyway
  has already put the password on the wire, but the server must not reward that.
* ``AUTH=PLAIN`` before STARTTLS: the server offers a plaintext mechanism in clear. With
  ``SASL-IR`` (RFC 4959) the credentials go in the very first command line.
* ``STARTTLS`` (RFC 3501 section 6.2.1): after ``OK Begin TLS`` the server discards whatever it
  had buffered (see ``_channel``) and forgets the capabilities it announced: clients must ask
  again, and the answer changes (``LOGINDISABLED`` disappears, ``AUTH=PLAIN`` appears).

Deliberately left out: literals in commands (``{n}``; clients use quoted strings for the lab's
credentials), IDLE, APPEND and every command that changes the mailbox permanently. Flag changes
(``STORE``, ``\\Seen`` set by reading, ``EXPUNGE``) are kept per session only, so every new
connection sees the same three messages — the lab must be reproducible.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from typing import TYPE_CHECKING

from vedette.lab._channel import Channel, LineServer
from vedette.lab._mailbox import StoredMessage, check_credentials, plain_login_ok

if TYPE_CHECKING:
    import ssl

    from vedette.lab._channel import LabLimits

Token = str | list["Token"]

_UIDVALIDITY = 1709280000
_SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
_MAILBOX = "INBOX"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapPolicy:
    """What the server offers before TLS.

    Attributes:
        starttls: offer STARTTLS on a cleartext connection (ignored with implicit TLS).
        login_disabled_before_tls: advertise ``LOGINDISABLED`` and refuse ``LOGIN`` in clear.
        auth_plain_before_tls: advertise ``AUTH=PLAIN`` in clear and accept it there.
    """

    starttls: bool = True
    login_disabled_before_tls: bool = True
    auth_plain_before_tls: bool = False


class _Bad(Exception):
    """A malformed or out-of-state command: answered with a tagged ``BAD``."""


class _No(Exception):
    """A well-formed command the server refuses: answered with a tagged ``NO``."""


class ImapServer(LineServer):
    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None,
        implicit_tls: bool,
        limits: LabLimits,
        hostname: str,
        policy: ImapPolicy,
        messages: tuple[StoredMessage, ...],
    ) -> None:
        super().__init__(
            tls_context=tls_context, implicit_tls=implicit_tls, limits=limits, hostname=hostname
        )
        self.policy = policy
        self.messages = messages

    async def session(self, ch: Channel) -> None:
        await _ImapSession(self, ch).run()

    def busy_reply(self) -> bytes:
        return b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n"

    def timeout_reply(self) -> bytes:
        return b"* BYE Disconnected for inactivity\r\n"

    def too_long_reply(self) -> bytes:
        return b"* BYE Command line too long\r\n"

    def bad_reply(self, reason: str) -> bytes:
        return b"* BYE Protocol error\r\n"


@dataclass(slots=True)
class _Msg:
    """A message as one session sees it: its flags may change during the session."""

    stored: StoredMessage
    flags: set[str]


class _ImapSession:
    def __init__(self, server: ImapServer, ch: Channel) -> None:
        self.server = server
        self.ch = ch
        self.policy = server.policy
        self.state = "not-authenticated"  # -> authenticated -> selected
        self.readonly = False
        self.msgs: list[_Msg] = []
        self.bad_commands = 0
        self.auth_failures = 0

    # --- capabilities: recomputed for every answer, since TLS and login change them -------

    def _starttls_available(self) -> bool:
        return (
            self.server.tls_context is not None
            and self.policy.starttls
            and not self.ch.tls
            and self.state == "not-authenticated"
        )

    def _login_allowed(self) -> bool:
        return self.ch.tls or not self.policy.login_disabled_before_tls

    def _plain_allowed(self) -> bool:
        return self.ch.tls or self.policy.auth_plain_before_tls

    def capabilities(self) -> str:
        caps = ["IMAP4rev1", "SASL-IR", "UNSELECT", "CHILDREN"]
        if self.state == "not-authenticated":
            if self._starttls_available():
                caps.append("STARTTLS")
            if self._plain_allowed():
                caps.append("AUTH=PLAIN")
            if not self._login_allowed():
                caps.append("LOGINDISABLED")
        return " ".join(caps)

    # --- main loop --------------------------------------------------------------------------

    async def run(self) -> None:
        await self._send(f"* OK [CAPABILITY {self.capabilities()}] vedette lab IMAP4rev1 ready")
        while True:
            line = await self.ch.read_line()
            tag, _, rest = line.partition(" ")
            if not tag or not _valid_tag(tag):
                if await self._bad_command("*", "Invalid tag"):
                    return
                continue
            name, _, args = rest.partition(" ")
            name = name.upper()
            try:
                if await self._dispatch(tag, name, args):
                    return
            except _Bad as exc:
                if await self._bad_command(tag, f"Error in IMAP command {name}: {exc}"):
                    return
            except _No as exc:
                await self._send(f"{tag} NO {exc}")

    async def _bad_command(self, tag: str, text: str) -> bool:
        """Answer BAD; True when the client has used up its allowance and was told BYE."""
        self.bad_commands += 1
        if self.bad_commands >= self.server.limits.max_bad_commands:
            await self._send("* BYE Too many invalid IMAP commands.")
            return True
        await self._send(f"{tag} BAD {text}")
        return False

    async def _send(self, line: str) -> None:
        await self.ch.send(line.encode("latin-1") + b"\r\n")

    async def _dispatch(self, tag: str, name: str, args: str) -> bool:
        """Run one command; True when the connection must end."""
        uid = False
        if name == "UID":
            uid = True
            name, _, args = args.partition(" ")
            name = name.upper()
            if name not in ("FETCH", "SEARCH", "STORE"):
                raise _Bad("Unknown UID command")
        toks = _tokenize(args)

        if name == "CAPABILITY":
            _no_args(toks)
            await self._send(f"* CAPABILITY {self.capabilities()}")
            await self._send(f"{tag} OK Capability completed.")
        elif name == "NOOP" or name == "CHECK":
            _no_args(toks)
            await self._send(f"{tag} OK {name.capitalize()} completed.")
        elif name == "LOGOUT":
            _no_args(toks)
            await self._send("* BYE Logging out")
            await self._send(f"{tag} OK Logout completed.")
            return True
        elif name == "STARTTLS":
            await self._starttls(tag, toks)
        elif name == "LOGIN":
            return await self._login(tag, toks)
        elif name == "AUTHENTICATE":
            return await self._authenticate(tag, toks)
        elif name in ("SELECT", "EXAMINE"):
            await self._select(tag, toks, readonly=name == "EXAMINE")
        elif name in ("LIST", "LSUB"):
            await self._list(tag, name, toks)
        elif name == "STATUS":
            await self._status(tag, toks)
        elif name in ("CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE"):
            self._need("authenticated", "selected")
            raise _No("[CANNOT] The lab mailbox cannot be changed.")
        elif name == "FETCH":
            await self._fetch(tag, toks, uid=uid)
        elif name == "STORE":
            await self._store(tag, toks, uid=uid)
        elif name == "SEARCH":
            await self._search(tag, toks, uid=uid)
        elif name == "EXPUNGE":
            self._need("selected")
            _no_args(toks)
            await self._expunge(silent=False)
            await self._send(f"{tag} OK Expunge completed.")
        elif name in ("CLOSE", "UNSELECT"):
            self._need("selected")
            _no_args(toks)
            if name == "CLOSE":
                await self._expunge(silent=True)  # RFC 3501 6.4.2: CLOSE expunges silently
            self.state, self.msgs = "authenticated", []
            await self._send(f"{tag} OK {name.capitalize()} completed.")
        else:
            raise _Bad("Unknown command.")
        return False

    def _need(self, *states: str) -> None:
        if self.state not in states:
            if self.state == "not-authenticated":
                raise _Bad("Not logged in.")
            raise _Bad("No mailbox selected." if "selected" in states else "Already logged in.")

    # --- STARTTLS and authentication -------------------------------------------------------

    async def _starttls(self, tag: str, toks: list[Token]) -> None:
        _no_args(toks)
        if self.ch.tls:
            raise _Bad("TLS is already active.")
        if not self._starttls_available():
            raise _Bad("STARTTLS not available.")
        assert self.server.tls_context is not None
        await self._send(f"{tag} OK Begin TLS negotiation now.")
        await self.ch.start_tls(self.server.tls_context)

    async def _login(self, tag: str, toks: list[Token]) -> bool:
        self._need("not-authenticated")
        if len(toks) != 2 or not all(isinstance(t, str) for t in toks):
            raise _Bad("LOGIN needs a user name and a password.")
        if not self._login_allowed():
            # RFC 3501 6.2.3: LOGINDISABLED was advertised, so LOGIN must fail. The password has
            # crossed the wire in clear already; refusing it still teaches the client not to.
            raise _No(
                "[PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure "
                "(SSL/TLS) connections."
            )
        user, password = toks
        return await self._auth_result(tag, check_credentials(str(user), str(password)))

    async def _authenticate(self, tag: str, toks: list[Token]) -> bool:
        self._need("not-authenticated")
        if not toks or len(toks) > 2 or not all(isinstance(t, str) for t in toks):
            raise _Bad("AUTHENTICATE needs a mechanism name.")
        mech = str(toks[0]).upper()
        if mech != "PLAIN":
            raise _No("Unsupported authentication mechanism.")
        if not self._plain_allowed():
            raise _No("[PRIVACYREQUIRED] Plaintext authentication disallowed before STARTTLS.")
        if len(toks) == 2:
            # SASL-IR (RFC 4959): the initial response is in the command; "=" means empty.
            response = str(toks[1])
            response = "" if response == "=" else response
        else:
            await self.ch.send(b"+ \r\n")  # empty challenge: PLAIN is client-first
            response = await self.ch.read_line()
            if response.strip() == "*":
                raise _Bad("Authentication aborted by client.")
        return await self._auth_result(tag, plain_login_ok(response))

    async def _auth_result(self, tag: str, ok: bool) -> bool:
        if ok:
            self.state = "authenticated"
            await self._send(f"{tag} OK [CAPABILITY {self.capabilities()}] Logged in")
            return False
        self.auth_failures += 1
        if self.auth_failures >= self.server.limits.max_auth_failures:
            await self._send("* BYE Too many invalid authentication attempts.")
            return True
        await self._send(f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.")
        return False

    # --- mailboxes ------------------------------------------------------------------------

    async def _select(self, tag: str, toks: list[Token], *, readonly: bool) -> None:
        self._need("authenticated", "selected")
        if len(toks) != 1 or not isinstance(toks[0], str):
            raise _Bad("SELECT needs one mailbox name.")
        # Selecting anything (even a mailbox that does not exist) deselects the current one.
        self.state, self.msgs = "authenticated", []
        if toks[0].upper() != _MAILBOX:
            raise _No(f"[NONEXISTENT] Mailbox doesn't exist: {toks[0]}")
        self.msgs = [_Msg(stored=m, flags=set(m.flags)) for m in self.server.messages]
        self.state, self.readonly = "selected", readonly
        unseen = [i for i, m in enumerate(self.msgs, 1) if "\\Seen" not in m.flags]
        await self._send(f"* FLAGS ({' '.join(_SYSTEM_FLAGS)})")
        perm = "" if readonly else " ".join(_SYSTEM_FLAGS)
        await self._send(f"* OK [PERMANENTFLAGS ({perm})] Flags permitted.")
        await self._send(f"* {len(self.msgs)} EXISTS")
        await self._send("* 0 RECENT")
        if unseen:
            await self._send(f"* OK [UNSEEN {unseen[0]}] First unseen.")
        await self._send(f"* OK [UIDVALIDITY {_UIDVALIDITY}] UIDs valid")
        await self._send(f"* OK [UIDNEXT {self._uidnext()}] Predicted next UID")
        mode = "READ-ONLY" if readonly else "READ-WRITE"
        await self._send(f"{tag} OK [{mode}] {'Examine' if readonly else 'Select'} completed.")

    def _uidnext(self) -> int:
        return max((m.uid for m in self.server.messages), default=0) + 1

    async def _list(self, tag: str, name: str, toks: list[Token]) -> None:
        self._need("authenticated", "selected")
        if len(toks) != 2 or not all(isinstance(t, str) for t in toks):
            raise _Bad(f"{name} needs a reference and a mailbox pattern.")
        ref, pattern = str(toks[0]), str(toks[1])
        if name == "LIST" and pattern == "":
            # RFC 3501 6.3.8: an empty pattern asks for the hierarchy delimiter.
            await self._send('* LIST (\\Noselect) "/" ""')
        elif _list_matches(ref + pattern, _MAILBOX):
            attrs = "" if name == "LSUB" else "\\HasNoChildren"
            await self._send(f'* {name} ({attrs}) "/" {_MAILBOX}')
        await self._send(f"{tag} OK {name.capitalize()} completed.")

    async def _status(self, tag: str, toks: list[Token]) -> None:
        self._need("authenticated", "selected")
        if len(toks) != 2 or not isinstance(toks[0], str) or not isinstance(toks[1], list):
            raise _Bad("STATUS needs a mailbox and a list of items.")
        if toks[0].upper() != _MAILBOX:
            raise _No(f"[NONEXISTENT] Mailbox doesn't exist: {toks[0]}")
        msgs = self.server.messages
        values = {
            "MESSAGES": len(msgs),
            "RECENT": 0,
            "UIDNEXT": self._uidnext(),
            "UIDVALIDITY": _UIDVALIDITY,
            "UNSEEN": sum(1 for m in msgs if "\\Seen" not in m.flags),
        }
        out = []
        for item in toks[1]:
            if not isinstance(item, str) or item.upper() not in values:
                raise _Bad(f"Unknown STATUS item {item!r}.")
            out.append(f"{item.upper()} {values[item.upper()]}")
        await self._send(f"* STATUS {_MAILBOX} ({' '.join(out)})")
        await self._send(f"{tag} OK Status completed.")

    # --- messages -------------------------------------------------------------------------

    def _select_set(self, text: Token, *, uid: bool) -> list[tuple[int, _Msg]]:
        """The (sequence number, message) pairs a sequence set or UID set names."""
        if not isinstance(text, str):
            raise _Bad("Invalid message set.")
        if uid:
            top = max((m.stored.uid for m in self.msgs), default=0)
            ranges = _parse_set(text, top)
            return [(i, m) for i, m in enumerate(self.msgs, 1) if _in(ranges, m.stored.uid)]
        ranges = _parse_set(text, len(self.msgs))
        for lo, hi in ranges:
            if lo < 1 or hi > len(self.msgs):
                raise _Bad("Invalid messageset (message sequence number out of range).")
        return [(i, m) for i, m in enumerate(self.msgs, 1) if _in(ranges, i)]

    async def _fetch(self, tag: str, toks: list[Token], *, uid: bool) -> None:
        self._need("selected")
        if len(toks) != 2:
            raise _Bad("FETCH needs a message set and items.")
        chosen = self._select_set(toks[0], uid=uid)
        items = _fetch_items(toks[1])
        if uid and "UID" not in items:
            items.insert(0, "UID")  # RFC 3501 6.4.8: UID FETCH always returns the UID
        for seq, msg in chosen:
            await self.ch.send(self._fetch_one(seq, msg, items))
        await self._send(f"{tag} OK Fetch completed.")

    def _fetch_one(self, seq: int, msg: _Msg, items: list[str]) -> bytes:
        parts: list[bytes] = []
        set_seen = False
        st = msg.stored
        for item in items:
            if item == "UID":
                parts.append(f"UID {st.uid}".encode())
            elif item == "FLAGS":
                continue  # emitted last, after \Seen may have been set by this fetch
            elif item == "INTERNALDATE":
                date = st.internal_date.strftime("%d-%b-%Y %H:%M:%S +0000")
                parts.append(f'INTERNALDATE "{date}"'.encode())
            elif item == "RFC822.SIZE":
                parts.append(f"RFC822.SIZE {st.size}".encode())
            elif item == "ENVELOPE":
                parts.append(b"ENVELOPE " + _envelope(st).encode("latin-1"))
            elif item in ("BODYSTRUCTURE", "BODY"):
                parts.append(f"{item} {_bodystructure(st)}".encode())
            elif item == "RFC822":
                parts.append(b"RFC822 " + _literal(st.data))
                set_seen = True
            elif item == "RFC822.HEADER":
                parts.append(b"RFC822.HEADER " + _literal(st.header))
            elif item == "RFC822.TEXT":
                parts.append(b"RFC822.TEXT " + _literal(st.text))
                set_seen = True
            else:
                label, data, peek = _body_section(st, item)
                parts.append(label.encode("latin-1") + b" " + _literal(data))
                set_seen = set_seen or not peek
        if set_seen and not self.readonly and "\\Seen" not in msg.flags:
            msg.flags.add("\\Seen")
            if "FLAGS" not in items:
                items = [*items, "FLAGS"]  # RFC 3501 6.4.5: report the implicit flag change
        if "FLAGS" in items:
            parts.append(f"FLAGS ({' '.join(sorted(msg.flags))})".encode())
        return f"* {seq} FETCH (".encode() + b" ".join(parts) + b")\r\n"

    async def _store(self, tag: str, toks: list[Token], *, uid: bool) -> None:
        self._need("selected")
        if len(toks) != 3 or not isinstance(toks[1], str):
            raise _Bad("STORE needs a message set, an operation and flags.")
        if self.readonly:
            raise _No("[READ-ONLY] Mailbox is read-only.")
        chosen = self._select_set(toks[0], uid=uid)
        op = toks[1].upper()
        silent = op.endswith(".SILENT")
        op = op.removesuffix(".SILENT")
        if op not in ("FLAGS", "+FLAGS", "-FLAGS"):
            raise _Bad("Unknown STORE operation.")
        raw = toks[2] if isinstance(toks[2], list) else [toks[2]]
        flags = set()
        for f in raw:
            if not isinstance(f, str) or f == "\\Recent":
                raise _Bad("Invalid flag.")
            flags.add(_canonical_flag(f))
        for seq, msg in chosen:
            if op == "FLAGS":
                msg.flags = set(flags)
            elif op == "+FLAGS":
                msg.flags |= flags
            else:
                msg.flags -= flags
            if not silent:
                uid_part = f"UID {msg.stored.uid} " if uid else ""
                flag_text = " ".join(sorted(msg.flags))
                await self._send(f"* {seq} FETCH ({uid_part}FLAGS ({flag_text}))")
        await self._send(f"{tag} OK Store completed.")

    async def _expunge(self, *, silent: bool) -> None:
        if self.readonly:
            return
        seq = 1
        for msg in list(self.msgs):
            if "\\Deleted" in msg.flags:
                self.msgs.remove(msg)
                if not silent:
                    await self._send(f"* {seq} EXPUNGE")  # later numbers shift down by one
            else:
                seq += 1

    async def _search(self, tag: str, toks: list[Token], *, uid: bool) -> None:
        self._need("selected")
        if toks and isinstance(toks[0], str) and toks[0].upper() == "CHARSET":
            if len(toks) < 2 or str(toks[1]).upper() not in ("US-ASCII", "UTF-8"):
                raise _No("[BADCHARSET (US-ASCII UTF-8)] Unsupported charset.")
            toks = toks[2:]
        if not toks:
            raise _Bad("SEARCH needs criteria.")
        pred = _search_all(iter(toks), self)
        hits = [str(m.stored.uid if uid else i) for i, m in enumerate(self.msgs, 1) if pred(i, m)]
        await self._send("* SEARCH" + "".join(f" {h}" for h in hits))
        await self._send(f"{tag} OK Search completed.")


# --- command syntax ---------------------------------------------------------------------------

_TAG_RE = re.compile(r"^[\x21-\x7e]+$")


def _valid_tag(tag: str) -> bool:
    # RFC 3501: tag = 1*<any ASTRING-CHAR except "+">; no list or quoted specials.
    return bool(_TAG_RE.match(tag)) and not any(c in tag for c in '+(){%*"\\')


def _tokenize(text: str) -> list[Token]:
    """Split command arguments into atoms, quoted strings and parenthesised lists.

    An atom may contain a bracketed part with spaces and parentheses
    (``BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]<0.512>``), which is kept whole.
    """
    stack: list[list[Token]] = [[]]
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == " ":
            i += 1
        elif c == "(":
            stack.append([])
            i += 1
        elif c == ")":
            if len(stack) == 1:
                raise _Bad("Unbalanced ')'.")
            done = stack.pop()
            stack[-1].append(done)
            i += 1
        elif c == '"':
            out: list[str] = []
            i += 1
            while True:
                if i >= n:
                    raise _Bad("Unterminated quoted string.")
                c = text[i]
                if c == "\\" and i + 1 < n and text[i + 1] in '\\"':
                    out.append(text[i + 1])
                    i += 2
                elif c == '"':
                    i += 1
                    break
                else:
                    out.append(c)
                    i += 1
            stack[-1].append("".join(out))
        elif c == "{":
            raise _Bad("Literals are not supported by the lab server; send quoted strings.")
        else:
            j, depth = i, 0
            while j < n:
                cj = text[j]
                if cj == "[":
                    depth += 1
                elif cj == "]":
                    depth -= 1
                    if depth < 0:
                        raise _Bad("Unbalanced ']'.")
                elif depth == 0 and cj in ' ()"':
                    break
                j += 1
            if depth:
                raise _Bad("Unbalanced '['.")
            stack[-1].append(text[i:j])
            i = j
    if len(stack) != 1:
        raise _Bad("Unbalanced '('.")
    return stack[0]


def _no_args(toks: list[Token]) -> None:
    if toks:
        raise _Bad("Unexpected arguments.")


def _list_matches(pattern: str, name: str) -> bool:
    # RFC 3501 6.3.8: "*" matches anything, "%" anything but the hierarchy delimiter. INBOX is
    # case-insensitive (RFC 3501 5.1).
    rx = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, name, re.IGNORECASE) is not None


_SET_RE = re.compile(r"^(\d+|\*)(?::(\d+|\*))?$")


def _parse_set(text: str, star: int) -> list[tuple[int, int]]:
    """``1:3,5,7:*`` -> [(1, 3), (5, 5), (7, star)]; ranges may be written high:low."""
    ranges = []
    for part in text.split(","):
        m = _SET_RE.match(part)
        if m is None:
            raise _Bad("Invalid message set.")
        a = star if m.group(1) == "*" else int(m.group(1))
        b = a if m.group(2) is None else (star if m.group(2) == "*" else int(m.group(2)))
        if (m.group(1) != "*" and a == 0) or (m.group(2) not in (None, "*") and b == 0):
            raise _Bad("Invalid message set (0 is not a message number).")
        ranges.append((min(a, b), max(a, b)))
    return ranges


def _in(ranges: list[tuple[int, int]], value: int) -> bool:
    return any(lo <= value <= hi for lo, hi in ranges)


_MACROS = {
    "ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
    "FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
    "FULL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"],
}
_SIMPLE_ITEMS = frozenset(
    {
        "UID",
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "ENVELOPE",
        "BODYSTRUCTURE",
        "BODY",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
    }
)
_SECTION_RE = re.compile(r"^(BODY|BODY\.PEEK)\[([^\]]*)\](?:<(\d+)\.(\d+)>)?$")


def _fetch_items(tok: Token) -> list[str]:
    if isinstance(tok, str) and tok.upper() in _MACROS:
        return list(_MACROS[tok.upper()])
    raw = tok if isinstance(tok, list) else [tok]
    items = []
    for t in raw:
        if not isinstance(t, str):
            raise _Bad("Invalid fetch item.")
        up = t.upper()
        if up not in _SIMPLE_ITEMS and not _SECTION_RE.match(up):
            raise _Bad(f"Unknown fetch item {t}.")
        items.append(up)
    return items


def _body_section(st: StoredMessage, item: str) -> tuple[str, bytes, bool]:
    """(label for the response, data, is-peek) for a ``BODY[section]<partial>`` item."""
    m = _SECTION_RE.match(item)
    assert m is not None
    peek = m.group(1) == "BODY.PEEK"
    section = m.group(2)
    if section == "":
        data = st.data
    elif section == "HEADER":
        data = st.header
    elif section in ("TEXT", "1"):  # a single-part message's part 1 is its body
        data = st.text
    elif section.startswith(("HEADER.FIELDS ", "HEADER.FIELDS.NOT ")):
        kind, _, names_text = section.partition(" ")
        names = _tokenize(names_text)
        if len(names) != 1 or not isinstance(names[0], list) or not names[0]:
            raise _Bad("Invalid HEADER.FIELDS list.")
        wanted = {str(n).lower() for n in names[0]}
        data = _header_fields(st.header, wanted, exclude=kind.endswith(".NOT"))
    else:
        raise _Bad(f"Unsupported body section [{section}].")
    label = f"BODY[{section}]"
    if m.group(3) is not None:
        # Partial fetch: <origin.count>; the response names only the origin (RFC 3501 7.4.2).
        origin, count = int(m.group(3)), int(m.group(4))
        data = data[origin : origin + count]
        label += f"<{origin}>"
    return label, data, peek


def _header_fields(header: bytes, wanted: set[str], *, exclude: bool) -> bytes:
    out = []
    keep = False
    for line in header.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):  # a folded continuation belongs to the previous field
            if keep:
                out.append(line)
            continue
        name = line.split(b":", 1)[0].decode("latin-1").strip().lower()
        keep = (name in wanted) != exclude
        if keep:
            out.append(line)
    return b"".join(x + b"\r\n" for x in out) + b"\r\n"


def _literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


def _q(text: str | None) -> str:
    if text is None:
        return "NIL"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _addresses(value: str | None) -> str:
    if not value:
        return "NIL"
    out = []
    for name, addr in getaddresses([value]):
        mailbox, _, host = addr.partition("@")
        out.append(f"({_q(name or None)} NIL {_q(mailbox)} {_q(host or None)})")
    return "(" + "".join(out) + ")" if out else "NIL"


def _envelope(st: StoredMessage) -> str:
    # RFC 3501 7.4.2: date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, msg-id.
    h = BytesParser(policy=policy.compat32).parsebytes(st.header, headersonly=True)
    sender = h.get("Sender") or h.get("From")
    reply_to = h.get("Reply-To") or h.get("From")
    fields = [
        _q(h.get("Date")),
        _q(h.get("Subject")),
        _addresses(h.get("From")),
        _addresses(sender),
        _addresses(reply_to),
        _addresses(h.get("To")),
        _addresses(h.get("Cc")),
        _addresses(h.get("Bcc")),
        _q(h.get("In-Reply-To")),
        _q(h.get("Message-ID")),
    ]
    return "(" + " ".join(fields) + ")"


def _bodystructure(st: StoredMessage) -> str:
    # A single text part: type, subtype, parameters, id, description, encoding, size, lines.
    msg = BytesParser(policy=policy.compat32).parsebytes(st.data)
    maintype, subtype = msg.get_content_maintype().upper(), msg.get_content_subtype().upper()
    charset = msg.get_content_charset() or "us-ascii"
    cte = str(msg.get("Content-Transfer-Encoding", "7bit")).upper()
    lines = st.text.count(b"\r\n")
    params = f'("CHARSET" {_q(charset)})'
    return f'("{maintype}" "{subtype}" {params} NIL NIL "{cte}" {len(st.text)} {lines})'


def _canonical_flag(flag: str) -> str:
    for f in _SYSTEM_FLAGS:
        if f.lower() == flag.lower():
            return f
    return flag


# --- SEARCH -----------------------------------------------------------------------------------

Pred = Callable[[int, _Msg], bool]

_FLAG_KEYS = {
    "SEEN": ("\\Seen", True),
    "UNSEEN": ("\\Seen", False),
    "ANSWERED": ("\\Answered", True),
    "UNANSWERED": ("\\Answered", False),
    "FLAGGED": ("\\Flagged", True),
    "UNFLAGGED": ("\\Flagged", False),
    "DELETED": ("\\Deleted", True),
    "UNDELETED": ("\\Deleted", False),
    "DRAFT": ("\\Draft", True),
    "UNDRAFT": ("\\Draft", False),
}
_HEADER_KEYS = {"SUBJECT", "FROM", "TO", "CC", "BCC"}


def _search_all(it: Iterator[Token], session: _ImapSession) -> Pred:
    preds = []
    for tok in it:
        preds.append(_search_key(tok, it, session))
    return lambda i, m: all(p(i, m) for p in preds)


def _next_str(it: Iterator[Token]) -> str:
    tok = next(it, None)
    if not isinstance(tok, str):
        raise _Bad("Missing search argument.")
    return tok


def _search_key(tok: Token, it: Iterator[Token], session: _ImapSession) -> Pred:
    if isinstance(tok, list):
        return _search_all(iter(tok), session)
    key = tok.upper()
    if key == "ALL" or key == "OLD":
        return lambda i, m: True
    if key in ("NEW", "RECENT"):
        return lambda i, m: False  # nothing is \Recent in the lab
    if key in _FLAG_KEYS:
        flag, present = _FLAG_KEYS[key]
        return lambda i, m: (flag in m.flags) == present
    if key in ("KEYWORD", "UNKEYWORD"):
        word, present = _next_str(it).lower(), key == "KEYWORD"
        return lambda i, m: any(f.lower() == word for f in m.flags) == present
    if key in _HEADER_KEYS or key == "HEADER":
        field = _next_str(it) if key == "HEADER" else key
        needle = _next_str(it).lower().encode("utf-8")
        return lambda i, m: needle in _header_value(m.stored, field).lower()
    if key in ("BODY", "TEXT"):
        needle = _next_str(it).lower().encode("utf-8")
        return lambda i, m: needle in (m.stored.text if key == "BODY" else m.stored.data).lower()
    if key in ("LARGER", "SMALLER"):
        arg = _next_str(it)
        if not arg.isdigit():
            raise _Bad(f"{key} needs a number.")
        size = int(arg)
        if key == "LARGER":
            return lambda i, m: m.stored.size > size
        return lambda i, m: m.stored.size < size
    if key == "NOT":
        inner = _search_key(_token(it), it, session)
        return lambda i, m: not inner(i, m)
    if key == "OR":
        a = _search_key(_token(it), it, session)
        b = _search_key(_token(it), it, session)
        return lambda i, m: a(i, m) or b(i, m)
    if key == "UID":
        top = max((m.stored.uid for m in session.msgs), default=0)
        uid_ranges = _parse_set(_next_str(it), top)
        return lambda i, m: _in(uid_ranges, m.stored.uid)
    if _SET_CHARS.match(key):
        seq_ranges = _parse_set(key, len(session.msgs))
        return lambda i, m: _in(seq_ranges, i)
    raise _Bad(f"Unsupported search key {tok}.")


_SET_CHARS = re.compile(r"^[0-9*:,]+$")


def _token(it: Iterator[Token]) -> Token:
    tok = next(it, None)
    if tok is None:
        raise _Bad("Missing search key.")
    return tok


def _header_value(st: StoredMessage, field: str) -> bytes:
    want = field.lower().encode("latin-1")
    out = []
    for line in st.header.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == want:
            out.append(value.strip())
    return b" ".join(out)
