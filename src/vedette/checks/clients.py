"""Client checks: what the compatibility matrix says that a finding should carry.

The matrix (``vedette.checks.matrix``) judges every client profile against the endpoint; these
checks turn its strongest signals into findings, so they count towards ``--fail-on`` and show in
every report format:

* ``cert.distrusted-ca`` — the chain leads to a CA that platforms distrusted (StartCom,
  WoSign, Symantec, Entrust...), and selected clients fail because of it;
* ``cert.sha512-legacy-schannel`` — a certificate sent in the chain is signed with SHA-512,
  which SChannel on Windows 7 / 8.1 / Server 2012 (R2) does not accept under TLS 1.2 before
  KB2973337 (Lync 2013, Skype for Business, Outlook on those systems);
* ``cert.interception-proxy`` — the chain was minted by a known SSL-inspection product;
* ``cert.unexpected-issuer`` / ``cert.pin-mismatch`` — the chain is not the one the user said
  to expect (``--expect-issuer``, ``--pin``): an interception or a wrong certificate deployed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vedette.checks.matrix import distrust_candidate, endpoint_matrix
from vedette.checks.registry import CheckContext, Hit, endpoint_check
from vedette.model import ClientOutcome, Observation, Severity
from vedette.pki.fixes import sha256_reissue_commands
from vedette.trust import trust_data
from vedette.trust.simulate import DISTRUSTED, interception_product, spki_sha256
from vedette.x509.chain import describe, parse_sent

if TYPE_CHECKING:
    from collections.abc import Iterator

_RELAY_NOTE = (
    " On SMTP port 25, sending servers accept any certificate unless the domain publishes DANE "
    "or MTA-STS (depends on DANE/MTA-STS, not checked here)."
)
_SHA512_OIDS = {"1.2.840.113549.1.1.13": "sha512WithRSAEncryption", "1.2.840.10045.4.3.4":
                "ecdsa-with-SHA512"}  # fmt: skip


def _names(verdicts: list[str], limit: int = 6) -> str:
    shown = ", ".join(verdicts[:limit])
    return shown + (f" and {len(verdicts) - limit} more" if len(verdicts) > limit else "")


@endpoint_check(
    "cert.distrusted-ca",
    title="The certificate comes from a CA that clients have distrusted",
    explanation="The chain leads to a root that platforms removed or restricted after "
    "incidents (DigiNotar, CNNIC, WoSign/StartCom, Symantec, Certinomis, Camerfirma, TrustCor, "
    "e-Tugra, Entrust, Chunghwa...). Clients with the rule refuse the certificate, often only "
    "those issued after a date, so some devices fail while others still work." + _RELAY_NOTE,
    remediation="Replace the certificate with one from a CA every client trusts (e.g. Let's "
    "Encrypt, or a commercial CA in good standing) and install it with its chain; `vedette "
    "cert clients CHAIN.pem --host NAME` shows which clients accept the new chain.",
    severity=Severity.HIGH,
    relay_severity=Severity.LOW,
    references=(
        "https://wiki.mozilla.org/CA/Additional_Trust_Changes",
        "https://support.apple.com/en-us/103723",
        "https://learn.microsoft.com/en-us/security/trusted-root/deprecation",
    ),
)
def cert_distrusted_ca(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    if not distrust_candidate(ctx, obs):
        return
    matrix = endpoint_matrix(ctx, obs)
    if matrix is None:
        return
    failing = []
    reasons = []
    for v in matrix.verdicts:
        mine = [r for r in v.reasons if r.code == DISTRUSTED]
        if mine and v.outcome in (ClientOutcome.FAILS, ClientOutcome.WARNING):
            failing.append(v.name)
            reasons.append(mine[0].text)
    if not failing:
        return
    yield Hit(
        detail=f"{len(failing)} client{'s' if len(failing) != 1 else ''} refuse it: "
        f"{_names(failing)}. First reason: {reasons[0]}",
        evidence=tuple(dict.fromkeys(reasons)),
    )


@endpoint_check(
    "cert.sha512-legacy-schannel",
    title="A certificate in the chain is signed with SHA-512: Lync/Skype and Outlook on "
    "Windows 7/8.1/2012 fail under TLS 1.2",
    explanation="SChannel on Windows 7 SP1, Server 2008 R2, Server 2012, Windows 8.1 and "
    "Server 2012 R2 does not accept a SHA-512 signed certificate sent in the chain under TLS "
    "1.2 unless KB2973337 is installed: the handshake fails with SEC_E_ALGORITHM_MISMATCH "
    '(0x80090331, "The client and server cannot communicate, because they do not possess a '
    'common algorithm"; Schannel events 36874/36888), Lync 2013 and Skype for Business '
    "clients cannot sign in and RTCSRV may not start.",
    remediation="Reissue the certificate signed with SHA-256, or install KB2973337 on every "
    "affected Windows machine. With vedette: the commands printed with the finding make a new "
    "key and a request with every name of the current certificate (vedette cert csr --like "
    "TARGET --new-key KEY --out CSR); an internal vedette CA signs it with vedette ca sign CSR "
    "--hash sha256, a public CA is given the CSR (ask for SHA-256; on a Windows CA set the "
    "hash to SHA256). A SHA-512-signed intermediate must be reissued by its CA.",
    severity=Severity.MEDIUM,
    relay_severity=Severity.LOW,
    references=("https://support.microsoft.com/help/2973337", "RFC 5246 section 7.4.2"),
)
def cert_sha512_legacy_schannel(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    if obs.tls is None:
        return
    scan = obs.tls_scan
    if (
        scan is not None
        and scan.suites
        and not scan.suites_for(0x0303)
        and (not scan.incomplete or 0x0303 in scan.refused_versions())
    ):
        return  # the server does not speak TLS 1.2 at all: the rule cannot bite
    hits = []
    leaf_hit = False
    for sent in parse_sent(obs.tls.chain_der):
        if sent.cert is None:
            continue
        name = _SHA512_OIDS.get(sent.cert.signature_algorithm_oid.dotted_string)
        if name is not None:
            where = "server certificate" if sent.index == 0 else f"certificate #{sent.index + 1}"
            hits.append(f"{where} {describe(sent.cert.subject)} ({name})")
            leaf_hit = leaf_hit or sent.index == 0
    if not hits:
        return
    affected = [p.name for p in trust_data().profiles if not p.rules.sha512_tls12]
    yield Hit(
        detail="Signed with SHA-512: "
        + "; ".join(hits)
        + " (SEC_E_ALGORITHM_MISMATCH 0x80090331 without KB2973337). Affected: "
        + _names(affected),
        evidence=tuple(hits),
        fix_commands=sha256_reissue_commands(obs.endpoint) if leaf_hit else (),
    )


@endpoint_check(
    "cert.interception-proxy",
    title="The certificate was issued by an SSL-inspection product: the connection is intercepted",
    explanation="The chain names the CA of a known TLS-intercepting proxy or security product "
    "(Zscaler, Fortinet, Palo Alto, Cisco Umbrella, Blue Coat, Forcepoint, antivirus web "
    "shields...). Between vedette and the server something decrypts and re-signs the traffic; "
    "clients without that product's root (phones, Teams devices, MTAs) fail, and the proxy "
    "sees every password.",
    remediation="Scan from a network path without the proxy to see the server's real "
    "certificate. If interception is intended, exempt the mail and UC hosts from TLS "
    "inspection (most products have a bypass list), or deploy the proxy's root to every "
    "client and pass it to vedette with --ca.",
    severity=Severity.HIGH,
    relay_severity=Severity.MEDIUM,
    references=(
        "https://www.cisa.gov/news-events/alerts/2017/03/16/https-interception-weakens-tls-security",
    ),
)
def cert_interception_proxy(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    if obs.tls is None or not obs.tls.chain_der:
        return
    options = ctx.clients
    data = options.data if options is not None and options.data is not None else trust_data()
    product = interception_product(obs.tls.chain_der, data)
    if product is None:
        return
    issuers = [describe(s.cert.issuer) for s in parse_sent(obs.tls.chain_der) if s.cert]
    yield Hit(
        detail=f"Issued by {product}: {issuers[0] if issuers else '?'}", evidence=tuple(issuers)
    )


@endpoint_check(
    "cert.unexpected-issuer",
    title="The certificate is not issued by the expected CA (--expect-issuer)",
    explanation="You told vedette which CA issues this server's certificate; the chain it "
    "received names none of it. Either a different certificate is deployed (an old one, a "
    "test one, another node behind the name) or something on the path intercepts TLS.",
    remediation="Check which certificate each node serves (vedette scan lists the chain per "
    "address) and deploy the right one; if the chain is an interception proxy's, exempt the "
    "host from inspection.",
    severity=Severity.HIGH,
    references=("RFC 5280 section 4.1.2.4",),
)
def cert_unexpected_issuer(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    options = ctx.clients
    if options is None or not options.expect_issuer or obs.tls is None or not obs.tls.chain_der:
        return
    names = [describe(s.cert.issuer) for s in parse_sent(obs.tls.chain_der) if s.cert is not None]
    wanted = [w.lower() for w in options.expect_issuer]
    if any(w in n.lower() for n in names for w in wanted):
        return
    yield Hit(
        detail=f"Expected an issuer containing {', '.join(options.expect_issuer)}; the chain "
        f"has {'; '.join(names) or 'no readable issuer'}",
        evidence=tuple(names),
    )


@endpoint_check(
    "cert.pin-mismatch",
    title="The server's key does not match the pinned key (--pin)",
    explanation="The SHA-256 of the server certificate's SubjectPublicKeyInfo (as in HPKP) is "
    "not among the pins you gave: the server presents another key than expected — a "
    "re-keyed certificate not yet announced, another node, or an interception.",
    remediation="If the key change is legitimate, update the pins (and every client that pins "
    "it); otherwise find which node or proxy serves this key.",
    severity=Severity.HIGH,
    references=("RFC 7469 section 2.4",),
)
def cert_pin_mismatch(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    options = ctx.clients
    if options is None or not options.pins or obs.tls is None or not obs.tls.chain_der:
        return
    sent = parse_sent(obs.tls.chain_der[:1])
    leaf = sent[0].cert if sent else None
    if leaf is None:
        return
    try:
        actual = spki_sha256(leaf)
    except ValueError:
        return
    if actual in options.pins:
        return
    yield Hit(
        detail=f"The server key is sha256:{actual}; pinned: "
        + ", ".join(f"sha256:{p}" for p in options.pins),
        evidence=(f"sha256:{actual}",),
    )
