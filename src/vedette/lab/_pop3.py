"""The lab's POP3 server (RFC 1939, CAPA and extensions from RFC 2449, STLS from RFC 2595,
AUTH from RFC 5034), enough for poplib and curl to log in, list and retrieve.

Plaintext exposure before TLS is set per scenario by :class:`Pop3Policy`: whether ``USER`` (and
``SASL PLAIN``) is offered and accepted in clear, and whether ``STLS`` exists at all. A server
that refuses USER in clear answers it with ``-ERR [AUTH]``, which is what Dovecot does with
``disable_plaintext_auth = yes``.

Multi-line replies end with a line holding a single dot, so a message line that begins with a
dot is sent with an extra dot in front ("dot-stuffing", RFC 1939 section 3). The sample mailbox
has such lines on purpose.

``DELE`` marks messages for the rest of the session and ``RSET`` unmarks them; nothing is ever
removed for real at ``QUIT`` — every session sees the same mailbox (the lab must be repeatable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vedette.lab._channel import Channel, LineServer
from vedette.lab._mailbox import StoredMessage, check_credentials, plain_login_ok

if TYPE_CHECKING:
    import ssl

    from vedette.lab._channel import LabLimits


@dataclass(frozen=True, slots=True, kw_only=True)
class Pop3Policy:
    """What the server offers before TLS.

    Attributes:
        stls: offer STLS on a cleartext connection (ignored with implicit TLS).
        user_before_tls: offer and accept ``USER``/``PASS`` and ``AUTH PLAIN`` in clear.
    """

    stls: bool = True
    user_before_tls: bool = False


class Pop3Server(LineServer):
    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None,
        implicit_tls: bool,
        limits: LabLimits,
        hostname: str,
        policy: Pop3Policy,
        messages: tuple[StoredMessage, ...],
    ) -> None:
        super().__init__(
            tls_context=tls_context, implicit_tls=implicit_tls, limits=limits, hostname=hostname
        )
        self.policy = policy
        self.messages = messages

    async def session(self, ch: Channel) -> None:
        await _Pop3Session(self, ch).run()

    def busy_reply(self) -> bytes:
        return b"-ERR [SYS/TEMP] Too many connections, try again later\r\n"

    def timeout_reply(self) -> bytes:
        return b"-ERR Disconnected for inactivity.\r\n"

    def too_long_reply(self) -> bytes:
        return b"-ERR Command line too long, disconnecting.\r\n"

    def bad_reply(self, reason: str) -> bytes:
        return b"-ERR Protocol error, disconnecting.\r\n"


class _Pop3Session:
    def __init__(self, server: Pop3Server, ch: Channel) -> None:
        self.server = server
        self.ch = ch
        self.policy = server.policy
        self.authenticated = False
        self.user: str | None = None  # after a successful USER, waiting for PASS
        self.deleted: set[int] = set()  # message numbers marked by DELE
        self.bad_commands = 0
        self.auth_failures = 0

    def _stls_available(self) -> bool:
        return (
            self.server.tls_context is not None
            and self.policy.stls
            and not self.ch.tls
            and not self.authenticated
        )

    def _login_allowed(self) -> bool:
        return self.ch.tls or self.policy.user_before_tls

    async def _ok(self, text: str) -> None:
        await self.ch.send(f"+OK {text}\r\n".encode("latin-1"))

    async def _err(self, text: str) -> None:
        await self.ch.send(f"-ERR {text}\r\n".encode("latin-1"))

    async def _multiline(self, first: str, body: bytes) -> None:
        """``+OK first``, the body dot-stuffed line by line, then the terminating dot."""
        out = bytearray(f"+OK {first}\r\n".encode("latin-1"))
        if body:
            lines = body.split(b"\r\n")
            if lines[-1] == b"":
                lines.pop()  # the body ends with CRLF: no extra empty line
            for line in lines:
                if line.startswith(b"."):
                    out += b"."  # RFC 1939 section 3: byte-stuff the termination octet
                out += line + b"\r\n"
        out += b".\r\n"
        await self.ch.send(bytes(out))

    async def run(self) -> None:
        await self._ok("vedette lab POP3 ready.")
        while True:
            line = await self.ch.read_line()
            name, _, rest = line.partition(" ")
            args = rest.split()
            if name.upper() == "PASS":
                # The password may contain spaces: keep the rest of the line whole.
                args = [rest] if rest else []
            try:
                if await self._dispatch(name.upper(), args):
                    return
            except _Bad as exc:
                self.bad_commands += 1
                if self.bad_commands >= self.server.limits.max_bad_commands:
                    await self._err("Too many bad commands, disconnecting.")
                    return
                await self._err(str(exc))

    def _capa(self) -> list[str]:
        caps = ["TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"]
        if not self.authenticated:
            if self._stls_available():
                caps.append("STLS")
            if self._login_allowed():
                caps += ["USER", "SASL PLAIN"]
        caps.append("IMPLEMENTATION vedette-lab")
        return caps

    async def _dispatch(self, name: str, args: list[str]) -> bool:
        if name == "CAPA":
            await self._multiline("Capability list follows", "\r\n".join(self._capa()).encode())
        elif name == "QUIT":
            await self._ok("Logging out.")
            return True
        elif name == "NOOP":
            await self._ok("")
        elif name == "STLS":
            await self._stls()
        elif name in ("USER", "PASS", "AUTH", "APOP"):
            return await self._auth(name, args)
        elif name in ("STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET"):
            if not self.authenticated:
                raise _Bad("Unknown command (not logged in).")
            await self._transaction(name, args)
        else:
            raise _Bad("Unknown command.")
        return False

    async def _stls(self) -> None:
        if self.ch.tls:
            raise _Bad("TLS already active.")
        if not self._stls_available():
            raise _Bad("STLS not available.")
        assert self.server.tls_context is not None
        await self._ok("Begin TLS negotiation now.")
        await self.ch.start_tls(self.server.tls_context)

    async def _auth(self, name: str, args: list[str]) -> bool:
        if self.authenticated:
            raise _Bad("Already logged in.")
        if name == "APOP":
            raise _Bad("APOP is not supported (the greeting carries no timestamp).")
        if name == "AUTH" and not args:
            # RFC 1734 / Dovecot: a bare AUTH lists the mechanisms.
            mechs = b"PLAIN" if self._login_allowed() else b""
            await self._multiline("", mechs)
            return False
        if not self._login_allowed():
            # Dovecot's answer with disable_plaintext_auth = yes.
            self.user = None
            await self._err(
                "[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
            )
            return False
        if name == "USER":
            if len(args) != 1:
                raise _Bad("USER needs one argument.")
            self.user = args[0]
            await self._ok("")
            return False
        if name == "PASS":
            if self.user is None:
                raise _Bad("No USER given.")
            if len(args) != 1:
                raise _Bad("PASS needs a password.")
            user, self.user = self.user, None
            return await self._result(check_credentials(user, args[0]))
        # AUTH mechanism [initial-response]  (RFC 5034)
        if args[0].upper() != "PLAIN" or len(args) > 2:
            await self._err("Unsupported authentication mechanism.")
            return False
        if len(args) == 2:
            response = "" if args[1] == "=" else args[1]
        else:
            await self.ch.send(b"+ \r\n")
            response = await self.ch.read_line()
            if response.strip() == "*":
                await self._err("Authentication aborted.")
                return False
        return await self._result(plain_login_ok(response))

    async def _result(self, ok: bool) -> bool:
        if ok:
            self.authenticated = True
            await self._ok("Logged in.")
            return False
        self.auth_failures += 1
        if self.auth_failures >= self.server.limits.max_auth_failures:
            await self._err("[AUTH] Too many authentication failures, disconnecting.")
            return True
        await self._err("[AUTH] Authentication failed.")
        return False

    def _message(self, arg: str) -> tuple[int, StoredMessage]:
        if not arg.isdigit():
            raise _Bad("Invalid message number.")
        num = int(arg)
        msgs = self.server.messages
        if not 1 <= num <= len(msgs) or num in self.deleted:
            raise _Bad(f"There's no message {num}.")
        return num, msgs[num - 1]

    def _live(self) -> list[tuple[int, StoredMessage]]:
        return [(i, m) for i, m in enumerate(self.server.messages, 1) if i not in self.deleted]

    async def _transaction(self, name: str, args: list[str]) -> None:
        if name == "STAT":
            live = self._live()
            await self._ok(f"{len(live)} {sum(m.size for _, m in live)}")
        elif name in ("LIST", "UIDL"):
            if len(args) > 1:
                raise _Bad(f"{name} takes at most one argument.")

            def show(num: int, m: StoredMessage) -> str:
                return f"{num} {m.size if name == 'LIST' else m.uidl}"

            if args:
                await self._ok(show(*self._message(args[0])))
            else:
                lines = [show(i, m) for i, m in self._live()]
                await self._multiline(f"{len(lines)} messages", "\r\n".join(lines).encode())
        elif name == "RETR":
            if len(args) != 1:
                raise _Bad("RETR needs a message number.")
            _, msg = self._message(args[0])
            await self._multiline(f"{msg.size} octets", msg.data)
        elif name == "TOP":
            if len(args) != 2 or not args[1].isdigit():
                raise _Bad("TOP needs a message number and a line count.")
            _, msg = self._message(args[0])
            body_lines = msg.text.split(b"\r\n")
            if body_lines[-1] == b"":
                body_lines.pop()
            text = b"".join(x + b"\r\n" for x in body_lines[: int(args[1])])
            await self._multiline("", msg.header + text)
        elif name == "DELE":
            if len(args) != 1:
                raise _Bad("DELE needs a message number.")
            num, _ = self._message(args[0])
            self.deleted.add(num)
            await self._ok("Marked to be deleted.")
        elif name == "RSET":
            self.deleted.clear()
            await self._ok("")


class _Bad(Exception):
    """A command answered with ``-ERR`` that counts toward the bad-command limit."""
