"""What a mail server's capability reply says, and which of it lets a password cross in clear.

Input is exactly what ``DialogueObservation`` stores: whole reply lines, CRLF removed::

    SMTP  ("250-mx.example.org", "250-PIPELINING", "250-STARTTLS", "250 AUTH PLAIN LOGIN")
    IMAP  ("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED", "a1 OK Capability completed.")
    POP3  ("+OK", "USER", "SASL PLAIN LOGIN", "STLS")

Parsing is tolerant by design: it runs over stored observations, possibly years old and from
odd servers, and must never fail; a line it does not understand is skipped. Strictness about
the wire lives in the dialogues, which refuse malformed replies before they are stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

#: SASL mechanisms that hand the password itself to whoever reads the wire: PLAIN (RFC 4616,
#: ``authzid NUL authcid NUL password`` in base64) and LOGIN (the obsolete draft, username and
#: password each base64-encoded). Without TLS, a passive listener has the password.
CLEARTEXT_SASL_MECHANISMS = frozenset({"PLAIN", "LOGIN"})

#: SASL mechanisms that carry a bearer token rather than a password (RFC 7628 OAUTHBEARER,
#: Google/Microsoft XOAUTH2). Sent without TLS the token is replayable until it expires, but it
#: is not the user's password; ``plaintext_password_mechanisms`` does not include them so
#: that a check can weigh them separately.
BEARER_TOKEN_MECHANISMS = frozenset({"XOAUTH2", "OAUTHBEARER"})

_SMTP_LINE = re.compile(r"([0-9]{3})[ -]?(.*)", re.ASCII | re.DOTALL)
_IMAP_CAPABILITY_DATA = re.compile(r"\* CAPABILITY(?: (.*))?", re.ASCII | re.IGNORECASE | re.DOTALL)
#: A ``[CAPABILITY ...]`` response code in a greeting or a tagged OK (RFC 9051 7.1).
_IMAP_CAPABILITY_CODE = re.compile(
    r"\S+ (?:OK|PREAUTH) \[CAPABILITY ([^\]]*)\]", re.ASCII | re.IGNORECASE
)
_POP3_OK = re.compile(r"\+OK(?: |$)", re.ASCII | re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """The capabilities a server advertised, normalised across protocols.

    Attributes:
        names: every capability keyword, upper-case: SMTP EHLO keywords (``STARTTLS``,
            ``AUTH``, ``SIZE``...; the old ``AUTH=PLAIN`` form counts as ``AUTH``), IMAP atoms
            as written (``IMAP4REV1``, ``STARTTLS``, ``AUTH=PLAIN``...), POP3 CAPA tags
            (``USER``, ``SASL``, ``STLS``...). Empty when the reply was a refusal.
        starttls: STARTTLS (SMTP, IMAP) or STLS (POP3) is advertised.
        sasl: SASL mechanism names, upper-case, from SMTP ``AUTH`` (and ``AUTH=``), IMAP
            ``AUTH=`` atoms, POP3 ``SASL``.
        login_disabled: IMAP ``LOGINDISABLED`` (the LOGIN command is refused); always False
            for other protocols.
        user_command: POP3 ``USER`` (USER/PASS login is offered); always False for others.
    """

    names: frozenset[str] = frozenset()
    starttls: bool = False
    sasl: frozenset[str] = frozenset()
    login_disabled: bool = False
    user_command: bool = False


def parse_smtp_capabilities(lines: Sequence[str]) -> Capabilities:
    """An EHLO reply: keywords, ``AUTH`` mechanisms (and the old ``AUTH=`` form)."""
    # The first line of an EHLO reply is "250-<domain> <greeting>", not a keyword; the
    # keywords follow, one per line, with space-separated parameters (RFC 5321 4.1.1.1).
    if not lines:
        return Capabilities()
    first = _SMTP_LINE.fullmatch(lines[0])
    if first is None or not first.group(1).startswith("2"):
        return Capabilities()
    names: set[str] = set()
    sasl: set[str] = set()
    for line in lines[1:]:
        m = _SMTP_LINE.fullmatch(line)
        if m is None:
            continue
        words = m.group(2).upper().split()
        if not words:
            continue
        keyword, params = words[0], words[1:]
        if keyword.startswith("AUTH="):
            # Pre-RFC 2554 syntax still emitted for old Outlook/Netscape clients
            # (Postfix broken_sasl_auth_clients): "AUTH=PLAIN LOGIN".
            names.add("AUTH")
            sasl.update(w for w in [keyword[5:], *params] if w)
            continue
        names.add(keyword)
        if keyword == "AUTH":
            sasl.update(params)
    return Capabilities(names=frozenset(names), starttls="STARTTLS" in names, sasl=frozenset(sasl))


def parse_imap_capabilities(lines: Sequence[str]) -> Capabilities:
    """``* CAPABILITY`` data, and ``[CAPABILITY ...]`` codes in a greeting or tagged OK."""
    atoms: set[str] = set()
    for line in lines:
        m = _IMAP_CAPABILITY_DATA.fullmatch(line) or _IMAP_CAPABILITY_CODE.match(line)
        if m is not None and m.group(1):
            atoms.update(m.group(1).upper().split())
    sasl = frozenset(a[5:] for a in atoms if a.startswith("AUTH=") and len(a) > 5)
    return Capabilities(
        names=frozenset(atoms),
        starttls="STARTTLS" in atoms,
        sasl=sasl,
        login_disabled="LOGINDISABLED" in atoms,
    )


def parse_pop3_capabilities(lines: Sequence[str]) -> Capabilities:
    """A CAPA reply: ``+OK`` then one tag per line (``SASL`` mechanisms, ``USER``, ``STLS``)."""
    # "+OK" status, then one capability per line: a tag and optional parameters (RFC 2449 6).
    if not lines or not _POP3_OK.match(lines[0]):
        return Capabilities()
    names: set[str] = set()
    sasl: set[str] = set()
    for line in lines[1:]:
        words = line.upper().split()
        if not words or words[0] == ".":
            continue
        names.add(words[0])
        if words[0] == "SASL":
            sasl.update(words[1:])
    return Capabilities(
        names=frozenset(names),
        starttls="STLS" in names,
        sasl=frozenset(sasl),
        user_command="USER" in names,
    )
