"""``vedette cert lint``: rules for public TLS, S/MIME and internal-CA certificates.

Three profiles:

* ``server`` — a publicly-trusted TLS server certificate: the CA/Browser Forum Baseline
  Requirements (SAN required, CN among the SANs, serverAuth EKU, no internal names or private
  addresses, validity within the limit in force at notBefore, 64 bits of serial entropy,
  revocation information).
* ``smime`` — a publicly-trusted S/MIME certificate: the CA/B Forum S/MIME BR (an e-mail
  address in the SAN, emailProtection EKU, a key usage that allows signing, 825 days).
* ``internal`` — a certificate from a private CA that Apple, Microsoft and mail clients must
  still accept: Apple's rules for *all* TLS certificates since iOS 13 / macOS 10.15 (support
  article HT210176: names in the SAN only, serverAuth EKU, RSA >= 2048, SHA-2, and at most
  825 days), which is what breaks iPhones on internal Exchange servers.

Plus vedette's mail-specific rules on every profile: a SHA-512 signature fails on legacy
SChannel clients (Lync 2013 on Windows 7, ``SEC_E_ALGORITHM_MISMATCH``), and an RSA key
without keyEncipherment cannot do TLS 1.2 RSA key exchange, which old MTAs still offer.

Each result is ``error`` (clients or the rules reject it), ``warning`` (works, but a rule or
common clients object) or ``notice``. When DigiCert's ``pkilint`` is installed (the
``pkilint`` extra), its findings for the ``server`` and ``smime`` profiles are added with the
``pkilint:`` prefix (see ``_pkilint``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vedette.x509.chain import is_self_signed
from vedette.x509.legacy_algorithms import public_key_of
from vedette.x509.validity import limit_at, validity_period

__all__ = ["PROFILES", "LintResult", "lint_certificate"]

PROFILES: tuple[str, ...] = ("server", "smime", "internal")

_INTERNAL_TLDS = frozenset(
    {
        "local",
        "lan",
        "corp",
        "internal",
        "intranet",
        "home",
        "localdomain",
        "test",
        "invalid",
        "example",
        "localhost",
        "private",
        "domain",
        "lab",
        "ad",
    }
)
_SMIME_MAX_DAYS = 825
_APPLE_MAX_DAYS = 825


_Add = Callable[[str, str, str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class LintResult:
    level: str  # error | warning | notice
    rule: str
    message: str


def _ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def _sig_hash(cert: x509.Certificate) -> str | None:
    try:
        algo = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return "unsupported"
    return None if algo is None else algo.name


def lint_certificate(
    cert: x509.Certificate, profile: str, *, pkilint: bool = False
) -> tuple[LintResult, ...]:
    """vedette's rules for ``profile``, then pkilint's when ``pkilint`` (and installed)."""
    out: list[LintResult] = []

    def add(level: str, rule: str, message: str) -> None:
        out.append(LintResult(level=level, rule=rule, message=message))

    public = profile in ("server", "smime")
    # --- serial, dates, signature, key -----------------------------------------------------
    if cert.serial_number <= 0:
        add("error", "serial-positive", "the serial number must be a positive integer")
    elif public and cert.serial_number.bit_length() < 64:
        add("error", "serial-entropy", "the serial has fewer than 64 bits (BR 7.1)")
    if cert.not_valid_before_utc > cert.not_valid_after_utc:
        add("error", "validity-order", "notBefore is after notAfter")
    sig = _sig_hash(cert)
    if sig in ("sha1", "md5"):
        add("error", "weak-signature", f"signed with {sig.upper()} (collisions are practical)")
    elif sig == "sha512":
        add(
            "warning",
            "sha512-legacy-schannel",
            "SHA-512 signature: Lync 2013 / Windows 7 SChannel clients fail with "
            "SEC_E_ALGORITHM_MISMATCH; sign with SHA-256",
        )
    try:
        key = public_key_of(cert)
    except (ValueError, UnsupportedAlgorithm) as exc:
        add("error", "key-unreadable", f"the public key does not parse: {exc}")
        key = None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        add("error", "weak-key", f"RSA {key.key_size} bits (at least 2048)")
    elif isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name not in (
        "secp256r1",
        "secp384r1",
        "secp521r1",
    ):
        add("error", "ec-curve", f"curve {key.curve.name} is not P-256/P-384/P-521")
    elif isinstance(key, ed25519.Ed25519PublicKey) and profile == "server":
        add("error", "key-type", "Ed25519 is not allowed by the BR and few TLS clients accept it")
    # --- basic constraints, identifiers ----------------------------------------------------
    bc = _ext(cert, x509.BasicConstraints)
    if isinstance(bc, x509.BasicConstraints) and bc.ca:
        add("error", "leaf-is-ca", "basicConstraints CA:TRUE on an end-entity certificate")
    if _ext(cert, x509.SubjectKeyIdentifier) is None:
        add("notice", "ski-missing", "no subjectKeyIdentifier")
    if not is_self_signed(cert) and _ext(cert, x509.AuthorityKeyIdentifier) is None:
        add(
            "error" if public else "warning",
            "aki-missing",
            "no authorityKeyIdentifier: chain builders cannot tell re-keyed issuers apart",
        )
    # --- names ------------------------------------------------------------------------------
    san = _ext(cert, x509.SubjectAlternativeName)
    sans = san if isinstance(san, x509.SubjectAlternativeName) else None
    dns = sans.get_values_for_type(x509.DNSName) if sans is not None else []
    ips = sans.get_values_for_type(x509.IPAddress) if sans is not None else []
    emails = sans.get_values_for_type(x509.RFC822Name) if sans is not None else []
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    eku_ext = _ext(cert, x509.ExtendedKeyUsage)
    ekus = list(eku_ext) if isinstance(eku_ext, x509.ExtendedKeyUsage) else None
    ku = _ext(cert, x509.KeyUsage)
    if profile in ("server", "internal"):
        if not dns and not ips:
            add(
                "error",
                "san-missing",
                "no DNS name or IP address in subjectAltName; clients ignore the CN",
            )
        names_lower = {d.lower() for d in dns} | {str(i) for i in ips}
        for cn in cns:
            if isinstance(cn, str) and cn.lower() not in names_lower and profile == "server":
                add("error", "cn-not-in-san", f"CN {cn!r} is not among the SANs (BR 7.1.4.3)")
        for d in dns:
            _check_dns(d, public=profile == "server", add=add)
        if profile == "server":
            for ip in ips:
                if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved:
                    add("error", "private-ip", f"IP:{ip} is a private or reserved address")
        if ekus is None:
            add(
                "error" if profile == "server" else "warning",
                "eku-missing",
                "no extendedKeyUsage (BR 7.1.2.7.10; Apple requires serverAuth)",
            )
        elif ExtendedKeyUsageOID.SERVER_AUTH not in ekus:
            add("error", "eku-server-auth", "extendedKeyUsage lacks serverAuth")
        if isinstance(ku, x509.KeyUsage):
            if ku.key_cert_sign or ku.crl_sign:
                add("error", "ku-ca-bits", "keyCertSign/cRLSign on an end-entity certificate")
            if not ku.digital_signature and not (
                isinstance(key, rsa.RSAPublicKey) and ku.key_encipherment
            ):
                add("error", "ku-server", "keyUsage lacks digitalSignature")
            if isinstance(key, rsa.RSAPublicKey) and not ku.key_encipherment:
                add(
                    "notice",
                    "ku-rsa-key-exchange",
                    "RSA key without keyEncipherment: TLS 1.2 RSA key exchange (still the only "
                    "choice of some old MTAs) is impossible",
                )
        _check_validity(cert, profile, add)
    if profile == "smime":
        if not emails:
            add("error", "smime-email-missing", "no e-mail address (rfc822Name) in the SAN")
        subj_emails = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
        for e in subj_emails:
            if e not in emails:
                add("error", "smime-email-subject", f"subject e-mail {e!r} is not in the SAN")
        if ekus is None or ExtendedKeyUsageOID.EMAIL_PROTECTION not in ekus:
            add("error", "smime-eku", "extendedKeyUsage lacks emailProtection")
        if isinstance(ku, x509.KeyUsage):
            if not ku.digital_signature:
                add("error", "smime-ku-sign", "keyUsage lacks digitalSignature: cannot sign")
            if isinstance(key, rsa.RSAPublicKey) and not ku.key_encipherment:
                add(
                    "warning",
                    "smime-ku-encrypt",
                    "RSA key without keyEncipherment: nobody can encrypt to it",
                )
        else:
            add("error", "smime-ku-missing", "no keyUsage (S/MIME BR 7.1.2.3)")
        if validity_period(cert) > timedelta(days=_SMIME_MAX_DAYS):
            add("error", "smime-validity", f"valid longer than {_SMIME_MAX_DAYS} days")
    if public:
        cdp = _ext(cert, x509.CRLDistributionPoints)
        aia = _ext(cert, x509.AuthorityInformationAccess)
        if cdp is None and aia is None:
            add("warning", "revocation-info", "neither CRL distribution point nor OCSP URL")
        if aia is None:
            add("warning", "aia-missing", "no authorityInfoAccess (caIssuers/OCSP)")
    if pkilint and profile in ("server", "smime"):
        from vedette.pki import _pkilint

        if _pkilint.available():
            der = cert.public_bytes(serialization.Encoding.DER)
            for level, code, message in _pkilint.run(der, profile):
                add(level, f"pkilint:{code}", message)
    return tuple(out)


def _check_dns(name: str, *, public: bool, add: _Add) -> None:
    labels = name.lower().split(".")
    if "*" in name and not (labels[0] == "*" and "*" not in ".".join(labels[1:])):
        add("error", "wildcard-placement", f"DNS:{name}: a wildcard must be the whole left label")
    if "_" in name and public:
        add("error", "dns-underscore", f"DNS:{name}: underscores are not allowed (SC-064)")
    if public and (len(labels) < 2 or labels[-1] in _INTERNAL_TLDS):
        add("error", "internal-name", f"DNS:{name}: an internal name cannot be publicly trusted")
    try:
        ipaddress.ip_address(name)
        add("error", "ip-in-dns-name", f"DNS:{name} is an IP address; use an IP SAN")
    except ValueError:
        pass


def _check_validity(cert: x509.Certificate, profile: str, add: _Add) -> None:
    period = validity_period(cert)
    days = period.total_seconds() / 86400
    if profile == "server":
        limit = limit_at(cert.not_valid_before_utc)
        if limit is not None:
            max_days = limit.days_from(cert.not_valid_before_utc)
            if period > timedelta(days=max_days):
                add(
                    "error",
                    "validity-public",
                    f"valid {days:.0f} days; the limit for certificates issued then is "
                    f"{max_days} days ({limit.source})",
                )
    if period > timedelta(days=_APPLE_MAX_DAYS):
        add(
            "error",
            "validity-apple",
            f"valid {days:.0f} days: iOS 13+/macOS 10.15+ reject TLS certificates valid "
            f"longer than {_APPLE_MAX_DAYS} days, private CAs included (HT210176)",
        )
