"""The lab's ESMTP server (RFC 5321, STARTTLS from RFC 3207, AUTH from RFC 4954), enough for
smtplib and curl to log in over TLS and send a message.

Two roles, as on real mail systems (:class:`SmtpPolicy`):

* *submission* (587, and 465 with implicit TLS): users authenticate before ``MAIL``; the
  interesting question is whether ``AUTH`` is offered before ``STARTTLS`` (Postfix
  ``smtpd_tls_auth_only = no``), which invites clients to send the password in clear;
* *relay* (25): a server-to-server MX that accepts mail for its own domain from anyone, refuses
  to relay elsewhere, and offers STARTTLS opportunistically.

STARTTLS resets the session to the state right after the greeting (RFC 3207 section 4.2): the
client must say EHLO again, the EHLO answer changes (AUTH may appear, STARTTLS disappears), and
anything it pipelined behind STARTTLS in clear is thrown away (see ``_channel``).

DATA is read line by line under the line bound; the message ends at a line holding a single dot
and a leading dot is removed from every other line ("dot-unstuffing", RFC 5321 section 4.5.2).
Past ``LabLimits.max_message`` octets the rest of the message is read and dropped, then refused
with 552, as the ``SIZE`` extension (RFC 1870) announces. Accepted messages are handed to the
``deliver`` callback with a ``Received:`` line (RFC 5321 section 4.4; the ``with`` keyword from
RFC 3848 says whether TLS and AUTH were used).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING

from vedette.lab._channel import Channel, LineServer
from vedette.lab._mailbox import check_credentials, decode_sasl_plain

if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable

    from vedette.lab._channel import LabLimits

_MAX_RECIPIENTS = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpPolicy:
    """What the server offers, and to whom.

    Attributes:
        starttls: offer STARTTLS on a cleartext connection (ignored with implicit TLS).
        auth: offer AUTH PLAIN LOGIN at all (once TLS is up). A relay has none.
        auth_before_tls: also offer and accept AUTH in clear.
        submission: require AUTH before MAIL (a submission server); otherwise accept mail for
            ``local_domains`` from anyone and refuse to relay (an MX).
        local_domains: domains this server is the final destination for.
    """

    starttls: bool = True
    auth: bool = True
    auth_before_tls: bool = False
    submission: bool = True
    local_domains: frozenset[str] = frozenset({"lab.vedette.test", "vedette.test"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedMessage:
    """A message a lab SMTP server accepted.

    Attributes:
        server: the scenario name of the server that accepted it.
        mail_from: the envelope sender (``""`` for the null sender ``<>``).
        rcpt_to: envelope recipients, in order.
        data: the message as received, with the server's ``Received:`` line on top, CRLF.
        authenticated_as: the SASL user, or None.
        tls: whether the message came over TLS.
    """

    server: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    data: bytes
    authenticated_as: str | None
    tls: bool


class SmtpServer(LineServer):
    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None,
        implicit_tls: bool,
        limits: LabLimits,
        hostname: str,
        policy: SmtpPolicy,
        name: str,
        deliver: Callable[[ReceivedMessage], None],
    ) -> None:
        super().__init__(
            tls_context=tls_context, implicit_tls=implicit_tls, limits=limits, hostname=hostname
        )
        self.policy = policy
        self.name = name
        self.deliver = deliver

    async def session(self, ch: Channel) -> None:
        await _SmtpSession(self, ch).run()

    def busy_reply(self) -> bytes:
        return f"421 4.7.0 {self.hostname} Error: too many connections\r\n".encode()

    def timeout_reply(self) -> bytes:
        return f"421 4.4.2 {self.hostname} Error: timeout exceeded\r\n".encode()

    def too_long_reply(self) -> bytes:
        return b"500 5.5.0 Error: line too long\r\n"

    def bad_reply(self, reason: str) -> bytes:
        return f"421 4.7.0 {self.hostname} Error: protocol error\r\n".encode()


_PATH_RE = re.compile(r"^(FROM|TO):\s*<([^<>\s]*)>(.*)$", re.IGNORECASE)
_ADDR_RE = re.compile(r"^[^@\s]+@[A-Za-z0-9.-]+$")


class _SmtpSession:
    def __init__(self, server: SmtpServer, ch: Channel) -> None:
        self.server = server
        self.ch = ch
        self.policy = server.policy
        self.errors = 0
        self._reset_session()

    def _reset_session(self) -> None:
        self.helo: str | None = None
        self.esmtp = False
        self.user: str | None = None
        self._reset_transaction()

    def _reset_transaction(self) -> None:
        self.mail_from: str | None = None
        self.rcpts: list[str] = []

    def _auth_offered(self) -> bool:
        return self.policy.auth and (self.ch.tls or self.policy.auth_before_tls)

    def _starttls_offered(self) -> bool:
        return self.server.tls_context is not None and self.policy.starttls and not self.ch.tls

    async def _reply(self, code: int, *lines: str) -> None:
        out = [f"{code}-{t}" for t in lines[:-1]] + [f"{code} {lines[-1]}"]
        await self.ch.send("".join(x + "\r\n" for x in out).encode("latin-1"))

    async def run(self) -> None:
        handlers: dict[str, Callable[[str], Awaitable[bool]]] = {
            "EHLO": self._cmd_ehlo,
            "HELO": self._cmd_helo,
            "STARTTLS": self._cmd_starttls,
            "AUTH": self._cmd_auth,
            "MAIL": self._cmd_mail,
            "RCPT": self._cmd_rcpt,
            "DATA": self._cmd_data,
            "RSET": self._cmd_rset,
            "NOOP": self._cmd_noop,
            "VRFY": self._cmd_vrfy,
            "HELP": self._cmd_help,
            "QUIT": self._cmd_quit,
        }
        await self._reply(220, f"{self.server.hostname} ESMTP vedette lab")
        while True:
            line = await self.ch.read_line()
            verb, _, arg = line.partition(" ")
            handler = handlers.get(verb.upper())
            if handler is None:
                if await self._error(500, "5.5.2 Error: command not recognized"):
                    return
                continue
            if await handler(arg.strip()):
                return

    async def _error(self, code: int, text: str) -> bool:
        """Answer an error; True when the client made too many and was disconnected."""
        self.errors += 1
        if self.errors >= self.server.limits.max_bad_commands:
            await self._reply(421, f"4.7.0 {self.server.hostname} Error: too many errors")
            return True
        await self._reply(code, text)
        return False

    # --- session commands -----------------------------------------------------------------

    async def _cmd_ehlo(self, arg: str) -> bool:
        if not arg:
            return await self._error(501, "5.5.4 Syntax: EHLO hostname")
        self._reset_transaction()
        self.helo, self.esmtp = arg, True
        lines = [
            f"{self.server.hostname} Hello {arg}",
            "PIPELINING",
            f"SIZE {self.server.limits.max_message}",
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
        ]
        if self._starttls_offered():
            lines.append("STARTTLS")
        if self._auth_offered():
            lines.append("AUTH PLAIN LOGIN")
        lines.append("SMTPUTF8")
        await self._reply(250, *lines)
        return False

    async def _cmd_helo(self, arg: str) -> bool:
        if not arg:
            return await self._error(501, "5.5.4 Syntax: HELO hostname")
        self._reset_transaction()
        self.helo, self.esmtp = arg, False
        await self._reply(250, self.server.hostname)
        return False

    async def _cmd_starttls(self, arg: str) -> bool:
        if arg:
            return await self._error(501, "5.5.4 Syntax: STARTTLS")
        if self.ch.tls:
            return await self._error(554, "5.5.1 Error: TLS already active")
        if not self._starttls_offered():
            return await self._error(502, "5.5.1 Error: command not implemented")
        assert self.server.tls_context is not None
        await self._reply(220, "2.0.0 Ready to start TLS")
        await self.ch.start_tls(self.server.tls_context)
        self._reset_session()  # RFC 3207 4.2: forget everything learnt in clear
        return False

    async def _cmd_auth(self, arg: str) -> bool:
        if not self.esmtp:
            return await self._error(503, "5.5.1 Error: send EHLO first")
        if not self.policy.auth:
            return await self._error(503, "5.5.1 Error: authentication not enabled")
        if not self._auth_offered():
            # Postfix with smtpd_tls_auth_only = yes.
            return await self._error(530, "5.7.0 Must issue a STARTTLS command first")
        if self.user is not None:
            return await self._error(503, "5.5.1 Error: already authenticated")
        if self.mail_from is not None:
            return await self._error(503, "5.5.1 Error: MAIL transaction in progress")
        parts = arg.split()
        if not parts or len(parts) > 2:
            return await self._error(501, "5.5.4 Syntax: AUTH mechanism [initial-response]")
        mech = parts[0].upper()
        initial = parts[1] if len(parts) == 2 else None
        if mech == "PLAIN":
            response = await self._sasl_step("", initial)
            if response is None:
                return await self._error(501, "5.7.0 Authentication aborted")
            decoded = decode_sasl_plain(response)
            ok = (
                decoded is not None
                and decoded[0] in ("", decoded[1])
                and check_credentials(decoded[1], decoded[2])
            )
            user = decoded[1] if decoded is not None else ""
        elif mech == "LOGIN":
            # Non-standard but universal (draft-murchison-sasl-login): two prompts, base64
            # "Username:" and "Password:"; an initial response is the user name.
            user_b64 = await self._sasl_step("VXNlcm5hbWU6", initial)
            pass_b64 = await self._sasl_step("UGFzc3dvcmQ6", None) if user_b64 else None
            if user_b64 is None or pass_b64 is None:
                return await self._error(501, "5.7.0 Authentication aborted")
            login_user, password = _b64_text(user_b64), _b64_text(pass_b64)
            ok = login_user is not None and password is not None
            ok = ok and check_credentials(login_user or "", password or "")
            user = login_user or ""
        else:
            return await self._error(504, "5.5.4 Unrecognized authentication type")
        if ok:
            self.user = user
            await self._reply(235, "2.7.0 Authentication successful")
            return False
        return await self._error(535, "5.7.8 Error: authentication failed")

    async def _sasl_step(self, challenge: str, initial: str | None) -> str | None:
        """The client's base64 response: the initial response if given, else after ``334``.

        None when the client cancels with ``*`` (RFC 4954 section 4).
        """
        if initial is not None:
            return "" if initial == "=" else initial
        await self._reply(334, challenge)
        line = (await self.ch.read_line()).strip()
        return None if line == "*" else line

    # --- mail transaction -----------------------------------------------------------------

    async def _cmd_mail(self, arg: str) -> bool:
        if self.helo is None:
            return await self._error(503, "5.5.1 Error: send HELO/EHLO first")
        if self.mail_from is not None:
            return await self._error(503, "5.5.1 Error: nested MAIL command")
        m = _PATH_RE.match(arg)
        if m is None or m.group(1).upper() != "FROM":
            return await self._error(501, "5.5.4 Syntax: MAIL FROM:<address>")
        addr, params = m.group(2), m.group(3).split()
        if addr and not _ADDR_RE.match(addr):
            return await self._error(501, "5.1.7 Bad sender address syntax")
        for p in params:
            key, _, value = p.partition("=")
            key = key.upper()
            if key == "SIZE" and value.isdigit():
                if int(value) > self.server.limits.max_message:
                    return await self._error(552, "5.3.4 Message size exceeds fixed limit")
            elif key == "BODY" and value.upper() in ("7BIT", "8BITMIME"):
                pass
            elif key not in ("AUTH", "SMTPUTF8"):
                return await self._error(555, f"5.5.4 Unsupported option: {p}")
        if self.policy.submission and self.user is None:
            return await self._error(530, "5.7.0 Authentication required")
        self.mail_from = addr
        await self._reply(250, "2.1.0 Ok")
        return False

    async def _cmd_rcpt(self, arg: str) -> bool:
        if self.mail_from is None:
            return await self._error(503, "5.5.1 Error: need MAIL command")
        m = _PATH_RE.match(arg)
        if m is None or m.group(1).upper() != "TO" or not _ADDR_RE.match(m.group(2)):
            return await self._error(501, "5.5.4 Syntax: RCPT TO:<address>")
        addr = m.group(2)
        domain = addr.rpartition("@")[2].lower()
        if self.user is None and domain not in self.policy.local_domains:
            return await self._error(554, f"5.7.1 <{addr}>: Relay access denied")
        if len(self.rcpts) >= _MAX_RECIPIENTS:
            return await self._error(452, "4.5.3 Error: too many recipients")
        self.rcpts.append(addr)
        await self._reply(250, "2.1.5 Ok")
        return False

    async def _cmd_data(self, arg: str) -> bool:
        if arg:
            return await self._error(501, "5.5.4 Syntax: DATA")
        if self.mail_from is None or not self.rcpts:
            return await self._error(503, "5.5.1 Error: need RCPT command")
        await self._reply(354, "End data with <CR><LF>.<CR><LF>")
        limit = self.server.limits.max_message
        body = bytearray()
        too_big = False
        while True:
            line = await self.ch.read_line()
            if line == ".":
                break
            if line.startswith("."):
                line = line[1:]  # RFC 5321 4.5.2: the sender doubled a leading dot
            if not too_big:
                body += line.encode("latin-1") + b"\r\n"
                if len(body) > limit:
                    too_big = True
                    body.clear()  # keep reading to the final dot, but hold nothing
        mail_from, rcpts = self.mail_from, tuple(self.rcpts)
        self._reset_transaction()
        if too_big:
            await self._reply(552, "5.3.4 Error: message file too big")
            return False
        queue_id = secrets.token_hex(5).upper()
        received = self._received_line(queue_id, rcpts)
        self.server.deliver(
            ReceivedMessage(
                server=self.server.name,
                mail_from=mail_from,
                rcpt_to=rcpts,
                data=received + bytes(body),
                authenticated_as=self.user,
                tls=self.ch.tls,
            )
        )
        await self._reply(250, f"2.0.0 Ok: queued as {queue_id}")
        return False

    def _received_line(self, queue_id: str, rcpts: tuple[str, ...]) -> bytes:
        proto = ("E" if self.esmtp else "") + "SMTP"
        if self.esmtp:
            proto += ("S" if self.ch.tls else "") + ("A" if self.user else "")
        for_part = f"\r\n\tfor <{rcpts[0]}>" if len(rcpts) == 1 else ""
        text = (
            f"Received: from {self.helo} ({self.ch.peer})\r\n"
            f"\tby {self.server.hostname} (vedette lab) with {proto} id {queue_id}"
            f"{for_part}; {format_datetime(datetime.now(UTC))}\r\n"
        )
        return text.encode("latin-1")

    async def _cmd_rset(self, arg: str) -> bool:
        self._reset_transaction()
        await self._reply(250, "2.0.0 Ok")
        return False

    async def _cmd_noop(self, arg: str) -> bool:
        await self._reply(250, "2.0.0 Ok")
        return False

    async def _cmd_vrfy(self, arg: str) -> bool:
        await self._reply(252, "2.0.0 Cannot VRFY user, but will accept message")
        return False

    async def _cmd_help(self, arg: str) -> bool:
        await self._reply(214, "2.0.0 See RFC 5321")
        return False

    async def _cmd_quit(self, arg: str) -> bool:
        await self._reply(221, "2.0.0 Bye")
        return True


def _b64_text(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
