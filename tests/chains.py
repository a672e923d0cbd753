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
a CA's would, leaves serverAuth and the host name. Each certificate is made by
:func:`tests.builders.certificate`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from tests.builders import SERVER_AUTH, Made, certificate, chain

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


def _ca(cn: str, issuer: Made | None, *, key: Key | None = None, aia: str | None = None) -> Made:
    return certificate(
        cn,
        issuer=issuer,
        key=key,
        ca=True,
        key_ids=True,
        key_usage=True,
        ca_issuers=(aia,) if aia else (),
    )


def _leaf(host: str, issuer: Made, aia: str | None = None) -> Made:
    return certificate(
        host,
        issuer=issuer,
        names=(host,),
        ca=False,
        key_ids=True,
        key_usage=True,
        eku=(SERVER_AUTH,),
        ca_issuers=(aia,) if aia else (),
    )


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
    made = chain(
        (host,), root=name, intermediate=f"{name} Issuing CA", ca_days=90, aia_base=aia_base
    )
    return Pki(
        root=made.root.cert,
        inter=made.intermediate.cert,
        leaf=made.leaf.cert,
        leaf_key=made.leaf.key,
    )


def abusive_chain(
    levels: int, per_level: int, *, host: str = HOST, root_name: str = "Abuse Root"
) -> Built:
    """Leaf, then ``levels`` levels of ``per_level`` look-alike CA certificates (bottom level
    first); the root that issued the top level is not sent."""
    root = _ca(root_name, None)
    issuer = root
    sent_levels: list[list[x509.Certificate]] = []
    for level in range(levels, 0, -1):
        first = _ca(f"Abuse Level {level}", issuer)
        others = [
            _ca(f"Abuse Level {level}", issuer, key=first.key).cert for _ in range(per_level - 1)
        ]
        sent_levels.append([first.cert, *others])
        issuer = first
    leaf = _leaf(host, issuer)
    sent = [leaf.cert]
    for certs in reversed(sent_levels):
        sent.extend(certs)
    return Built(sent=tuple(sent), root=root.cert, leaf_key=leaf.key)


def linear_chain(length: int, *, host: str = HOST, root_name: str = "Long Root") -> Built:
    """Leaf, then ``length`` intermediates (``CN=chain-1`` issued the leaf), root not sent."""
    root = _ca(root_name, None)
    issuer = root
    inters: list[x509.Certificate] = []
    for i in range(length, 0, -1):
        issuer = _ca(f"chain-{i}", issuer)
        inters.append(issuer.cert)
    leaf = _leaf(host, issuer)
    return Built(sent=(leaf.cert, *reversed(inters)), root=root.cert, leaf_key=leaf.key)
