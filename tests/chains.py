"""Certificate chains built with cryptography alone (not vedette's CA), for path-building tests.

* :func:`private_pki`: a private root, an issuing CA and a server certificate, the way an
  organisation's own CA (AD CS, an appliance) issues them; each certificate below the root may
  name its issuer's download address (AIA caIssuers) under ``aia_base``.
* :func:`abusive_chain`: the hostile list of issue 10: ``levels`` levels of CA certificates,
  ``per_level`` per level sharing the level's name and key (so each verifies every certificate
  of the level below), a leaf at the bottom and a root on top that is not sent. A naive
  depth-first path builder tries ``per_level ** levels`` paths.
* :func:`linear_chain`: root -> ``length`` intermediates -> leaf, for chains longer than clients
  accept.

Keys are EC P-256 (fast to make and to verify); CA certificates carry SKI/AKI and key usage as
a CA's would, leaves serverAuth and the host name.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

HOST = "abuse.vedette.test"

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Built:
    """A chain as a server would send it (leaf first), its root and the leaf's key."""

    sent: tuple[x509.Certificate, ...]
    root: x509.Certificate
    leaf_key: Key

    @property
    def sent_der(self) -> tuple[bytes, ...]:
        return tuple(der(c) for c in self.sent)

    @property
    def root_der(self) -> bytes:
        return der(self.root)

    def leaf_key_pem(self) -> bytes:
        return key_pem(self.leaf_key)


def key_pem(key: Key) -> bytes:
    return key.private_bytes(
        Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: x509.Name,
    key: Key,
    issuer: x509.Name,
    issuer_key: Key,
    *,
    ca: bool,
    host: str = HOST,
    aia: str | None = None,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(secrets.randbits(120) | 1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
        builder = (
            builder.add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), False)
        )
    if aia is not None:
        where = x509.UniformResourceIdentifier(aia)
        access = x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, where)
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), False)
    return builder.sign(issuer_key, hashes.SHA256())


def _root(name: str) -> tuple[x509.Certificate, x509.Name, Key]:
    key, subject = _key(), _name(name)
    return _cert(subject, key, subject, key, ca=True), subject, key


@dataclass(frozen=True)
class Pki:
    root: x509.Certificate
    inter: x509.Certificate
    leaf: x509.Certificate
    leaf_key: Key

    def leaf_key_pem(self) -> bytes:
        return key_pem(self.leaf_key)


def private_pki(
    *, host: str = HOST, aia_base: str | None = None, name: str = "Private Root"
) -> Pki:
    """Root ``CN={name}``, issuing CA ``CN={name} Issuing CA``, leaf for ``host``; with
    ``aia_base`` the leaf names ``{aia_base}/inter.cer`` and the issuing CA ``/root.cer``."""
    root, root_subject, root_key = _root(name)
    inter_key, inter_subject = _key(), _name(f"{name} Issuing CA")
    inter = _cert(
        inter_subject,
        inter_key,
        root_subject,
        root_key,
        ca=True,
        aia=f"{aia_base}/root.cer" if aia_base else None,
    )
    leaf_key = _key()
    leaf = _cert(
        _name(host),
        leaf_key,
        inter_subject,
        inter_key,
        ca=False,
        host=host,
        aia=f"{aia_base}/inter.cer" if aia_base else None,
    )
    return Pki(root=root, inter=inter, leaf=leaf, leaf_key=leaf_key)


def abusive_chain(
    levels: int, per_level: int, *, host: str = HOST, root_name: str = "Abuse Root"
) -> Built:
    """Leaf, then ``levels`` levels of ``per_level`` look-alike CA certificates (bottom level
    first); the root that issued the top level is not sent."""
    root, issuer, issuer_key = _root(root_name)
    sent_levels: list[list[x509.Certificate]] = []
    for level in range(levels, 0, -1):
        key, subject = _key(), _name(f"Abuse Level {level}")
        sent_levels.append(
            [_cert(subject, key, issuer, issuer_key, ca=True) for _ in range(per_level)]
        )
        issuer, issuer_key = subject, key
    leaf_key = _key()
    leaf = _cert(_name(host), leaf_key, issuer, issuer_key, ca=False, host=host)
    sent = [leaf]
    for certs in reversed(sent_levels):
        sent.extend(certs)
    return Built(sent=tuple(sent), root=root, leaf_key=leaf_key)


def linear_chain(length: int, *, host: str = HOST, root_name: str = "Long Root") -> Built:
    """Leaf, then ``length`` intermediates (``CN=chain-1`` issued the leaf), root not sent."""
    root, issuer, issuer_key = _root(root_name)
    inters: list[x509.Certificate] = []
    for i in range(length, 0, -1):
        key, subject = _key(), _name(f"chain-{i}")
        inters.append(_cert(subject, key, issuer, issuer_key, ca=True))
        issuer, issuer_key = subject, key
    leaf_key = _key()
    leaf = _cert(_name(host), leaf_key, issuer, issuer_key, ca=False, host=host)
    return Built(sent=(leaf, *reversed(inters)), root=root, leaf_key=leaf_key)
