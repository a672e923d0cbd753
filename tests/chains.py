"""Certificate chains built with cryptography alone, for the path-building tests.

* :func:`abusive_chain` is the hostile list of issue 10: ``levels`` levels of CA certificates,
  ``per_level`` certificates per level that share the level's name and key (so each of them
  verifies every certificate of the level below), a leaf at the bottom, and a root on top that
  the server does not send. A naive depth-first path builder tries ``per_level ** levels``
  paths.
* :func:`linear_chain` is a plain chain root -> ``length`` intermediates -> leaf, for chains
  longer than clients accept.

Keys are EC P-256 (fast to make and to verify); every certificate has SKI/AKI as a CA's would.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

HOST = "abuse.vedette.test"


@dataclass(frozen=True)
class Built:
    """A chain as a server would send it (leaf first), its root and the leaf's key."""

    sent: tuple[x509.Certificate, ...]
    root: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey

    @property
    def sent_der(self) -> tuple[bytes, ...]:
        return tuple(c.public_bytes(Encoding.DER) for c in self.sent)

    @property
    def root_der(self) -> bytes:
        return self.root.public_bytes(Encoding.DER)

    def pem(self, certs: tuple[x509.Certificate, ...]) -> bytes:
        return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
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
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), False)
    return builder.sign(issuer_key, hashes.SHA256())


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def abusive_chain(levels: int, per_level: int, *, root_name: str = "Abuse Root") -> Built:
    """Leaf, then ``levels`` levels of ``per_level`` look-alike CA certificates (bottom level
    first); the root that issued the top level is not sent."""
    root_key = _key()
    root_subject = _name(root_name)
    root = _cert(root_subject, root_key, root_subject, root_key, ca=True)
    issuer, issuer_key = root_subject, root_key
    sent_levels: list[list[x509.Certificate]] = []
    for level in range(levels, 0, -1):
        key, subject = _key(), _name(f"Abuse Level {level}")
        sent_levels.append(
            [_cert(subject, key, issuer, issuer_key, ca=True) for _ in range(per_level)]
        )
        issuer, issuer_key = subject, key
    leaf_key = _key()
    leaf = _cert(_name(HOST), leaf_key, issuer, issuer_key, ca=False)
    sent = [leaf]
    for certs in reversed(sent_levels):
        sent.extend(certs)
    return Built(sent=tuple(sent), root=root, leaf_key=leaf_key)


def linear_chain(length: int, *, root_name: str = "Long Root") -> Built:
    """Leaf, then ``length`` intermediates (``CN=chain-1`` issued the leaf), root not sent."""
    root_key = _key()
    root_subject = _name(root_name)
    root = _cert(root_subject, root_key, root_subject, root_key, ca=True)
    issuer, issuer_key = root_subject, root_key
    inters: list[x509.Certificate] = []
    for i in range(length, 0, -1):
        key, subject = _key(), _name(f"chain-{i}")
        inters.append(_cert(subject, key, issuer, issuer_key, ca=True))
        issuer, issuer_key = subject, key
    leaf_key = _key()
    leaf = _cert(_name(HOST), leaf_key, issuer, issuer_key, ca=False)
    return Built(sent=(leaf, *reversed(inters)), root=root, leaf_key=leaf_key)
