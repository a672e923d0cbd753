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

from vedette.model import Protocol

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


def parse_capabilities(protocol: Protocol, lines: Sequence[str]) -> Capabilities:
    """Parse a stored capability reply (``capabilities_before_tls`` / ``_after_tls``).

    For IMAP, ``[CAPABILITY ...]`` response codes in a greeting or a tagged OK are read too,
    so the greeting lines can be passed as well.

    Raises:
        ValueError: no capability syntax exists for ``protocol`` (HTTP, SIP).
    """
    match protocol:
        case Protocol.SMTP:
            return _parse_smtp(lines)
        case Protocol.IMAP:
            return _parse_imap(lines)
        case Protocol.POP3:
            return _parse_pop3(lines)
        case _:
            raise ValueError(f"no capability syntax for {protocol.value}")


def _parse_smtp(lines: Sequence[str]) -> Capabilities:
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


def _parse_imap(lines: Sequence[str]) -> Capabilities:
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


def _parse_pop3(lines: Sequence[str]) -> Capabilities:
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


def plaintext_password_mechanisms(protocol: Protocol, caps: Capabilities) -> frozenset[str]:
    """The ways a client could send a password in clear, given these capabilities.

    The result mixes two kinds of names, both upper-case:

    * protocol commands that take the password as an argument: ``LOGIN`` for the IMAP LOGIN
      command (part of base IMAP, so offered unless ``LOGINDISABLED`` is advertised) and
      ``USER`` for POP3 USER/PASS (optional in RFC 1939, so only when the ``USER`` capability
      is advertised);
    * advertised SASL mechanisms that reveal the password: ``PLAIN`` and ``LOGIN``
      (``CLEARTEXT_SASL_MECHANISMS``).

    For IMAP, ``LOGIN`` may thus stand for the command, the SASL mechanism or both; either way
    a password can cross in clear (use ``caps.login_disabled`` to tell which).

    Not counted as cleartext: challenge-response mechanisms (CRAM-MD5, DIGEST-MD5, NTLM,
    SCRAM-*, GSSAPI, OTP), which never put the password on the wire although the older ones
    allow an offline dictionary attack on a captured exchange; bearer tokens (XOAUTH2,
    OAUTHBEARER, see ``BEARER_TOKEN_MECHANISMS``); EXTERNAL and ANONYMOUS, which carry no
    secret. POP3 APOP (an MD5 digest of a nonce and the password) is challenge-response too.

    This says what is *offered*. Whether it matters depends on where the capabilities were
    seen: before TLS it is exposure, inside TLS it is normal.
    """
    found = set(caps.sasl & CLEARTEXT_SASL_MECHANISMS)
    match protocol:
        case Protocol.IMAP:
            if not caps.login_disabled:
                found.add("LOGIN")
        case Protocol.POP3:
            if caps.user_command:
                found.add("USER")
        case _:
            pass
    return frozenset(found)
