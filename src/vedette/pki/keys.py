"""Private keys: generate, serialise (PKCS#8, encrypted under a passphrase), load, match.

Serialisation. A key is always written as PKCS#8 PEM (``BEGIN PRIVATE KEY``, or
``BEGIN ENCRYPTED PRIVATE KEY`` under a passphrase). Encrypted PKCS#8 uses cryptography's
``BestAvailableEncryption``, which is PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC): what OpenSSL
3 writes by default and what Postfix, Dovecot, nginx and Java read. Traditional
``BEGIN RSA PRIVATE KEY`` files with ``Proc-Type: 4,ENCRYPTED`` use MD5-based key derivation
and are only read, never written.

Loading a key reports *why* it failed in one line: wrong passphrase, passphrase needed, or
not a key at all. cryptography raises ``TypeError`` when a passphrase is missing or given for
an unencrypted key, and ``ValueError`` for a wrong one or garbage; the messages below separate
those cases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from vedette.errors import PkiError
from vedette.pki.ca import PrivateKey, new_key

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "KEY_TYPES",
    "describe_key",
    "generate_key",
    "key_matches",
    "key_to_pem",
    "load_private_key",
    "public_key_der",
]

#: The key types ``vedette key new --type`` offers (weak sizes are for the lab only).
KEY_TYPES: tuple[str, ...] = ("rsa:2048", "rsa:3072", "rsa:4096", "ec:p256", "ec:p384", "ed25519")


def generate_key(key_type: str) -> PrivateKey:
    """A new key of one of :data:`KEY_TYPES`; PkiError for anything else."""
    if key_type.strip().lower() not in KEY_TYPES:
        raise PkiError(f"unknown key type {key_type!r} (expected one of: {', '.join(KEY_TYPES)})")
    return new_key(key_type)


def key_to_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted (PBES2, AES-256) when ``passphrase`` is given."""
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def is_encrypted_pem(data: bytes) -> bool:
    return b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data


def load_private_key(data: bytes, passphrase: bytes | None, *, source: str) -> PrivateKey:
    """A private key from PEM or DER (PKCS#8 or traditional); one-line PkiError on failure."""
    pem = b"-----BEGIN" in data
    try:
        if pem:
            key = serialization.load_pem_private_key(data, passphrase)
        else:
            key = serialization.load_der_private_key(data, passphrase)
    except TypeError:
        if passphrase is None:
            raise PkiError(
                f"{source}: the key is encrypted; give its passphrase (--passin)"
            ) from None
        # A passphrase given for a key that is not encrypted: load it without.
        return load_private_key(data, None, source=source)
    except ValueError:
        if passphrase is not None and (not pem or is_encrypted_pem(data)):
            raise PkiError(f"{source}: wrong passphrase, or the key file is damaged") from None
        raise PkiError(f"{source}: not a private key (or a damaged one)") from None
    except Exception as exc:  # cryptography may raise UnsupportedAlgorithm for odd keys
        raise PkiError(f"{source}: unusable private key: {exc}") from None
    if not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise PkiError(f"{source}: unsupported key type {type(key).__name__}")
    return key


def public_key_der(key: PrivateKey | x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    """SubjectPublicKeyInfo DER of a private key, certificate or CSR (to compare keys)."""
    pub = key.public_key()
    return pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_matches(key: PrivateKey, other: x509.Certificate | x509.CertificateSigningRequest) -> bool:
    """True when ``other`` carries the public half of ``key``."""
    try:
        return public_key_der(key) == public_key_der(other)
    except (ValueError, TypeError):
        return False


def describe_key(key: object) -> str:
    """``RSA 3072``, ``EC P-256``, ``Ed25519`` for a private or public key."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        names = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"EC {names.get(key.curve.name, key.curve.name)}"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return "Ed448"
    return type(key).__name__
