"""The password-based cryptography of PKCS#12 (RFC 7292), for vedette's writer and for reading
a key bag's own attributes: the appendix B key derivation, the PBEs that Windows and OpenSSL
write, PBES2 (RFC 8018) and the integrity MAC.

``cryptography`` gives the primitives (SHA, HMAC, PBKDF2, AES, 3DES); what it does not expose
is written here: the RFC 7292 appendix B KDF (a SHA-1 or SHA-256 construction over the
password in BMPString form) and the parameter encodings. Sans-I/O: bytes in, bytes out;
randomness (salts, IVs) is given by the caller.

Passwords: the PKCS#12 KDF takes the password as a NUL-terminated big-endian BMPString
(UTF-16), PBKDF2 its UTF-8 bytes, as OpenSSL 3 and Windows do. vedette's passphrases are
UTF-8 bytes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

# pyasn1 ships no type information: its values are Any here.
from pyasn1.codec.der import decoder, encoder  # type: ignore[import-untyped]
from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]
from pyasn1.type import univ  # type: ignore[import-untyped]
from pyasn1_modules import rfc5280, rfc7292, rfc8018  # type: ignore[import-untyped]

from vedette.errors import PkiError

try:  # cryptography >= 43 keeps 3DES among the "decrepit" ciphers
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - cryptography 42
    from cryptography.hazmat.primitives.ciphers.algorithms import (  # type: ignore[attr-defined,no-redef,unused-ignore]
        TripleDES,
    )

__all__ = [
    "MAC_DIGESTS",
    "PBES2_OID",
    "PBE_3DES_OID",
    "PbeError",
    "Scheme",
    "bmp_password",
    "decrypt",
    "encrypt",
    "mac",
    "pkcs12_kdf",
]

PBE_3DES_OID = "1.2.840.113549.1.12.1.3"  # pbeWithSHAAnd3-KeyTripleDES-CBC
PBES2_OID = "1.2.840.113549.1.5.13"
_PBKDF2_OID = "1.2.840.113549.1.5.12"
_AES_CBC = {
    "2.16.840.1.101.3.4.1.2": 16,
    "2.16.840.1.101.3.4.1.22": 24,
    "2.16.840.1.101.3.4.1.42": 32,
}
_DES_EDE3_CBC = "1.2.840.113549.3.7"
_PRF_HASHES: dict[str, Any] = {
    "1.2.840.113549.2.7": hashes.SHA1,
    "1.2.840.113549.2.9": hashes.SHA256,
    "1.2.840.113549.2.10": hashes.SHA384,
    "1.2.840.113549.2.11": hashes.SHA512,
}
_HMAC_SHA256 = "1.2.840.113549.2.9"
_AES256_CBC = "2.16.840.1.101.3.4.1.42"
#: The digest algorithms of a MacData, by OID: (hashlib name, its OID).
MAC_DIGESTS = {"sha1": "1.3.14.3.2.26", "sha256": "2.16.840.1.101.3.4.2.1"}

Scheme = Literal["modern", "legacy"]


class PbeError(PkiError):
    """Decryption failed (a wrong password), or an algorithm vedette does not decrypt."""


def bmp_password(password: bytes) -> bytes:
    """The PKCS#12 KDF's form of a UTF-8 passphrase: UTF-16BE with two NUL bytes."""
    try:
        text = password.decode("utf-8")
    except UnicodeDecodeError:
        raise PkiError("the passphrase is not UTF-8 text") from None
    return text.encode("utf-16-be") + b"\0\0"


def pkcs12_kdf(
    digest: str, password: bytes, salt: bytes, purpose: int, iterations: int, size: int
) -> bytes:
    """RFC 7292 appendix B.2: ``size`` bytes of key (``purpose`` 1), IV (2) or MAC key (3)
    from ``password`` (already in BMP form, :func:`bmp_password`)."""
    new: Callable[..., Any] = getattr(hashlib, digest)  # a third faster than hashlib.new
    u: int = new().digest_size
    v: int = new().block_size
    d = bytes((purpose,)) * v

    def stretch(data: bytes) -> bytes:
        if not data:
            return b""
        n = v * -(-len(data) // v)
        return (data * -(-n // len(data)))[:n]

    i = bytearray(stretch(salt) + stretch(password))
    out: bytes = b""
    while len(out) < size:
        a = new(d + bytes(i)).digest()
        for _ in range(iterations - 1):
            a = new(a).digest()
        out += a
        if len(out) >= size:
            break
        b = int.from_bytes((a * -(-v // u))[:v], "big") + 1
        for start in range(0, len(i), v):
            block = (int.from_bytes(i[start : start + v], "big") + b) % (1 << (8 * v))
            i[start : start + v] = block.to_bytes(v, "big")
    return out[:size]


@dataclass(frozen=True, slots=True)
class _Cipher:
    algorithm: Any
    iv: bytes


def _algorithm_identifier(oid: str, params: Any | None) -> Any:
    alg = rfc5280.AlgorithmIdentifier()
    alg["algorithm"] = univ.ObjectIdentifier(oid)
    if params is not None:
        alg["parameters"] = encoder.encode(params)
    return alg


def encrypt(
    plaintext: bytes,
    password: bytes,
    *,
    scheme: Scheme,
    iterations: int,
    salt: bytes,
    iv: bytes = b"",
) -> tuple[Any, bytes]:
    """(AlgorithmIdentifier, ciphertext): ``modern`` is PBES2 with PBKDF2-HMAC-SHA256 and
    AES-256-CBC (``iv``: 16 bytes); ``legacy`` is pbeWithSHAAnd3-KeyTripleDES-CBC."""
    if scheme == "legacy":
        params = rfc7292.Pkcs_12PbeParams()
        params["salt"] = salt
        params["iterations"] = iterations
        alg = _algorithm_identifier(PBE_3DES_OID, params)
        bmp = bmp_password(password)
        key = pkcs12_kdf("sha1", bmp, salt, 1, iterations, 24)
        cipher = _Cipher(TripleDES(key), pkcs12_kdf("sha1", bmp, salt, 2, iterations, 8))
    else:
        kdf = rfc8018.PBKDF2_params()
        kdf["salt"]["specified"] = salt
        kdf["iterationCount"] = iterations
        kdf["prf"] = _algorithm_identifier(_HMAC_SHA256, univ.Null(""))
        pbes2 = rfc8018.PBES2_params()
        pbes2["keyDerivationFunc"] = _algorithm_identifier(_PBKDF2_OID, kdf)
        pbes2["encryptionScheme"] = _algorithm_identifier(_AES256_CBC, univ.OctetString(iv))
        alg = _algorithm_identifier(PBES2_OID, pbes2)
        key = PBKDF2HMAC(hashes.SHA256(), 32, salt, iterations).derive(password)
        cipher = _Cipher(algorithms.AES(key), iv)
    return alg, _cbc(cipher, plaintext, encrypting=True)


def _cbc(cipher: _Cipher, data: bytes, *, encrypting: bool) -> bytes:
    block = cipher.algorithm.block_size
    if encrypting:
        padder = padding.PKCS7(block).padder()
        data = padder.update(data) + padder.finalize()
        enc = Cipher(cipher.algorithm, modes.CBC(cipher.iv)).encryptor()
        return enc.update(data) + enc.finalize()
    if not data or len(data) % (block // 8):
        raise PbeError("the encrypted data is not a whole number of cipher blocks")
    dec = Cipher(cipher.algorithm, modes.CBC(cipher.iv)).decryptor()
    plain = dec.update(data) + dec.finalize()
    unpadder = padding.PKCS7(block).unpadder()
    try:
        return unpadder.update(plain) + unpadder.finalize()
    except ValueError:
        raise PbeError("wrong password (the decrypted data has no valid padding)") from None


def _decode(data: bytes, spec: Any, what: str) -> Any:
    try:
        value, rest = decoder.decode(data, asn1Spec=spec)
    except (PyAsn1Error, ValueError, TypeError) as exc:
        raise PbeError(f"{what} does not decode ({' '.join(str(exc).split())[:100]})") from None
    if rest:
        raise PbeError(f"{what} is followed by stray bytes")
    return value


def decrypt(alg: Any, ciphertext: bytes, password: bytes) -> bytes:
    """Decrypt with the AlgorithmIdentifier ``alg`` (pyasn1): pbeWithSHAAnd3-KeyTripleDES-CBC,
    or PBES2 with PBKDF2 (HMAC-SHA1/SHA-2) and AES-CBC or 3DES-CBC. Iteration counts must
    have been checked by the caller (``Pfx.check_limits``)."""
    oid = str(alg["algorithm"])
    params = bytes(alg["parameters"]) if alg["parameters"].isValue else b""
    if oid == PBE_3DES_OID:
        pbe = _decode(params, rfc7292.Pkcs_12PbeParams(), "the PBE parameters")
        salt, iterations = bytes(pbe["salt"]), int(pbe["iterations"])
        bmp = bmp_password(password)
        key = pkcs12_kdf("sha1", bmp, salt, 1, iterations, 24)
        cipher = _Cipher(TripleDES(key), pkcs12_kdf("sha1", bmp, salt, 2, iterations, 8))
        return _cbc(cipher, ciphertext, encrypting=False)
    if oid != PBES2_OID:
        raise PbeError(f"key encryption {oid} is not one vedette decrypts")
    pbes2 = _decode(params, rfc8018.PBES2_params(), "the PBES2 parameters")
    kdf_alg = pbes2["keyDerivationFunc"]
    if str(kdf_alg["algorithm"]) != _PBKDF2_OID:
        raise PbeError(f"key derivation {kdf_alg['algorithm']} is not PBKDF2")
    kdf = _decode(bytes(kdf_alg["parameters"]), rfc8018.PBKDF2_params(), "PBKDF2's parameters")
    prf_oid = str(kdf["prf"]["algorithm"]) if kdf["prf"].isValue else "1.2.840.113549.2.7"
    if prf_oid not in _PRF_HASHES or kdf["salt"].getName() != "specified":
        raise PbeError(f"PBKDF2 with PRF {prf_oid} is not one vedette decrypts")
    enc = pbes2["encryptionScheme"]
    enc_oid = str(enc["algorithm"])
    iv = bytes(_decode(bytes(enc["parameters"]), univ.OctetString(), "the cipher's IV"))
    size = _AES_CBC.get(enc_oid, 24 if enc_oid == _DES_EDE3_CBC else 0)
    if not size:
        raise PbeError(f"cipher {enc_oid} is not one vedette decrypts")
    key = PBKDF2HMAC(
        _PRF_HASHES[prf_oid](),
        size,
        bytes(kdf["salt"]["specified"]),
        int(kdf["iterationCount"]),
    ).derive(password)
    algorithm = TripleDES(key) if enc_oid == _DES_EDE3_CBC else algorithms.AES(key)
    if len(iv) != algorithm.block_size // 8:
        raise PbeError("the cipher's IV has the wrong length")
    return _cbc(_Cipher(algorithm, iv), ciphertext, encrypting=False)


def mac(digest: str, password: bytes, salt: bytes, iterations: int, data: bytes) -> bytes:
    """The PFX integrity MAC: HMAC-``digest`` keyed by the appendix B KDF (purpose 3)."""
    size = hashlib.new(digest).digest_size
    key = pkcs12_kdf(digest, bmp_password(password), salt, 3, iterations, size)
    return hmac.new(key, data, digest).digest()
