"""Issuing certificates by profile: what ``vedette ca`` puts in a certificate, and why.

Profiles mirror the Active Directory Certificate Services templates administrators know:

========  ===================  ==============================================================
profile   AD CS template       content
========  ===================  ==============================================================
server    Web Server           SAN required (DNS/IP), EKU serverAuth, KU digitalSignature
                               (+ keyEncipherment for RSA: TLS 1.2 RSA key transport)
server-   (Web Server with     as server, EKUs serverAuth and clientAuth: Lync/Skype for
client    Client Auth added)   Business Edge and pool servers, Exchange/SIP federation (MTLS)
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

import ipaddress
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from vedette.errors import PkiError
from vedette.pki.ca import _HASHES as _HASH
from vedette.pki.ca import PrivateKey, _serial
from vedette.x509.legacy_algorithms import public_key_of
from vedette.x509.names import name_text

__all__ = [
    "PROFILES",
    "IssuerUrls",
    "check_name_constraints",
    "check_subject",
    "issue_from_csr",
    "make_ca_certificate",
    "name_constraints",
    "valid_dns_name",
]

PROFILES: tuple[str, ...] = ("server", "server-client", "client", "smime", "ocsp")

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
    permitted_ip: Sequence[_IpNet] = (),
    hash_alg: str = "sha256",
    urls: IssuerUrls | None = None,
) -> x509.Certificate:
    """A root (``issuer=None``) or a subordinate CA certificate.

    ``permitted_dns`` (and ``permitted_ip``) add a critical nameConstraints extension (see
    :func:`name_constraints`): the CA may only certify those domains and their subdomains, in
    DNS names, e-mail addresses and URIs, and IP addresses only in ``permitted_ip``; which is
    how an internal CA is kept from vouching for ``www.yourbank.example`` if its key leaks.
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
    if permitted_dns or permitted_ip:
        builder = builder.add_extension(
            name_constraints(permitted_dns, permitted_ip), critical=True
        )
    return _sign(builder, key if issuer_key is None else issuer_key, hash_alg)


_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
# What OpenSSL treats as a host name in a CN (its cn2dnsid): letters, digits, '-', '_', '*'
# and dots, with at least one dot. Such a CN is checked against DNS constraints by OpenSSL
# when the certificate has no DNS SAN, and by vedette always.
_HOSTLIKE_CN = re.compile(r"^[A-Za-z0-9*_-]+(\.[A-Za-z0-9*_-]+)+\.?$")
_IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network


def valid_dns_name(name: str) -> bool:
    """A host name (LDH labels, underscores tolerated) with at most a leading ``*.`` label."""
    body = name.lower().rstrip(".")
    body = body.removeprefix("*.")
    if not body.isascii() or not body or len(body) > 253:
        return False
    return all(_LABEL.match(label) for label in body.split("."))


def name_constraints(
    domains: Sequence[str], networks: Sequence[_IpNet] = ()
) -> x509.NameConstraints:
    """The nameConstraints of a CA allowed ``domains`` (and subdomains) and IP ``networks``.

    Every name type a vedette CA issues is constrained (RFC 5280 4.2.1.10), so that any
    verifier, not only ``vedette ca sign``, rejects a certificate outside them:

    * dNSName ``D``: D and every name under it;
    * rfc822Name ``D`` and ``.D``: mailboxes at D, and at any host under D;
    * uniformResourceIdentifier ``D`` and ``.D``: URIs whose host is D or under D;
    * iPAddress: the permitted ``networks``; a family (IPv4, IPv6) with no permitted
      network is excluded whole (``0.0.0.0/0``, ``::/0``): an absent IP constraint would
      leave IP addresses unconstrained.

    The subject's CN cannot be constrained by a name type of its own: OpenSSL checks a CN
    that looks like a host name against the dNSName constraints when the certificate has no
    DNS SAN, and clients ignore the CN when there is one (RFC 6125 6.4.4).
    """
    permitted: list[x509.GeneralName] = []
    for d in domains:
        permitted += [
            x509.DNSName(d),
            x509.RFC822Name(d),
            x509.RFC822Name("." + d),
            x509.UniformResourceIdentifier(d),
            x509.UniformResourceIdentifier("." + d),
        ]
    permitted += [x509.IPAddress(n) for n in networks]
    excluded: list[x509.GeneralName] = []
    if not any(n.version == 4 for n in networks):
        excluded.append(x509.IPAddress(ipaddress.ip_network("0.0.0.0/0")))
    if not any(n.version == 6 for n in networks):
        excluded.append(x509.IPAddress(ipaddress.ip_network("::/0")))
    return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=excluded)


def _dns_within(name: str, base: str) -> bool:
    # RFC 5280 4.2.1.10: "host.example.com" satisfies "example.com"; a leading dot (".x")
    # means subdomains only. Wildcards are judged on the labels after "*.".
    name = name.lower().rstrip(".").removeprefix("*.")
    base = base.lower()
    if base.startswith("."):
        return name.endswith(base)
    return name == base or name.endswith("." + base)


def _host_within(host: str, base: str) -> bool:
    # rfc822Name / URI constraints: "host" is that host only, ".domain" any host under it.
    host, base = host.lower().rstrip("."), base.lower()
    return host.endswith(base) if base.startswith(".") else host == base


def _mail_within(address: str, base: str) -> bool:
    if "@" in base:  # a whole mailbox
        return address.lower() == base.lower()
    return _host_within(address.rpartition("@")[2], base)


class _Constraints:
    """An issuer's name constraints, as ``vedette ca sign`` applies them (stricter than
    RFC 5280 for a CA made before every type was constrained: e-mail and URI hosts must lie
    in the permitted DNS domains, and IP addresses need a permitted network)."""

    def __init__(self, nc: x509.NameConstraints) -> None:
        permitted = list(nc.permitted_subtrees or ())
        excluded = list(nc.excluded_subtrees or ())
        self.constrained = bool(permitted)

        def of(kind: type[x509.GeneralName], names: list[x509.GeneralName]) -> list[Any]:
            return [n.value for n in names if isinstance(n, kind)]

        self.dns = of(x509.DNSName, permitted)
        self.dns_x = of(x509.DNSName, excluded)
        derived = [v for d in self.dns for v in (d, "." + d.lstrip("."))]
        self.mail = of(x509.RFC822Name, permitted) or derived
        self.mail_x = of(x509.RFC822Name, excluded)
        self.uri = of(x509.UniformResourceIdentifier, permitted) or derived
        self.uri_x = of(x509.UniformResourceIdentifier, excluded)
        self.ip: list[_IpNet] = of(x509.IPAddress, permitted)
        self.ip_x: list[_IpNet] = of(x509.IPAddress, excluded)
        self.summary = ", ".join(name_text(n) for n in permitted)

    def refuse(self, what: str) -> PkiError:
        return PkiError(
            f"{what} is outside the CA's name constraints (permitted: {self.summary or 'none'})"
        )

    def check(self, name: x509.GeneralName) -> None:
        if isinstance(name, x509.DNSName):
            v = name.value
            if (self.dns and not any(_dns_within(v, b) for b in self.dns)) or any(
                _dns_within(v, b) for b in self.dns_x
            ):
                raise self.refuse(f"DNS:{v}")
        elif isinstance(name, x509.IPAddress):
            addr = name.value
            if not isinstance(addr, ipaddress.IPv4Address | ipaddress.IPv6Address):
                raise PkiError(f"IP:{addr} is a network, not an address")
            inside = any(addr.version == n.version and addr in n for n in self.ip)
            if (self.constrained and not inside) or any(
                addr.version == n.version and addr in n for n in self.ip_x
            ):
                raise self.refuse(f"IP:{addr}")
        elif isinstance(name, x509.RFC822Name):
            self.check_mail(name.value)
        elif isinstance(name, x509.UniformResourceIdentifier):
            try:
                host = urlsplit(name.value).hostname
            except ValueError:
                host = None
            if host is None:
                if self.constrained:
                    raise PkiError(f"URI:{name.value} has no host to check against the CA's names")
                return
            if (self.uri and not any(_host_within(host, b) for b in self.uri)) or any(
                _host_within(host, b) for b in self.uri_x
            ):
                raise self.refuse(f"URI:{name.value}")
        elif self.constrained:
            raise PkiError(
                f"a {type(name).__name__} in the names cannot be checked against the CA's "
                "name constraints; a constrained CA issues DNS, IP, e-mail and URI names only"
            )

    def check_mail(self, address: str) -> None:
        if (self.mail and not any(_mail_within(address, b) for b in self.mail)) or any(
            _mail_within(address, b) for b in self.mail_x
        ):
            raise self.refuse(f"email:{address}")


def _hostlike(cn: str) -> x509.GeneralName | None:
    """The SAN a host-name-looking CN stands for (DNS or IP), ``None`` for free text."""
    try:
        return x509.IPAddress(ipaddress.ip_address(cn))
    except ValueError:
        pass
    return x509.DNSName(cn) if _HOSTLIKE_CN.match(cn) else None


def check_subject(subject: x509.Name, names: Sequence[x509.GeneralName]) -> None:
    """PkiError unless every host-name CN is one of the DNS/IP SANs and every e-mail
    address in the subject one of the e-mail SANs; control characters are refused."""
    for attr in subject:
        value = attr.value
        if isinstance(value, str) and any(unicodedata.category(ch) == "Cc" for ch in value):
            raise PkiError(f"the subject attribute {value!r} contains control characters")
    for attr in subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        cn = attr.value
        if not isinstance(cn, str):
            continue
        as_san = _hostlike(cn)
        if isinstance(as_san, x509.DNSName):
            if cn.lower().rstrip(".") not in {
                n.value.lower() for n in names if isinstance(n, x509.DNSName)
            }:
                raise PkiError(
                    f"the CN {cn} is not among the certificate's DNS names; put it in the "
                    "request's subjectAltName or in --san (clients match names in the SAN only)"
                )
        elif as_san is not None and as_san not in names:
            raise PkiError(f"the CN {cn} is not among the certificate's IP addresses")
        elif "@" in cn and x509.RFC822Name(cn) not in names:
            raise PkiError(f"the CN {cn} is not among the certificate's e-mail addresses")
    for attr in subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
        if isinstance(attr.value, str) and x509.RFC822Name(attr.value) not in names:
            raise PkiError(
                f"the subject e-mail {attr.value} is not among the certificate's e-mail "
                "addresses (subjectAltName)"
            )


def check_name_constraints(
    issuer: x509.Certificate,
    names: Sequence[x509.GeneralName],
    subject: x509.Name | None = None,
) -> None:
    """PkiError when a name (SAN, or a host-name CN / e-mail of ``subject``) falls outside
    the issuer's name constraints, of any type."""
    try:
        nc = issuer.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return
    constraints = _Constraints(nc)
    for name in names:
        constraints.check(name)
    if subject is None:
        return
    for attr in subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        if isinstance(attr.value, str):
            cn_name = _hostlike(attr.value)
            if cn_name is not None:
                constraints.check(cn_name)
            elif "@" in attr.value:
                constraints.check_mail(attr.value)
    for attr in subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
        if isinstance(attr.value, str):
            constraints.check_mail(attr.value)


def _profile_extensions(
    builder: x509.CertificateBuilder,
    profile: str,
    public: PublicKey,
    names: Sequence[x509.GeneralName],
) -> x509.CertificateBuilder:
    is_rsa = isinstance(public, rsa.RSAPublicKey)
    is_ec = isinstance(public, ec.EllipticCurvePublicKey)
    if profile in ("server", "server-client"):
        if not any(isinstance(n, x509.DNSName | x509.IPAddress) for n in names):
            raise PkiError(
                f"profile {profile} needs a subjectAltName with a DNS name or IP address "
                "(the request has none; give them with --san)"
            )
        ku = _key_usage(digital_signature=True, key_encipherment=is_rsa)
        eku = [ExtendedKeyUsageOID.SERVER_AUTH]
        if profile == "server-client":
            eku.append(ExtendedKeyUsageOID.CLIENT_AUTH)
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
    for name in names:
        if isinstance(name, x509.DNSName) and not valid_dns_name(name.value):
            raise PkiError(f"DNS:{name.value} is not a valid host name")
    check_name_constraints(issuer, names, csr.subject)
    check_subject(csr.subject, names)
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
