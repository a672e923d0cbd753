"""CMS EnvelopedData (RFC 5652 6) and AuthEnvelopedData (RFC 5083/5084): encrypt, decrypt.

Encrypting (:func:`encrypt`). A fresh content-encryption key (CEK) and IV; the content (the
canonical MIME entity) encrypted with AES-256-CBC and PKCS#7 padding in an EnvelopedData,
the form every S/MIME client reads, or with AES-256-GCM in an AuthEnvelopedData (RFC 5083,
parameters RFC 5084: a 12-byte nonce, a 16-byte tag). The CEK is encrypted to each recipient's
RSA key (key transport, ``KeyTransRecipientInfo`` version 0, named by issuer and serial
number) with PKCS#1 v1.5 by default, or RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 4055,
RFC 8017) on request; to an EC key by ECDH key agreement (RFC 5753: ``KeyAgreeRecipientInfo``
with an ephemeral originator key, ``dhSinglePass-stdDH-sha256kdf-scheme``, the X9.63 KDF
over ECC-CMS-SharedInfo, AES-256 key wrap of RFC 3394).

Decrypting (:func:`decrypt`). The recipient is picked by the certificate given (issuer and
serial number, or subject key identifier); without one, only a message with a single RSA
recipient is tried. Then the CEK, then the content. Every failure past the structure (a key
that is not the recipient's, a PKCS#1 v1.5 or OAEP block that does not unpad, a CEK of the
wrong size, CBC padding, a GCM tag) raises the *same* one-line :class:`SmimeError`, so that
the answer says nothing an attacker could use as a padding oracle. PKCS#1 v1.5 decryption is
done by OpenSSL (bundled with cryptography), which since 3.2 answers a bad block with a
pseudo-random key ("implicit rejection") instead of an error, and the CBC padding is checked
by cryptography's PKCS#7 unpadder, which compares in constant time.

Bounds: :data:`MAX_RECIPIENTS` recipients when reading (and writing), the size bounds of
:mod:`vedette.smime.asn1`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]
from pyasn1.type import univ  # type: ignore[import-untyped]
from pyasn1_modules import rfc4055, rfc5083, rfc5084, rfc5280, rfc5652  # type: ignore[import-untyped]

from vedette.smime.asn1 import SmimeError, children, decode, decode_definite, definite
from vedette.smime.cms import (
    ID_AUTH_ENVELOPED_DATA,
    ID_DATA,
    ID_ENVELOPED_DATA,
    ID_SIGNED_DATA,
    RSA,
    _alg,
    _int,
    _octets,
    _oid,
    _seq,
    _set,
    _tlv,
    cert_issuer_der,
)

__all__ = [
    "CIPHERS",
    "MAX_RECIPIENTS",
    "Envelope",
    "Recipient",
    "decrypt",
    "encrypt",
    "parse_envelope",
]

MAX_RECIPIENTS = 1000
CIPHERS = ("aes256-cbc", "aes256-gcm")

AES256_CBC = "2.16.840.1.101.3.4.1.42"
AES256_GCM = "2.16.840.1.101.3.4.1.46"
_AES_CBC = {"2.16.840.1.101.3.4.1.2": 16, "2.16.840.1.101.3.4.1.22": 24, AES256_CBC: 32}
_AES_GCM = {"2.16.840.1.101.3.4.1.6": 16, "2.16.840.1.101.3.4.1.26": 24, AES256_GCM: 32}
_CIPHER_NAMES = {
    "2.16.840.1.101.3.4.1.2": "aes128-cbc",
    "2.16.840.1.101.3.4.1.22": "aes192-cbc",
    AES256_CBC: "aes256-cbc",
    "2.16.840.1.101.3.4.1.6": "aes128-gcm",
    "2.16.840.1.101.3.4.1.26": "aes192-gcm",
    AES256_GCM: "aes256-gcm",
    "1.2.840.113549.3.7": "des-ede3-cbc",
    "1.2.840.113549.3.2": "rc2-cbc",
    "1.3.14.3.2.7": "des-cbc",
}
OAEP = "1.2.840.113549.1.1.7"
_SHA256 = "2.16.840.1.101.3.4.2.1"
_SHA1 = "1.3.14.3.2.26"
_MGF1 = "1.2.840.113549.1.1.8"
_OAEP_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    _SHA1: hashes.SHA1,
    "2.16.840.1.101.3.4.2.4": hashes.SHA224,
    _SHA256: hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}

EC_PUBLIC_KEY = "1.2.840.10045.2.1"
#: RFC 5753 / SEC 1 ECDH schemes (standard and cofactor DH are the same on the prime curves,
#: whose cofactor is 1) -> the X9.63 KDF's hash.
_ECDH_SCHEMES = {
    "1.3.133.16.840.63.0.2": "sha1",
    "1.3.132.1.11.0": "sha224",
    "1.3.132.1.11.1": "sha256",
    "1.3.132.1.11.2": "sha384",
    "1.3.132.1.11.3": "sha512",
    "1.3.133.16.840.63.0.3": "sha1",
    "1.3.132.1.14.0": "sha224",
    "1.3.132.1.14.1": "sha256",
    "1.3.132.1.14.2": "sha384",
    "1.3.132.1.14.3": "sha512",
}
ECDH_SHA256_KDF = "1.3.132.1.11.1"
_KDF_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
#: AES key wrap (RFC 3394) OIDs -> KEK size.
_WRAPS = {
    "2.16.840.1.101.3.4.1.5": 16,
    "2.16.840.1.101.3.4.1.25": 24,
    "2.16.840.1.101.3.4.1.45": 32,
}
AES256_WRAP = "2.16.840.1.101.3.4.1.45"

#: The one answer to every decryption failure past the structure (no padding oracle).
CANNOT_DECRYPT = (
    "cannot decrypt: the key is not this message's recipient's, or the message is damaged"
)


# --- encrypting ------------------------------------------------------------------------------


def _oaep_params() -> bytes:
    sha256 = _alg(_SHA256)
    return _seq(_tlv(0xA0, sha256), _tlv(0xA1, _alg(_MGF1, sha256)))


def _shared_info(wrap_oid: str, ukm: bytes | None, kek_bits: int) -> bytes:
    """ECC-CMS-SharedInfo (RFC 5753 7.2), the X9.63 KDF's SharedInfo."""
    entity = _tlv(0xA0, _octets(ukm)) if ukm is not None else b""
    return _seq(_alg(wrap_oid), entity, _tlv(0xA2, _octets(kek_bits.to_bytes(4, "big"))))


def _kek(private: ec.EllipticCurvePrivateKey, public: ec.EllipticCurvePublicKey, hash_name: str,
         wrap_oid: str, ukm: bytes | None) -> bytes:  # fmt: skip
    size = _WRAPS[wrap_oid]
    shared = private.exchange(ec.ECDH(), public)
    kdf = X963KDF(
        algorithm=_KDF_HASHES[hash_name](),
        length=size,
        sharedinfo=_shared_info(wrap_oid, ukm, size * 8),
    )
    return kdf.derive(shared)


def _kari_info(cert: x509.Certificate, key: ec.EllipticCurvePublicKey, cek: bytes) -> bytes:
    """A KeyAgreeRecipientInfo (version 3, an ephemeral originator key, ECDH with the X9.63
    SHA-256 KDF, AES-256 key wrap), tagged [1] as a RecipientInfo."""
    ephemeral = ec.generate_private_key(key.curve)
    point = ephemeral.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    kek = _kek(ephemeral, key, "sha256", AES256_WRAP, None)
    wrapped = aes_key_wrap(kek, cek)
    originator_key = _tlv(0xA1, _alg(EC_PUBLIC_KEY), _tlv(0x03, b"\x00" + point))
    rid = _seq(cert_issuer_der(cert), _int(cert.serial_number))
    return _tlv(
        0xA1,
        _int(3),
        _tlv(0xA0, originator_key),
        _alg(ECDH_SHA256_KDF, _alg(AES256_WRAP)),
        _seq(_seq(rid, _octets(wrapped))),
    )


def encrypt(
    content: bytes,
    recipients: tuple[x509.Certificate, ...],
    *,
    cipher: Literal["aes256-cbc", "aes256-gcm"] = "aes256-cbc",
    oaep: bool = False,
) -> bytes:
    """The DER ContentInfo (EnvelopedData, or AuthEnvelopedData for GCM) of ``content``."""
    if not recipients:
        raise SmimeError("no recipient")
    if len(recipients) > MAX_RECIPIENTS:
        raise SmimeError(f"more than {MAX_RECIPIENTS} recipients")
    cek = os.urandom(32)
    infos: list[bytes] = []
    for cert in recipients:
        key = cert.public_key()
        if isinstance(key, ec.EllipticCurvePublicKey):
            infos.append(_kari_info(cert, key, cek))
            continue
        if not isinstance(key, rsa.RSAPublicKey):
            raise SmimeError(
                f"recipient {cert.subject.rfc4514_string()}: a {type(key).__name__} key; "
                "S/MIME encrypts to RSA (key transport) or EC (ECDH) keys"
            )
        if oaep:
            mgf = asym.MGF1(hashes.SHA256())
            wrapped = key.encrypt(cek, asym.OAEP(mgf=mgf, algorithm=hashes.SHA256(), label=None))
            alg = _alg(OAEP, _oaep_params())
        else:
            wrapped = key.encrypt(cek, asym.PKCS1v15())
            alg = _alg(RSA, b"\x05\x00")
        rid = _seq(cert_issuer_der(cert), _int(cert.serial_number))
        infos.append(_seq(_int(0), rid, alg, _octets(wrapped)))
    if cipher == "aes256-gcm":
        nonce = os.urandom(12)
        sealed = AESGCM(cek).encrypt(nonce, content, None)
        body, tag = sealed[:-16], sealed[-16:]
        params = _seq(_octets(nonce), _int(16))
        eci = _seq(_oid(ID_DATA), _alg(AES256_GCM, params), _tlv(0x80, body))
        inner = _seq(_int(0), _set(*infos), eci, _octets(tag))
        return _seq(_oid(ID_AUTH_ENVELOPED_DATA), _tlv(0xA0, inner))
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(content) + padder.finalize()
    encryptor = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
    body = encryptor.update(padded) + encryptor.finalize()
    eci = _seq(_oid(ID_DATA), _alg(AES256_CBC, _octets(iv)), _tlv(0x80, body))
    # RFC 5652 6.1: version 0 when every RecipientInfo is version 0 (ktri), else 2 (kari)
    version = 0 if all(i[0] == 0x30 for i in infos) else 2
    inner = _seq(_int(version), _set(*infos), eci)
    return _seq(_oid(ID_ENVELOPED_DATA), _tlv(0xA0, inner))


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    """One RecipientInfo.

    Attributes:
        kind: ``ktri`` (RSA key transport), ``kari`` (key agreement: EC), ``kekri``,
            ``pwri`` or ``ori``.
        issuer_der, serial: the issuerAndSerialNumber of a ``ktri``; ``None`` otherwise.
        subject_key_id: a ``ktri`` named by subject key identifier.
        algorithm: ``rsa-pkcs1v15``, ``rsaes-oaep`` or the OID.
        oaep_hash: OAEP's hash OID (``None`` for PKCS#1 v1.5); ``oaep_mgf_hash`` MGF1's.
        encrypted_key: the wrapped CEK.
        ephemeral: for ``kari`` (ECDH, RFC 5753): the originator's ephemeral public point;
            ``ukm`` its user keying material; ``kdf_hash`` the X9.63 KDF's hash name;
            ``wrap`` the key-wrap algorithm's OID.
    """

    kind: str
    issuer_der: bytes | None
    serial: int | None
    subject_key_id: bytes | None
    algorithm: str
    oaep_hash: str | None
    oaep_mgf_hash: str | None
    encrypted_key: bytes
    ephemeral: bytes | None = None
    ukm: bytes | None = None
    kdf_hash: str | None = None
    wrap: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """An EnvelopedData or AuthEnvelopedData.

    Attributes:
        kind: ``enveloped-data`` or ``auth-enveloped-data``.
        cipher: ``aes256-cbc``, ``aes256-gcm``... or the OID.
        recipients: the recipient infos, in order.
    """

    kind: Literal["enveloped-data", "auth-enveloped-data"]
    cipher: str
    cipher_oid: str
    cipher_params: bytes | None
    content: bytes | None
    tag: bytes | None
    recipients: tuple[Recipient, ...]


def _present(value: Any) -> bool:
    return value is not None and value.isValue


def _oaep(params: bytes | None) -> tuple[str, str]:
    if params is None:
        return _SHA1, _SHA1
    p = decode(params, rfc4055.RSAES_OAEP_params(), "the RSAES-OAEP parameters")
    hash_oid = str(p["hashFunc"]["algorithm"]) if _present(p["hashFunc"]) else _SHA1
    mgf_hash = _SHA1
    if _present(p["maskGenFunc"]):
        mgf = p["maskGenFunc"]
        if str(mgf["algorithm"]) != _MGF1:
            raise SmimeError(f"RSAES-OAEP with mask generation {mgf['algorithm']}")
        if _present(mgf["parameters"]):
            inner = decode(bytes(mgf["parameters"]), rfc5280.AlgorithmIdentifier(), "MGF1")
            mgf_hash = str(inner["algorithm"])
    if _present(p["pSourceFunc"]) and _present(p["pSourceFunc"]["parameters"]):
        label = decode(bytes(p["pSourceFunc"]["parameters"]), univ.OctetString(), "OAEP")
        if bytes(label):
            raise SmimeError("RSAES-OAEP with a label, which S/MIME does not use")
    return hash_oid, mgf_hash


def _issuer_serial(ias: Any) -> tuple[bytes, int]:
    from pyasn1.codec.der import encoder  # type: ignore[import-untyped]

    return bytes(encoder.encode(ias["issuer"])), int(ias["serialNumber"])


def _kari(info: Any) -> tuple[Recipient, ...]:
    """One Recipient per RecipientEncryptedKey of a KeyAgreeRecipientInfo (RFC 5753 ECDH)."""
    kari = info["kari"]
    originator = kari["originator"]
    if originator.getName() != "originatorKey":
        return (Recipient(kind="kari", issuer_der=None, serial=None, subject_key_id=None,
                          algorithm="ecdh-static", oaep_hash=None, oaep_mgf_hash=None,
                          encrypted_key=b""),)  # fmt: skip
    point = bytes(originator["originatorKey"]["publicKey"].asOctets())
    ukm = bytes(kari["ukm"]) if _present(kari["ukm"]) else None
    alg = kari["keyEncryptionAlgorithm"]
    scheme = str(alg["algorithm"])
    wrap = None
    if _present(alg["parameters"]):
        inner = decode(bytes(alg["parameters"]), rfc5280.AlgorithmIdentifier(), "the key wrap")
        wrap = str(inner["algorithm"])
    kdf_hash = _ECDH_SCHEMES.get(scheme)
    out: list[Recipient] = []
    for rek in kari["recipientEncryptedKeys"]:
        rid = rek["rid"]
        issuer_der = serial = ski = None
        if rid.getName() == "issuerAndSerialNumber":
            issuer_der, serial = _issuer_serial(rid["issuerAndSerialNumber"])
        else:
            ski = bytes(rid["rKeyId"]["subjectKeyIdentifier"])
        out.append(
            Recipient(
                kind="kari", issuer_der=issuer_der, serial=serial, subject_key_id=ski,
                algorithm="ecdh" if kdf_hash else scheme, oaep_hash=None, oaep_mgf_hash=None,
                encrypted_key=bytes(rek["encryptedKey"]), ephemeral=point, ukm=ukm,
                kdf_hash=kdf_hash, wrap=wrap,
            )
        )  # fmt: skip
    return tuple(out)


def _recipient(info: Any) -> Recipient:
    kind = info.getName()
    if kind != "ktri":
        return Recipient(
            kind=kind, issuer_der=None, serial=None, subject_key_id=None, algorithm=kind,
            oaep_hash=None, oaep_mgf_hash=None, encrypted_key=b"",
        )  # fmt: skip
    ktri = info["ktri"]
    rid = ktri["rid"]
    issuer_der = serial = ski = None
    if rid.getName() == "issuerAndSerialNumber":
        issuer_der, serial = _issuer_serial(rid["issuerAndSerialNumber"])
    else:
        ski = bytes(rid["subjectKeyIdentifier"])
    alg = ktri["keyEncryptionAlgorithm"]
    oid = str(alg["algorithm"])
    params = bytes(alg["parameters"]) if _present(alg["parameters"]) else None
    oaep_hash = mgf_hash = None
    if oid == OAEP:
        oaep_hash, mgf_hash = _oaep(params)
        name = "rsaes-oaep"
    else:
        name = "rsa-pkcs1v15" if oid == RSA else oid
    return Recipient(
        kind="ktri",
        issuer_der=issuer_der,
        serial=serial,
        subject_key_id=ski,
        algorithm=name,
        oaep_hash=oaep_hash,
        oaep_mgf_hash=mgf_hash,
        encrypted_key=bytes(ktri["encryptedKey"]),
    )


def _recipient_count(content: bytes) -> int | None:
    """How many RecipientInfos the (Auth)EnvelopedData ``content`` holds, counted on the DER
    (the first SET in it), or ``None`` when its shape is not that (pyasn1 then says why)."""
    try:
        for part in children(content):
            if part[0] == 0x31:
                return len(children(part))
    except (IndexError, ValueError):
        return None
    return None


def parse_envelope(data: bytes) -> Envelope:
    """The EnvelopedData or AuthEnvelopedData in the ContentInfo ``data``."""
    der = definite(data, "the CMS structure")
    info = decode_definite(der, rfc5652.ContentInfo(), "the CMS ContentInfo")
    content_type = str(info["contentType"])
    if content_type == ID_SIGNED_DATA:
        raise SmimeError("the message is signed, not encrypted (use vedette smime verify)")
    if content_type not in (ID_ENVELOPED_DATA, ID_AUTH_ENVELOPED_DATA):
        raise SmimeError(f"the CMS structure is {content_type}, not an encrypted message")
    auth = content_type == ID_AUTH_ENVELOPED_DATA
    spec = rfc5083.AuthEnvelopedData() if auth else rfc5652.EnvelopedData()
    what = "the AuthEnvelopedData" if auth else "the EnvelopedData"
    inner = bytes(info["content"])
    count = _recipient_count(inner)
    if count is not None and count > MAX_RECIPIENTS:  # before decoding them all
        raise SmimeError(f"{count} recipients, more than vedette's limit of {MAX_RECIPIENTS}")
    env = decode_definite(inner, spec, what)
    try:
        infos = env["recipientInfos"]
        recipients = tuple(
            r
            for info_ in infos
            for r in (_kari(info_) if info_.getName() == "kari" else (_recipient(info_),))
        )
        if len(recipients) > MAX_RECIPIENTS:
            raise SmimeError(f"more than {MAX_RECIPIENTS} recipients")
        eci = env["authEncryptedContentInfo" if auth else "encryptedContentInfo"]
        alg = eci["contentEncryptionAlgorithm"]
        oid = str(alg["algorithm"])
        params = bytes(alg["parameters"]) if _present(alg["parameters"]) else None
        content = bytes(eci["encryptedContent"]) if _present(eci["encryptedContent"]) else None
        tag = bytes(env["mac"]) if auth else None
    except (PyAsn1Error, ValueError, TypeError, IndexError, KeyError, OverflowError) as exc:
        text = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise SmimeError(f"{what} has a malformed value ({text})") from None
    return Envelope(
        kind="auth-enveloped-data" if auth else "enveloped-data",
        cipher=_CIPHER_NAMES.get(oid, oid),
        cipher_oid=oid,
        cipher_params=params,
        content=content,
        tag=tag,
        recipients=recipients,
    )


# --- decrypting --------------------------------------------------------------------------------


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except (x509.ExtensionNotFound, ValueError):
        return None


def _pick(env: Envelope, cert: x509.Certificate | None, ec_key: bool) -> Recipient:
    ktri = [r for r in env.recipients if r.kind == ("kari" if ec_key else "ktri")]
    if cert is not None:
        issuer = (cert_issuer_der(cert), cert.issuer.public_bytes())
        for r in ktri:
            if r.serial == cert.serial_number and r.issuer_der in issuer:
                return r
            if r.subject_key_id is not None and r.subject_key_id == _ski(cert):
                return r
        raise SmimeError(
            f"the message is not encrypted to this certificate ({len(env.recipients)} "
            "recipient(s), none of them it)"
        )
    if len(ktri) == 1:
        return ktri[0]
    if not ktri:
        kinds = ", ".join(sorted({r.kind for r in env.recipients}))
        wanted = "EC (kari)" if ec_key else "RSA (ktri)"
        raise SmimeError(f"no {wanted} recipient in the message (recipients: {kinds or 'none'})")
    raise SmimeError(f"{len(ktri)} recipients: give the certificate with --cert to pick yours")


def _unwrap(recipient: Recipient, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        assert recipient.ephemeral is not None
        assert recipient.kdf_hash is not None and recipient.wrap is not None
        public = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, recipient.ephemeral)
        kek = _kek(key, public, recipient.kdf_hash, recipient.wrap, recipient.ukm)
        return aes_key_unwrap(kek, recipient.encrypted_key)
    if recipient.algorithm == "rsa-pkcs1v15":
        return key.decrypt(recipient.encrypted_key, asym.PKCS1v15())
    if recipient.algorithm == "rsaes-oaep":
        assert recipient.oaep_hash is not None and recipient.oaep_mgf_hash is not None
        h = _OAEP_HASHES.get(recipient.oaep_hash)
        m = _OAEP_HASHES.get(recipient.oaep_mgf_hash)
        if h is None or m is None:
            raise SmimeError("RSAES-OAEP with an unknown hash")
        oaep = asym.OAEP(mgf=asym.MGF1(m()), algorithm=h(), label=None)
        return key.decrypt(recipient.encrypted_key, oaep)
    raise SmimeError(f"key transport {recipient.algorithm} is not supported")


_DES_EDE3_CBC = "1.2.840.113549.3.7"


def _content_cipher(env: Envelope) -> tuple[str, int]:
    if env.cipher_oid in _AES_CBC:
        return "cbc", _AES_CBC[env.cipher_oid]
    if env.cipher_oid in _AES_GCM:
        return "gcm", _AES_GCM[env.cipher_oid]
    if env.cipher_oid == _DES_EDE3_CBC:  # read only: old mail, and openssl smime's default
        return "3des", 24
    raise SmimeError(
        f"content cipher {env.cipher} is not supported (vedette reads AES-CBC, AES-GCM and "
        "3DES-CBC)"
    )


def _block_cipher(mode: str, cek: bytes) -> tuple[Any, int]:
    """The cryptography cipher algorithm for a CBC mode and its block size in bits."""
    if mode == "3des":
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

        return TripleDES(cek), 64
    return algorithms.AES(cek), 128


def decrypt(
    env: Envelope,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    cert: x509.Certificate | None = None,
) -> bytes:
    """The decrypted content of ``env`` for the recipient ``key`` (and ``cert``)."""
    recipient = _pick(env, cert, isinstance(key, ec.EllipticCurvePrivateKey))
    if recipient.kind == "kari" and (recipient.kdf_hash is None or recipient.wrap not in _WRAPS):
        raise SmimeError(f"key agreement {recipient.algorithm} is not supported")
    mode, key_size = _content_cipher(env)
    if env.content is None:
        raise SmimeError("the encrypted content is not in the message (detached)")
    if env.cipher_params is None:
        raise SmimeError(f"{env.cipher} without its parameters")
    block = 8 if mode == "3des" else 16
    if mode != "gcm":
        iv = bytes(decode(env.cipher_params, univ.OctetString(), "the CBC IV"))
        if len(iv) != block:
            raise SmimeError(f"a CBC IV of {len(iv)} bytes, not {block}")
    else:
        gcm = decode(env.cipher_params, rfc5084.GCMParameters(), "the GCM parameters")
        nonce = bytes(gcm["aes-nonce"])
        icv = int(gcm["aes-ICVlen"])
        if not 7 <= len(nonce) <= 64 or env.tag is None or len(env.tag) != icv or icv < 12:
            raise SmimeError("GCM parameters that do not fit (nonce, tag length)")
    if len(env.content) % block and mode != "gcm":
        raise SmimeError(CANNOT_DECRYPT)
    try:
        cek = _unwrap(recipient, key)
    except SmimeError:
        raise
    except Exception:  # ValueError, InvalidUnwrap, a point off the curve: the same answer
        raise SmimeError(CANNOT_DECRYPT) from None
    try:
        if len(cek) != key_size:
            raise ValueError("CEK size")
        if mode == "gcm":
            assert env.tag is not None
            # cryptography's AESGCM checks a 16-byte tag only; shorter tags are refused above
            if len(env.tag) != 16:
                raise ValueError("tag size")
            return AESGCM(cek).decrypt(nonce, env.content + env.tag, None)
        algorithm, bits = _block_cipher(mode, cek)
        decryptor = Cipher(algorithm, modes.CBC(iv)).decryptor()
        padded = decryptor.update(env.content) + decryptor.finalize()
        unpadder = padding.PKCS7(bits).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except Exception:
        # one answer for a wrong key, a bad block, bad padding or a bad tag (no oracle)
        raise SmimeError(CANNOT_DECRYPT) from None
