"""A small certificate authority: keys, a root, intermediates and server certificates.

This is the CA that ``vedette demo`` uses to mint the lab's certificates at start (good ones
and deliberately broken ones: SHA-1 signed, expired, weak key, wrong key usage, no serverAuth
EKU), and the base the ``vedette ca`` toolkit builds on.

Shape, after ``cryptography.x509.CertificateBuilder``: every result is immutable, and issuing
returns a *new* object instead of changing the issuer. A :class:`CertificateAuthority` holds
its own :class:`Issued` (certificate plus private key) and its parent, so
``ca.chain_pem()`` can produce the bundle a server must send.

What every certificate gets, and why:

* a random 159-bit serial number (RFC 5280 allows at most 20 octets and requires a positive
  integer; 159 bits keeps the top bit clear so the DER encoding never needs a padding byte,
  and CA/B Forum asks for at least 64 bits of randomness);
* subject key identifier, and authority key identifier equal to the issuer's SKI, which is
  what chain builders use to pick the right issuer among several with the same name;
* a critical ``basicConstraints``;
* a ``keyUsage`` that fits the key: ``keyCertSign`` + ``cRLSign`` for CAs; for servers
  ``digitalSignature``, plus ``keyEncipherment`` for RSA keys (RSA key transport, TLS 1.2
  and older ``TLS_RSA_*`` suites, encrypts the premaster secret to the certificate key).

SHA-1. ``cryptography`` (50 and later) refuses ``hashes.SHA1()`` in ``CertificateBuilder.sign``,
but the lab needs a certificate really signed with SHA-1 to exercise ``cert.sha1-signature``
end to end. The certificate is built normally, then re-signed by
:func:`vedette.x509.legacy_algorithms.resign_sha1`, the one module where vedette handles the
algorithms cryptography deprecates. Ed25519 has no hash choice, so SHA-1 with an Ed25519 issuer
is a ``ValueError``.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vedette.x509.legacy_algorithms import resign_sha1

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "CertificateAuthority",
    "Issued",
    "PrivateKey",
    "new_key",
    "self_signed_server",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

_SigHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512

# SHA-1 is absent on purpose: CertificateBuilder refuses it, see _resign_sha1.
_HASHES: dict[str, type[_SigHash]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "p256": ec.SECP256R1,
    "p384": ec.SECP384R1,
    "p521": ec.SECP521R1,
}

# Validity starts slightly in the past so a peer whose clock is a little behind still accepts
# a certificate minted a second ago.
_BACKDATE = timedelta(minutes=5)


def new_key(spec: str = "ec:p256") -> PrivateKey:
    """A fresh private key.

    ``spec`` is ``rsa:BITS`` (1024 to 4096; below 2048 only to test weak-key checks),
    ``ec:p256``, ``ec:p384``, ``ec:p521`` or ``ed25519``. Anything else is a ``ValueError``.
    """
    kind, _, arg = spec.strip().lower().partition(":")
    if kind == "rsa":
        try:
            bits = int(arg)
        except ValueError:
            raise ValueError(f"bad key spec {spec!r}: rsa needs a size, e.g. rsa:2048") from None
        if not 1024 <= bits <= 4096 or bits % 8:
            raise ValueError(f"bad key spec {spec!r}: RSA size must be 1024..4096 bits")
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if kind == "ec" and arg in _CURVES:
        return ec.generate_private_key(_CURVES[arg]())
    if kind == "ed25519" and not arg:
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(
        f"bad key spec {spec!r} (expected rsa:1024..rsa:4096, ec:p256, ec:p384, ec:p521, ed25519)"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Issued:
    """A certificate and its private key.

    Attributes:
        cert: the certificate.
        key: the private key matching ``cert``'s public key.
    """

    cert: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self, passphrase: bytes | None = None) -> bytes:
        """The key as PKCS#8 PEM; encrypted with the best available scheme under ``passphrase``."""
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateAuthority:
    """A CA: its own certificate and key, and the CA that issued it (``None`` for a root).

    Issuing never changes the CA; each ``issue_*`` returns a new value.
    """

    issued: Issued
    parent: CertificateAuthority | None = None

    @property
    def cert(self) -> x509.Certificate:
        return self.issued.cert

    @property
    def root(self) -> CertificateAuthority:
        """The self-signed root at the top of this CA's line."""
        ca = self
        while ca.parent is not None:
            ca = ca.parent
        return ca

    @classmethod
    def create_root(
        cls,
        common_name: str,
        *,
        key_spec: str = "ec:p256",
        hash_alg: str = "sha256",
        not_before: datetime | None = None,
        days: int = 3650,
        organization: str | None = None,
    ) -> CertificateAuthority:
        """A new self-signed root CA (no path length limit)."""
        key = new_key(key_spec)
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        name = x509.Name(attrs)
        start = _start(not_before)
        builder = (
            _base(name, name, key.public_key(), start, days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                critical=False,
            )
        )
        cert = _sign(builder, key, hash_alg)
        return cls(issued=Issued(cert=cert, key=key), parent=None)

    def issue_intermediate(
        self,
        common_name: str,
        *,
        key_spec: str = "ec:p256",
        hash_alg: str = "sha256",
        not_before: datetime | None = None,
        days: int = 1825,
        path_length: int | None = 0,
    ) -> CertificateAuthority:
        """A subordinate CA signed by this one; ``path_length=0`` lets it sign only leaves."""
        key = new_key(key_spec)
        subject = x509.Name(
            [*_org_of(self.cert.subject), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        )
        builder = (
            self._issued_base(subject, key, not_before, days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
        )
        cert = _sign(builder, self.issued.key, hash_alg)
        return CertificateAuthority(issued=Issued(cert=cert, key=key), parent=self)

    def issue_server(
        self,
        names: Sequence[str],
        *,
        key_spec: str = "ec:p256",
        hash_alg: str = "sha256",
        not_before: datetime | None = None,
        days: int = 90,
        server_auth_eku: bool = True,
        key_usage: Literal["default", "wrong"] = "default",
        common_name: str | None = None,
    ) -> Issued:
        """A TLS server certificate for ``names`` (DNS names and/or IP literals).

        ``server_auth_eku=False`` puts an EKU of ``clientAuth`` only (an EKU that forbids TLS
        server use); ``key_usage="wrong"`` gives ``keyCertSign`` only (no digitalSignature).
        The subject CN is ``common_name`` or the first name.
        """
        key = new_key(key_spec)
        subject = _server_subject(names, common_name)
        builder = self._issued_base(subject, key, not_before, days)
        builder = _server_extensions(builder, names, key, server_auth_eku, key_usage)
        cert = _sign(builder, self.issued.key, hash_alg)
        return Issued(cert=cert, key=key)

    def issue_smime(
        self,
        address: str,
        *,
        key_spec: str = "ec:p256",
        hash_alg: str = "sha256",
        not_before: datetime | None = None,
        days: int = 365,
        common_name: str | None = None,
        eku: Sequence[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.EMAIL_PROTECTION,),
        digital_signature: bool = True,
        address_in: Literal["san", "subject"] = "san",
    ) -> Issued:
        """An S/MIME user certificate for ``address`` (RFC 8550, CA/B Forum S/MIME BR).

        By default: the address as an rfc822Name in the subjectAltName, EKU emailProtection,
        KU digitalSignature (+ keyEncipherment for RSA, keyAgreement for EC). For tests of
        what verifiers refuse: ``eku`` another list (``None``: no EKU extension),
        ``digital_signature=False`` (no signing key usage), ``address_in="subject"`` (the
        address only in the subject's emailAddress, as pre-RFC 2632 CAs did).
        """
        key = new_key(key_spec)
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name or address)]
        if address_in == "subject":
            attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, address))
        builder = self._issued_base(x509.Name(attrs), key, not_before, days)
        ku = x509.KeyUsage(
            digital_signature=digital_signature,
            content_commitment=False,
            key_encipherment=isinstance(key, rsa.RSAPrivateKey),
            data_encipherment=False,
            key_agreement=isinstance(key, ec.EllipticCurvePrivateKey),
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
        builder = builder.add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        ).add_extension(ku, critical=True)
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        if address_in == "san":
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False
            )
        cert = _sign(builder, self.issued.key, hash_alg)
        return Issued(cert=cert, key=key)

    def chain_pem(self) -> bytes:
        """This CA and its parents up to, not including, the root; leaf side first.

        Appended to a server certificate this is the full chain a server should send. Empty
        for a root.
        """
        out = b""
        ca: CertificateAuthority | None = self
        while ca is not None and ca.parent is not None:
            out += ca.issued.cert_pem()
            ca = ca.parent
        return out

    def _issued_base(
        self,
        subject: x509.Name,
        key: PrivateKey,
        not_before: datetime | None,
        days: int,
    ) -> x509.CertificateBuilder:
        start = _start(not_before)
        return _base(subject, self.cert.subject, key.public_key(), start, days).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.issued.key.public_key()),
            critical=False,
        )


def self_signed_server(
    names: Sequence[str],
    *,
    key_spec: str = "ec:p256",
    hash_alg: str = "sha256",
    not_before: datetime | None = None,
    days: int = 90,
) -> Issued:
    """A self-signed server certificate (``CA:FALSE``), as appliances ship out of the box."""
    key = new_key(key_spec)
    subject = _server_subject(names, None)
    builder = _base(subject, subject, key.public_key(), _start(not_before), days).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
    )
    builder = _server_extensions(builder, names, key, True, "default")
    cert = _sign(builder, key, hash_alg)
    return Issued(cert=cert, key=key)


# --- building blocks ---------------------------------------------------------------------------


def _start(not_before: datetime | None) -> datetime:
    if not_before is None:
        return datetime.now(UTC) - _BACKDATE
    if not_before.tzinfo is None:
        raise ValueError("not_before must be timezone-aware (UTC)")
    return not_before.astimezone(UTC)


def _serial() -> int:
    # 159 random bits, never zero (RFC 5280: positive integer).
    return secrets.randbits(159) | 1


def _base(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
    start: datetime,
    days: int,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(_serial())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _org_of(name: x509.Name) -> list[x509.NameAttribute[str]]:
    out: list[x509.NameAttribute[str]] = []
    for attr in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME):
        if isinstance(attr.value, str):
            out.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, attr.value))
    return out


def _server_subject(names: Sequence[str], common_name: str | None) -> x509.Name:
    if not names and common_name is None:
        raise ValueError("a server certificate needs at least one name")
    cn = common_name if common_name is not None else names[0]
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _server_extensions(
    builder: x509.CertificateBuilder,
    names: Sequence[str],
    key: PrivateKey,
    server_auth_eku: bool,
    key_usage: Literal["default", "wrong"],
) -> x509.CertificateBuilder:
    if key_usage == "wrong":
        ku = x509.KeyUsage(
            digital_signature=False,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
    elif key_usage == "default":
        ku = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=isinstance(key, rsa.RSAPrivateKey),
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
    else:
        raise ValueError(f"key_usage must be 'default' or 'wrong', not {key_usage!r}")
    eku = (
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        if server_auth_eku
        else [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    builder = (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(ku, critical=True)
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
        )
    return builder


def _sign(builder: x509.CertificateBuilder, key: PrivateKey, hash_alg: str) -> x509.Certificate:
    if hash_alg not in _HASHES and hash_alg != "sha1":
        raise ValueError(f"bad hash {hash_alg!r} (expected sha1, {', '.join(_HASHES)})")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        # Ed25519 signs the message itself; there is no hash to choose.
        if hash_alg == "sha1":
            raise ValueError("an Ed25519 key cannot make a SHA-1 signature")
        return builder.sign(key, None)
    if hash_alg == "sha1":
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise ValueError("SHA-1 needs an RSA or EC issuer key")
        return resign_sha1(builder.sign(key, hashes.SHA256()), key)
    return builder.sign(key, _HASHES[hash_alg]())
