"""Writing certificates in the format a server or appliance wants: PEM, DER, PKCS#7, PKCS#12.

PKCS#12 encryption is a per-target choice (xca #559 / PR #512, OpenSSL 3's ``-legacy``):

* **modern** (default): PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC for both the key and
  the certificate bags, and an HMAC-SHA256 integrity MAC. OpenSSL 3, Windows 10 1709+ /
  Server 2019+, Java 11+, macOS read it.
* **legacy** (``--legacy``): pbeWithSHAAnd3-KeyTripleDES-CBC for key and certificates with an
  HMAC-SHA1 MAC — what Windows Server 2012/2016, older Java, and most appliances (firewalls,
  load balancers, phones) require; they reject AES-encrypted PFX files with a misleading
  "wrong password". RC2-40, the even older default, is read by ``formats`` but never written.

The iteration count is 2048 for legacy (Windows' own choice) and 600 000 rounds of PBKDF2
for modern files… except that Windows' import dialog becomes unbearably slow beyond a few
hundred thousand rounds, so 200 000 is used: still 100x OpenSSL 1.1's default.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from vedette.errors import PkiError
from vedette.pki.ca import PrivateKey
from vedette.pki.keys import key_matches

__all__ = ["FORMATS", "to_der", "to_p7b", "to_p12", "to_pem"]

FORMATS: tuple[str, ...] = ("pem", "der", "p7b", "p12")

_MODERN_ROUNDS = 200_000
_LEGACY_ROUNDS = 2048


def to_pem(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def to_p7b(certs: Sequence[x509.Certificate], *, pem: bool = False) -> bytes:
    """A "certs-only" PKCS#7 SignedData (.p7b): DER, as Windows writes it, unless ``pem``."""
    if not certs:
        raise PkiError("a .p7b needs at least one certificate")
    enc = serialization.Encoding.PEM if pem else serialization.Encoding.DER
    return pkcs7.serialize_certificates(list(certs), enc)


def to_p12(
    *,
    key: PrivateKey | None,
    cert: x509.Certificate | None,
    chain: Sequence[x509.Certificate],
    password: bytes,
    friendly_name: str | None = None,
    legacy: bool = False,
) -> bytes:
    """A PKCS#12 file; the key must match ``cert`` (checked, since a PFX with a foreign key
    imports fine and fails only when the server starts)."""
    if key is not None and cert is None:
        raise PkiError("a PKCS#12 with a key needs the key's certificate")
    if key is not None and cert is not None and not key_matches(key, cert):
        raise PkiError("the private key does not match the certificate")
    if legacy:
        builder = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(_LEGACY_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())  # noqa: S303 - the legacy format needs it
        )
    else:
        builder = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(_MODERN_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
        )
    name = friendly_name.encode("utf-8") if friendly_name else None
    return pkcs12.serialize_key_and_certificates(
        name, key, cert, list(chain) or None, builder.build(password)
    )
