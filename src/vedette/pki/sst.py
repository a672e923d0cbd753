"""Microsoft's serialized certificate store (``.sst``): read every element, write a store.

What certmgr exports as "Microsoft Serialized Certificate Store (.SST)", what PowerShell's
``Export-Certificate -Type SST`` and ``CertSaveStore(CERT_STORE_SAVE_AS_STORE)`` write, and what
Exchange Online takes in ``Set-SmimeConfig -SMIMECertificateIssuingCA``. The layout is public
in two places: Microsoft's Office format specification [MS-OSHARED] 2.3.9.1
(``DocSigSerializedCertStore``) and 2.3.2.5 (its entries), and Wine's crypt32
(``dlls/crypt32/serialize.c``). All numbers are little-endian ``u32``::

    header      version 0x00000000, then "CERT" (the u32 0x54524543)
    elements    id, encoding type, length, then ``length`` bytes of data
      a group:  zero or more *property* elements, then the *context* they belong to:
                0x20 a certificate (DER), 0x21 a CRL (DER), 0x22 a CTL (PKCS#7)
    end marker  id 0, then 8 zero bytes (Wine and Windows write 12 zero bytes)

Properties come *before* their context ([MS-OSHARED] ``CertStoreCertificateGroup``, and the
per-certificate blobs of [MS-GPEF] 2.2.1.1.1 and [MS-BPAU] 4.2, whose Windows sample lists
SUBJECT_PUBLIC_KEY_MD5_HASH, SIGNATURE_HASH, SHA1_HASH, ENHKEY_USAGE, MD5_HASH and
KEY_IDENTIFIER before the certificate). The encoding type is 1 (``X509_ASN_ENCODING``) for
contexts and for the properties Windows and Wine write. Property ids are those of
``wincrypt.h`` (``CERT_*_PROP_ID``): 2 key provider info, 3 SHA-1 of the certificate, 4 MD5,
9 extended key usage, 11 friendly name (NUL-terminated UTF-16LE), 15 signature hash,
20 key identifier, 25 subject public key MD5, 29 subject name MD5, 92 public key bit length,
107 SHA-256...

Reading. Every element is kept: each context with the properties before it, properties left
after the last context (none in a sound file), and the raw value of every property, named or
not (``unknown property 0x...``). Nothing in the format points elsewhere (no offsets, except
inside a key provider info value, which is decoded within its own bytes), so a file is read
in one pass; hostile files are bounded by :data:`MAX_SIZE`, :data:`MAX_ELEMENTS`,
:data:`MAX_CONTEXTS` and :data:`MAX_PROPERTIES` (per context), and anything malformed
(wrong header, truncated element, a length past the end, a certificate or CRL that does not
parse) raises :class:`SstError` with one line naming the element and its offset. Oddities
that leave every element readable (no end marker, bytes after it, an encoding type other
than 1, a hash property that does not match its certificate) are notes, not errors.

Writing. :func:`write_sst` writes certificates (deduplicated by their DER, first occurrence
kept, order kept), then CRLs, each preceded by its SHA-1 hash property (id 3, present in the
certificates Windows stores: [MS-BPAU] 4.2) and, when given, its friendly name (id 11);
``hashes=False`` leaves the hash out, as Wine's ``CertSaveStore`` does (for one certificate
the bytes are then identical to Wine's, which the Wine test checks). A store of one
certificate is valid: certmgr's refusal to export a single certificate as ``.sst`` is the
tool's limitation, not the format's ([MS-OSHARED] 2.3.2.5.5 describes a store of exactly one).

Wine 8.0's file-store reader (``CertOpenStore(CERT_STORE_PROV_FILENAME)``) attaches each
property to the context *before* it and gives an empty store when the first element is a
property ("prop id 3 before a context id"); its per-element reader
(``CertAddSerializedElementToStore``) follows the documented order. The Wine test
(``tests/integration/test_sst_wine.py``) shows both.

Sans-I/O: bytes in, values out.
"""

from __future__ import annotations

import hashlib
import struct
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning

from vedette.errors import PkiError
from vedette.x509.chain import describe as describe_name
from vedette.x509.chain import load_der

__all__ = [
    "CERT_ELEMENT",
    "CRL_ELEMENT",
    "CTL_ELEMENT",
    "FRIENDLY_NAME",
    "HEADER",
    "MAX_CONTEXTS",
    "MAX_ELEMENTS",
    "MAX_PROPERTIES",
    "MAX_SIZE",
    "SHA1_HASH",
    "Context",
    "KeyProvInfo",
    "Property",
    "SerializedStore",
    "SstError",
    "certificates_from_sst",
    "describe_sst",
    "is_sst",
    "parse_sst",
    "property_name",
    "write_sst",
]

#: The file header: version 0, then the magic "CERT".
HEADER = b"\x00\x00\x00\x00CERT"
#: Element ids of the contexts (CERT_CERT_PROP_ID, CERT_CRL_PROP_ID, CERT_CTL_PROP_ID).
CERT_ELEMENT = 0x20
CRL_ELEMENT = 0x21
CTL_ELEMENT = 0x22
#: The property ids vedette writes.
SHA1_HASH = 3
FRIENDLY_NAME = 11
_KEY_PROV_INFO = 2
_ENHKEY_USAGE = 9
_DESCRIPTION = 13
_X509_ASN_ENCODING = 1
_ELEMENT_HEADER = struct.Struct("<III")
_END_MARKER = b"\x00" * 12

#: Largest file read. A Windows Root store export (about 400 certificates with their
#: properties) is under 1 MiB; Windows Update's roots.sst about 2 MiB.
MAX_SIZE = 32 * 1024 * 1024
#: Most elements (properties and contexts) read from one file.
MAX_ELEMENTS = 50_000
#: Most contexts (certificates, CRLs, CTLs) read from one file.
MAX_CONTEXTS = 10_000
#: Most properties before one context (Windows keeps a dozen or so).
MAX_PROPERTIES = 64
#: Most key provider parameters decoded in one KEY_PROV_INFO value.
_MAX_PROV_PARAMS = 64

# wincrypt.h's CERT_*_PROP_ID values (the names as Microsoft's documentation spells them).
_NAMES: dict[int, str] = {
    1: "CERT_KEY_PROV_HANDLE_PROP_ID",
    2: "CERT_KEY_PROV_INFO_PROP_ID",
    3: "CERT_SHA1_HASH_PROP_ID",
    4: "CERT_MD5_HASH_PROP_ID",
    5: "CERT_KEY_CONTEXT_PROP_ID",
    6: "CERT_KEY_SPEC_PROP_ID",
    7: "CERT_IE30_RESERVED_PROP_ID",
    8: "CERT_PUBKEY_HASH_RESERVED_PROP_ID",
    9: "CERT_ENHKEY_USAGE_PROP_ID",
    10: "CERT_NEXT_UPDATE_LOCATION_PROP_ID",
    11: "CERT_FRIENDLY_NAME_PROP_ID",
    12: "CERT_PVK_FILE_PROP_ID",
    13: "CERT_DESCRIPTION_PROP_ID",
    14: "CERT_ACCESS_STATE_PROP_ID",
    15: "CERT_SIGNATURE_HASH_PROP_ID",
    16: "CERT_SMART_CARD_DATA_PROP_ID",
    17: "CERT_EFS_PROP_ID",
    18: "CERT_FORTEZZA_DATA_PROP_ID",
    19: "CERT_ARCHIVED_PROP_ID",
    20: "CERT_KEY_IDENTIFIER_PROP_ID",
    21: "CERT_AUTO_ENROLL_PROP_ID",
    22: "CERT_PUBKEY_ALG_PARA_PROP_ID",
    23: "CERT_CROSS_CERT_DIST_POINTS_PROP_ID",
    24: "CERT_ISSUER_PUBLIC_KEY_MD5_HASH_PROP_ID",
    25: "CERT_SUBJECT_PUBLIC_KEY_MD5_HASH_PROP_ID",
    26: "CERT_ENROLLMENT_PROP_ID",
    27: "CERT_DATE_STAMP_PROP_ID",
    28: "CERT_ISSUER_SERIAL_NUMBER_MD5_HASH_PROP_ID",
    29: "CERT_SUBJECT_NAME_MD5_HASH_PROP_ID",
    30: "CERT_EXTENDED_ERROR_INFO_PROP_ID",
    64: "CERT_RENEWAL_PROP_ID",
    65: "CERT_ARCHIVED_KEY_HASH_PROP_ID",
    66: "CERT_AUTO_ENROLL_RETRY_PROP_ID",
    67: "CERT_AIA_URL_RETRIEVED_PROP_ID",
    68: "CERT_AUTHORITY_INFO_ACCESS_PROP_ID",
    69: "CERT_BACKED_UP_PROP_ID",
    70: "CERT_OCSP_RESPONSE_PROP_ID",
    71: "CERT_REQUEST_ORIGINATOR_PROP_ID",
    72: "CERT_SOURCE_LOCATION_PROP_ID",
    73: "CERT_SOURCE_URL_PROP_ID",
    74: "CERT_NEW_KEY_PROP_ID",
    75: "CERT_OCSP_CACHE_PREFIX_PROP_ID",
    76: "CERT_SMART_CARD_ROOT_INFO_PROP_ID",
    77: "CERT_NO_AUTO_EXPIRE_CHECK_PROP_ID",
    78: "CERT_NCRYPT_KEY_HANDLE_PROP_ID",
    79: "CERT_HCRYPTPROV_OR_NCRYPT_KEY_HANDLE_PROP_ID",
    80: "CERT_SUBJECT_INFO_ACCESS_PROP_ID",
    81: "CERT_CA_OCSP_AUTHORITY_INFO_ACCESS_PROP_ID",
    82: "CERT_CA_DISABLE_CRL_PROP_ID",
    83: "CERT_ROOT_PROGRAM_CERT_POLICIES_PROP_ID",
    84: "CERT_ROOT_PROGRAM_NAME_CONSTRAINTS_PROP_ID",
    85: "CERT_SUBJECT_OCSP_AUTHORITY_INFO_ACCESS_PROP_ID",
    86: "CERT_SUBJECT_DISABLE_CRL_PROP_ID",
    87: "CERT_CEP_PROP_ID",
    89: "CERT_SIGN_HASH_CNG_ALG_PROP_ID",
    90: "CERT_SCARD_PIN_ID_PROP_ID",
    91: "CERT_SCARD_PIN_INFO_PROP_ID",
    92: "CERT_SUBJECT_PUB_KEY_BIT_LENGTH_PROP_ID",
    93: "CERT_PUB_KEY_CNG_ALG_BIT_LENGTH_PROP_ID",
    94: "CERT_ISSUER_PUB_KEY_BIT_LENGTH_PROP_ID",
    95: "CERT_ISSUER_CHAIN_SIGN_HASH_CNG_ALG_PROP_ID",
    96: "CERT_ISSUER_CHAIN_PUB_KEY_CNG_ALG_BIT_LENGTH_PROP_ID",
    97: "CERT_NO_EXPIRE_NOTIFICATION_PROP_ID",
    98: "CERT_AUTH_ROOT_SHA256_HASH_PROP_ID",
    99: "CERT_NCRYPT_KEY_HANDLE_TRANSFER_PROP_ID",
    100: "CERT_HCRYPTPROV_TRANSFER_PROP_ID",
    101: "CERT_SMART_CARD_READER_PROP_ID",
    102: "CERT_SEND_AS_TRUSTED_ISSUER_PROP_ID",
    103: "CERT_KEY_REPAIR_ATTEMPTED_PROP_ID",
    104: "CERT_DISALLOWED_FILETIME_PROP_ID",
    105: "CERT_ROOT_PROGRAM_CHAIN_POLICIES_PROP_ID",
    106: "CERT_SMART_CARD_READER_NON_REMOVABLE_PROP_ID",
    107: "CERT_SHA256_HASH_PROP_ID",
    108: "CERT_SCEP_SERVER_CERTS_PROP_ID",
    109: "CERT_SCEP_RA_SIGNATURE_CERT_PROP_ID",
    110: "CERT_SCEP_RA_ENCRYPTION_CERT_PROP_ID",
    111: "CERT_SCEP_CA_CERT_PROP_ID",
    112: "CERT_SCEP_SIGNER_CERT_PROP_ID",
    113: "CERT_SCEP_NONCE_PROP_ID",
    114: "CERT_SCEP_ENCRYPT_HASH_CNG_ALG_PROP_ID",
    115: "CERT_SCEP_FLAGS_PROP_ID",
    116: "CERT_SCEP_GUID_PROP_ID",
    117: "CERT_SERIALIZABLE_KEY_CONTEXT_PROP_ID",
    118: "CERT_ISOLATED_KEY_PROP_ID",
    119: "CERT_SERIAL_CHAIN_PROP_ID",
    120: "CERT_KEY_CLASSIFICATION_PROP_ID",
    121: "CERT_OCSP_MUST_STAPLE_PROP_ID",
    122: "CERT_DISALLOWED_ENHKEY_USAGE_PROP_ID",
    123: "CERT_NONCOMPLIANT_ROOT_URL_PROP_ID",
    124: "CERT_PIN_SHA256_HASH_PROP_ID",
    125: "CERT_CLR_DELETE_KEY_PROP_ID",
    126: "CERT_NOT_BEFORE_FILETIME_PROP_ID",
    127: "CERT_NOT_BEFORE_ENHKEY_USAGE_PROP_ID",
}
_CONTEXT_KINDS: dict[int, Literal["certificate", "crl", "ctl"]] = {
    CERT_ELEMENT: "certificate",
    CRL_ELEMENT: "crl",
    CTL_ELEMENT: "ctl",
}
# Values that are NUL-terminated UTF-16LE strings.
_STRING_PROPS = frozenset({10, FRIENDLY_NAME, 12, _DESCRIPTION, 21, 71, 73})
_KEY_SPECS = {1: "AT_KEYEXCHANGE", 2: "AT_SIGNATURE"}


class SstError(PkiError):
    """The bytes are not a serialized certificate store this reader accepts."""


def property_name(prop_id: int) -> str:
    """``CERT_SHA1_HASH_PROP_ID`` for 3; ``unknown property 0x1234`` for an id not in wincrypt.h."""
    name = _NAMES.get(prop_id)
    if name is not None:
        return name
    if 0x8000 <= prop_id <= 0xFFFF:
        return f"user property 0x{prop_id:x}"
    return f"unknown property 0x{prop_id:x}"


def _utf16z(value: bytes) -> str:
    """A NUL-terminated UTF-16LE string (what Windows stores), decoded leniently."""
    units = len(value) // 2 * 2
    text = value[:units].decode("utf-16-le", "replace")
    return text.split("\x00", 1)[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyProvInfo:
    """A CERT_KEY_PROV_INFO_PROP_ID value: where Windows keeps the certificate's private key.

    The serialized form (Wine's ``store_CRYPT_KEY_PROV_INFO``, [MS-GPEF] 2.2.1.1.1.1) is seven
    u32 (offset of the container name, offset of the provider name, provider type, flags,
    number of provider parameters, offset of the parameters, KeySpec), offsets counted from
    the start of the value and strings in NUL-terminated UTF-16LE.
    """

    container: str | None
    provider: str | None
    provider_type: int
    flags: int
    key_spec: int
    parameters: int

    def describe(self) -> str:
        spec = _KEY_SPECS.get(self.key_spec, f"{self.key_spec} (unknown)")
        parts = [
            f"provider {self.provider!r}" if self.provider else "no provider name (CNG/KSP?)",
            f"type {self.provider_type}",
            f"KeySpec {spec}",
            f"container {self.container!r}" if self.container else "no container",
        ]
        return ", ".join(parts)


def _key_prov_info(value: bytes) -> KeyProvInfo | None:
    if len(value) < 28:
        return None
    c_off, p_off, ptype, flags, nparams, _params_off, spec = struct.unpack_from("<7I", value)
    if nparams > _MAX_PROV_PARAMS:
        return None

    def string(offset: int) -> str | None:
        if offset == 0:
            return None
        if offset >= len(value):
            return None
        return _utf16z(value[offset:])

    return KeyProvInfo(
        container=string(c_off),
        provider=string(p_off),
        provider_type=ptype,
        flags=flags,
        key_spec=spec,
        parameters=nparams,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Property:
    """One property element, kept as read.

    Attributes:
        id: the property id (``CERT_*_PROP_ID``).
        encoding: the element's encoding-type field (1 in what Windows and Wine write).
        value: the raw value.
        offset: where the element starts in the file.
    """

    id: int
    encoding: int
    value: bytes
    offset: int = 0

    @property
    def name(self) -> str:
        return property_name(self.id)

    @property
    def known(self) -> bool:
        return self.id in _NAMES

    def text(self) -> str | None:
        """The value as text for string properties (friendly name, description...)."""
        if self.id in _STRING_PROPS:
            return _utf16z(self.value)
        return None

    def describe(self) -> str:
        """``0x0b CERT_FRIENDLY_NAME_PROP_ID: 'Root CA'``-like, one line."""
        head = f"0x{self.id:02x} {self.name}"
        text = self.text()
        if text is not None:
            body = repr(text)
        elif self.id == _KEY_PROV_INFO and (info := _key_prov_info(self.value)) is not None:
            body = info.describe()
        elif self.id == _ENHKEY_USAGE and (usages := _eku(self.value)) is not None:
            body = ", ".join(usages) or "no usage (the certificate is disabled for every purpose)"
        elif self.id in (6, 92, 93, 94) and len(self.value) == 4:
            (number,) = struct.unpack("<I", self.value)
            body = _KEY_SPECS.get(number, str(number)) if self.id == 6 else str(number)
        elif len(self.value) <= 32:
            body = self.value.hex() or "(empty)"
        else:
            body = f"{self.value[:32].hex()}... ({len(self.value)} bytes)"
        if self.encoding != _X509_ASN_ENCODING:
            body += f" [encoding type {self.encoding}]"
        return f"{head}: {body}"


def _eku(value: bytes) -> list[str] | None:
    """The usages of a CERT_ENHKEY_USAGE_PROP_ID value (DER ``SEQUENCE OF OID``)."""
    try:
        return _oid_sequence(value)
    except ValueError:
        return None


def _oid_sequence(der: bytes) -> list[str]:
    """The OIDs of a DER ``SEQUENCE OF OBJECT IDENTIFIER``; ValueError when it is not one."""

    def length(at: int) -> tuple[int, int]:
        if at >= len(der):
            raise ValueError("truncated")
        first = der[at]
        if first < 0x80:
            return first, at + 1
        n = first & 0x7F
        if n == 0 or n > 3 or at + 1 + n > len(der):
            raise ValueError("bad length")
        return int.from_bytes(der[at + 1 : at + 1 + n], "big"), at + 1 + n

    if not der or der[0] != 0x30:
        raise ValueError("not a SEQUENCE")
    total, pos = length(1)
    end = pos + total
    if end != len(der):
        raise ValueError("length mismatch")
    oids: list[str] = []
    while pos < end:
        if der[pos] != 0x06:
            raise ValueError("not an OID")
        size, pos = length(pos + 1)
        body = der[pos : pos + size]
        if len(body) != size or not body:
            raise ValueError("truncated OID")
        pos += size
        arcs: list[int] = []
        value = 0
        for byte in body:
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                arcs.append(value)
                value = 0
        if body[-1] & 0x80:
            raise ValueError("truncated OID arc")
        first = min(arcs[0] // 40, 2)
        oid = [first, arcs[0] - 40 * first, *arcs[1:]]
        oids.append(_EKU_NAMES.get(".".join(map(str, oid)), ".".join(map(str, oid))))
    return oids


_EKU_NAMES = {
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    "1.3.6.1.4.1.311.10.3.4": "EFS",
    "1.3.6.1.4.1.311.20.2.2": "smartcardLogon",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """A certificate, CRL or CTL element with the properties written before it.

    Attributes:
        kind: ``certificate``, ``crl`` or ``ctl``.
        der: the element's data (a CTL is a PKCS#7 SignedData, kept as is).
        properties: in file order, unknown ids included.
        offset: where the context element starts in the file.
        certificate: the parsed certificate (``kind == "certificate"``).
        crl: the parsed CRL (``kind == "crl"``).
    """

    kind: Literal["certificate", "crl", "ctl"]
    der: bytes
    properties: tuple[Property, ...]
    offset: int
    certificate: x509.Certificate | None = None
    crl: x509.CertificateRevocationList | None = None

    def prop(self, prop_id: int) -> Property | None:
        """The first property with that id."""
        return next((p for p in self.properties if p.id == prop_id), None)

    @property
    def friendly_name(self) -> str | None:
        prop = self.prop(FRIENDLY_NAME)
        return prop.text() if prop is not None else None

    @property
    def key_prov_info(self) -> KeyProvInfo | None:
        """Where the private key is, for a certificate exported with one (a personal store)."""
        prop = self.prop(_KEY_PROV_INFO)
        return _key_prov_info(prop.value) if prop is not None else None

    @property
    def sha1(self) -> str:
        """SHA-1 of the DER in hex: the thumbprint Windows shows."""
        return hashlib.sha1(self.der).hexdigest()  # noqa: S324 - the thumbprint, not security


@dataclass(frozen=True, slots=True, kw_only=True)
class SerializedStore:
    """A ``.sst`` file as read.

    Attributes:
        contexts: certificates, CRLs and CTLs in file order, each with its properties.
        trailing_properties: properties after the last context (attached to nothing).
        notes: what was odd but readable, one sentence each.
        end_marker: the file ends with the end marker.
    """

    contexts: tuple[Context, ...]
    trailing_properties: tuple[Property, ...] = ()
    notes: tuple[str, ...] = ()
    end_marker: bool = True

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        return tuple(c.certificate for c in self.contexts if c.certificate is not None)

    @property
    def crls(self) -> tuple[x509.CertificateRevocationList, ...]:
        return tuple(c.crl for c in self.contexts if c.crl is not None)

    @property
    def ctls(self) -> tuple[Context, ...]:
        return tuple(c for c in self.contexts if c.kind == "ctl")


def is_sst(data: bytes) -> bool:
    """Whether ``data`` starts with the serialized store header (version 0, "CERT")."""
    return data[: len(HEADER)] == HEADER


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:120] or type(exc).__name__


def _context(
    kind: Literal["certificate", "crl", "ctl"],
    data: bytes,
    props: list[Property],
    offset: int,
    where: str,
) -> Context:
    if kind == "certificate":
        try:
            # load_der: no warning for what cryptography tolerates (a negative serial...).
            cert = load_der(data)
            # cryptography decodes these lazily: a bad name or date would raise later.
            _ = (cert.subject, cert.issuer, cert.not_valid_before_utc, cert.not_valid_after_utc)
        except (ValueError, x509.InvalidVersion) as exc:
            raise SstError(f"{where}: the certificate does not parse ({_short(exc)})") from None
        return Context(
            kind=kind, der=data, properties=tuple(props), offset=offset, certificate=cert
        )
    if kind == "crl":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                crl = x509.load_der_x509_crl(data)
                _ = (crl.issuer, crl.last_update_utc, crl.next_update_utc)
        except (ValueError, x509.InvalidVersion) as exc:
            raise SstError(f"{where}: the CRL does not parse ({_short(exc)})") from None
        return Context(kind=kind, der=data, properties=tuple(props), offset=offset, crl=crl)
    return Context(kind=kind, der=data, properties=tuple(props), offset=offset)


def _check_hashes(context: Context, n: int, notes: list[str]) -> None:
    """Note a hash property that disagrees with the data (Windows recomputes them on import)."""
    for prop_id, algorithm in ((SHA1_HASH, "sha1"), (4, "md5")):
        prop = context.prop(prop_id)
        if prop is not None and prop.value != hashlib.new(algorithm, context.der).digest():
            notes.append(
                f"{context.kind} #{n}: its {property_name(prop_id)} ({prop.value.hex()}) is "
                f"not the {algorithm.upper()} of its data"
            )


def parse_sst(data: bytes) -> SerializedStore:
    """Every element of a serialized store; :class:`SstError` (one line) when malformed."""
    if len(data) > MAX_SIZE:
        raise SstError(f"serialized store of {len(data)} bytes refused (limit {MAX_SIZE})")
    if len(data) < len(HEADER):
        raise SstError(f"truncated serialized store: {len(data)} bytes, the header needs 8")
    if not is_sst(data):
        raise SstError(
            "not a serialized certificate store: it does not start with version 0 and 'CERT'"
        )
    contexts: list[Context] = []
    pending: list[Property] = []
    notes: list[str] = []
    pos = len(HEADER)
    elements = 0
    end_marker = False
    odd_encodings = 0
    counts = {"certificate": 0, "crl": 0, "ctl": 0}
    while pos < len(data):
        left = len(data) - pos
        if left < _ELEMENT_HEADER.size:
            raise SstError(
                f"truncated serialized store: element #{elements + 1} at offset {pos} "
                f"needs 12 header bytes, {left} left"
            )
        prop_id, encoding, length = _ELEMENT_HEADER.unpack_from(data, pos)
        if prop_id == 0:
            end_marker = True
            rest = len(data) - pos - _ELEMENT_HEADER.size
            if encoding or length:
                notes.append(
                    f"the end marker at offset {pos} has non-zero fields "
                    f"({encoding}, {length}); read as the end"
                )
            if rest:
                notes.append(f"{rest} bytes after the end marker ignored")
            break
        elements += 1
        if elements > MAX_ELEMENTS:
            raise SstError(f"serialized store refused: more than {MAX_ELEMENTS} elements")
        start = pos + _ELEMENT_HEADER.size
        kind = _CONTEXT_KINDS.get(prop_id)
        label = kind or property_name(prop_id)
        if length > len(data) - start:
            raise SstError(
                f"truncated serialized store: element #{elements} ({label}) at offset {pos} "
                f"declares {length} bytes, {len(data) - start} left"
            )
        value = data[start : start + length]
        if encoding != _X509_ASN_ENCODING:
            odd_encodings += 1
        if kind is None:
            if len(pending) >= MAX_PROPERTIES:
                raise SstError(
                    f"serialized store refused: more than {MAX_PROPERTIES} properties before "
                    f"one certificate (element #{elements} at offset {pos})"
                )
            pending.append(Property(id=prop_id, encoding=encoding, value=value, offset=pos))
        else:
            if len(contexts) >= MAX_CONTEXTS:
                raise SstError(
                    f"serialized store refused: more than {MAX_CONTEXTS} certificates, "
                    "CRLs and CTLs"
                )
            counts[kind] += 1
            where = f"element #{elements} ({kind} #{counts[kind]}) at offset {pos}"
            context = _context(kind, value, pending, pos, where)
            _check_hashes(context, counts[kind], notes)
            contexts.append(context)
            pending = []
        pos = start + length
    if not end_marker:
        notes.append("no end marker (the file stops after the last element)")
    if pending:
        notes.append(
            f"{len(pending)} propert{'y' if len(pending) == 1 else 'ies'} after the last "
            "certificate, attached to nothing"
        )
    if odd_encodings:
        notes.append(
            f"{odd_encodings} element(s) with an encoding type other than 1 (X509_ASN_ENCODING)"
        )
    unknown = sorted({p.id for c in contexts for p in c.properties if not p.known})
    if unknown:
        notes.append("properties not in wincrypt.h kept: " + ", ".join(f"0x{i:x}" for i in unknown))
    return SerializedStore(
        contexts=tuple(contexts),
        trailing_properties=tuple(pending),
        notes=tuple(notes),
        end_marker=end_marker,
    )


def certificates_from_sst(data: bytes) -> tuple[x509.Certificate, ...]:
    """The certificates of a serialized store, in file order (for loaders)."""
    return parse_sst(data).certificates


def _element(prop_id: int, value: bytes) -> bytes:
    return _ELEMENT_HEADER.pack(prop_id, _X509_ASN_ENCODING, len(value)) + value


def write_sst(
    certificates: Iterable[x509.Certificate],
    *,
    friendly_names: Mapping[x509.Certificate, str] | None = None,
    crls: Iterable[x509.CertificateRevocationList] = (),
    hashes: bool = True,
) -> bytes:
    """A serialized store of ``certificates`` (then ``crls``), duplicates dropped, order kept.

    Each certificate gets its SHA-1 hash property unless ``hashes`` is false, and its friendly
    name (NUL-terminated UTF-16LE, as Windows stores it) when ``friendly_names`` has one. At
    least one certificate is needed: an empty store is valid but useless to every consumer.
    """
    names = friendly_names or {}
    items = [(CERT_ELEMENT, c.public_bytes(Encoding.DER), names.get(c)) for c in certificates]
    if not items:
        raise SstError("no certificate to write into the serialized store")
    items.extend((CRL_ELEMENT, crl.public_bytes(Encoding.DER), None) for crl in crls)
    seen: set[tuple[int, bytes]] = set()
    out = [HEADER]
    for element_id, der, name in items:
        if (element_id, der) in seen:
            continue
        seen.add((element_id, der))
        if hashes:
            out.append(_element(SHA1_HASH, hashlib.sha1(der).digest()))  # noqa: S324
        if name:
            if "\x00" in name:
                raise SstError("a friendly name cannot contain NUL")
            out.append(_element(FRIENDLY_NAME, (name + "\x00").encode("utf-16-le")))
        out.append(_element(element_id, der))
    out.append(_END_MARKER)
    return b"".join(out)


def describe_sst(data: bytes | SerializedStore) -> list[str]:
    """Text lines for ``vedette cert inspect FILE.sst``: every element and property."""
    store = data if isinstance(data, SerializedStore) else parse_sst(data)
    kinds = [c.kind for c in store.contexts]
    lines = [
        "Microsoft serialized certificate store (.sst): "
        f"{kinds.count('certificate')} certificate(s), {kinds.count('crl')} CRL(s), "
        f"{kinds.count('ctl')} CTL(s)"
    ]
    counts = {"certificate": 0, "crl": 0, "ctl": 0}
    for context in store.contexts:
        counts[context.kind] += 1
        n = counts[context.kind]
        if context.certificate is not None:
            cert = context.certificate
            lines.append(f"certificate #{n}: {describe_name(cert.subject) or '(empty subject)'}")
            lines.append(f"  issuer: {describe_name(cert.issuer) or '(empty)'}")
            lines.append(
                f"  valid: {cert.not_valid_before_utc:%Y-%m-%d} to "
                f"{cert.not_valid_after_utc:%Y-%m-%d}"
            )
        elif context.crl is not None:
            lines.append(f"CRL #{n}: issuer {describe_name(context.crl.issuer) or '(empty)'}")
        else:
            lines.append(f"CTL #{n}: certificate trust list, {len(context.der)} bytes (not read)")
        lines.append(f"  SHA-1: {context.sha1}")
        if not context.properties:
            lines.append("  properties: none")
        for prop in context.properties:
            lines.append(f"  {prop.describe()}")
    for prop in store.trailing_properties:
        lines.append(f"after the last certificate: {prop.describe()}")
    lines.extend(f"note: {note}" for note in store.notes)
    # Names and property strings come from the file: no control character reaches a terminal.
    return [
        "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in line) for line in lines
    ]
