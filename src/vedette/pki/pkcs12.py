"""PKCS#12 (RFC 7292) structure reader: what a .pfx/.p12 is made of, before any password.

A PFX is layers of ASN.1, each with something an administrator needs to know::

    PFX { version 3, authSafe ContentInfo, macData { DigestInfo, salt, iterations } }
      authSafe = data { AuthenticatedSafe = SEQUENCE OF ContentInfo }
        ContentInfo = data          { SafeContents }                   plain
                    | encryptedData { algorithm, encrypted SafeContents } password-encrypted
                    | envelopedData { ... }                            public-key (rare)
          SafeContents = SEQUENCE OF SafeBag { bagId, bagValue, bagAttributes }
            keyBag              PrivateKeyInfo (a key in clear)
            pkcs8ShroudedKeyBag EncryptedPrivateKeyInfo { algorithm, encrypted key }
            certBag             { x509Certificate, the certificate's DER }
            crlBag, secretBag, safeContentsBag (nested SafeContents)
          bagAttributes: friendlyName (BMPString), localKeyId (OCTET STRING), Microsoft's
            CSP name (1.3.6.1.4.1.311.17.1) and local machine key set (1.3.6.1.4.1.311.17.2),
            and others kept by OID.

Everything this module reads is visible without the password: the MAC's digest and iteration
count, the algorithm of each encrypted container and each shrouded key (with its iteration
count and, for PBES2, the PBKDF2 PRF and the cipher), and the bags of the plain containers.
The bags inside an encrypted container are opaque until it is decrypted, which is left to
cryptography's loader (``vedette.pki.formats``); so is the MAC check.

Two families exist in the wild (``Encryption.legacy``):

* **legacy**: RFC 7292 appendix C PBEs (``pbeWithSHAAnd40BitRC2-CBC`` for certificates,
  ``pbeWithSHAAnd3-KeyTripleDES-CBC`` for the key; a SHA-1 KDF) and an HMAC-SHA1 MAC: what
  Windows up to Server 2016 and OpenSSL 1.x wrote, and ``openssl pkcs12 -export -legacy``;
* **modern**: PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, and an HMAC-SHA256 MAC: OpenSSL 3,
  Windows 10 1709+ / Server 2019+ with AES, Java 12+, vedette's own default.

Iteration counts. Each count is work the reader does before it can say "wrong password": the
MAC's for every file, a container's or a key's once the MAC passes. A hostile file with the
MAC count at 2^31-1 costs minutes of CPU. :meth:`Pfx.check_limits` refuses, before anything
is derived, a count above :data:`MAX_ITERATIONS` (2,000,000) or counts adding up to more than
:data:`MAX_TOTAL_ITERATIONS` (10,000,000): about 2 seconds of derivation on a laptop. Real
files use 1 to 200,000 (:data:`WRITERS_MAX`): OpenSSL writes 2,048 by default, Java 10,000,
Windows' exports up to about 100,000, vedette 200,000 (PBKDF2). The counts of bags inside an
encrypted container are seen only once it is decrypted (with the right password, after the
MAC check), so they are not capped here.

Windows attributes. What ``openssl pkcs12 -export -CSP NAME -keyex|-keysig -LMK`` writes and
Windows' PFX import reads: the CSP name and the local machine key set marker are attributes of
the key's bag (readable without the password); the KeySpec is a key-usage attribute
(2.5.29.15) *inside* the PKCS#8 key, so reading it needs the key bag decrypted
(:func:`key_attributes`, with ``vedette.pki.pkcs12_pbe``): ``10`` (OpenSSL's KEY_EX) for
AT_KEYEXCHANGE, ``80`` (KEY_SIG) for AT_SIGNATURE. ``vedette.pki.pkcs12_write`` writes them.

Sans-I/O: bytes in, frozen values out; any malformed input raises :class:`Pkcs12Error` with one
line. The ASN.1 is decoded with pyasn1 and the RFC modules of pyasn1-modules (RFC 7292, 5652,
8018): the library of the field, with a BER decoder (Java and older tools write BER). Files
above :data:`MAX_SIZE` (4 MiB) are refused before decoding; a nesting of SafeContents deeper
than 4 is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

# pyasn1 ships no type information: its values are Any here, and typed at this module's edge.
from pyasn1.codec.ber import decoder  # type: ignore[import-untyped]
from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]
from pyasn1.type import char, univ  # type: ignore[import-untyped]
from pyasn1_modules import rfc5652, rfc5958, rfc7292, rfc8018  # type: ignore[import-untyped]

from vedette.errors import PkiError
from vedette.x509 import ber

__all__ = [
    "CSP_NAME_OID",
    "KEYSPECS",
    "KEY_USAGE_BYTE",
    "KEY_USAGE_OID",
    "LOCAL_MACHINE_KEYSET_OID",
    "MAX_ITERATIONS",
    "MAX_SIZE",
    "MAX_TOTAL_ITERATIONS",
    "PROVIDERS",
    "WRITERS_MAX",
    "BagAttributes",
    "Container",
    "Encryption",
    "KeyAttributes",
    "KeySpec",
    "Mac",
    "Pfx",
    "Pkcs12Error",
    "Provider",
    "SafeBag",
    "check_csp_name",
    "definite_form",
    "key_attributes",
    "keyspec_of",
    "parse_keyspec",
    "parse_pfx",
]

#: Largest iteration count accepted for one derivation (the MAC, one container, one key).
MAX_ITERATIONS = 2_000_000
#: Largest sum of the iteration counts of one file.
MAX_TOTAL_ITERATIONS = 10_000_000
#: The highest count that the usual writers use (vedette's own PBKDF2 count).
WRITERS_MAX = 200_000
#: Largest PKCS#12 file read (a key with its chain is a few KiB; 4 MiB is thousands of
#: certificates, decoded in about 2 seconds).
MAX_SIZE = 4 * 1024 * 1024
#: Nesting of safeContentsBag inside safeContentsBag that is followed.
_MAX_DEPTH = 4

BagKind = Literal["key", "shrouded-key", "certificate", "crl", "secret", "safe-contents", "other"]
ContainerKind = Literal["data", "encrypted-data", "enveloped-data", "signed-data", "other"]

CSP_NAME_OID = "1.3.6.1.4.1.311.17.1"  # Microsoft: the CSP/KSP the key goes to on import
#: Microsoft's szOID_LOCAL_MACHINE_KEYSET: import the key into the machine's key set
#: (``openssl pkcs12 -export -LMK`` writes it with an empty set of values).
LOCAL_MACHINE_KEYSET_OID = "1.3.6.1.4.1.311.17.2"
#: The key-usage attribute of a PKCS#8 key (``openssl pkcs12 -keyex|-keysig``).
KEY_USAGE_OID = "2.5.29.15"

KeySpec = Literal["exchange", "signature"]
KEYSPECS: tuple[KeySpec, ...] = ("exchange", "signature")
#: The key-usage byte for each KeySpec, as OpenSSL writes it (apps/pkcs12.c: KEY_EX 0x10,
#: KEY_SIG 0x80) and ``openssl pkcs12 -info`` shows it (``X509v3 Key Usage: 10``).
KEY_USAGE_BYTE: dict[KeySpec, int] = {"exchange": 0x10, "signature": 0x80}
_KEYSPEC_WORDS: dict[str, KeySpec] = {
    "exchange": "exchange",
    "keyex": "exchange",
    "at_keyexchange": "exchange",
    "1": "exchange",  # certreq INF: KeySpec = 1 (AT_KEYEXCHANGE)
    "signature": "signature",
    "keysig": "signature",
    "at_signature": "signature",
    "2": "signature",  # KeySpec = 2 (AT_SIGNATURE)
}
#: Longest CSP name written or accepted (the PKCS#9 bound of a friendlyName; Windows'
#: provider names are far shorter).
MAX_CSP_NAME = 255


@dataclass(frozen=True, slots=True)
class Provider:
    """A Windows key provider: ``capi`` (a CryptoAPI CSP, with its provider type) or ``cng``
    (a CNG key storage provider, which has no provider type and no KeySpec)."""

    api: Literal["capi", "cng"]
    type: int | None = None


#: Microsoft's providers (names from wincrypt.h / ncrypt.h, "Microsoft Cryptographic Service
#: Providers" and "Key Storage Providers" in Microsoft's documentation; PROV_RSA_FULL 1,
#: PROV_RSA_SCHANNEL 12, PROV_RSA_AES 24).
PROVIDERS: dict[str, Provider] = {
    "Microsoft RSA SChannel Cryptographic Provider": Provider("capi", 12),
    "Microsoft Enhanced RSA and AES Cryptographic Provider": Provider("capi", 24),
    "Microsoft Enhanced Cryptographic Provider v1.0": Provider("capi", 1),
    "Microsoft Strong Cryptographic Provider": Provider("capi", 1),
    "Microsoft Base Cryptographic Provider v1.0": Provider("capi", 1),
    "Microsoft Base Smart Card Crypto Provider": Provider("capi", 1),
    "Microsoft Software Key Storage Provider": Provider("cng"),
    "Microsoft Smart Card Key Storage Provider": Provider("cng"),
    "Microsoft Platform Crypto Provider": Provider("cng"),
}

_PKCS12_PBE = {
    "1.2.840.113549.1.12.1.1": ("pbeWithSHAAnd128BitRC4", "RC4-128"),
    "1.2.840.113549.1.12.1.2": ("pbeWithSHAAnd40BitRC4", "RC4-40"),
    "1.2.840.113549.1.12.1.3": ("pbeWithSHAAnd3-KeyTripleDES-CBC", "3DES-CBC"),
    "1.2.840.113549.1.12.1.4": ("pbeWithSHAAnd2-KeyTripleDES-CBC", "2-key 3DES-CBC"),
    "1.2.840.113549.1.12.1.5": ("pbeWithSHAAnd128BitRC2-CBC", "RC2-128-CBC"),
    "1.2.840.113549.1.12.1.6": ("pbeWithSHAAnd40BitRC2-CBC", "RC2-40-CBC"),
}
_PBES1 = {  # PKCS#5 v1.5: PBKDF1 and single DES or RC2 (pre-2000 files)
    "1.2.840.113549.1.5.1": ("pbeWithMD2AndDES-CBC", "DES-CBC", "MD2"),
    "1.2.840.113549.1.5.3": ("pbeWithMD5AndDES-CBC", "DES-CBC", "MD5"),
    "1.2.840.113549.1.5.4": ("pbeWithMD2AndRC2-CBC", "RC2-64-CBC", "MD2"),
    "1.2.840.113549.1.5.6": ("pbeWithMD5AndRC2-CBC", "RC2-64-CBC", "MD5"),
    "1.2.840.113549.1.5.10": ("pbeWithSHA1AndDES-CBC", "DES-CBC", "SHA-1"),
    "1.2.840.113549.1.5.11": ("pbeWithSHA1AndRC2-CBC", "RC2-64-CBC", "SHA-1"),
}
_CIPHERS = {
    "2.16.840.1.101.3.4.1.2": "AES-128-CBC",
    "2.16.840.1.101.3.4.1.22": "AES-192-CBC",
    "2.16.840.1.101.3.4.1.42": "AES-256-CBC",
    "1.2.840.113549.3.7": "3DES-CBC",
    "1.3.14.3.2.7": "DES-CBC",
    "1.2.840.113549.3.2": "RC2-CBC",
}
_PRFS = {
    "1.2.840.113549.2.7": "hmacWithSHA1",
    "1.2.840.113549.2.8": "hmacWithSHA224",
    "1.2.840.113549.2.9": "hmacWithSHA256",
    "1.2.840.113549.2.10": "hmacWithSHA384",
    "1.2.840.113549.2.11": "hmacWithSHA512",
}
_DIGESTS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    "1.2.840.113549.2.5": "md5",
    "1.2.840.113549.2.2": "md2",
}
_PBES2 = "1.2.840.113549.1.5.13"
_PBKDF2 = "1.2.840.113549.1.5.12"
_PBMAC1 = "1.2.840.113549.1.5.14"
_X509_CERT = "1.2.840.113549.1.9.22.1"
_FRIENDLY_NAME = "1.2.840.113549.1.9.20"
_LOCAL_KEY_ID = "1.2.840.113549.1.9.21"
_BAG_KINDS: dict[str, BagKind] = {
    "1.2.840.113549.1.12.10.1.1": "key",
    "1.2.840.113549.1.12.10.1.2": "shrouded-key",
    "1.2.840.113549.1.12.10.1.3": "certificate",
    "1.2.840.113549.1.12.10.1.4": "crl",
    "1.2.840.113549.1.12.10.1.5": "secret",
    "1.2.840.113549.1.12.10.1.6": "safe-contents",
}
_CONTENT_KINDS: dict[str, ContainerKind] = {
    "1.2.840.113549.1.7.1": "data",
    "1.2.840.113549.1.7.6": "encrypted-data",
    "1.2.840.113549.1.7.3": "enveloped-data",
    "1.2.840.113549.1.7.2": "signed-data",
}


class Pkcs12Error(PkiError):
    """The bytes are not a PKCS#12 structure this reader can use, or exceed its limits."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Encryption:
    """A password-based encryption of a container or a key.

    Attributes:
        oid: the algorithm's OID (dotted).
        scheme: its name: ``pbeWithSHAAnd40BitRC2-CBC``, ``PBES2``..., the OID when unknown.
        cipher: ``AES-256-CBC``, ``3DES-CBC``, ``RC2-40-CBC``...; ``None`` when unknown.
        kdf: how the key is derived: ``PKCS#12 KDF (SHA-1)``, ``PBKDF2``, ``PBKDF1 (MD5)``.
        prf: PBKDF2's PRF (``hmacWithSHA256``...); ``None`` for other KDFs.
        iterations: the KDF's iteration count.
        salt_length: bytes of salt.
    """

    oid: str
    scheme: str
    cipher: str | None
    kdf: str
    prf: str | None
    iterations: int
    salt_length: int

    @property
    def legacy(self) -> bool:
        """Not PBES2 with PBKDF2 over SHA-2 and AES (RC2, 3DES, DES, RC4 or a SHA-1/MD5 KDF)."""
        return not (
            self.scheme == "PBES2"
            and self.kdf == "PBKDF2"
            and self.prf not in (None, "hmacWithSHA1")
            and (self.cipher or "").startswith("AES")
        )

    def describe(self) -> str:
        """``PBES2, PBKDF2-hmacWithSHA256, AES-256-CBC, 2048 iterations``-like, one line."""
        if self.scheme == "PBES2":
            kdf = f"{self.kdf}-{self.prf}" if self.prf else self.kdf
            parts = ["PBES2", kdf, self.cipher or "unknown cipher"]
        else:
            parts = [self.scheme, self.kdf]
        return f"{', '.join(parts)}, {self.iterations} iterations"


@dataclass(frozen=True, slots=True, kw_only=True)
class Mac:
    """The password integrity MAC (``macData``).

    Attributes:
        digest: ``sha1``, ``sha256``... (HMAC over it), or the OID when unknown;
            ``PBMAC1`` (RFC 9579) is shown as ``PBMAC1-hmacWithSHA256``.
        iterations: the count the MAC key is derived with (PBKDF2's for PBMAC1).
        salt_length: bytes of salt.
    """

    digest: str
    iterations: int
    salt_length: int

    @property
    def legacy(self) -> bool:
        return self.digest in ("sha1", "md5", "md2") or self.digest.endswith("SHA1")

    def describe(self) -> str:
        if self.digest.startswith("PBMAC1"):
            return f"{self.digest} (PBKDF2), {self.iterations} iterations"
        return f"HMAC-{self.digest.upper()}, {self.iterations} iterations"


@dataclass(frozen=True, slots=True, kw_only=True)
class BagAttributes:
    """A SafeBag's attributes.

    Attributes:
        friendly_name: ``friendlyName`` (the name Windows shows), ``None`` when absent.
        local_key_id: ``localKeyId``, which pairs a key bag with its certificate bag.
        csp_name: Microsoft's ``1.3.6.1.4.1.311.17.1`` (the CSP or KSP to import the key into).
        local_machine_keyset: Microsoft's ``1.3.6.1.4.1.311.17.2`` is present.
        other: the dotted OIDs of any other attribute, in file order.
    """

    friendly_name: str | None = None
    local_key_id: bytes | None = None
    csp_name: str | None = None
    local_machine_keyset: bool = False
    other: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SafeBag:
    """One SafeBag.

    Attributes:
        kind: what it holds (``other`` for an unknown bag type; see ``oid``).
        oid: the bagId.
        attributes: its bag attributes.
        encryption: a shrouded key's encryption; ``None`` for other bags.
        value: the bag's content, DER: the PrivateKeyInfo of a key bag, the
            EncryptedPrivateKeyInfo of a shrouded key, the certificate of a certificate bag
            (``b""`` when it is not an X.509 certificate), the CRL, the raw value otherwise.
        nested: the bags of a safeContentsBag.
    """

    kind: BagKind
    oid: str
    attributes: BagAttributes
    encryption: Encryption | None = None
    value: bytes = b""
    nested: tuple[SafeBag, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Container:
    """One ContentInfo of the AuthenticatedSafe.

    Attributes:
        kind: ``data`` (plain), ``encrypted-data`` (with a password), ``enveloped-data``
            (for a public key), or another ContentInfo type.
        oid: the contentType.
        encryption: the algorithm of an ``encrypted-data`` container.
        bags: the bags of a ``data`` container; ``()`` for an encrypted one (opaque until
            decrypted).
    """

    kind: ContainerKind
    oid: str
    encryption: Encryption | None = None
    bags: tuple[SafeBag, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Pfx:
    """A PKCS#12 file's structure.

    Attributes:
        version: the PFX version (3).
        integrity: ``password`` (a MAC), ``public-key`` (signedData) or ``none``.
        mac: the MAC; ``None`` when the file has none.
        containers: the AuthenticatedSafe's ContentInfos, in file order.
    """

    version: int
    integrity: Literal["password", "public-key", "none"]
    mac: Mac | None
    containers: tuple[Container, ...]

    def bags(self) -> Iterator[SafeBag]:
        """Every bag readable without the password, nested ones included, in file order."""

        def walk(bags: tuple[SafeBag, ...]) -> Iterator[SafeBag]:
            for bag in bags:
                yield bag
                yield from walk(bag.nested)

        for container in self.containers:
            yield from walk(container.bags)

    def iteration_counts(self) -> Iterator[tuple[str, int]]:
        """(what, count) for every key derivation visible before decryption."""
        if self.mac is not None:
            yield "MAC", self.mac.iterations
        for n, container in enumerate(self.containers, 1):
            if container.encryption is not None:
                yield f"container #{n} ({container.kind})", container.encryption.iterations
        for n, bag in enumerate((b for b in self.bags() if b.encryption is not None), 1):
            assert bag.encryption is not None
            yield f"shrouded key #{n}", bag.encryption.iterations

    def check_limits(
        self, *, max_iterations: int = MAX_ITERATIONS, max_total: int = MAX_TOTAL_ITERATIONS
    ) -> None:
        """Raise :class:`Pkcs12Error` when a count (or their sum) is beyond the limits."""
        total = 0
        for what, count in self.iteration_counts():
            if count > max_iterations:
                raise Pkcs12Error(
                    f"{what} iteration count {count} exceeds vedette's limit of "
                    f"{max_iterations:,} (OpenSSL, Windows, Java and vedette write at most "
                    f"{WRITERS_MAX:,}); the password was not tried"
                )
            total += count
        if total > max_total:
            raise Pkcs12Error(
                f"the iteration counts add up to {total}, beyond vedette's limit of "
                f"{max_total:,} for one file; the password was not tried"
            )


# --- decoding ------------------------------------------------------------------------------------

_DECODE_ERRORS = (PyAsn1Error, ValueError, TypeError, IndexError, KeyError, OverflowError)


def _decode(data: bytes, spec: Any, what: str) -> Any:
    der = _definite(data, what)
    try:
        value, rest = decoder.decode(der, asn1Spec=spec)
    except _DECODE_ERRORS as exc:
        raise Pkcs12Error(f"{what} does not decode ({_short(exc)})") from None
    if rest:
        raise Pkcs12Error(f"{what} is followed by {len(rest)} stray byte(s)")
    return value


#: Nesting of BER elements followed by the definite-form pre-pass (a PFX layer is about 8 deep).
_MAX_NESTING = 32


def _definite(data: bytes, what: str) -> bytes:
    """``data`` in definite form (:func:`vedette.x509.ber.definite`), a :class:`Pkcs12Error`
    when it is not one well-formed BER element."""
    try:
        return ber.definite(data, what, _MAX_NESTING)
    except ber.BerError as exc:
        raise Pkcs12Error(str(exc)) from None


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:120] or type(exc).__name__


def _int(value: Any, what: str) -> int:
    n = int(value)
    if n < 1:
        raise Pkcs12Error(f"{what}: iteration count {n} is not positive")
    return n


def _present(value: Any) -> bool:
    return value is not None and value.isValue


def _octets(any_value: Any, what: str) -> bytes:
    """The content of an OCTET STRING carried in an ANY (ContentInfo's ``content``)."""
    return bytes(_decode(bytes(any_value), univ.OctetString(), what))


def _params(alg: Any) -> bytes | None:
    params = alg["parameters"]
    return bytes(params) if _present(params) else None


def _encryption(alg: Any, what: str) -> Encryption:
    """An AlgorithmIdentifier of a password-based encryption."""
    oid = str(alg["algorithm"])
    params = _params(alg)
    if oid in _PKCS12_PBE or oid in _PBES1:
        if params is None:
            raise Pkcs12Error(f"{what}: {oid} without its salt and iteration count")
        pbe = _decode(params, rfc7292.Pkcs_12PbeParams(), f"{what}'s parameters")
        iterations = _int(pbe["iterations"], what)
        salt = len(bytes(pbe["salt"]))
        if oid in _PKCS12_PBE:
            scheme, cipher = _PKCS12_PBE[oid]
            kdf = "PKCS#12 KDF (SHA-1)"
        else:
            scheme, cipher, digest = _PBES1[oid]
            kdf = f"PBKDF1 ({digest})"
        return Encryption(
            oid=oid,
            scheme=scheme,
            cipher=cipher,
            kdf=kdf,
            prf=None,
            iterations=iterations,
            salt_length=salt,
        )
    if oid == _PBES2:
        if params is None:
            raise Pkcs12Error(f"{what}: PBES2 without parameters")
        pbes2 = _decode(params, rfc8018.PBES2_params(), f"{what}'s PBES2 parameters")
        kdf_oid, prf, iterations, salt = _pbkdf2(pbes2["keyDerivationFunc"], what)
        cipher_oid = str(pbes2["encryptionScheme"]["algorithm"])
        return Encryption(
            oid=oid,
            scheme="PBES2",
            cipher=_CIPHERS.get(cipher_oid, cipher_oid),
            kdf="PBKDF2" if kdf_oid == _PBKDF2 else kdf_oid,
            prf=prf,
            iterations=iterations,
            salt_length=salt,
        )
    raise Pkcs12Error(f"{what}: unknown encryption algorithm {oid}")


def _pbkdf2(alg: Any, what: str) -> tuple[str, str | None, int, int]:
    """(KDF OID, PRF name, iterations, salt length) of a PBKDF2 AlgorithmIdentifier."""
    kdf_oid = str(alg["algorithm"])
    params = _params(alg)
    if kdf_oid != _PBKDF2 or params is None:
        raise Pkcs12Error(f"{what}: key derivation {kdf_oid} is not PBKDF2")
    kdf = _decode(params, rfc8018.PBKDF2_params(), f"{what}'s PBKDF2 parameters")
    prf_oid = str(kdf["prf"]["algorithm"]) if _present(kdf["prf"]) else "1.2.840.113549.2.7"
    salt = kdf["salt"]
    salt_len = len(bytes(salt["specified"])) if salt.getName() == "specified" else 0
    return kdf_oid, _PRFS.get(prf_oid, prf_oid), _int(kdf["iterationCount"], what), salt_len


def _mac(mac_data: Any) -> Mac:
    alg = mac_data["mac"]["digestAlgorithm"]
    oid = str(alg["algorithm"])
    salt = len(bytes(mac_data["macSalt"]))
    if oid == _PBMAC1:  # RFC 9579: the count is PBKDF2's, macData.iterations is ignored
        params = _params(alg)
        if params is None:
            raise Pkcs12Error("MAC: PBMAC1 without parameters")
        pbmac1 = _decode(params, rfc8018.PBMAC1_params(), "the MAC's PBMAC1 parameters")
        _, _prf, iterations, salt = _pbkdf2(pbmac1["keyDerivationFunc"], "MAC")
        scheme = str(pbmac1["messageAuthScheme"]["algorithm"])
        return Mac(
            digest=f"PBMAC1-{_PRFS.get(scheme, scheme)}", iterations=iterations, salt_length=salt
        )
    return Mac(
        digest=_DIGESTS.get(oid, oid),
        iterations=_int(mac_data["iterations"], "MAC"),
        salt_length=salt,
    )


def _text(value: bytes) -> str | None:
    """A BMPString as RFC 7292 wants it, or a UTF8String as some tools write; else ``None``."""
    for spec in (char.BMPString(), char.UTF8String()):
        try:
            return str(_decode(value, spec, "a bag attribute"))
        except (Pkcs12Error, PyAsn1Error, UnicodeError):
            continue
    return None


def _attributes(attrs: Any, what: str) -> BagAttributes:
    """The attributes of a bag. One whose value is not of the expected type is kept by OID
    in ``other``: attributes are informative, the loader decides what it accepts."""
    found: dict[str, Any] = {}
    other: list[str] = []
    machine = False
    for attr in attrs:
        oid = str(attr["attrType"])
        if oid == LOCAL_MACHINE_KEYSET_OID:  # a marker: OpenSSL writes no value, others NULL
            machine = True
            continue
        values = list(attr["attrValues"])
        if not values:
            raise Pkcs12Error(f"{what}: attribute {oid} without a value")
        first = bytes(values[0])
        value: Any = None
        if oid in (_FRIENDLY_NAME, CSP_NAME_OID):
            value = _text(first)
        elif oid == _LOCAL_KEY_ID:
            try:
                value = bytes(_decode(first, univ.OctetString(), "localKeyId"))
            except Pkcs12Error:
                value = None
        if value is None:
            other.append(oid)
        else:
            found[oid] = value
    return BagAttributes(
        friendly_name=found.get(_FRIENDLY_NAME),
        local_key_id=found.get(_LOCAL_KEY_ID),
        csp_name=found.get(CSP_NAME_OID),
        local_machine_keyset=machine,
        other=tuple(other),
    )


def _bag(bag: Any, what: str, depth: int) -> SafeBag:
    oid = str(bag["bagId"])
    kind = _BAG_KINDS.get(oid, "other")
    value = bytes(bag["bagValue"])
    attrs = bag["bagAttributes"]
    attributes = _attributes(attrs, what) if _present(attrs) else BagAttributes()
    if kind == "shrouded-key":
        epki = _decode(value, rfc7292.PKCS8ShroudedKeyBag(), what)
        enc = _encryption(epki["encryptionAlgorithm"], what)
        return SafeBag(kind=kind, oid=oid, attributes=attributes, encryption=enc, value=value)
    if kind == "certificate":
        cert_bag = _decode(value, rfc7292.CertBag(), what)
        cert = b""
        if str(cert_bag["certId"]) == _X509_CERT:
            cert = _octets(cert_bag["certValue"], f"{what}'s certificate")
        return SafeBag(kind=kind, oid=oid, attributes=attributes, value=cert)
    if kind == "crl":
        crl_bag = _decode(value, rfc7292.CRLBag(), what)
        crl = _octets(crl_bag["crlValue"], f"{what}'s CRL")
        return SafeBag(kind=kind, oid=oid, attributes=attributes, value=crl)
    if kind == "safe-contents":
        if depth >= _MAX_DEPTH:
            raise Pkcs12Error(f"{what}: SafeContents nested more than {_MAX_DEPTH} deep")
        nested = _safe_contents(value, what, depth + 1)
        return SafeBag(kind=kind, oid=oid, attributes=attributes, nested=nested)
    return SafeBag(kind=kind, oid=oid, attributes=attributes, value=value)


def _safe_contents(der: bytes, what: str, depth: int = 0) -> tuple[SafeBag, ...]:
    contents = _decode(der, rfc7292.SafeContents(), what)
    return tuple(_bag(bag, f"{what}, bag #{n}", depth) for n, bag in enumerate(contents, 1))


def _container(info: Any, n: int) -> Container:
    oid = str(info["contentType"])
    kind = _CONTENT_KINDS.get(oid, "other")
    what = f"container #{n}"
    if kind == "data":
        return Container(
            kind=kind, oid=oid, bags=_safe_contents(_octets(info["content"], what), what)
        )
    if kind == "encrypted-data":
        data = _decode(bytes(info["content"]), rfc5652.EncryptedData(), what)
        alg = data["encryptedContentInfo"]["contentEncryptionAlgorithm"]
        return Container(kind=kind, oid=oid, encryption=_encryption(alg, what))
    return Container(kind=kind, oid=oid)


def definite_form(data: bytes) -> bytes:
    """``data`` (one BER element) with definite lengths and joined OCTET STRINGs, the contents
    of OCTET STRINGs unchanged (so a PFX's MAC still matches); :class:`Pkcs12Error` when it
    is not one well-formed element. DER input comes back unchanged."""
    if len(data) > MAX_SIZE:
        raise Pkcs12Error(f"larger than {MAX_SIZE // (1024 * 1024)} MiB, beyond vedette's limit")
    return _definite(data, "the PKCS#12 file")


def parse_pfx(der: bytes) -> Pfx:
    """The structure of the PKCS#12 file ``der``; :class:`Pkcs12Error` when it is not one."""
    if len(der) > MAX_SIZE:
        raise Pkcs12Error(f"larger than {MAX_SIZE // (1024 * 1024)} MiB, beyond vedette's limit")
    pfx = _decode(der, rfc7292.PFX(), "the PKCS#12 file")
    version = int(pfx["version"])
    if version != 3:
        raise Pkcs12Error(f"PKCS#12 version {version}, not 3")
    auth = pfx["authSafe"]
    auth_type = str(auth["contentType"])
    mac = _mac(pfx["macData"]) if _present(pfx["macData"]) else None
    if auth_type == str(rfc5652.id_signedData):
        # Public-key integrity: the AuthenticatedSafe is inside a SignedData; seldom seen.
        return Pfx(version=version, integrity="public-key", mac=mac, containers=())
    if auth_type != str(rfc5652.id_data):
        raise Pkcs12Error(f"the authSafe is a {auth_type}, neither data nor signedData")
    safe = _decode(
        _octets(auth["content"], "the authSafe"),
        rfc7292.AuthenticatedSafe(),
        "the AuthenticatedSafe",
    )
    containers = tuple(_container(info, n) for n, info in enumerate(safe, 1))
    return Pfx(
        version=version,
        integrity="password" if mac is not None else "none",
        mac=mac,
        containers=containers,
    )


# --- Windows key attributes -----------------------------------------------------------------------


def parse_keyspec(text: str) -> KeySpec:
    """``exchange`` or ``signature`` from what an administrator types: those words, OpenSSL's
    ``keyex``/``keysig``, ``AT_KEYEXCHANGE``/``AT_SIGNATURE`` or certreq's ``1``/``2``."""
    keyspec = _KEYSPEC_WORDS.get(text.strip().lower())
    if keyspec is None:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise Pkcs12Error(
            f"KeySpec {shown!r} is not one Windows knows: say exchange (AT_KEYEXCHANGE, 1) "
            "or signature (AT_SIGNATURE, 2)"
        )
    return keyspec


def check_csp_name(name: str) -> str:
    """``name`` when it can be a provider name in a PFX (a BMPString of 1 to 255 printable
    characters); a one-line :class:`Pkcs12Error` otherwise."""
    if not name.strip():
        raise Pkcs12Error("the CSP name is empty")
    if len(name) > MAX_CSP_NAME:
        raise Pkcs12Error(f"the CSP name is {len(name)} characters long (at most {MAX_CSP_NAME})")
    for ch in name:
        if not ch.isprintable():
            raise Pkcs12Error(f"the CSP name holds the unprintable character U+{ord(ch):04X}")
        if ord(ch) > 0xFFFF:
            raise Pkcs12Error(
                f"the CSP name holds U+{ord(ch):04X}, outside the BMPString range Windows reads"
            )
    return name


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyAttributes:
    """The attributes inside a (decrypted) PKCS#8 key.

    Attributes:
        key_usage: the key-usage attribute's bytes (``b"\\x10"`` for KeySpec exchange,
            ``b"\\x80"`` for signature), ``None`` when absent.
        other: the OIDs of the key's other attributes.
    """

    key_usage: bytes | None = None
    other: tuple[str, ...] = ()

    @property
    def keyspec(self) -> KeySpec | None:
        return keyspec_of(self.key_usage)


def keyspec_of(key_usage: bytes | None) -> KeySpec | None:
    """The KeySpec a key-usage attribute stands for (OpenSSL's two values); ``None`` for
    none or another value."""
    for keyspec, byte in KEY_USAGE_BYTE.items():
        if key_usage == bytes((byte,)):
            return keyspec
    return None


def key_attributes(bag: SafeBag, password: bytes) -> KeyAttributes:
    """The attributes of the key in ``bag`` (a shrouded key, decrypted with ``password``, or
    a plain key bag). The file's iteration counts must have been checked
    (:meth:`Pfx.check_limits`); :class:`Pkcs12Error` for a wrong password or an algorithm
    vedette does not decrypt."""
    from vedette.pki.pkcs12_pbe import PbeError, decrypt

    enc = bag.encryption
    if enc is not None and enc.kdf.startswith("PKCS#12") and enc.iterations > WRITERS_MAX:
        # The appendix B KDF runs in Python here (about 2 s a million rounds): beyond what
        # real writers use, the key is not derived a second time just for its attributes.
        raise Pkcs12Error(
            f"the key bag's iteration count {enc.iterations} is above {WRITERS_MAX:,}: "
            "its attributes were not read"
        )
    if bag.kind == "shrouded-key":
        epki = _decode(bag.value, rfc7292.PKCS8ShroudedKeyBag(), "the key bag")
        try:
            der = decrypt(epki["encryptionAlgorithm"], bytes(epki["encryptedData"]), password)
        except PbeError as exc:
            raise Pkcs12Error(f"the key bag: {exc}") from None
    elif bag.kind == "key":
        der = bag.value
    else:
        raise Pkcs12Error(f"a {bag.kind} bag holds no key")
    try:
        info = _decode(der, rfc5958.OneAsymmetricKey(), "the decrypted key")
    except Pkcs12Error:
        if bag.kind == "shrouded-key":  # the padding can pass by chance with a wrong password
            raise Pkcs12Error("the key bag: wrong password (the key does not decode)") from None
        raise
    usage: bytes | None = None
    other: list[str] = []
    if _present(info["attributes"]):
        for attr in info["attributes"]:
            oid = str(attr["attrType"])
            values = list(attr["attrValues"])
            if oid == KEY_USAGE_OID and values:
                bits = list(_decode(bytes(values[0]), univ.BitString(), "the key usage"))
                bits += [0] * (-len(bits) % 8)  # the named bits, first bit first
                usage = bytes(
                    int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8)
                )
            else:
                other.append(oid)
    return KeyAttributes(key_usage=usage, other=tuple(other))
