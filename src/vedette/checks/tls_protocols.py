"""What the server *accepts*: protocol versions, cipher suites, key exchange, TLS features.

These checks read ``Observation.tls_scan``, the result of the full enumeration
(``vedette scan --mode full``); in quick mode they stay silent. A scan marked ``incomplete``
(the server rate-limited or reset vedette, or a ``--mode clients`` scan, which asks two
questions only) still proves what it saw accepted, but proves no absence: checks about
something missing (no fallback SCSV, no forward secrecy…) then say nothing, except that a
version listed in ``tested_versions`` and not accepted was refused (no TLS 1.2, no TLS 1.3).

Severities are weighed by role: on port 25 TLS between mail servers is opportunistic — a
sending MTA that finds no common ground sends in clear — so legacy versions and suites there
are kept for compatibility on purpose (RFC 7435) and weigh less than on submission, IMAP, POP3
or HTTPS, where people type passwords.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from vedette.checks.registry import CheckContext, Hit, endpoint_check
from vedette.model import Observation, Severity
from vedette.tls.registry import (
    SSL2,
    SSL3,
    TLS10,
    TLS11,
    TLS12,
    TLS13,
    CipherSuite,
    registry,
    suite,
    suite_name,
    version_name,
)
from vedette.tls.result import TlsScan

_MAX_LISTED = 12


def _scan(obs: Observation) -> TlsScan | None:
    return obs.tls_scan


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    if len(names) > _MAX_LISTED:
        shown += f" and {len(names) - _MAX_LISTED} more"
    return shown


def _version_hit(obs: Observation, version: int) -> Iterator[Hit]:
    scan = _scan(obs)
    if scan is None or version not in scan.versions:
        return
    if version == SSL2:
        kinds = [registry().ssl2_kinds.get(k, f"0x{k:06X}") for k in scan.suites_for(SSL2)]
        yield Hit(detail=f"SSLv2 accepted, cipher kinds: {_listed(kinds)}", evidence=tuple(kinds))
        return
    names = [suite_name(c) for c in scan.suites_for(version)]
    yield Hit(
        detail=f"{version_name(version)} accepted with {len(names)} suite(s): {_listed(names)}",
        evidence=tuple(names),
    )


_PROTOCOL_FIX = (
    "Disable it: Postfix `smtpd_tls_protocols = >=TLSv1.2` (and smtpd_tls_mandatory_protocols),"
    " Dovecot `ssl_min_protocol = TLSv1.2`, OpenSSL-based servers `MinProtocol = TLSv1.2`; "
    "on Windows, the SChannel Protocols registry keys (or IIS Crypto)."
)


@endpoint_check(
    "tls.sslv2",
    title="SSL 2.0 is accepted",
    explanation="SSL 2.0 is broken beyond repair (RFC 6176) and lets DROWN decrypt TLS sessions "
    "that share the key.",
    remediation=_PROTOCOL_FIX,
    severity=Severity.CRITICAL,
    relay_severity=Severity.HIGH,
    references=("RFC 6176", "https://drownattack.com"),
)
def sslv2(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    yield from _version_hit(obs, SSL2)


@endpoint_check(
    "tls.sslv3",
    title="SSL 3.0 is accepted",
    explanation="SSL 3.0 is deprecated (RFC 7568): POODLE decrypts its CBC records and its only "
    "other ciphers are RC4.",
    remediation=_PROTOCOL_FIX,
    severity=Severity.HIGH,
    relay_severity=Severity.LOW,
    references=("RFC 7568",),
)
def sslv3(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    yield from _version_hit(obs, SSL3)


@endpoint_check(
    "tls.tls10",
    title="TLS 1.0 is accepted",
    explanation="TLS 1.0 is deprecated (RFC 8996); current clients no longer offer it and "
    "compliance regimes (PCI DSS) forbid it.",
    remediation=_PROTOCOL_FIX,
    severity=Severity.MEDIUM,
    relay_severity=Severity.INFO,
    references=("RFC 8996",),
)
def tls10(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    yield from _version_hit(obs, TLS10)


@endpoint_check(
    "tls.tls11",
    title="TLS 1.1 is accepted",
    explanation="TLS 1.1 is deprecated (RFC 8996) for the same reasons as TLS 1.0.",
    remediation=_PROTOCOL_FIX,
    severity=Severity.MEDIUM,
    relay_severity=Severity.INFO,
    references=("RFC 8996",),
)
def tls11(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    yield from _version_hit(obs, TLS11)


def _complete_scan(obs: Observation) -> TlsScan | None:
    scan = _scan(obs)
    if scan is None or scan.incomplete or not scan.versions:
        return None
    return scan


def _without(obs: Observation, *versions: int) -> TlsScan | None:
    """The scan when it shows that none of ``versions`` is accepted: a complete enumeration
    that lacks them, or a partial one (``--mode clients``, an interrupted enumeration) that
    tested each and saw it refused; ``None`` when that is not known."""
    scan = _scan(obs)
    if scan is None or not scan.versions or any(v in scan.versions for v in versions):
        return None
    if scan.incomplete and not all(v in scan.refused_versions() for v in versions):
        return None
    return scan


@endpoint_check(
    "tls.no-tls12",
    title="TLS 1.2 is not supported",
    explanation="Without TLS 1.2 (or 1.3) current clients, which refuse older versions, cannot "
    "connect at all.",
    remediation="Upgrade the TLS library (OpenSSL 1.0.1 or later) and enable TLS 1.2.",
    severity=Severity.HIGH,
    relay_severity=Severity.MEDIUM,
    references=("RFC 8996", "RFC 9325"),
)
def no_tls12(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    scan = _without(obs, TLS12, TLS13)
    if scan is not None:
        best = version_name(max(scan.versions))
        yield Hit(detail=f"the best version accepted is {best}")


@endpoint_check(
    "tls.no-tls13",
    title="TLS 1.3 is not supported",
    explanation="TLS 1.3 encrypts the certificate, removes every legacy suite and saves a round "
    "trip; RFC 9325 recommends supporting it.",
    remediation="Use OpenSSL 1.1.1 or later and allow TLSv1.3 (Postfix 3.4+, Dovecot 2.3+ do "
    "by default).",
    severity=Severity.LOW,
    relay_severity=Severity.INFO,
    references=("RFC 8446", "RFC 9325"),
)
def no_tls13(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    scan = _without(obs, TLS13)
    if scan is not None:
        yield Hit(detail=f"accepted: {', '.join(version_name(v) for v in scan.versions)}")


def _suites_matching(scan: TlsScan, pred: Callable[[CipherSuite], bool]) -> list[str]:
    names: list[str] = []
    for vs in scan.suites:
        if vs.version == SSL2:
            continue
        for code in vs.suites:
            info = suite(code)
            if info is not None and pred(info) and info.name not in names:
                names.append(info.name)
    return names


def _suite_hit(obs: Observation, pred: Callable[[CipherSuite], bool], what: str) -> Iterator[Hit]:
    scan = _scan(obs)
    if scan is None:
        return
    names = _suites_matching(scan, pred)
    if names:
        yield Hit(
            detail=f"{len(names)} {what} suite(s) accepted: {_listed(names)}", evidence=tuple(names)
        )


_SUITE_FIX = (
    "Restrict the cipher list: Postfix `smtpd_tls_exclude_ciphers = aNULL, eNULL, EXPORT, RC4, "
    "3DES, DES, MD5` (port 25 may keep aNULL); Dovecot `ssl_cipher_list = "
    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM`; OpenSSL servers likewise."
)


@endpoint_check(
    "tls.export-suites",
    title="Export-grade cipher suites are accepted",
    explanation="Export suites use 40- or 56-bit keys or 512-bit key exchange, breakable in "
    "hours (FREAK, Logjam).",
    remediation=_SUITE_FIX,
    severity=Severity.HIGH,
    relay_severity=Severity.MEDIUM,
    references=("https://weakdh.org", "CVE-2015-0204"),
)
def export_suites(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    yield from _suite_hit(obs, lambda s: s.export, "export")


@endpoint_check(
    "tls.null-suites",
    title="Cipher suites without encryption (NULL) are accepted",
    explanation="A NULL suite authenticates the peer but sends everything in clear, with any "
    "client that offers it (mainstream clients do not, hence medium).",
    remediation=_SUITE_FIX,
    severity=Severity.MEDIUM,
    relay_severity=Severity.LOW,
    references=("RFC 9325 §4.1",),
)
def null_suites(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    yield from _suite_hit(obs, lambda s: s.null and not s.tls13, "NULL")


@endpoint_check(
    "tls.anon-suites",
    title="Anonymous cipher suites (no server authentication) are accepted",
    explanation="Anonymous Diffie-Hellman suites send no certificate, so a man in the middle "
    "needs no key to intercept a client that offers them (mainstream clients do not, hence "
    "medium). Between MTAs on port 25, where certificates are not checked anyway, they are "
    "harmless and Postfix enables them on purpose.",
    remediation=_SUITE_FIX,
    severity=Severity.MEDIUM,
    relay_severity=Severity.INFO,
    references=("RFC 9325 §4.1", "RFC 7672 §8.2"),
)
def anon_suites(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    yield from _suite_hit(obs, lambda s: s.anonymous, "anonymous")


@endpoint_check(
    "tls.rc4-suites",
    title="RC4 cipher suites are accepted",
    explanation="RC4 is prohibited in TLS (RFC 7465): its keystream biases leak plaintext.",
    remediation=_SUITE_FIX,
    severity=Severity.HIGH,
    relay_severity=Severity.LOW,
    references=("RFC 7465",),
)
def rc4_suites(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    yield from _suite_hit(obs, lambda s: s.rc4 and not s.export, "RC4")


@endpoint_check(
    "tls.3des-suites",
    title="3DES (or single DES) cipher suites are accepted",
    explanation="64-bit block ciphers leak plaintext after some gigabytes of one session "
    "(Sweet32); single DES is brute-forced in hours.",
    remediation=_SUITE_FIX,
    severity=Severity.MEDIUM,
    relay_severity=Severity.LOW,
    references=("https://sweet32.info", "CVE-2016-2183"),
)
def des_suites(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    yield from _suite_hit(
        obs, lambda s: (s.triple_des or s.single_des) and not s.export, "3DES/DES"
    )


@endpoint_check(
    "tls.no-forward-secrecy",
    title="No cipher suite offers forward secrecy",
    explanation="Every accepted suite uses static key exchange: whoever obtains the server's "
    "private key later decrypts every recorded session.",
    remediation="Enable ECDHE suites (and TLS 1.3): e.g. Dovecot `ssl_cipher_list = "
    "ECDHE+AESGCM:ECDHE+CHACHA20`, Postfix `tls_high_cipherlist` with ECDHE first.",
    severity=Severity.MEDIUM,
    relay_severity=Severity.LOW,
    references=("RFC 9325 §4.1",),
)
def no_forward_secrecy(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    scan = _complete_scan(obs)
    if scan is None or TLS13 in scan.versions:
        return
    accepted = _suites_matching(scan, lambda s: True)
    if accepted and not _suites_matching(scan, lambda s: bool(s.forward_secret)):
        yield Hit(detail=f"accepted suites: {_listed(accepted)}")


@endpoint_check(
    "tls.weak-dh",
    title="Diffie-Hellman parameters are weaker than 2048 bits",
    explanation="DHE with a prime under 2048 bits is within reach of a nation-state (Logjam); "
    "under 1024 bits, of anyone.",
    remediation="Use 2048-bit or larger DH parameters (Postfix `smtpd_tls_dh1024_param_file` "
    "with a 2048-bit file, Dovecot `ssl_dh = </etc/dovecot/dh.pem`), or prefer ECDHE.",
    severity=Severity.MEDIUM,
    relay_severity=Severity.LOW,
    references=("https://weakdh.org", "RFC 7919"),
)
def weak_dh(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    scan = _scan(obs)
    if scan is None or not scan.dh_bits or min(scan.dh_bits) >= 2048:
        return
    smallest = min(scan.dh_bits)
    severity = (
        Severity.HIGH if smallest < 1024 and obs.endpoint.service.role.value == "user" else None
    )
    sizes = ", ".join(str(b) for b in scan.dh_bits)
    yield Hit(detail=f"DH prime sizes seen: {sizes} bits", severity=severity)


def _weak(info: CipherSuite) -> bool:
    return info.weakness is not None


@endpoint_check(
    "tls.weak-suite-preferred",
    title="The server prefers a weak cipher suite",
    explanation="The server imposes its own order and puts a broken suite (export, NULL, "
    "anonymous, RC4, DES/3DES) first, so every client that offers it gets it.",
    remediation="Order the cipher list strongest first and remove the weak suites (OpenSSL: "
    "`SSL_OP_CIPHER_SERVER_PREFERENCE` with a list such as ECDHE+AESGCM:ECDHE+CHACHA20).",
    severity=Severity.HIGH,
    relay_severity=Severity.MEDIUM,
    references=("RFC 9325 §4.2",),
)
def weak_suite_preferred(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    scan = _scan(obs)
    if scan is None:
        return
    for vs in scan.suites:
        if vs.version == SSL2 or not vs.server_order or not vs.suites:
            continue
        info = suite(vs.suites[0])
        if info is not None and _weak(info):
            yield Hit(detail=f"{version_name(vs.version)}: first choice {info.name}")


@endpoint_check(
    "tls.no-fallback-scsv",
    title="TLS_FALLBACK_SCSV is not honoured",
    explanation="A client that retries with a lower version after a failure (as browsers did) "
    "can be downgraded by an attacker who breaks the first attempt (RFC 7507).",
    remediation="Upgrade the TLS library (OpenSSL 1.0.1j or later honours the SCSV).",
    severity=Severity.LOW,
    relay_severity=Severity.INFO,
    references=("RFC 7507",),
)
def no_fallback_scsv(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    scan = _scan(obs)
    if scan is not None and scan.fallback_scsv is False:
        yield Hit(detail="a downgraded hello carrying TLS_FALLBACK_SCSV was accepted")


@endpoint_check(
    "tls.insecure-renegotiation",
    title="Secure renegotiation (RFC 5746) is not supported",
    explanation="Without the renegotiation_info extension a man in the middle can splice his "
    "own data in front of the client's session (CVE-2009-3555).",
    remediation="Upgrade the TLS library (OpenSSL 0.9.8m or later) or disable renegotiation.",
    severity=Severity.MEDIUM,
    relay_severity=Severity.LOW,
    references=("RFC 5746", "CVE-2009-3555"),
)
def insecure_renegotiation(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    scan = _scan(obs)
    if scan is not None and scan.secure_renegotiation is False:
        yield Hit(detail="the ServerHello carried no renegotiation_info extension")


@endpoint_check(
    "tls.compression",
    title="TLS compression is enabled",
    explanation="Compressing secrets together with attacker-chosen data leaks them (CRIME).",
    remediation="Disable TLS compression (OpenSSL `SSL_OP_NO_COMPRESSION`, the default since "
    "1.1.0).",
    severity=Severity.MEDIUM,
    relay_severity=Severity.LOW,
    references=("CVE-2012-4929",),
)
def compression(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    scan = _scan(obs)
    if scan is not None and scan.compression:
        yield Hit(detail="the server chose DEFLATE when offered")


@endpoint_check(
    "tls.no-resumption",
    title="TLS sessions are not resumed",
    explanation="vedette completed a handshake, then offered its session again on a new "
    "connection (TLS 1.2: the ticket or session id; TLS 1.3: a NewSessionTicket as a PSK), and "
    "the server issued no TLS 1.3 ticket or ran a full handshake instead. Mail "
    "clients reconnect often (phones at every wake-up and network change, IMAP clients for "
    "each extra connection, POP3 at every poll), so each reconnection pays a full handshake: "
    "an extra round trip on slow mobile links, and a private-key operation on the server. "
    "Not a security problem.",
    remediation="Postfix: keep smtpd_tls_session_cache_timeout above 0 (default 3600s; 0 "
    "disables the session cache and RFC 5077 tickets alike) and tls_session_ticket_cipher "
    "non-empty (default aes-256-cbc; empty disables tickets); smtpd_tls_session_cache_database "
    "= btree:${data_directory}/smtpd_scache adds a session-id cache shared by all smtpd "
    "processes. Dovecot: in its default high-security mode (service imap-login and pop3-login "
    "with service_count = 1; restart_request_count in 2.4) every connection gets a new login "
    "process with its own session cache and ticket keys, so nothing is ever resumed; "
    "high-performance mode (service_count = 0, with process_min_avail) resumes, at the price "
    "of login processes shared between connections; ssl_options = no_ticket turns tickets "
    "off. Other servers: enable session tickets or a session cache shared by the processes "
    "that accept connections.",
    severity=Severity.INFO,
    references=("RFC 5077", "RFC 5246 section 7.3"),
)
def no_resumption(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    scan = _scan(obs)
    if scan is None or False not in (scan.resumption, scan.resumption_tls13):
        return
    failed = []
    if scan.resumption is False:
        failed.append("a TLS 1.2 session from a full handshake was not resumed")
    if scan.resumption_tls13 is False:
        failed.append("no TLS 1.3 ticket was issued or the ticket offered was refused")
    detail = " and ".join(failed) + " on a second connection"
    if scan.resumption is True:
        detail += " (TLS 1.2 sessions are resumed: clients that use TLS 1.3 pay the full handshake)"
    elif scan.resumption_tls13 is True:
        detail += " (TLS 1.3 tickets work: only TLS 1.2 clients pay the full handshake)"
    elif scan.resumption_tls13 is None and TLS13 in scan.versions:
        detail += " (TLS 1.3 resumption could not be tested)"
    yield Hit(detail=detail)


#: SChannel (Windows) clients fail when the CA list exceeds 16 KiB (Microsoft KB 933430).
CA_LIST_LIMIT = 16384


@endpoint_check(
    "tls.client-cert-ca-list-oversized",
    title="The server's list of acceptable client-certificate CAs is too large",
    explanation="The server asks for a client certificate and names more CAs than Windows "
    "SChannel accepts (16 KiB): Lync/Skype and other SChannel clients fail the handshake, the "
    "classic failure of SIP on port 5061.",
    remediation="Send no CA list or a short one: on Windows set "
    "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL "
    "SendTrustedIssuerList = 0 and remove stray roots from the machine store; elsewhere, "
    "name only the issuing CAs (Postfix `smtpd_tls_CAfile`, Dovecot `ssl_ca`).",
    severity=Severity.MEDIUM,
    relay_severity=Severity.LOW,
    references=(
        "https://learn.microsoft.com/troubleshoot/windows-server/windows-security/"
        "tls-client-authentication-fails",
    ),
)
def ca_list_oversized(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    scan = _scan(obs)
    if scan is None or scan.client_cert_request is None:
        return
    cr = scan.client_cert_request
    if cr.ca_bytes > CA_LIST_LIMIT:
        yield Hit(
            detail=f"{cr.ca_count} CA names in {cr.ca_bytes} bytes (SChannel limit {CA_LIST_LIMIT})"
        )
