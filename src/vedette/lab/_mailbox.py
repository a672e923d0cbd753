"""The lab's one account and its sample mailbox, shared by the IMAP and POP3 servers.

The credentials are a lab fixture, printed by ``vedette demo`` and documented in the README:
they protect nothing (the servers listen on loopback and hold three generated messages).

The messages are built with :mod:`email.message` and serialised with CRLF line endings (the
form IMAP and POP3 put on the wire and the form ``RFC822.SIZE`` is counted in). They are
single-part ``text/plain`` so the IMAP ``BODYSTRUCTURE`` is one simple list. The third one has
body lines starting with a dot, so POP3's dot-stuffing (RFC 1939 section 3) is exercised by
every client that reads it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

#: The lab account. Not a secret: see the module docstring.
DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - a documented lab credential


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredMessage:
    """One message of the sample mailbox.

    Attributes:
        uid: IMAP UID, also the basis of the POP3 UIDL.
        data: the whole message, CRLF line endings.
        flags: IMAP system flags the message starts with (each session gets its own copy).
        internal_date: IMAP INTERNALDATE (when the message "arrived").
    """

    uid: int
    data: bytes
    flags: frozenset[str]
    internal_date: datetime

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def header(self) -> bytes:
        """The header block including the blank line that ends it (IMAP ``BODY[HEADER]``)."""
        idx = self.data.find(b"\r\n\r\n")
        return self.data if idx < 0 else self.data[: idx + 4]

    @property
    def text(self) -> bytes:
        """The body after the blank line (IMAP ``BODY[TEXT]``)."""
        idx = self.data.find(b"\r\n\r\n")
        return b"" if idx < 0 else self.data[idx + 4 :]

    @property
    def uidl(self) -> str:
        """POP3 unique id: stable across sessions, printable, at most 70 chars (RFC 1939)."""
        return f"vedette-lab-{self.uid:08d}"


_SAMPLES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "Vedette Lab <lab@vedette.test>",
        "Welcome to the vedette lab",
        "This mailbox belongs to the vedette demo lab.\n"
        "Every server of the lab serves it, over IMAP and POP3, so that any client\n"
        "can log in (user demo, password demo-password) and read it over TLS.\n",
        ("\\Seen",),
    ),
    (
        "Certificate Robot <pki@vedette.test>",
        "Your certificate for lab.vedette.test expires soon",
        "The certificate of lab.vedette.test expires in 12 days.\n"
        "Renew it with: vedette ca issue lab.vedette.test\n",
        (),
    ),
    (
        "TLS Reports <tlsrpt@vedette.test>",
        "Weekly TLS report",
        "Sessions: 1204 successful, 3 failed (certificate-expired).\n"
        ".well-known/mta-sts.txt was fetched 12 times.\n"
        ".\n"
        "(the line above is a lone dot: POP3 must stuff it, the client must unstuff it)\n",
        ("\\Flagged",),
    ),
)


def sample_messages(host: str) -> tuple[StoredMessage, ...]:
    """The mailbox of user ``demo`` on ``host``: three small text messages."""
    out: list[StoredMessage] = []
    for i, (sender, subject, body, flags) in enumerate(_SAMPLES, start=1):
        date = datetime(2024, 3, i, 9, 30, tzinfo=UTC)
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = f"Demo User <{DEMO_USER}@{host}>"
        msg["Subject"] = subject
        msg["Date"] = format_datetime(date)
        msg["Message-ID"] = f"<lab-{i}.{date:%Y%m%d}@{host}>"
        msg.set_content(body, cte="7bit")
        # policy.SMTP: CRLF line endings, the wire form that sizes are counted in.
        data = msg.as_bytes(policy=policy.SMTP)
        out.append(StoredMessage(uid=i, data=data, flags=frozenset(flags), internal_date=date))
    return tuple(out)


def check_credentials(user: str, password: str) -> bool:
    """True for the lab account. Constant-time on the password, like a real server."""
    ok_user = hmac.compare_digest(user.encode("utf-8", "replace"), DEMO_USER.encode())
    ok_pass = hmac.compare_digest(password.encode("utf-8", "replace"), DEMO_PASSWORD.encode())
    return ok_user and ok_pass


def decode_sasl_plain(b64: str) -> tuple[str, str, str] | None:
    """``(authzid, authcid, password)`` from a SASL PLAIN response (RFC 4616), or None.

    The message is ``[authzid] NUL authcid NUL passwd``, base64-encoded on the wire.
    """
    try:
        raw = base64.b64decode(b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    parts = raw.split(b"\0")
    if len(parts) != 3:
        return None
    try:
        authz, authc, passwd = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError:
        return None
    return authz, authc, passwd


def plain_login_ok(b64: str) -> bool:
    """True when a SASL PLAIN response carries the lab credentials (authzid empty or = user)."""
    decoded = decode_sasl_plain(b64)
    if decoded is None:
        return False
    authz, authc, passwd = decoded
    return authz in ("", authc) and check_credentials(authc, passwd)
