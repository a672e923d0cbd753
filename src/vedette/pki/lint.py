"""``vedette cert lint``: rules for public TLS, S/MIME, internal-CA and CA certificates.

Four profiles:

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
* ``ca`` — a CA certificate (a root, an intermediate): RFC 5280's rules for CAs
  (basicConstraints CA:TRUE and critical, keyUsage keyCertSign, a subject key identifier, an
  authority key identifier below the root) instead of the end-entity rules.

Which profile, unless ``--profile`` says (:func:`choose_profile`): a CA certificate gets ``ca``.
For an end-entity certificate the chain decides. The path is followed through the other
certificates of the file up to a root: a root (or an issuer) in a public store vedette knows
(its trust data: Mozilla, Microsoft, Apple, Chrome, Android, Java stores) means a public
profile (``server``, or ``smime`` for an e-mail-only certificate); a self-signed root in none
of them, or a root given with ``--ca``, means ``internal`` (``smime`` stays ``smime``). When
the issuer is nowhere to be found (a leaf alone, as ``vedette ca sign`` writes it for a
single-level CA), the certificate decides: a TLS certificate without embedded Certificate
Transparency SCTs cannot be from a public CA (browsers and Apple refuse those), so it is
judged ``internal``; with SCTs, ``server``.

Plus vedette's mail-specific rules on every profile: a SHA-512 signature fails on legacy
SChannel clients (Lync 2013 on Windows 7, ``SEC_E_ALGORITHM_MISMATCH``), and an RSA key
without keyEncipherment cannot do TLS 1.2 RSA key exchange, which old MTAs still offer.

Each result is ``error`` (clients or the rules reject it), ``warning`` (works, but a rule or
common clients object) or ``notice``. When DigiCert's ``pkilint`` is installed (the
``pkilint`` extra), its findings for the ``server`` and ``smime`` profiles are added with the
``pkilint:`` prefix (see ``pkilint_adapter``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from vedette.x509.chain import is_ca, is_self_signed, signed_by
from vedette.x509.legacy_algorithms import public_key_of
from vedette.x509.validity import limit_at, validity_period

__all__ = ["PROFILES", "LintResult", "ProfileChoice", "choose_profile", "lint_certificate"]

PROFILES: tuple[str, ...] = ("server", "smime", "internal", "ca")
_MAX_PATH = 10

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


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileChoice:
    profile: str
    reason: str


def _is_smime_only(cert: x509.Certificate) -> bool:
    eku = _ext(cert, x509.ExtendedKeyUsage)
    if not isinstance(eku, x509.ExtendedKeyUsage):
        return False
    return (
        ExtendedKeyUsageOID.EMAIL_PROTECTION in eku and ExtendedKeyUsageOID.SERVER_AUTH not in eku
    )


def choose_profile(
    certs: Sequence[x509.Certificate],
    *,
    private_roots: Sequence[x509.Certificate] = (),
    public_subjects: frozenset[str] = frozenset(),
    public_fingerprints: frozenset[str] = frozenset(),
) -> ProfileChoice:
    """The lint profile for ``certs[0]``, from its chain (see the module docstring).

    ``public_subjects`` (RFC 4514) and ``public_fingerprints`` (SHA-256, hex) are the roots
    of the public stores; ``private_roots`` the user's own (``--ca``).
    """
    leaf = certs[0]
    if is_ca(leaf):
        return ProfileChoice(profile="ca", reason="a CA certificate")
    public = "smime" if _is_smime_only(leaf) else "server"
    private = "smime" if public == "smime" else "internal"
    pool = [*certs[1:], *private_roots]
    current = leaf
    for _ in range(_MAX_PATH):
        if current is not leaf and is_self_signed(current):
            break
        issuer = next((c for c in pool if c is not current and signed_by(current, c)), None)
        if issuer is None:
            if _issuer_dn(current) in public_subjects:
                return ProfileChoice(
                    profile=public, reason=f"issued under {_issuer_dn(current)}, a public root"
                )
            break
        if any(issuer is r for r in private_roots):
            return ProfileChoice(
                profile=private, reason=f"issued under {_dn(issuer)}, a private root (--ca)"
            )
        current = issuer
    if current is not leaf and is_self_signed(current):
        if current.fingerprint(hashes.SHA256()).hex() in public_fingerprints:
            return ProfileChoice(profile=public, reason=f"its root {_dn(current)} is public")
        return ProfileChoice(
            profile=private,
            reason=f"its root {_dn(current)} is private (in no public store vedette knows)",
        )
    if public == "server" and not _has_scts(leaf):
        return ProfileChoice(
            profile=private,
            reason="issuer not given and no Certificate Transparency SCTs: not from a public "
            "CA (give --profile server to judge it as public)",
        )
    return ProfileChoice(
        profile=public, reason="issuer not given; judged as public (--ca ROOT for a private CA)"
    )


def _has_scts(cert: x509.Certificate) -> bool:
    """An embedded SCT list is present (parsed or not: presence is what public CAs show)."""
    try:
        cert.extensions.get_extension_for_oid(ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS)
    except x509.ExtensionNotFound:
        return False
    except ValueError:
        return b"\x06\x0a\x2b\x06\x01\x04\x01\xd6\x79\x02\x04\x02" in cert.tbs_certificate_bytes
    return True


def _issuer_dn(cert: x509.Certificate) -> str:
    try:
        return cert.issuer.rfc4514_string()
    except ValueError:
        return "an unreadable name"


def _dn(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "an unreadable name"


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

    if profile not in PROFILES:
        raise ValueError(f"unknown lint profile {profile!r}")
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
    if profile == "ca":
        _check_ca(cert, add)
    elif isinstance(bc, x509.BasicConstraints) and bc.ca:
        add("error", "leaf-is-ca", "basicConstraints CA:TRUE on an end-entity certificate")
    if profile != "ca" and _ext(cert, x509.SubjectKeyIdentifier) is None:
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
        from vedette.pki import pkilint_adapter

        if pkilint_adapter.available():
            der = cert.public_bytes(serialization.Encoding.DER)
            for level, code, message in pkilint_adapter.run(der, profile):
                add(level, f"pkilint:{code}", message)
    return tuple(out)


def _check_ca(cert: x509.Certificate, add: _Add) -> None:
    """RFC 5280's rules for a CA certificate."""
    try:
        bc_ext = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except (x509.ExtensionNotFound, ValueError):
        bc_ext = None
    if bc_ext is None or not bc_ext.value.ca:
        add("error", "ca-basic-constraints", "no basicConstraints CA:TRUE: not a CA certificate")
    elif not bc_ext.critical:
        add("error", "ca-basic-constraints-critical", "basicConstraints is not critical (4.2.1.9)")
    try:
        ku_ext = cert.extensions.get_extension_for_class(x509.KeyUsage)
    except (x509.ExtensionNotFound, ValueError):
        ku_ext = None
    if ku_ext is None:
        add(
            "error", "ca-key-usage", "no keyUsage: a CA certificate must have keyCertSign (4.2.1.3)"
        )
    else:
        if not ku_ext.value.key_cert_sign:
            add("error", "ca-key-usage", "keyUsage lacks keyCertSign")
        if not ku_ext.value.crl_sign:
            add("notice", "ca-crl-sign", "keyUsage lacks cRLSign: this CA cannot sign its CRLs")
        if not ku_ext.critical:
            add("warning", "ca-key-usage-critical", "keyUsage is not critical (4.2.1.3)")
    if _ext(cert, x509.SubjectKeyIdentifier) is None:
        add("error", "ca-ski-missing", "no subjectKeyIdentifier (a MUST for CAs, 4.2.1.2)")
    try:
        nc = cert.extensions.get_extension_for_class(x509.NameConstraints)
        if not nc.critical:
            add("notice", "ca-name-constraints", "nameConstraints is not critical (4.2.1.10)")
    except (x509.ExtensionNotFound, ValueError):
        pass


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
