"""LEGACY ALGORITHMS: the one place vedette touches DSA, SHA-1/MD5 signatures and weak keys.

vedette must judge what the field still runs (DSA keys on old appliances, SHA-1-signed chains
from 2010, RSA 1024 intermediates) and its lab must mint SHA-1 certificates to show the finding.
The cryptography library deprecates and removes such algorithms release after release:

* cryptography 50 refuses SHA-1 and MD5 in ``Certificate.verify_directly_issued_by`` and in
  ``CertificateBuilder.sign``;
* cryptography 51 deprecates the whole ``dsa`` module: *reading* ``dsa.DSAPublicKey`` emits a
  ``CryptographyDeprecationWarning`` (module ``__getattr__``), once per access.

Every such use is here and nowhere else, each deprecation handled once:

* :data:`DSA_PUBLIC_KEY` is read from the ``dsa`` module once, at import, with that module's
  warning silenced for that one read; ``isinstance`` against it warns no more. When a future
  cryptography removes DSA, it is ``None`` and DSA keys show as ``unknown`` (never a crash).
* :func:`public_key_of` reads a certificate's or CSR's key (cryptography 51 warns when it
  builds a DSA key object).
* :func:`key_kind` classifies any public key (RSA, EC, Ed25519, Ed448, DSA, unknown) with its
  size: the one classifier the checks, the reports and the path builder use.
* :func:`weak_key` says whether a key is below today's floor (RSA/DSA < 2048, EC < 256).
* :func:`verify_legacy_signature` verifies a certificate signature with the low-level API, which
  still takes SHA-1/MD5/DSA after the X.509 layer refused them.
* :func:`resign_sha1` re-signs a certificate with SHA-1 by rewriting its DER (the builder refuses).

* :func:`silence_input_warnings` keeps cryptography's notices about a parsed certificate's own
  defects (a negative serial) off the terminal: the CLI installs it; vedette reports them.

Nothing else in vedette imports ``cryptography.hazmat.primitives.asymmetric.dsa``; a test checks
it, and the suite turns every warning into an error.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Final, Protocol, TypeGuard

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.utils import CryptographyDeprecationWarning

__all__ = [
    "DSA_PUBLIC_KEY",
    "DsaPublicKeyLike",
    "KeyKind",
    "is_dsa",
    "key_kind",
    "public_key_of",
    "resign_sha1",
    "silence_input_warnings",
    "uses_legacy_key",
    "verify_legacy_signature",
    "weak_key",
]


def _dsa_public_key_class() -> type | None:
    # The one read of the deprecated module attribute (cryptography 51+ warns on each read).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            from cryptography.hazmat.primitives.asymmetric import dsa
        except ImportError:  # pragma: no cover - a cryptography without DSA at all
            return None
        cls = getattr(dsa, "DSAPublicKey", None)
    return cls if isinstance(cls, type) else None


#: cryptography's DSA public-key class, or ``None`` once the library has dropped DSA.
DSA_PUBLIC_KEY: Final[type | None] = _dsa_public_key_class()


class DsaPublicKeyLike(Protocol):
    """The two things vedette asks of a DSA public key."""

    @property
    def key_size(self) -> int: ...

    def verify(self, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm) -> None: ...


def is_dsa(key: object) -> TypeGuard[DsaPublicKeyLike]:
    """``key`` is a DSA public key (without touching the deprecated module again)."""
    return DSA_PUBLIC_KEY is not None and isinstance(key, DSA_PUBLIC_KEY)


#: cryptography's warnings about the certificate being *read* (not about vedette's use of the
#: API). Hostile or sloppy certificates are vedette's input; it reports their defects itself
#: (``cert lint``: serial-positive), so the library's notice would only be noise printed once
#: per parse and per access (a negative serial warned on load and on every ``serial_number``).
INPUT_WARNINGS: Final = ("Parsed a serial number which wasn't positive",)


def silence_input_warnings() -> None:
    """Install filters (for the running command) that drop :data:`INPUT_WARNINGS`."""
    for message in INPUT_WARNINGS:
        warnings.filterwarnings(
            "ignore", message=re.escape(message), category=CryptographyDeprecationWarning
        )


#: Below these sizes a key is weak (NIST SP 800-131A Rev. 2; CA/B Forum BR 6.1.5).
RSA_FLOOR: Final = 2048
DSA_FLOOR: Final = 2048
EC_FLOOR: Final = 256


@dataclass(frozen=True, slots=True)
class KeyKind:
    """What a public key is: ``algorithm`` (rsa, ec, ed25519, ed448, dsa, unknown), its size in
    bits (0 when the algorithm has no size to speak of) and the curve for EC keys."""

    algorithm: str
    bits: int = 0
    curve: str | None = None
    type_name: str = ""

    @property
    def text(self) -> str:
        """Display text: ``RSA 2048``, ``EC secp256r1``, ``Ed25519``, ``DSA 1024``."""
        if self.algorithm == "rsa":
            return f"RSA {self.bits}"
        if self.algorithm == "ec":
            return f"EC {self.curve}"
        if self.algorithm == "ed25519":
            return "Ed25519"
        if self.algorithm == "ed448":
            return "Ed448"
        if self.algorithm == "dsa":
            return f"DSA {self.bits}"
        return self.type_name or "unknown key"


def public_key_of(
    item: x509.Certificate | x509.CertificateSigningRequest,
) -> CertificatePublicKeyTypes:
    """The public key of a certificate or CSR, read without cryptography's deprecation warning
    for DSA (cryptography 51 warns when it builds a DSA key object). Raises what
    ``public_key()`` raises for an unsupported or malformed key (``ValueError``,
    ``UnsupportedAlgorithm``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return item.public_key()


def uses_legacy_key(cert: x509.Certificate) -> bool:
    """The certificate's key is one cryptography deprecates (DSA): verify signatures it made
    with :func:`verify_legacy_signature`, not the X.509 layer (which warns)."""
    try:
        return is_dsa(public_key_of(cert))
    except (ValueError, UnsupportedAlgorithm):
        return False


def key_kind(key: object) -> KeyKind:
    """Classify a public key object from cryptography; never warns, never raises."""
    if isinstance(key, rsa.RSAPublicKey):
        return KeyKind("rsa", key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return KeyKind("ec", key.key_size, key.curve.name)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyKind("ed25519", 256)
    if isinstance(key, ed448.Ed448PublicKey):
        return KeyKind("ed448", 456)
    if is_dsa(key):
        return KeyKind("dsa", key.key_size)
    return KeyKind("unknown", type_name=type(key).__name__)


def weak_key(key: object) -> str | None:
    """Why ``key`` is weak (``RSA 1024 bits``, ``EC secp224r1 (224 bits)``), or ``None``."""
    kind = key_kind(key)
    if kind.algorithm == "rsa" and kind.bits < RSA_FLOOR:
        return f"RSA {kind.bits} bits"
    if kind.algorithm == "dsa" and kind.bits < DSA_FLOOR:
        return f"DSA {kind.bits} bits"
    if kind.algorithm == "ec" and kind.bits < EC_FLOOR:
        return f"EC {kind.curve} ({kind.bits} bits)"
    return None


def verify_legacy_signature(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Verify ``child``'s signature with ``issuer``'s key through the low-level primitives.

    For what the X.509 layer refuses (SHA-1, MD5, DSA). Never raises, never warns: any failure
    is ``False``.
    """
    try:
        pub = public_key_of(issuer)
        params = child.signature_algorithm_parameters
        sig, tbs = child.signature, child.tbs_certificate_bytes
        if isinstance(pub, rsa.RSAPublicKey):
            algo = child.signature_hash_algorithm
            if algo is None or params is None or isinstance(params, ec.ECDSA):
                return False
            pub.verify(sig, tbs, params, algo)
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            if not isinstance(params, ec.ECDSA):
                # cryptography gives no parameters for ecdsa-with-SHA1 (it refuses SHA-1 for
                # signatures); the OID names the hash, so build the scheme from it.
                algo = child.signature_hash_algorithm
                if params is not None or algo is None:
                    return False
                params = ec.ECDSA(algo)
            pub.verify(sig, tbs, params)
        elif is_dsa(pub):
            algo = child.signature_hash_algorithm
            if algo is None:
                return False
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                pub.verify(sig, tbs, algo)
        elif isinstance(pub, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            pub.verify(sig, tbs)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


# --- SHA-1 re-signing ---------------------------------------------------------------------------

# AlgorithmIdentifier DER: SEQUENCE { OID, [params] }.
# sha1WithRSAEncryption 1.2.840.113549.1.1.5, parameters NULL (RFC 3279 section 2.2.1).
_ALG_SHA1_RSA = bytes.fromhex("300d06092a864886f70d0101050500")
# ecdsa-with-SHA1 1.2.840.10045.4.1, parameters absent (RFC 3279 section 2.2.3).
_ALG_SHA1_ECDSA = bytes.fromhex("300906072a8648ce3d0401")


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(value)) + value


def _read_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at ``pos`` (cryptography's own
    output, so well formed)."""
    tag = data[pos]
    first = data[pos + 1]
    if first < 0x80:
        return tag, pos + 2, pos + 2 + first
    n = first & 0x7F
    length = int.from_bytes(data[pos + 2 : pos + 2 + n], "big")
    start = pos + 2 + n
    return tag, start, start + length


def resign_sha1(
    cert: x509.Certificate, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    """``cert`` (signed by ``key`` with any hash) re-signed with SHA-1.

    cryptography's builder refuses SHA-1, so the TBS's signature AlgorithmIdentifier is
    rewritten in the DER and the new TBS is signed with the low-level API. Only for the lab and
    for tests that need a SHA-1 chain: no CA should issue one.
    """
    if isinstance(key, rsa.RSAPrivateKey):
        alg = _ALG_SHA1_RSA
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        alg = _ALG_SHA1_ECDSA
    else:
        raise ValueError("SHA-1 needs an RSA or EC issuer key")
    tbs = cert.tbs_certificate_bytes
    # TBSCertificate ::= SEQUENCE { [0] version, serialNumber, signature AlgorithmIdentifier, ...}
    _, body, end = _read_tlv(tbs, 0)
    pos = body
    tag, _, vend = _read_tlv(tbs, pos)
    if tag == 0xA0:  # explicit version (always present for v3 certificates)
        pos = vend
    _, _, serial_end = _read_tlv(tbs, pos)  # serialNumber
    _, _, alg_end = _read_tlv(tbs, serial_end)  # signature AlgorithmIdentifier
    new_tbs = _tlv(0x30, tbs[body:serial_end] + alg + tbs[alg_end:end])
    if isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(new_tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    else:
        sig = key.sign(new_tbs, ec.ECDSA(hashes.SHA1()))  # noqa: S303
    der = _tlv(0x30, new_tbs + alg + _tlv(0x03, b"\x00" + sig))
    return x509.load_der_x509_certificate(der)
