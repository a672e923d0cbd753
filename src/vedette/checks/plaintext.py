"""Can a password cross the network in clear? — TLS availability and authentication before TLS.

This is the check behind Shadowserver's reports on millions of POP3/IMAP servers: a server that
offers a password mechanism before STARTTLS lets a misconfigured or downgraded client send the
password in clear. vedette reads only the capability lists (EHLO, CAPABILITY, CAPA); it never
sends a credential.
"""

from __future__ import annotations

from collections.abc import Iterator

from vedette.checks.registry import CheckContext, Hit, endpoint_check
from vedette.model import Endpoint, Observation, Severity, Stage, TlsMode
from vedette.protocols.registry import (
    entry,
    has_capabilities,
    parse_capabilities,
    plaintext_password_mechanisms,
)


def _upgrades_in_band(ep: Endpoint) -> bool:
    """A STARTTLS service whose protocol advertises capabilities vedette reads."""
    return ep.service.tls_mode is TlsMode.STARTTLS and has_capabilities(ep.service.protocol)


def _no_tls_at_all(obs: Observation) -> bool:
    """STARTTLS was tried (or the dialogue got past it) and no TLS session came of it."""
    d = obs.dialogue
    if obs.tls is not None or d is None or d.capabilities_before_tls is None:
        return False
    if obs.failure is not None and obs.failure.stage is Stage.TLS_HANDSHAKE:
        return False  # TLS offered but broken: tls.handshake-failed says so
    return d.starttls_reply is not None


@endpoint_check(
    "tls.none",
    title="No TLS: everything, passwords included, crosses the network in clear",
    explanation="The service neither advertises nor accepts STARTTLS. Between mail servers this "
    "means messages travel unencrypted; for users it means passwords and mail do.",
    remediation="Enable TLS with a certificate for the service's name: Dovecot `ssl = required` "
    "with ssl_cert/ssl_key; Postfix smtpd_tls_chain_files and smtpd_tls_security_level = may "
    "(port 25) or encrypt (587).",
    severity=Severity.HIGH,
    relay_severity=Severity.MEDIUM,
    references=("RFC 3207", "RFC 2595", "RFC 8314"),
)
def tls_none(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    ep = obs.endpoint
    if not _upgrades_in_band(ep) or not _no_tls_at_all(obs):
        return
    d = obs.dialogue
    assert d is not None and d.capabilities_before_tls is not None
    word = entry(ep.service.protocol).starttls_word
    caps = parse_capabilities(ep.service.protocol, d.capabilities_before_tls, d.greeting)
    reply = " / ".join(d.starttls_reply or ())
    if caps.starttls:
        detail = f"{word} is advertised but the server refused it: {reply!r}"
    else:
        detail = f"{word} is not advertised; asked anyway, the server answered {reply!r}"
    yield Hit(detail=detail, evidence=tuple(d.starttls_reply or ()))


@endpoint_check(
    "tls.starttls-not-advertised",
    title="STARTTLS works but is not advertised",
    explanation="The server accepts STARTTLS without listing it in its capabilities, so clients "
    "that follow the capability list (most do) never start TLS.",
    remediation="Advertise STARTTLS (Postfix: smtpd_tls_security_level = may; Dovecot: ssl = yes)"
    " and check that no proxy strips it from the capability list.",
    severity=Severity.HIGH,
    relay_severity=Severity.MEDIUM,
    references=("RFC 3207", "RFC 2595"),
)
def starttls_not_advertised(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    ep = obs.endpoint
    d = obs.dialogue
    if (
        not _upgrades_in_band(ep)
        or obs.tls is None
        or d is None
        or d.capabilities_before_tls is None
    ):
        return
    if not d.capabilities_before_tls:
        return  # no capability list at all (HELO fallback, CAPA refused): nothing to advertise in
    caps = parse_capabilities(ep.service.protocol, d.capabilities_before_tls, d.greeting)
    if not caps.starttls:
        word = entry(ep.service.protocol).starttls_word
        yield Hit(detail=f"{word} is missing from the capability list sent in clear")


@endpoint_check(
    "tls.plaintext-auth",
    title="Passwords are accepted before TLS",
    explanation="The server offers password authentication on the unencrypted connection, so a "
    "client that does not insist on TLS (or an attacker who strips STARTTLS) sends the password "
    "in clear.",
    remediation="Refuse authentication before TLS: Dovecot `disable_plaintext_auth = yes` (2.3) "
    "or `auth_allow_cleartext = no` (2.4); Postfix `smtpd_tls_auth_only = yes`; better still, "
    "move users to implicit TLS (993, 995, 465) and close 110/143.",
    severity=Severity.HIGH,
    relay_severity=Severity.MEDIUM,
    references=("RFC 8314", "RFC 2595 §3.1", "RFC 4954 §4"),
)
def plaintext_auth(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    ep = obs.endpoint
    d = obs.dialogue
    if not _upgrades_in_band(ep) or d is None or not d.capabilities_before_tls:
        return
    caps = parse_capabilities(ep.service.protocol, d.capabilities_before_tls, d.greeting)
    mechanisms = plaintext_password_mechanisms(ep.service.protocol, caps)
    if not mechanisms:
        return
    evidence = tuple(
        line
        for line in d.capabilities_before_tls
        if any(m in line.upper() for m in (*mechanisms, "AUTH", "SASL"))
    )
    no_tls = _no_tls_at_all(obs)
    detail = f"offered before TLS: {', '.join(sorted(mechanisms))}"
    if no_tls:
        detail += "; the server has no working TLS, so every login sends the password in clear"
    severity = Severity.CRITICAL if no_tls and ep.service.role.value == "user" else None
    # The registered remediation speaks of mail servers; a protocol with its own fix
    # (LDAP, XMPP, ManageSieve) gives that one instead.
    yield Hit(
        detail=detail,
        evidence=evidence or tuple(d.capabilities_before_tls),
        severity=severity,
        remediation=entry(ep.service.protocol).password_fix or None,
    )


_OLD_VERSIONS = frozenset({"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"})


@endpoint_check(
    "tls.old-version",
    title="The best TLS version the server offers is obsolete",
    explanation="The server negotiated SSL 3.0, TLS 1.0 or 1.1 with a client offering TLS 1.3: "
    "these versions are deprecated (RFC 8996) and current clients refuse them.",
    remediation="Enable TLS 1.2 and 1.3 (OpenSSL 1.1.1 or later): Postfix smtpd_tls_protocols = "
    ">=TLSv1.2, Dovecot ssl_min_protocol = TLSv1.2.",
    severity=Severity.HIGH,
    relay_severity=Severity.LOW,
    references=("RFC 8996",),
)
def old_version(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    scan = obs.tls_scan
    if scan is not None and (not scan.incomplete or scan.partial) and scan.versions:
        # A full enumeration says it precisely (tls.no-tls12, tls.tls10, tls.tls11), and so
        # does --mode clients, whose accepted versions include the negotiated one.
        return
    if obs.tls is not None and obs.tls.version in _OLD_VERSIONS:
        yield Hit(detail=f"negotiated {obs.tls.version} ({obs.tls.cipher})")
