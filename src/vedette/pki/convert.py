"""Writing certificates in the format a server or appliance wants: PEM, DER, PKCS#7, PKCS#12.

PKCS#12 encryption is a per-target choice (xca #559 / PR #512, OpenSSL 3's ``-legacy``):

* **modern** (default): PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC for both the key and
  the certificate bags, and an HMAC-SHA256 integrity MAC. OpenSSL 3, Windows 10 1709+ /
  Server 2019+, Java 11+, macOS read it.
* **legacy** (``--legacy``): pbeWithSHAAnd3-KeyTripleDES-CBC for key and certificates with an
  HMAC-SHA1 MAC — what Windows Server 2012/2016, older Java, and most appliances (firewalls,
  load balancers, phones) require; they reject AES-encrypted PFX files with a misleading
  "wrong password". RC2-40, the even older default, is read by ``formats`` but never written.

Windows attributes (``windows``): the provider (CSP) the key is imported into, its KeySpec and
the machine key set, as ``openssl pkcs12 -export -CSP NAME -keyex|-keysig -LMK`` writes them;
cryptography's serializer cannot carry them, so the file is written by
``vedette.pki.pkcs12_write`` (the same layout as OpenSSL 3's).

The iteration count is 2048 for legacy (Windows' own choice) and 600 000 rounds of PBKDF2
for modern files… except that Windows' import dialog becomes unbearably slow beyond a few
hundred thousand rounds, so 200 000 is used: still 100x OpenSSL 1.1's default.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from vedette.errors import PkiError
from vedette.pki.ca import PrivateKey
from vedette.pki.keys import describe_key, key_matches
from vedette.pki.pkcs12 import PROVIDERS
from vedette.pki.pkcs12_write import WindowsKey, write_pfx

__all__ = ["FORMATS", "WindowsKey", "to_der", "to_p7b", "to_p12", "to_pem"]

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
    windows: WindowsKey | None = None,
) -> bytes:
    """A PKCS#12 file; the key must match ``cert`` (checked, since a PFX with a foreign key
    imports fine and fails only when the server starts)."""
    if key is not None and cert is None:
        raise PkiError("a PKCS#12 with a key needs the key's certificate")
    if key is not None and cert is not None and not key_matches(key, cert):
        raise PkiError("the private key does not match the certificate")
    windows = windows or WindowsKey()
    provider = PROVIDERS.get(windows.csp_name or "")
    capi = windows.keyspec is not None or (provider is not None and provider.api == "capi")
    if capi and key is not None and not isinstance(key, rsa.RSAPrivateKey):
        raise PkiError(
            f"a CryptoAPI provider and a KeySpec hold RSA keys, not {describe_key(key)}: "
            "write this key without --csp/--keyspec (Windows puts it in a CNG key storage "
            "provider)"
        )
    der = serialization.Encoding.DER
    return write_pfx(
        private_key_info=None
        if key is None
        else key.private_bytes(
            der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        certificate=None if cert is None else cert.public_bytes(der),
        chain=[c.public_bytes(der) for c in chain],
        password=password,
        scheme="legacy" if legacy else "modern",
        iterations=_LEGACY_ROUNDS if legacy else _MODERN_ROUNDS,
        friendly_name=friendly_name,
        windows=windows,
    )
