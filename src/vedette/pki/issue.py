"""Issuing certificates by profile: what ``vedette ca`` puts in a certificate, and why.

Profiles mirror the Active Directory Certificate Services templates administrators know:

========  ===================  ==============================================================
profile   AD CS template       content
========  ===================  ==============================================================
server    Web Server           SAN required (DNS/IP), EKU serverAuth, KU digitalSignature
                               (+ keyEncipherment for RSA: TLS 1.2 RSA key transport)
client    User / Workstation   EKU clientAuth, KU digitalSignature (+ keyEncipherment RSA)
smime     User (e-mail)        SAN with at least one e-mail address, EKU emailProtection, KU
                               digitalSignature + keyEncipherment (RSA) or keyAgreement (EC:
                               ECDH key agreement is how S/MIME encrypts to an EC key)
ocsp      OCSP Response        EKU OCSPSigning, KU digitalSignature, id-pkix-ocsp-nocheck
                               Signing                (RFC 6960 4.2.2.2.1: the responder's
                               own status is not checked, or validation would loop)
========  ===================  ==============================================================

Every certificate gets ``basicConstraints CA:FALSE`` (critical), a subject key identifier, an
authority key identifier equal to the issuer's SKI, and, when the CA directory is configured
with them, a CRL distribution point and an authorityInfoAccess (caIssuers, OCSP) URL — clients
on Windows fetch both, and an internal CA that publishes neither makes every revocation check
"offline" (Outlook's "revocation information not available" prompt).

Names come from the request's subjectAltName (unlike easy-rsa, which drops them unless told
``--copy-ext``: its issues #218/#60/#447), replaced by ``--san`` when the signer gives names.
If the issuing CA carries name constraints, every DNS name must lie inside a permitted subtree
and outside the excluded ones, checked *before* signing: a certificate clients would reject is
not issued.

Validity. ``notAfter = notBefore + days - 1 second`` so the inclusive period the CA/B Forum
counts (notAfter - notBefore + 1 s, see ``vedette.x509.validity``) is exactly ``days``.
``notBefore`` is five minutes in the past for clients whose clock is a little behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from vedette.errors import PkiError
from vedette.pki.ca import _HASHES as _HASH
from vedette.pki.ca import PrivateKey, _serial
from vedette.x509.legacy_algorithms import public_key_of

__all__ = [
    "PROFILES",
    "IssuerUrls",
    "check_name_constraints",
    "issue_from_csr",
    "make_ca_certificate",
]

PROFILES: tuple[str, ...] = ("server", "client", "smime", "ocsp")

_BACKDATE = timedelta(minutes=5)

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class IssuerUrls:
    """Where relying parties find the CA's CRL, its certificate, and its OCSP responder."""

    __slots__ = ("aia", "crl", "ocsp")

    def __init__(
        self, *, crl: str | None = None, aia: str | None = None, ocsp: str | None = None
    ) -> None:
        self.crl = crl
        self.aia = aia
        self.ocsp = ocsp


def _key_usage(**on: bool) -> x509.KeyUsage:
    fields = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{f: on.get(f, False) for f in fields})


def _sign(builder: x509.CertificateBuilder, key: PrivateKey, hash_alg: str) -> x509.Certificate:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return builder.sign(key, None)
    return builder.sign(key, _HASH[hash_alg]())


def _aki(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        pub = public_key_of(issuer)
        if not isinstance(pub, PublicKey):
            raise PkiError("the CA's public key type is not supported") from None
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(pub)


def _add_urls(builder: x509.CertificateBuilder, urls: IssuerUrls | None) -> x509.CertificateBuilder:
    if urls is None:
        return builder
    if urls.crl:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(urls.crl)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    access: list[x509.AccessDescription] = []
    if urls.ocsp:
        access.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)
            )
        )
    if urls.aia:
        access.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(urls.aia)
            )
        )
    if access:
        builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    return builder


def make_ca_certificate(
    *,
    subject: x509.Name,
    key: PrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey | None,
    now: datetime,
    days: int,
    path_length: int | None,
    permitted_dns: Sequence[str] = (),
    hash_alg: str = "sha256",
    urls: IssuerUrls | None = None,
) -> x509.Certificate:
    """A root (``issuer=None``) or a subordinate CA certificate.

    ``permitted_dns`` adds a critical nameConstraints extension: the CA may only certify
    those DNS names and their subdomains (RFC 5280 4.2.1.10), which is how an internal CA is
    kept from vouching for ``www.yourbank.example`` if its key leaks.
    """
    public = key.public_key()
    start = now - _BACKDATE
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.subject)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days) - timedelta(seconds=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False
        )
    else:
        builder = _add_urls(builder.add_extension(_aki(issuer), critical=False), urls)
    if permitted_dns:
        builder = builder.add_extension(
            x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(d) for d in permitted_dns],
                excluded_subtrees=None,
            ),
            critical=True,
        )
    return _sign(builder, key if issuer_key is None else issuer_key, hash_alg)


def _dns_within(name: str, base: str) -> bool:
    # RFC 5280 4.2.1.10: "host.example.com" satisfies "example.com"; a leading dot (".x")
    # means subdomains only. Wildcards are judged on the labels after "*.".
    name = name.lower().removeprefix("*.")
    base = base.lower()
    if base.startswith("."):
        return name.endswith(base)
    return name == base or name.endswith("." + base)


def check_name_constraints(issuer: x509.Certificate, names: Sequence[x509.GeneralName]) -> None:
    """PkiError when a DNS or IP name falls outside the issuer's name constraints."""
    try:
        nc = issuer.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return
    permitted = [n.value for n in nc.permitted_subtrees or () if isinstance(n, x509.DNSName)]
    excluded = [n.value for n in nc.excluded_subtrees or () if isinstance(n, x509.DNSName)]
    for name in names:
        if not isinstance(name, x509.DNSName):
            continue
        if permitted and not any(_dns_within(name.value, b) for b in permitted):
            raise PkiError(
                f"DNS:{name.value} is outside the CA's name constraints "
                f"(permitted: {', '.join(permitted)})"
            )
        if any(_dns_within(name.value, b) for b in excluded):
            raise PkiError(f"DNS:{name.value} is excluded by the CA's name constraints")


def _profile_extensions(
    builder: x509.CertificateBuilder,
    profile: str,
    public: PublicKey,
    names: Sequence[x509.GeneralName],
) -> x509.CertificateBuilder:
    is_rsa = isinstance(public, rsa.RSAPublicKey)
    is_ec = isinstance(public, ec.EllipticCurvePublicKey)
    if profile == "server":
        if not any(isinstance(n, x509.DNSName | x509.IPAddress) for n in names):
            raise PkiError(
                "profile server needs a subjectAltName with a DNS name or IP address "
                "(the request has none; give them with --san)"
            )
        ku = _key_usage(digital_signature=True, key_encipherment=is_rsa)
        eku = [ExtendedKeyUsageOID.SERVER_AUTH]
    elif profile == "client":
        ku = _key_usage(digital_signature=True, key_encipherment=is_rsa)
        eku = [ExtendedKeyUsageOID.CLIENT_AUTH]
    elif profile == "smime":
        if not any(isinstance(n, x509.RFC822Name) for n in names):
            raise PkiError(
                "profile smime needs an e-mail address in the subjectAltName "
                "(give it with --san email:user@example.com)"
            )
        ku = _key_usage(digital_signature=True, key_encipherment=is_rsa, key_agreement=is_ec)
        eku = [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    elif profile == "ocsp":
        ku = _key_usage(digital_signature=True)
        eku = [ExtendedKeyUsageOID.OCSP_SIGNING]
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    else:
        raise PkiError(f"unknown profile {profile!r} (expected one of: {', '.join(PROFILES)})")
    builder = builder.add_extension(ku, critical=True).add_extension(
        x509.ExtendedKeyUsage(eku), critical=False
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder


def issue_from_csr(
    *,
    csr: x509.CertificateSigningRequest,
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    profile: str,
    now: datetime,
    days: int,
    names: Sequence[x509.GeneralName] | None = None,
    hash_alg: str = "sha256",
    urls: IssuerUrls | None = None,
    serial: int | None = None,
) -> x509.Certificate:
    """An end-entity certificate for ``csr`` (whose signature the caller has verified)."""
    if days < 1:
        raise PkiError(f"a lifetime of {days} days is not a lifetime")
    public = public_key_of(csr)
    if not isinstance(public, PublicKey):
        raise PkiError(f"unsupported key type in the request: {type(public).__name__}")
    if isinstance(public, rsa.RSAPublicKey) and public.key_size < 2048:
        raise PkiError(f"the request's RSA key has {public.key_size} bits; at least 2048 needed")
    if names is None:
        try:
            ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names = tuple(ext.value)
        except x509.ExtensionNotFound:
            names = ()
        except ValueError as exc:
            raise PkiError(f"the request's extensions do not parse: {exc}") from None
    check_name_constraints(issuer, names)
    start = now - _BACKDATE
    end = start + timedelta(days=days) - timedelta(seconds=1)
    if end > issuer.not_valid_after_utc:
        raise PkiError(
            f"the certificate would outlive its CA (CA expires "
            f"{issuer.not_valid_after_utc:%Y-%m-%d}); use fewer --days"
        )
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(issuer.subject)
        .public_key(public)
        .serial_number(serial if serial is not None else _serial())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(_aki(issuer), critical=False)
    )
    builder = _add_urls(builder, urls)
    builder = _profile_extensions(builder, profile, public, names)
    return _sign(builder, issuer_key, hash_alg)
