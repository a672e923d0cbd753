"""Writing PKCS#12 (RFC 7292) files with the attributes Windows reads on import.

``cryptography``'s serializer writes a friendly name and nothing else; a Windows service such
as Skype for Business Server needs its key imported into a CryptoAPI provider with KeySpec
AT_KEYEXCHANGE, which a PFX says with three attributes that ``openssl pkcs12 -export -CSP NAME
-keyex|-keysig -LMK`` writes (see ``vedette.pki.pkcs12``). This module writes the whole file
itself, in the same layout as OpenSSL 3:

    PFX v3
      authSafe data: AuthenticatedSafe
        encryptedData  { certBag (leaf: friendlyName, localKeyId), certBag (chain)... }
        data           { pkcs8ShroudedKeyBag: friendlyName, localKeyId, CSP name,
                         local machine key set; inside the PKCS#8 key: key usage 10|80 }
      macData: HMAC over the AuthenticatedSafe

* ``modern``: PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) for the key and the certificates, and an
  HMAC-SHA256 MAC: OpenSSL 3's default, read by Windows 10 1709+ / Server 2019+.
* ``legacy``: pbeWithSHAAnd3-KeyTripleDES-CBC for the key and the certificates and an
  HMAC-SHA1 MAC: what Windows Server 2012/2016 and appliances import.

The localKeyId is the SHA-1 of the certificate, as OpenSSL and Windows write it; the MAC is
keyed with 2048 iterations of the RFC 7292 KDF (OpenSSL's and cryptography's count). The
ASN.1 is built with pyasn1 and pyasn1-modules and DER-encoded (the attribute SETs sorted as
DER wants, as OpenSSL writes them). Sans-I/O: DER in, DER out; the salts and IVs come from
``random`` (``os.urandom`` unless a test gives its own).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# pyasn1 ships no type information: its values are Any here.
from pyasn1.codec.der import decoder, encoder  # type: ignore[import-untyped]
from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]
from pyasn1.type import char, univ  # type: ignore[import-untyped]
from pyasn1_modules import rfc5652, rfc5958, rfc7292  # type: ignore[import-untyped]

from vedette.pki.pkcs12 import (
    CSP_NAME_OID,
    KEY_USAGE_BYTE,
    KEY_USAGE_OID,
    LOCAL_MACHINE_KEYSET_OID,
    KeySpec,
    Pkcs12Error,
    check_csp_name,
)
from vedette.pki.pkcs12_pbe import MAC_DIGESTS, Scheme, encrypt, mac

__all__ = ["MAC_ITERATIONS", "WindowsKey", "write_pfx"]

#: Iterations of the MAC's key derivation (OpenSSL's default, and cryptography's).
MAC_ITERATIONS = 2048
_FRIENDLY_NAME = "1.2.840.113549.1.9.20"
_LOCAL_KEY_ID = "1.2.840.113549.1.9.21"
_X509_CERT = "1.2.840.113549.1.9.22.1"
_MAX_FRIENDLY_NAME = 255  # PKCS#9 ub-friendlyName


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowsKey:
    """How Windows should import the key.

    Attributes:
        csp_name: the provider (CSP or KSP) to import the key into (``-CSP NAME``).
        keyspec: AT_KEYEXCHANGE (``exchange``, ``-keyex``) or AT_SIGNATURE (``signature``,
            ``-keysig``), written as the key's key-usage attribute.
        machine_keyset: into the machine's key set (``-LMK``).
    """

    csp_name: str | None = None
    keyspec: KeySpec | None = None
    machine_keyset: bool = False

    @property
    def empty(self) -> bool:
        return self.csp_name is None and self.keyspec is None and not self.machine_keyset


def _attribute(oid: str, *values: Any) -> Any:
    attr = rfc5652.Attribute()
    attr["attrType"] = univ.ObjectIdentifier(oid)
    attr["attrValues"].clear()  # an empty SET is the marker form (-LMK)
    for value in values:
        attr["attrValues"].append(encoder.encode(value))
    return attr


def _bmp(text: str, what: str) -> Any:
    if len(text) > _MAX_FRIENDLY_NAME:
        raise Pkcs12Error(f"the {what} is longer than {_MAX_FRIENDLY_NAME} characters")
    if any(ord(ch) > 0xFFFF for ch in text):
        raise Pkcs12Error(f"the {what} holds characters outside the BMP")
    return char.BMPString(text)


def _bag(bag_id: Any, value: bytes, attributes: Sequence[Any]) -> Any:
    bag = rfc7292.SafeBag()
    bag["bagId"] = bag_id
    bag["bagValue"] = value
    if attributes:
        for attr in attributes:
            bag["bagAttributes"].append(attr)
    return bag


def _safe_contents(bags: Sequence[Any]) -> bytes:
    contents = rfc7292.SafeContents()
    for bag in bags:
        contents.append(bag)
    return bytes(encoder.encode(contents))


def _data_info(content: bytes) -> Any:
    info = rfc5652.ContentInfo()
    info["contentType"] = rfc5652.id_data
    info["content"] = encoder.encode(univ.OctetString(content))
    return info


def _key_with_usage(private_key_info: bytes, keyspec: KeySpec | None) -> bytes:
    """The PKCS#8 key with the key-usage attribute of ``keyspec`` (OpenSSL's encoding: a BIT
    STRING without its trailing zero bits: ``03 02 04 10``, ``03 02 07 80``)."""
    if keyspec is None:
        return private_key_info
    try:
        info, rest = decoder.decode(private_key_info, asn1Spec=rfc5958.OneAsymmetricKey())
    except (PyAsn1Error, ValueError, TypeError):
        raise Pkcs12Error("the private key is not a PKCS#8 structure") from None
    if rest:
        raise Pkcs12Error("the private key is followed by stray bytes")
    bits = format(KEY_USAGE_BYTE[keyspec], "08b").rstrip("0")
    usage = _attribute(KEY_USAGE_OID, univ.BitString(f"'{bits}'B"))
    attrs = info["attributes"]
    kept = [a for a in attrs if str(a["attrType"]) != KEY_USAGE_OID] if attrs.isValue else []
    attrs.clear()
    for attr in [*kept, usage]:
        attrs.append(attr)
    return bytes(encoder.encode(info))


def write_pfx(
    *,
    private_key_info: bytes | None,
    certificate: bytes | None,
    chain: Sequence[bytes] = (),
    password: bytes,
    scheme: Scheme,
    iterations: int,
    friendly_name: str | None = None,
    windows: WindowsKey = WindowsKey(),
    random: Callable[[int], bytes] = os.urandom,
) -> bytes:
    """A PKCS#12 file (DER) holding the key ``private_key_info`` (PKCS#8 DER, unencrypted), its
    ``certificate`` and the ``chain`` (DER), every bag encrypted with ``password`` by
    ``scheme`` with ``iterations`` (the caller checks the key matches the certificate)."""
    if private_key_info is None and not windows.empty:
        raise Pkcs12Error("a CSP name, KeySpec or key set needs a private key in the file")
    if private_key_info is not None and certificate is None:
        raise Pkcs12Error("a PKCS#12 with a key needs the key's certificate")
    if windows.csp_name is not None:
        check_csp_name(windows.csp_name)
    if iterations < 1:
        raise Pkcs12Error("the iteration count must be positive")
    salt_size = 8 if scheme == "legacy" else 16
    local_key_id = (
        hashlib.sha1(certificate).digest()  # noqa: S324 - what OpenSSL and Windows write
        if private_key_info is not None and certificate is not None
        else None
    )
    shared: list[Any] = []
    if friendly_name:
        shared.append(_attribute(_FRIENDLY_NAME, _bmp(friendly_name, "friendly name")))
    if local_key_id is not None:
        shared.append(_attribute(_LOCAL_KEY_ID, univ.OctetString(local_key_id)))
    cert_bags = []
    for n, der in enumerate([certificate, *chain] if certificate is not None else chain):
        cert_bag = rfc7292.CertBag()
        cert_bag["certId"] = univ.ObjectIdentifier(_X509_CERT)
        cert_bag["certValue"] = encoder.encode(univ.OctetString(der))
        attrs = shared if n == 0 and certificate is not None else []
        cert_bags.append(_bag(rfc7292.id_certBag, encoder.encode(cert_bag), attrs))

    def seal(plaintext: bytes) -> tuple[Any, bytes]:
        salt = random(salt_size)
        return encrypt(
            plaintext, password, scheme=scheme, iterations=iterations, salt=salt, iv=random(16)
        )

    infos = []
    if cert_bags:
        alg, sealed = seal(_safe_contents(cert_bags))
        data = rfc5652.EncryptedData()
        data["version"] = 0
        eci = data["encryptedContentInfo"]
        eci["contentType"] = rfc5652.id_data
        eci["contentEncryptionAlgorithm"] = alg
        eci["encryptedContent"] = sealed
        info = rfc5652.ContentInfo()
        info["contentType"] = rfc5652.id_encryptedData
        info["content"] = encoder.encode(data)
        infos.append(info)
    if private_key_info is not None:
        alg, sealed = seal(_key_with_usage(private_key_info, windows.keyspec))
        epki = rfc7292.PKCS8ShroudedKeyBag()
        epki["encryptionAlgorithm"] = alg
        epki["encryptedData"] = sealed
        attrs = list(shared)
        if windows.csp_name is not None:
            attrs.append(_attribute(CSP_NAME_OID, _bmp(windows.csp_name, "CSP name")))
        if windows.machine_keyset:
            attrs.append(_attribute(LOCAL_MACHINE_KEYSET_OID))
        key_bag = _bag(rfc7292.id_pkcs8ShroudedKeyBag, encoder.encode(epki), attrs)
        infos.append(_data_info(_safe_contents([key_bag])))
    safe = rfc7292.AuthenticatedSafe()
    for info in infos:
        safe.append(info)
    auth_safe = bytes(encoder.encode(safe))
    digest = "sha1" if scheme == "legacy" else "sha256"
    mac_salt = random(8)
    mac_data = rfc7292.MacData()
    mac_data["mac"]["digestAlgorithm"]["algorithm"] = univ.ObjectIdentifier(MAC_DIGESTS[digest])
    mac_data["mac"]["digestAlgorithm"]["parameters"] = encoder.encode(univ.Null(""))
    mac_data["mac"]["digest"] = mac(digest, password, mac_salt, MAC_ITERATIONS, auth_safe)
    mac_data["macSalt"] = mac_salt
    mac_data["iterations"] = MAC_ITERATIONS
    pfx = rfc7292.PFX()
    pfx["version"] = 3
    pfx["authSafe"] = _data_info(auth_safe)
    pfx["macData"] = mac_data
    return bytes(encoder.encode(pfx))
