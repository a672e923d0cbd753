"""The protocol registry: what vedette knows about each application protocol, in one place.

A protocol is one sans-I/O dialogue module plus one ``ProtocolEntry`` here. Everything else
reads the entry instead of naming protocols: the probe asks whether a dialogue exists and
builds it (first connection, enumeration and resumption re-dials), the resumption probe asks
for the ping that makes a server answer after the handshake, the checks and the reports parse
the capabilities sent in clear and ask which of them let a password cross the wire. The
scheme, default port, TLS mode and role of each service are ``vedette.model.Service``'s.

Adding a protocol therefore touches three source files: ``vedette.model`` (its ``Protocol`` and
``Service`` members), its dialogue module under ``vedette.protocols``, and its entry below.

Entries are plain data and functions: nothing here does I/O.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from vedette.model import Endpoint, Protocol, Role, Service, TlsMode
from vedette.protocols._base import MailDialogue
from vedette.protocols.capabilities import (
    CLEARTEXT_SASL_MECHANISMS,
    Capabilities,
    parse_imap_capabilities,
    parse_pop3_capabilities,
    parse_smtp_capabilities,
)
from vedette.protocols.imap import ImapDialogue
from vedette.protocols.ldap import (
    CLEAR_BIND_FIX,
    PING_MESSAGE_ID,
    LdapDialogue,
    parse_ldap_capabilities,
    root_dse_search,
    simple_bind_in_clear,
)
from vedette.protocols.managesieve import ManageSieveDialogue, parse_sieve_capabilities
from vedette.protocols.pop3 import Pop3Dialogue
from vedette.protocols.smb import SMB_ROUNDS, SmbDialogue, SmbFacts, parse_smb_lines
from vedette.protocols.smtp import SmtpDialogue
from vedette.protocols.xmpp import (
    XmppDialogue,
    parse_xmpp_capabilities,
    stream_header,
    xmpp_password_commands,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogueSettings:
    """What a dialogue may need to know about the connection it drives.

    Attributes:
        implicit_tls: TLS was completed before the first byte (465, 993, 995...): read the
            greeting, ask for capabilities once (recorded as after TLS) and quit.
        try_starttls: with STARTTLS services, ask for TLS once the capabilities are read.
        ehlo_name: vedette's SMTP identity (a single printable ASCII word).
        server_name: the name the user gave for the endpoint (its SNI), for protocols whose
            first message names the server; ``None`` when scanning a bare address.
        role: the service's role, for protocols whose dialogue differs between a user's
            client and a peer server (XMPP's ``jabber:client`` and ``jabber:server``).
        redial: the connection only leads to a TLS handshake (the enumeration's and the
            resumption probe's re-dials, tens per endpoint): the dialogue may skip what the
            first connection already learnt (LDAP: the rootDSE and the bind probe).
        round_index: which of the entry's ``rounds`` connections this dialogue drives.
        service: the service probed (SMB: 139 speaks NetBIOS first, 445 does not).
    """

    implicit_tls: bool
    try_starttls: bool = True
    ehlo_name: str = "vedette.invalid"
    server_name: str | None = None
    role: Role = Role.USER
    redial: bool = False
    round_index: int = 0
    service: Service | None = None


def _no_password_commands(caps: Capabilities) -> frozenset[str]:
    del caps
    return frozenset()


def _imap_login(caps: Capabilities) -> frozenset[str]:
    # LOGIN is base IMAP: offered unless LOGINDISABLED is advertised (RFC 9051 6.2.3).
    return frozenset() if caps.login_disabled else frozenset({"LOGIN"})


def _pop3_user(caps: Capabilities) -> frozenset[str]:
    # USER/PASS is optional in RFC 1939: only when the USER capability is advertised.
    return frozenset({"USER"}) if caps.user_command else frozenset()


def _speaks_first(endpoint: Endpoint) -> bytes | None:
    del endpoint
    return None


def _line_ping(command: bytes) -> Callable[[Endpoint], bytes | None]:
    """Mail protocols: the server greets first on implicit TLS (its greeting comes after any
    ticket); after STARTTLS the client speaks next, with a command that changes nothing and
    whose reply comes after the tickets (POP3 answers -ERR to NOOP before login: a reply too)."""

    def ping(endpoint: Endpoint) -> bytes | None:
        return command if endpoint.service.tls_mode is TlsMode.STARTTLS else None

    return ping


def _host_header(endpoint: Endpoint) -> str:
    name = endpoint.host or endpoint.ip or ""
    return f"[{name}]" if ":" in name else name


def _http_ping(endpoint: Endpoint) -> bytes:
    host = _host_header(endpoint)
    return f"HEAD / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


def _sip_ping(endpoint: Endpoint) -> bytes:
    # An OPTIONS ping (RFC 3261 11), what SIP peers send each other to check liveness.
    host = _host_header(endpoint)
    tag = secrets.token_hex(6)
    return (
        f"OPTIONS sip:{host} SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS vedette.invalid;branch=z9hG4bK{tag}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:scanner@vedette.invalid>;tag={tag}\r\n"
        f"To: <sip:{host}>\r\n"
        f"Call-ID: {tag}@vedette.invalid\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


_XMPP_CLEARTEXT_FIX = (
    "Prosody `c2s_require_encryption = true` (and `s2s_require_encryption = true`) with "
    "`allow_unencrypted_plain_auth = false`; ejabberd `starttls_required: true` on the c2s listener"
)


def _xmpp_ping(endpoint: Endpoint) -> bytes:
    # The client speaks first after TLS, on Direct TLS as after STARTTLS: a new stream header,
    # which the server answers with its own (and its features).
    server = endpoint.service.role is Role.RELAY
    try:
        return stream_header(endpoint.host, server=server)
    except ValueError:
        return stream_header(None, server=server)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolEntry:
    """One protocol's behaviour.

    Attributes:
        protocol: the ``vedette.model.Protocol`` this entry describes.
        dialogue: builds a fresh client dialogue for one connection; ``None`` when vedette
            speaks no dialogue (HTTPS and SIPS get a bare TLS handshake).
        capabilities: parses the capability reply stored in ``DialogueObservation``
            (``capabilities_before_tls`` / ``_after_tls``); ``None`` when the protocol has none.
        capabilities_in_greeting: the greeting may carry capabilities too (IMAP's
            ``[CAPABILITY ...]`` code): parsers then get the greeting lines first.
        starttls_word: how the upgrade is named to a user (``STARTTLS``, ``STLS``...).
        password_commands: beyond SASL PLAIN/LOGIN, the protocol commands (or binds) that
            take a password in clear, given the capabilities: the plaintext-authentication rule.
        ping: what to send right after a TLS handshake so the server answers (and so shows
            that the tickets it writes before any answer are all in); ``None`` when the
            server speaks first.
        password_fix: how to refuse passwords before TLS on this protocol's common servers:
            ``tls.plaintext-auth``'s remediation for it (the registered one speaks of mail
            servers); empty for the mail protocols.
        rounds: connections the probe opens, one dialogue each (``round_index`` 0, 1...),
            for protocols that learn one fact per connection (SMB: one dialect per
            NEGOTIATE); their observations' lines are joined in order. A connection the
            server closes or resets in such a round is its answer, fed as end of file.
    """

    protocol: Protocol
    dialogue: Callable[[DialogueSettings], MailDialogue] | None = None
    capabilities: Callable[[Sequence[str]], Capabilities] | None = None
    capabilities_in_greeting: bool = False
    starttls_word: str = "STARTTLS"
    password_commands: Callable[[Capabilities], frozenset[str]] = _no_password_commands
    ping: Callable[[Endpoint], bytes | None] = _speaks_first
    password_fix: str = ""
    rounds: int = 1


#: ManageSieve's ``password_fix``: the login process is Dovecot's managesieve-login (or Cyrus's
#: timsieved), configured apart from IMAP's more often than not.
_SIEVE_CLEARTEXT_FIX = (
    "Dovecot applies `disable_plaintext_auth = yes` (2.3) or `auth_allow_cleartext = no` (2.4) "
    "to managesieve-login too, set globally or in `protocol sieve { }`; Cyrus timsieved reads "
    "`allowplaintext: no` from imapd.conf"
)


_ENTRIES = (
    ProtocolEntry(
        protocol=Protocol.SMTP,
        dialogue=lambda s: SmtpDialogue(
            ehlo_name=s.ehlo_name, implicit_tls=s.implicit_tls, try_starttls=s.try_starttls
        ),
        capabilities=parse_smtp_capabilities,
        ping=_line_ping(b"NOOP\r\n"),
    ),
    ProtocolEntry(
        protocol=Protocol.IMAP,
        dialogue=lambda s: ImapDialogue(
            implicit_tls=s.implicit_tls, try_starttls=s.try_starttls, redial=s.redial
        ),
        capabilities=parse_imap_capabilities,
        capabilities_in_greeting=True,
        password_commands=_imap_login,
        ping=_line_ping(b"V1 NOOP\r\n"),
    ),
    ProtocolEntry(
        protocol=Protocol.POP3,
        dialogue=lambda s: Pop3Dialogue(
            implicit_tls=s.implicit_tls, try_starttls=s.try_starttls, redial=s.redial
        ),
        capabilities=parse_pop3_capabilities,
        starttls_word="STLS",
        password_commands=_pop3_user,
        ping=_line_ping(b"NOOP\r\n"),
    ),
    ProtocolEntry(protocol=Protocol.HTTP, ping=_http_ping),
    ProtocolEntry(protocol=Protocol.SIP, ping=_sip_ping),
    ProtocolEntry(
        protocol=Protocol.XMPP,
        dialogue=lambda s: XmppDialogue(
            domain=s.server_name,
            server=s.role is Role.RELAY,
            implicit_tls=s.implicit_tls,
            try_starttls=s.try_starttls,
        ),
        capabilities=parse_xmpp_capabilities,
        password_commands=xmpp_password_commands,
        ping=_xmpp_ping,
        password_fix=_XMPP_CLEARTEXT_FIX,
    ),
    ProtocolEntry(
        protocol=Protocol.MANAGESIEVE,
        dialogue=lambda s: ManageSieveDialogue(
            implicit_tls=s.implicit_tls, try_starttls=s.try_starttls
        ),
        capabilities=parse_sieve_capabilities,
        # Passwords go through SASL only (AUTHENTICATE): PLAIN/LOGIN in "SASL" are the rule.
        # After STARTTLS the server re-issues its capabilities unasked (RFC 5804 2.2): it
        # speaks first, so the default ping (none) is right.
        password_fix=_SIEVE_CLEARTEXT_FIX,
    ),
    ProtocolEntry(
        protocol=Protocol.LDAP,
        dialogue=lambda s: LdapDialogue(
            implicit_tls=s.implicit_tls, try_starttls=s.try_starttls, redial=s.redial
        ),
        capabilities=parse_ldap_capabilities,
        starttls_word="StartTLS (extended operation 1.3.6.1.4.1.1466.20037)",
        password_commands=simple_bind_in_clear,
        # The client speaks first after TLS (implicit or StartTLS): a rootDSE search.
        ping=lambda endpoint: root_dse_search(PING_MESSAGE_ID),
        password_fix=CLEAR_BIND_FIX,
    ),
    ProtocolEntry(
        protocol=Protocol.SMB,
        # No TLS and no capabilities in the mail sense: NEGOTIATE only, never a session.
        dialogue=lambda s: SmbDialogue(
            round_index=s.round_index, netbios=s.service is Service.NETBIOS_SSN
        ),
        rounds=SMB_ROUNDS,
    ),
)

#: Every protocol's entry, by protocol.
REGISTRY: Mapping[Protocol, ProtocolEntry] = MappingProxyType({e.protocol: e for e in _ENTRIES})


def entry(protocol: Protocol) -> ProtocolEntry:
    """The entry of ``protocol`` (every ``Protocol`` member has one; a unit test checks)."""
    return REGISTRY[protocol]


def has_dialogue(protocol: Protocol) -> bool:
    """vedette speaks this protocol's dialogue (greeting, capabilities, STARTTLS, quit)."""
    return REGISTRY[protocol].dialogue is not None


def has_capabilities(protocol: Protocol) -> bool:
    """The protocol advertises capabilities that vedette reads (and judges before TLS)."""
    return REGISTRY[protocol].capabilities is not None


def new_dialogue(
    service: Service,
    *,
    ehlo_name: str = "vedette.invalid",
    try_starttls: bool = True,
    server_name: str | None = None,
    redial: bool = False,
    round_index: int = 0,
) -> MailDialogue:
    """A new dialogue for one connection to ``service``.

    With ``TlsMode.IMPLICIT`` the driver must have completed TLS *before* feeding the first
    byte: the dialogue reads the greeting, asks for capabilities once (recorded as
    ``capabilities_after_tls``) and quits; it never asks for StartTls. With
    ``TlsMode.STARTTLS`` it asks for capabilities in clear, then (if ``try_starttls``) asks
    for TLS and, when accepted, returns ``StartTls()``. ``redial``: see ``DialogueSettings``.

    Raises:
        ValueError: no dialogue exists for the protocol (HTTP, SIP), or a setting is invalid
            for it (an ``ehlo_name`` that is not one printable ASCII word).
    """
    build = REGISTRY[service.protocol].dialogue
    if build is None:
        raise ValueError(f"no client dialogue for {service.protocol.value} ({service.value})")
    settings = DialogueSettings(
        implicit_tls=service.tls_mode is TlsMode.IMPLICIT,
        try_starttls=try_starttls,
        ehlo_name=ehlo_name,
        server_name=server_name,
        role=service.role,
        redial=redial,
        round_index=round_index,
        service=service,
    )
    return build(settings)


def parse_capabilities(
    protocol: Protocol, lines: Sequence[str], greeting: Sequence[str] = ()
) -> Capabilities:
    """Parse a stored capability reply (``capabilities_before_tls`` / ``_after_tls``).

    ``greeting`` is read too where the protocol's greeting can carry capabilities (IMAP).
    Parsing is tolerant: it runs over stored observations and never fails on odd lines.

    Raises:
        ValueError: the protocol has no capability syntax (HTTP, SIP).
    """
    e = REGISTRY[protocol]
    if e.capabilities is None:
        raise ValueError(f"no capability syntax for {protocol.value}")
    if e.capabilities_in_greeting and greeting:
        return e.capabilities((*greeting, *lines))
    return e.capabilities(lines)


def plaintext_password_mechanisms(protocol: Protocol, caps: Capabilities) -> frozenset[str]:
    """The ways a client could send a password in clear, given these capabilities.

    The result mixes two kinds of names, both upper-case: the advertised SASL mechanisms that
    reveal the password (``PLAIN`` and ``LOGIN``, ``CLEARTEXT_SASL_MECHANISMS``), and the
    protocol's own password commands from its entry (IMAP ``LOGIN`` unless
    ``LOGINDISABLED``; POP3 ``USER`` when advertised). For IMAP ``LOGIN`` may thus stand for
    the command, the SASL mechanism or both; either way a password can cross in clear.

    Not counted: challenge-response mechanisms (CRAM-MD5, DIGEST-MD5, NTLM, SCRAM-*, GSSAPI,
    OTP, POP3 APOP), bearer tokens (XOAUTH2, OAUTHBEARER) and EXTERNAL/ANONYMOUS. This says
    what is *offered*; whether it matters depends on whether it was seen before TLS.
    """
    return frozenset(caps.sasl & CLEARTEXT_SASL_MECHANISMS) | REGISTRY[protocol].password_commands(
        caps
    )


def smb_negotiation(protocol: Protocol, greeting: Sequence[str]) -> SmbFacts | None:
    """What the SMB probe's stored lines say (dialects, signing, contexts); ``None`` for any
    other protocol, or when no round got an answer."""
    if protocol is not Protocol.SMB:
        return None
    facts = parse_smb_lines(greeting)
    return facts if facts.answered else None
