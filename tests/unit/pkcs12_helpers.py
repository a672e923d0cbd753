"""PKCS#12 files for the tests: cryptography's two encryption builders, and DER re-encoding
with pyasn1 for what no writer produces on request (a MAC count of 2^31-1, extra attributes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pyasn1.codec.cer import encoder as cer_encoder  # type: ignore[import-untyped]
from pyasn1.codec.der import decoder, encoder  # type: ignore[import-untyped]
from pyasn1.type import univ  # type: ignore[import-untyped]
from pyasn1_modules import rfc5652, rfc7292  # type: ignore[import-untyped]


def p12_encryption(
    *, legacy: bool, rounds: int = 2048, password: bytes = b"pw"
) -> serialization.KeySerializationEncryption:
    """Legacy: 3DES with the SHA-1 PKCS#12 KDF and an HMAC-SHA1 MAC; modern: PBES2 with
    PBKDF2-HMAC-SHA256, AES-256-CBC and an HMAC-SHA256 MAC."""
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(rounds)
    if legacy:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        builder = builder.hmac_hash(hashes.SHA1())
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        builder = builder.hmac_hash(hashes.SHA256())
    return builder.build(password)


def _decode(data: bytes, spec: Any) -> Any:
    value, rest = decoder.decode(data, asn1Spec=spec)
    assert not rest
    return value


def rewrite_pfx(
    der: bytes,
    *,
    mac_iterations: int | None = None,
    edit_bags: Callable[[Any], None] | None = None,
    ber: bool = False,
) -> bytes:
    """``der`` re-encoded with the MAC count replaced and/or the plain containers' SafeContents
    edited in place by ``edit_bags`` (the MAC no longer matches: only the structure is read).
    ``ber``: every layer in CER, BER's indefinite-length form with OCTET STRINGs in 1000-byte
    chunks, as NSS writes PKCS#12 (the MAC no longer matches: it covers the AuthenticatedSafe's
    encoding)."""
    encode = cer_encoder.encode if ber else encoder.encode
    pfx = _decode(der, rfc7292.PFX())
    if mac_iterations is not None:
        pfx["macData"]["iterations"] = mac_iterations
    if edit_bags is not None or ber:
        octets = _decode(bytes(pfx["authSafe"]["content"]), univ.OctetString())
        safe = _decode(bytes(octets), rfc7292.AuthenticatedSafe())
        for info in safe:
            if info["contentType"] == rfc5652.id_data:
                inner = _decode(bytes(info["content"]), univ.OctetString())
                contents = _decode(bytes(inner), rfc7292.SafeContents())
                if edit_bags is not None:
                    edit_bags(contents)
                info["content"] = encode(univ.OctetString(encode(contents)))
            elif ber:
                data = _decode(bytes(info["content"]), rfc5652.EncryptedData())
                info["content"] = encode(data)
        pfx["authSafe"]["content"] = encode(univ.OctetString(encode(safe)))
    return bytes(encode(pfx))


def add_bag_attribute(bag: Any, oid: str, value: Any) -> None:
    """Append the attribute ``oid`` with the one ``value`` (a pyasn1 value) to ``bag``."""
    attr = rfc5652.Attribute()
    attr["attrType"] = univ.ObjectIdentifier(oid)
    attr["attrValues"].append(encoder.encode(value))
    bag["bagAttributes"].append(attr)


def outer_ber(der: bytes) -> bytes:
    """``der`` with the PFX and its authSafe in CER (indefinite lengths, chunked OCTET STRING)
    and the AuthenticatedSafe's bytes unchanged, so that the MAC still matches."""
    pfx = _decode(der, rfc7292.PFX())
    octets = _decode(bytes(pfx["authSafe"]["content"]), univ.OctetString())
    pfx["authSafe"]["content"] = cer_encoder.encode(univ.OctetString(bytes(octets)))
    return bytes(cer_encoder.encode(pfx))
