"""Certificate checks: dates, names, chain, keys, signatures, usages, trust.

Every check here reads the chain exactly as the server sent it (``obs.tls.chain_der``) and
judges it at the analysis time ``ctx.now``, against the trust anchors in ``ctx`` (Mozilla's
roots via certifi, plus the user's ``--ca`` roots). The chain is parsed and a path built once
per distinct chain (cached in ``ctx.cache``), so twenty checks cost one analysis.

Roles. On user-facing services (submission, IMAPS, POP3S, HTTPS...) a certificate problem
means clients refuse to connect or, worse, users learn to click through warnings while typing
their password. On SMTP port 25 (``relay`` role) sending servers use opportunistic TLS and
accept *any* certificate unless the receiving domain publishes DANE (RFC 7672) or MTA-STS
(RFC 8461); vedette does not check those here, so relay severities are low and the
explanations say so.

Which certificates each check looks at:

* dates (expired / not yet valid / expiring soon): the leaf and the sent intermediates on the
  path to the anchor. An expired certificate the server sends but no path uses (e.g. an old
  cross-sign) does not break validation and is not reported.
* key size: every certificate sent (a weak key anywhere is a weak link, and it is what a
  scanner of the server sees).
* signature hash: every certificate sent except self-signed roots, whose own signature nobody
  checks (the trust store vouches for the root by its key).
* key usage, EKU, names, validity period: the leaf.

Where the chain ends: one cause, one finding, from :attr:`ChainAnalysis.end`:

* a self-signed leaf is ``cert.self-signed`` only (pinned with ``--ca``, nothing at all);
* a path ending at a self-signed root the server sent, not trusted: ``cert.untrusted``;
* a path ending at a CA certificate the server sent whose issuer is in no store:
  ``cert.unknown-root``. That is a correct chain under a private root vedette was not given
  (leaf + intermediate, root not sent, as it should not be), not a missing intermediate;
* the leaf alone, its issuer unknown: ``cert.chain-incomplete``, "an intermediate is probably
  missing"; when the missing intermediate is among the certificates known besides the chain
  (``ctx.intermediates_der``: ``scan --intermediates``, or downloaded from the caIssuers URL with
  ``scan --fetch`` before the checks run), it is named;
* a path longer than clients accept: ``cert.chain-too-long``; a list built to make path
  building explode (the bounds of :mod:`vedette.x509.chain` hit): ``cert.chain-abusive``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
    ObjectIdentifier,
)

from vedette.checks.registry import CheckContext, Hit, endpoint_check
from vedette.model import Observation, Role, Severity
from vedette.pki.fixes import bundle_command, renewal_commands
from vedette.x509.chain import (
    MAX_CANDIDATES,
    MAX_DEPTH,
    MAX_PATH_STEPS,
    MAX_SIGNATURE_CHECKS,
    ChainAnalysis,
    ChainEnd,
    analyse_chain,
    describe,
)
from vedette.x509.legacy_algorithms import key_kind, public_key_of, weak_key
from vedette.x509.names import match_certificate
from vedette.x509.validity import limit_at, validity_period

if TYPE_CHECKING:
    from collections.abc import Iterator

_CACHE_KEY = "vedette.checks.certificate"

#: A certificate counts as "expiring soon" within this many days; under the second, urgently.
EXPIRING_SOON_DAYS = 30
EXPIRING_URGENT_DAYS = 7

_RELAY_NOTE = (
    " On SMTP port 25, sending servers accept any certificate unless the domain publishes DANE "
    "or MTA-STS (depends on DANE/MTA-STS, not checked here)."
)

_CHAIN_FIX = (
    "Install the full chain: the server certificate first, then each intermediate up to (not "
    "including) the root, in one PEM file. Postfix: smtpd_tls_chain_files = /etc/ssl/private/"
    "key.pem, /etc/ssl/certs/fullchain.pem; Dovecot: ssl_cert = </etc/ssl/certs/fullchain.pem; "
    "Exchange: import the intermediates into the machine's Intermediate Certification "
    "Authorities store."
)

# The vedette half of the remediations; the finding itself carries the command with this
# endpoint's arguments filled in (Finding.fix_commands, see vedette.pki.fixes).
_RENEW_WITH_VEDETTE = (
    " With vedette: the command printed with the finding (vedette cert csr --like TARGET "
    "--new-key KEY --out CSR) makes a new key and a request with every name of the current "
    "certificate; an internal CA signs it with vedette ca sign (--public for the CA/B limit)."
)
_BUNDLE_WITH_VEDETTE = (
    " With vedette: the command printed with the finding (vedette cert bundle TARGET --out "
    "fullchain.pem) writes the chain in order, without the root, from what the server sends, "
    "--intermediates files, or the issuer's caIssuers URL (--fetch)."
)

# Signature algorithms whose hash is broken for certificates (collisions: MD5 2008 rogue CA,
# SHA-1 SHAttered 2017). Checked by OID so algorithms cryptography cannot name still count.
_WEAK_SIG_OIDS: dict[str, str] = {
    "1.2.840.113549.1.1.2": "MD2 with RSA",
    "1.2.840.113549.1.1.3": "MD4 with RSA",
    "1.2.840.113549.1.1.4": "MD5 with RSA",
    "1.2.840.113549.1.1.5": "SHA-1 with RSA",
    "1.3.14.3.2.29": "SHA-1 with RSA",
    "1.2.840.10045.4.1": "ECDSA with SHA-1",
    "1.2.840.10040.4.3": "DSA with SHA-1",
    "1.3.14.3.2.27": "DSA with SHA-1",
}

_ANY_EKU = ObjectIdentifier("2.5.29.37.0")
_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}


# --- shared facts ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Facts:
    chain: ChainAnalysis
    public: bool  # the path reaches an anchor that is not one of the user's --ca roots


def _facts(ctx: CheckContext, obs: Observation) -> _Facts | None:
    """The analysed chain of ``obs``, or ``None`` without TLS or without certificates."""
    if obs.tls is None or not obs.tls.chain_der:
        return None
    cache = ctx.cache.get(_CACHE_KEY)
    if not isinstance(cache, dict):
        cache = {}
        ctx.cache[_CACHE_KEY] = cache
    key = obs.tls.chain_der
    found = cache.get(key)
    if isinstance(found, _Facts):
        return found
    chain = analyse_chain(key, ctx.trust_roots_der, ctx.intermediates_der)
    public = chain.anchor_der is not None and chain.anchor_der not in set(ctx.extra_roots_der)
    facts = _Facts(chain=chain, public=public)
    cache[key] = facts
    return facts


def _when(d: datetime) -> str:
    return d.strftime("%Y-%m-%d %H:%M UTC")


def _subject(cert: x509.Certificate) -> str:
    """``CN=..., O=...`` when the subject has a CN (readable in a terminal), else the full DN."""
    try:
        short = [
            a for a in cert.subject if a.oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME)
        ]
        if any(a.oid == NameOID.COMMON_NAME for a in short):
            return describe(x509.Name(short))
    except ValueError:
        pass
    return describe(cert.subject)


def _position(facts: _Facts, cert: x509.Certificate) -> str:
    return "server certificate" if cert is facts.chain.leaf else "intermediate"


def _ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    """The extension's value; ``None`` when absent or malformed (cryptography parses lazily)."""
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except (x509.ExtensionNotFound, ValueError):
        return None


# --- presence and parsing ----------------------------------------------------------------------


@endpoint_check(
    "cert.none",
    title="TLS without a certificate: the server cannot be authenticated",
    explanation="The TLS session was negotiated without any server certificate (an anonymous "
    "suite such as ADH/AECDH). Anyone on the path can impersonate the server and read what "
    "clients send." + _RELAY_NOTE,
    remediation="Disable anonymous cipher suites and configure a certificate. Postfix: "
    "smtpd_tls_exclude_ciphers = aNULL (and smtpd_tls_chain_files); Dovecot: ssl_cipher_list "
    "without aNULL, ssl_cert/ssl_key set; OpenSSL-based servers: add '!aNULL' to the cipher "
    "string.",
    severity=Severity.HIGH,
    relay_severity=Severity.LOW,
    references=("RFC 8446 section 4.4.2", "RFC 5246 section 7.4.2"),
)
def cert_none(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    if obs.tls is not None and not obs.tls.chain_der:
        yield Hit(detail=f"{obs.tls.version} with {obs.tls.cipher}: the server sent no certificate")


@endpoint_check(
    "cert.unparseable",
    title="The server sent a certificate that cannot be parsed",
    explanation="At least one entry of the certificate list is not valid DER X.509. Strict "
    "clients abort the handshake; lenient ones ignore the entry, and the chain may then be "
    "incomplete.",
    remediation="Re-export the certificate files in PEM (openssl x509 -in cert -out cert.pem) "
    "and rebuild the bundle from the CA's files; check that no key, CSR or truncated file is "
    "in the chain file.",
    severity=Severity.MEDIUM,
    relay_severity=Severity.LOW,
    references=("RFC 5280 section 4.1",),
)
def cert_unparseable(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None:
        return
    bad = facts.chain.unparseable
    if not bad:
        return
    parts = [
        f"#{s.index + 1} of {len(facts.chain.sent)} ({len(s.der)} bytes): {s.error}" for s in bad
    ]
    yield Hit(
        detail="Unparseable certificate " + "; ".join(parts),
        evidence=tuple(s.der[:64].hex() for s in bad),
    )


# --- who issued it -----------------------------------------------------------------------------


@endpoint_check(
    "cert.self-signed",
    title="The certificate is self-signed",
    explanation="No certificate authority issued the server certificate: it signs itself, so "
    "clients cannot tell it from an impostor's and show a warning or refuse to connect; users "
    "who click through learn to accept any certificate." + _RELAY_NOTE,
    remediation="Get a certificate from a public CA (e.g. Let's Encrypt via certbot or "
    "acme.sh, DNS-01 if the mail host has no web server) or from your internal CA, and install "
    "it with its chain. If a private self-signed certificate is intended, distribute it to "
    "clients and pass it to vedette with --ca." + _RENEW_WITH_VEDETTE,
    severity=Severity.HIGH,
    relay_severity=Severity.LOW,
    references=("RFC 5280 section 6.1", "RFC 7672", "RFC 8461"),
)
def cert_self_signed(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None or facts.chain.leaf is None:
        return
    if facts.chain.leaf_self_signed and facts.chain.anchor_der is None:
        leaf = facts.chain.leaf
        yield Hit(
            detail=f"Self-signed certificate: subject and issuer are {_subject(leaf)}",
            fix_commands=renewal_commands(obs.endpoint),
        )


@endpoint_check(
    "cert.untrusted",
    title="The certificate chain ends at a root no client trusts",
    explanation="The chain leads to a root certificate that is neither in Mozilla's root "
    "store (used by most mail clients and MTAs) nor among the roots given with --ca: a "
    "private CA not installed on clients, a distrusted CA (StartCom, WoSign, Symantec), or an "
    "SSL-inspection proxy." + _RELAY_NOTE,
    remediation="Replace the certificate with one from a CA that clients trust. If the root is "
    "your organisation's private CA, deploy it to every client (Group Policy, MDM profile) "
    "and pass it to vedette with --ca." + _RENEW_WITH_VEDETTE,
    severity=Severity.HIGH,
    relay_severity=Severity.LOW,
    references=("RFC 5280 section 6.1", "https://wiki.mozilla.org/CA/Included_Certificates"),
)
def cert_untrusted(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None:
        return
    ch = facts.chain
    if ch.end is not ChainEnd.UNTRUSTED_ROOT:
        return
    top = ch.path[-1]
    yield Hit(
        detail=f"The chain ends at {_subject(top)} (sent by the server as certificate "
        f"#{(ch.path_indexes[-1] or 0) + 1}), which is not among the {len(ctx.trust_roots_der)} "
        "trusted roots",
        evidence=(_subject(top),),
        fix_commands=renewal_commands(obs.endpoint),
    )


# --- the chain as sent -------------------------------------------------------------------------


def _ca_issuers_url(cert: x509.Certificate) -> str | None:
    """The first caIssuers URL of the certificate's AIA: where its issuer can be downloaded."""
    aia = _ext(cert, x509.AuthorityInformationAccess)
    if not isinstance(aia, x509.AuthorityInformationAccess):
        return None
    for d in aia:
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS and isinstance(
            d.access_location, x509.UniformResourceIdentifier
        ):
            return str(d.access_location.value)
    return None


def _trust_stores(ctx: CheckContext) -> str:
    return "Mozilla's roots" + (" nor the --ca roots" if ctx.extra_roots_der else "")


@endpoint_check(
    "cert.unknown-root",
    title="The chain leads to an unknown root: its issuer is in no trust store",
    explanation="The server sends its certificate and the intermediates up to a CA certificate "
    "whose issuer is neither in Mozilla's root store (used by most mail clients and MTAs) nor "
    "among the roots given with --ca. That is what a correct chain from an organisation's own "
    "CA looks like (Active Directory Certificate Services behind Exchange, an appliance's "
    "built-in CA) when the root is not known: clients without that root refuse the server. "
    "Sending the root from the server does not help: clients trust only the roots they "
    "already have." + _RELAY_NOTE,
    remediation="If it is your organisation's own root, deploy it to every client (Group "
    "Policy, MDM profile, the appliances' trust stores) and give it to vedette with --ca "
    "ROOT.pem; otherwise get a certificate from a public CA. If the issuer is not a root but "
    "an intermediate the server fails to send, vedette scan --fetch (it downloads the issuer "
    "from the address the certificate gives) or --intermediates DIR names it.",
    severity=Severity.HIGH,
    relay_severity=Severity.LOW,
    references=("RFC 5280 section 6.1", "RFC 5246 section 7.4.2"),
)
def cert_unknown_root(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None or facts.chain.end is not ChainEnd.UNKNOWN_ROOT:
        return
    ch = facts.chain
    last = ch.path[-1]
    issuer = describe(last.issuer)
    position = (ch.path_indexes[-1] or 0) + 1
    head = f"The server sends the chain up to {_subject(last)} (certificate #{position})"
    if ch.supplied_path:
        detail = (
            f"{head}; its issuer is the root {_subject(ch.supplied_path[0])}, which is not "
            f"among {_trust_stores(ctx)}: an unknown root."
        )
    else:
        detail = (
            f"{head}, a CA certificate issued by {issuer}, which is not among "
            f"{_trust_stores(ctx)}: an unknown root."
        )
    detail += (
        " If it is your organisation's own root, deploy it to the clients and give it to "
        "vedette with --ca; sending it does not help."
    )
    url = _ca_issuers_url(last)
    if url is not None and not ch.supplied_path:
        detail += (
            f" If it is not yours: the certificate says its issuer can be downloaded from "
            f"{url}, and vedette scan --fetch tells a missing intermediate from a root."
        )
    yield Hit(detail=detail, evidence=(issuer,))


@endpoint_check(
    "cert.chain-incomplete",
    title="The chain is incomplete: an intermediate certificate is missing",
    explanation="The server does not send the certificate that issued its own (or that of an "
    "intermediate), and it is not a trusted root. Browsers may fetch it, but phones, mail "
    "clients and MTAs usually do not, and fail with an 'unknown issuer' error. When the server "
    "sends its own certificate alone, an intermediate is probably missing; vedette names it "
    "when it has it (scan --intermediates DIR, or scan --fetch, which downloads it from the "
    "address the certificate gives)." + _RELAY_NOTE,
    remediation=_CHAIN_FIX
    + " If the issuer is your private root and issues server certificates directly (a "
    "one-tier CA), deploy that root to the clients and pass it with --ca instead."
    + _BUNDLE_WITH_VEDETTE,
    severity=Severity.HIGH,
    relay_severity=Severity.LOW,
    references=("RFC 5246 section 7.4.2", "RFC 8446 section 4.4.2"),
)
def cert_chain_incomplete(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None or facts.chain.end is not ChainEnd.MISSING_INTERMEDIATE:
        return
    ch = facts.chain
    last = ch.path[-1]
    url = _ca_issuers_url(last)
    if ch.supplied_missing:
        first, *more = ch.supplied_missing
        detail = (
            f"The intermediate {_subject(first)}, which issued {_subject(last)}, is missing: "
            "the server does not send it"
        )
        if more:
            detail += f", nor {', '.join(_subject(c) for c in more)} above it"
        detail += " (vedette has it from --intermediates or --fetch)"
        top = ch.supplied_path[-1]
        if ch.supplied_anchor_der is None and top not in ch.supplied_missing:
            detail += (
                f"; above it, the root {_subject(top)} is not among {_trust_stores(ctx)}: if "
                "it is your organisation's own root, give it to vedette with --ca"
            )
        evidence = tuple(describe(c.subject) for c in ch.supplied_missing)
    else:
        detail = (
            f"No certificate for the issuer {describe(last.issuer)} of {_subject(last)} was "
            "sent, and it is not a trusted root: an intermediate is probably missing"
        )
        evidence = (describe(last.issuer),)
    if url is not None:
        detail += f"; the certificate says it can be downloaded from {url}"
    yield Hit(
        detail=detail,
        evidence=evidence,
        fix_commands=bundle_command(obs.endpoint, fetchable=url is not None),
    )


@endpoint_check(
    "cert.chain-too-long",
    title="The chain is too long for clients",
    explanation=f"A path from the server certificate to a root would take more than {MAX_DEPTH} "
    "certificates. Clients stop building paths before that (Firefox's verifier accepts at "
    "most 6 intermediates, 8 certificates in all) and refuse the server with an 'unknown "
    "issuer' error. Real chains have 2 to 4 certificates." + _RELAY_NOTE,
    remediation="Send only the server certificate and the intermediates that lead from it to "
    "the root (usually one or two), in order, and remove every other certificate from the "
    "chain file; if the CA really issues through that many levels, get a certificate from "
    "one that does not.",
    severity=Severity.HIGH,
    relay_severity=Severity.LOW,
    references=(
        "RFC 5280 section 6.1",
        "https://searchfox.org/mozilla-central/source/security/nss/lib/mozpkix/lib/pkixbuild.cpp",
    ),
)
def cert_chain_too_long(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None or facts.chain.end is not ChainEnd.TOO_LONG:
        return
    ch = facts.chain
    last = ch.path[-1]
    yield Hit(
        detail=f"The server sent {len(ch.sent)} certificates and the path from "
        f"{_subject(ch.path[0])} is longer than {MAX_DEPTH}: certificate {MAX_DEPTH} of the "
        f"path, {_subject(last)} (sent as #{(ch.path_indexes[-1] or 0) + 1}), still has its "
        f"issuer {describe(last.issuer)} among the certificates sent or the trusted roots",
        evidence=(f"{len(ch.sent)} certificates sent",),
    )


@endpoint_check(
    "cert.chain-abusive",
    title="The certificate list is built to make path building explode",
    explanation="The server sends many look-alike CA certificates (the same name and key, "
    "several per level), so that a client trying every combination faces a number of paths "
    "that grows exponentially with the levels: Go's verifier gives up after 100 signature "
    "checks, others take minutes or hang. Whether an attack or a broken deployment script, "
    "no client can rely on such a list." + _RELAY_NOTE,
    remediation="Send only the server certificate and one copy of each intermediate up to the "
    "root, in order; find what fills the chain file (a script appending on every renewal, a "
    "proxy inserting certificates) and fix it.",
    severity=Severity.HIGH,
    relay_severity=Severity.LOW,
    references=("RFC 5280 section 6.1", "RFC 8446 section 4.4.2"),
)
def cert_chain_abusive(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None or facts.chain.abusive is None:
        return
    ch = facts.chain
    found = (
        "a path to a trusted root exists, but clients may give up before finding it"
        if ch.trusted
        else "no path to a trusted root was found within those bounds"
    )
    yield Hit(
        detail=f"The server sent {len(ch.sent)} certificates: {ch.abusive}. vedette tries at "
        f"most {MAX_CANDIDATES} candidate issuers per certificate, {MAX_SIGNATURE_CHECKS} "
        f"signature checks and {MAX_PATH_STEPS} path steps; {found}",
        evidence=(f"{len(ch.sent)} certificates sent",),
    )


@endpoint_check(
    "cert.chain-order",
    title="The certificates are sent in the wrong order",
    explanation="TLS 1.2 requires each certificate to be followed by the one that issued it, "
    "leaf first. TLS 1.3 clients should cope with any order, but older clients (Java, "
    "embedded, some MTAs) fail or build the wrong path.",
    remediation="Rebuild the chain file in order: the server certificate, then its issuer, "
    "then that one's issuer, and drop certificates that belong to other chains."
    + _BUNDLE_WITH_VEDETTE,
    severity=Severity.LOW,
    relay_severity=Severity.INFO,
    references=("RFC 5246 section 7.4.2", "RFC 8446 section 4.4.2"),
)
def cert_chain_order(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None or not facts.chain.order_problems:
        return
    text = "; ".join(facts.chain.order_problems)
    yield Hit(
        detail=text[:1].upper() + text[1:],
        fix_commands=bundle_command(obs.endpoint, fetchable=False, complete=True),
    )


@endpoint_check(
    "cert.chain-root-sent",
    title="The server also sends the root certificate",
    explanation="A root is trusted because the client already has it; sending it adds bytes "
    "to every handshake and changes nothing (clients ignore it).",
    remediation="Remove the root from the chain file; keep the server certificate and the "
    "intermediates." + _BUNDLE_WITH_VEDETTE,
    severity=Severity.INFO,
    relay_severity=Severity.INFO,
    references=("RFC 5246 section 7.4.2", "RFC 8446 section 4.4.2"),
)
def cert_chain_root_sent(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None or not facts.chain.roots_sent:
        return
    parts = []
    for i in facts.chain.roots_sent:
        cert = facts.chain.sent[i].cert
        assert cert is not None
        parts.append(f"#{i + 1} {_subject(cert)}")
    yield Hit(
        detail="Self-signed root sent: " + "; ".join(parts),
        fix_commands=bundle_command(obs.endpoint, fetchable=False, complete=True),
    )


# --- dates -------------------------------------------------------------------------------------


@endpoint_check(
    "cert.expired",
    title="The certificate has expired",
    explanation="A certificate past its notAfter date is rejected by every client that checks "
    "dates; users see an error or learn to click through it." + _RELAY_NOTE,
    remediation="Renew the certificate and install it with its chain, then reload the service "
    "(postfix reload; doveadm reload). Automate renewal (certbot/acme.sh with a deploy hook "
    "that reloads the mail services)." + _RENEW_WITH_VEDETTE,
    severity=Severity.CRITICAL,
    relay_severity=Severity.MEDIUM,
    references=("RFC 5280 section 4.1.2.5",),
)
def cert_expired(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None:
        return
    for cert in facts.chain.sent_path:
        end = cert.not_valid_after_utc
        if end < ctx.now:
            days = (ctx.now - end).days
            yield Hit(
                detail=f"The {_position(facts, cert)} {_subject(cert)} expired on {_when(end)} "
                f"({days} day{'s' if days != 1 else ''} ago)",
                evidence=(f"notAfter={end.isoformat()}",),
                fix_commands=renewal_commands(obs.endpoint) if cert is facts.chain.leaf else (),
            )


@endpoint_check(
    "cert.not-yet-valid",
    title="The certificate is not valid yet",
    explanation="Its notBefore date is in the future: either it was installed too early or "
    "the server's (or the CA's) clock is wrong. Clients reject it." + _RELAY_NOTE,
    remediation="Check the server's clock (timedatectl; chrony/ntpd) and the certificate's "
    "dates (openssl x509 -noout -dates); install a certificate valid now.",
    severity=Severity.HIGH,
    relay_severity=Severity.MEDIUM,
    references=("RFC 5280 section 4.1.2.5",),
)
def cert_not_yet_valid(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None:
        return
    for cert in facts.chain.sent_path:
        start = cert.not_valid_before_utc
        if start > ctx.now:
            yield Hit(
                detail=f"The {_position(facts, cert)} {_subject(cert)} is valid only from "
                f"{_when(start)} (in {_days_text(start - ctx.now)})",
                evidence=(f"notBefore={start.isoformat()}",),
            )


def _days_text(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    if days < 1:
        hours = max(1, round(delta.total_seconds() / 3600))
        return f"{hours} hour{'s' if hours != 1 else ''}"
    n = int(days)
    return f"{n} day{'s' if n != 1 else ''}"


@endpoint_check(
    "cert.expiring-soon",
    title="The certificate expires soon",
    explanation=f"A certificate in use expires within {EXPIRING_SOON_DAYS} days; when it does, "
    "clients will refuse the server. Severity rises under "
    f"{EXPIRING_URGENT_DAYS} days.",
    remediation="Renew now and install the new certificate with its chain; automate renewal "
    "(certbot/acme.sh renew with a deploy hook reloading Postfix and Dovecot)."
    + _RENEW_WITH_VEDETTE,
    severity=Severity.LOW,
    relay_severity=Severity.LOW,
    references=("RFC 5280 section 4.1.2.5",),
)
def cert_expiring_soon(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None:
        return
    relay = obs.endpoint.service.role is Role.RELAY
    for cert in facts.chain.sent_path:
        end = cert.not_valid_after_utc
        left = end - ctx.now
        if end < ctx.now or left > timedelta(days=EXPIRING_SOON_DAYS):
            continue
        urgent = left < timedelta(days=EXPIRING_URGENT_DAYS)
        yield Hit(
            detail=f"The {_position(facts, cert)} {_subject(cert)} expires on {_when(end)} "
            f"(in {_days_text(left)})",
            evidence=(f"notAfter={end.isoformat()}",),
            severity=Severity.MEDIUM if urgent and not relay else None,
            fix_commands=renewal_commands(obs.endpoint) if cert is facts.chain.leaf else (),
        )


@endpoint_check(
    "cert.validity-too-long",
    title="The certificate's validity period exceeds the CA/Browser Forum limit",
    explanation="Publicly-trusted TLS certificates may not be valid longer than the CA/B "
    "Forum limit in force when they were issued (398 days since 2020-09-01, falling to 47 days "
    "by 2029). Browsers and Apple platforms reject longer ones. A private CA is not bound by "
    "it, so the finding is informational for chains ending at a --ca root.",
    remediation="Reissue the certificate with a validity within the current limit; prefer "
    "automated short-lived certificates (ACME)." + _RENEW_WITH_VEDETTE,
    severity=Severity.MEDIUM,
    relay_severity=Severity.LOW,
    references=(
        "CA/Browser Forum Baseline Requirements section 6.3.2",
        "https://cabforum.org/2025/04/11/ballot-sc081v3-introduce-schedule-of-reducing-validity-and-data-reuse-periods/",
    ),
)
def cert_validity_too_long(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None or facts.chain.leaf is None or facts.chain.leaf_self_signed:
        return
    leaf = facts.chain.leaf
    start = leaf.not_valid_before_utc
    limit = limit_at(start)
    if limit is None:
        return
    max_days = limit.days_from(start)
    period = validity_period(leaf)
    if period <= timedelta(days=max_days):
        return
    days = period.total_seconds() / 86400
    detail = (
        f"{_subject(leaf)} is valid {days:.0f} days ({_when(start)} to "
        f"{_when(leaf.not_valid_after_utc)}); the limit for certificates issued then is "
        f"{max_days} days ({limit.source})"
    )
    if not facts.public:
        detail += "; the chain does not end at a public root, so the limit is advisory"
    yield Hit(
        detail=detail,
        severity=None if facts.public else Severity.INFO,
        fix_commands=renewal_commands(obs.endpoint),
    )


# --- names -------------------------------------------------------------------------------------


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


@endpoint_check(
    "cert.name-mismatch",
    title="The certificate is not valid for the server's name",
    explanation="None of the certificate's subjectAltName entries matches the name clients "
    "connect to, so they warn or refuse (Outlook: 'The name on the security certificate is "
    "invalid'). Current clients ignore the subject CN entirely." + _RELAY_NOTE,
    remediation="Get a certificate whose subjectAltName lists every name clients use (e.g. "
    "mail.example.com, imap.example.com, autodiscover.example.com), or point clients at a name "
    "the certificate has. Wildcards cover one label only: *.example.com does not cover "
    "example.com nor a.b.example.com." + _RENEW_WITH_VEDETTE + " The printed command adds the "
    "scanned name with --san.",
    severity=Severity.HIGH,
    relay_severity=Severity.LOW,
    references=("RFC 9525", "RFC 6125 section 6.4", "CA/Browser Forum BR section 7.1.2.7.12"),
)
def cert_name_mismatch(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    host = obs.endpoint.host
    if host is None or _is_ip(host):
        return  # a bare-IP target has no name to match
    facts = _facts(ctx, obs)
    if facts is None or facts.chain.leaf is None:
        return
    result = match_certificate(facts.chain.leaf, host)
    if result.matched:
        return
    yield Hit(
        detail=result.describe(),
        evidence=tuple(
            [f"DNS:{n}" for n in result.dns_names]
            + [f"IP:{a}" for a in result.ip_addresses]
            + [f"CN={c}" for c in result.common_names]
        ),
        fix_commands=renewal_commands(obs.endpoint, add_name=True),
    )


# --- keys, signatures, usages ------------------------------------------------------------------


def _weak_key(cert: x509.Certificate) -> str | None:
    try:
        key = public_key_of(cert)
    except (ValueError, UnsupportedAlgorithm):
        return None
    return weak_key(key)


@endpoint_check(
    "cert.weak-rsa-key",
    title="A certificate in the chain has a weak key",
    explanation="RSA keys under 2048 bits (and EC keys under 256 bits) are factorable or close "
    "to it; CAs stopped issuing them in 2013 and current clients reject them.",
    remediation="Generate a new key (RSA 2048+ or ECDSA P-256: openssl req -newkey ec "
    "-pkeyopt ec_paramgen_curve:P-256) and get a new certificate; replace any old "
    "intermediate by the CA's current one." + _RENEW_WITH_VEDETTE,
    severity=Severity.HIGH,
    relay_severity=Severity.MEDIUM,
    references=("NIST SP 800-131A Rev. 2", "CA/Browser Forum BR section 6.1.5"),
)
def cert_weak_rsa_key(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None:
        return
    for sent in facts.chain.sent:
        if sent.cert is None:
            continue
        weak = _weak_key(sent.cert)
        if weak is not None:
            yield Hit(
                detail=f"Certificate #{sent.index + 1} {_subject(sent.cert)} has a {weak} key",
                fix_commands=renewal_commands(obs.endpoint) if sent.index == 0 else (),
            )


def _weak_signature(cert: x509.Certificate) -> str | None:
    name = _WEAK_SIG_OIDS.get(cert.signature_algorithm_oid.dotted_string)
    if name is not None:
        return name
    try:
        algo = cert.signature_hash_algorithm  # e.g. RSASSA-PSS parameterised with SHA-1
    except UnsupportedAlgorithm:
        return None
    if isinstance(algo, hashes.SHA1):
        return "SHA-1"
    if isinstance(algo, hashes.MD5):
        return "MD5"
    return None


@endpoint_check(
    "cert.sha1-signature",
    title="A certificate is signed with SHA-1 or MD5",
    explanation="SHA-1 and MD5 signatures can be forged by collision (rogue CA with MD5 in "
    "2008, SHAttered for SHA-1 in 2017); browsers and current OpenSSL security levels reject "
    "them. A root's own self-signature does not matter and is not reported.",
    remediation="Reissue the certificate with SHA-256 (openssl req -sha256); if an "
    "intermediate is SHA-1, install the CA's current SHA-256 intermediate instead."
    + _RENEW_WITH_VEDETTE,
    severity=Severity.HIGH,
    relay_severity=Severity.MEDIUM,
    references=("RFC 6194", "https://shattered.io/", "CA/Browser Forum BR section 7.1.3"),
)
def cert_sha1_signature(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None:
        return
    roots = set(facts.chain.roots_sent)
    for sent in facts.chain.sent:
        if sent.cert is None or sent.index in roots:
            continue
        if sent.index == 0 and facts.chain.leaf_self_signed:
            continue  # a self-signed leaf's own signature protects nothing: cert.self-signed
        weak = _weak_signature(sent.cert)
        if weak is not None:
            yield Hit(
                detail=f"Certificate #{sent.index + 1} {_subject(sent.cert)} is signed with {weak}",
                evidence=(sent.cert.signature_algorithm_oid.dotted_string,),
                fix_commands=renewal_commands(obs.endpoint) if sent.index == 0 else (),
            )


@endpoint_check(
    "cert.missing-server-auth-eku",
    title="The certificate is not allowed for TLS servers (no serverAuth in extended key usage)",
    explanation="The certificate restricts its use with an extendedKeyUsage that lacks "
    "serverAuth (e.g. only clientAuth or emailProtection), so clients refuse it for a server.",
    remediation="Request a TLS server certificate (EKU serverAuth), e.g. from the "
    "'Web Server' template on a Windows CA, or extendedKeyUsage = serverAuth in OpenSSL."
    + _RENEW_WITH_VEDETTE,
    severity=Severity.HIGH,
    relay_severity=Severity.LOW,
    references=("RFC 5280 section 4.2.1.12",),
)
def cert_missing_server_auth_eku(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None or facts.chain.leaf is None:
        return
    eku = _ext(facts.chain.leaf, x509.ExtendedKeyUsage)
    if not isinstance(eku, x509.ExtendedKeyUsage):
        return
    oids = list(eku)
    if ExtendedKeyUsageOID.SERVER_AUTH in oids or _ANY_EKU in oids:
        return
    names = ", ".join(_EKU_NAMES.get(o, o.dotted_string) for o in oids) or "none"
    yield Hit(
        detail=f"{_subject(facts.chain.leaf)} has extendedKeyUsage {names}, without serverAuth",
        fix_commands=renewal_commands(obs.endpoint),
    )


def _usages(ku: x509.KeyUsage) -> list[str]:
    out = []
    for attr in (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
    ):
        if getattr(ku, attr):
            out.append(attr)
    return out


@endpoint_check(
    "cert.wrong-key-usage",
    title="The certificate's key usage does not allow TLS server use",
    explanation="The keyUsage extension lacks digitalSignature (needed to sign the handshake "
    "in ECDHE and TLS 1.3) and, for RSA, keyEncipherment (RSA key exchange): clients reject "
    "the certificate or every handshake fails.",
    remediation="Reissue the certificate with keyUsage digitalSignature (plus keyEncipherment "
    "for RSA keys); on a Windows CA use the 'Web Server' template." + _RENEW_WITH_VEDETTE,
    severity=Severity.MEDIUM,
    relay_severity=Severity.LOW,
    references=("RFC 5280 section 4.2.1.3", "RFC 5246 section 7.4.2"),
)
def cert_wrong_key_usage(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(ctx, obs)
    if facts is None or facts.chain.leaf is None:
        return
    leaf = facts.chain.leaf
    ku = _ext(leaf, x509.KeyUsage)
    if not isinstance(ku, x509.KeyUsage):
        return
    try:
        is_rsa = key_kind(public_key_of(leaf)).algorithm == "rsa"
    except (ValueError, UnsupportedAlgorithm):
        return
    if ku.digital_signature or (is_rsa and ku.key_encipherment):
        return
    present = ", ".join(_usages(ku)) or "none"
    needed = "digitalSignature or keyEncipherment" if is_rsa else "digitalSignature"
    yield Hit(
        detail=f"{_subject(leaf)} has keyUsage {present}; a TLS server needs {needed}",
        fix_commands=renewal_commands(obs.endpoint),
    )
