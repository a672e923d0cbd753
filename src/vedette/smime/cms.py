"""CMS SignedData (RFC 5652 section 5) as S/MIME uses it (RFC 8551): build and read.

Building (:func:`sign`). One signer, identified by issuer and serial number (version 1, what
every client reads, gpgsm included), the digest chosen (SHA-256 by default), and the signed
attributes RFC 8551 2.5 asks for: contentType (id-data), signingTime, messageDigest and
SMIMECapabilities (AES-256/192/128-CBC, the content ciphers the signer's client is assumed to
read). The signature is over the DER of the signed attributes (SET OF, sorted): RSA PKCS#1
v1.5 by default, RSASSA-PSS on request (RFC 4056: MGF1 with the same hash, salt its length),
ECDSA, or Ed25519 (RFC 8419, over the attributes themselves, digest SHA-512). The signer's
certificate and the chain given go in ``certificates``. The DER is assembled here from
encoded pieces, so that certificates are carried byte for byte as issued.

Reading (:func:`parse_signed_data`). The ContentInfo is decoded with pyasn1 against RFC 5652
after the bounded pre-pass of :mod:`vedette.smime.asn1`; the bytes a signature covers (the
signed attributes, with their SET OF tag restored) and the certificates are taken from the
decoded blob exactly as they are, not re-encoded. Bounds: :data:`MAX_SIGNERS` signer infos,
:data:`MAX_CERTIFICATES` certificates, :data:`MAX_ATTRIBUTES` attributes per signer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]
from pyasn1.type import univ  # type: ignore[import-untyped]
from pyasn1_modules import rfc4055, rfc5280, rfc5652  # type: ignore[import-untyped]

from vedette.smime.asn1 import SmimeError, children, decode, decode_definite, definite, encode

__all__ = [
    "DIGESTS",
    "MAX_ATTRIBUTES",
    "MAX_CERTIFICATES",
    "MAX_SIGNERS",
    "SIGNING_DIGESTS",
    "SignedData",
    "SignerInfo",
    "cert_issuer_der",
    "digest_bytes",
    "micalg",
    "parse_signed_data",
    "sign",
]

MAX_SIGNERS = 16
MAX_CERTIFICATES = 64
MAX_ATTRIBUTES = 64

ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
ID_AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"
ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
ATTR_SIGNING_TIME = "1.2.840.113549.1.9.5"
ATTR_SMIME_CAPABILITIES = "1.2.840.113549.1.9.15"

#: Digest OID -> (name, RFC 8551 micalg, cryptography hash class).
DIGESTS: dict[str, tuple[str, str, type[hashes.HashAlgorithm]]] = {
    "1.2.840.113549.2.5": ("md5", "md5", hashes.MD5),
    "1.3.14.3.2.26": ("sha1", "sha-1", hashes.SHA1),
    "2.16.840.1.101.3.4.2.4": ("sha224", "sha-224", hashes.SHA224),
    "2.16.840.1.101.3.4.2.1": ("sha256", "sha-256", hashes.SHA256),
    "2.16.840.1.101.3.4.2.2": ("sha384", "sha-384", hashes.SHA384),
    "2.16.840.1.101.3.4.2.3": ("sha512", "sha-512", hashes.SHA512),
}
_DIGEST_OID = {name: oid for oid, (name, _, _) in DIGESTS.items()}
#: Digests vedette signs with.
SIGNING_DIGESTS = ("sha256", "sha384", "sha512")

RSA = "1.2.840.113549.1.1.1"
RSA_PSS = "1.2.840.113549.1.1.10"
_RSA_WITH = {  # sha256WithRSAEncryption & co.: some writers put these in signatureAlgorithm
    "1.2.840.113549.1.1.4": "md5",
    "1.2.840.113549.1.1.5": "sha1",
    "1.2.840.113549.1.1.14": "sha224",
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
}
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_ECDSA_WITH = {
    "1.2.840.10045.4.1": "sha1",
    "1.2.840.10045.4.3.1": "sha224",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}
ED25519 = "1.3.101.112"
_MGF1 = "1.2.840.113549.1.1.8"

#: SMIMECapabilities announced by :func:`sign`, preferred first (RFC 8551 2.7.1).
CAPABILITIES = (
    ("2.16.840.1.101.3.4.1.42", "aes256-cbc"),
    ("2.16.840.1.101.3.4.1.22", "aes192-cbc"),
    ("2.16.840.1.101.3.4.1.2", "aes128-cbc"),
)
CAPABILITY_NAMES = {
    **dict(CAPABILITIES),
    "2.16.840.1.101.3.4.1.46": "aes256-gcm",
    "2.16.840.1.101.3.4.1.6": "aes128-gcm",
    "1.2.840.113549.3.7": "des-ede3-cbc",
    "1.2.840.113549.3.2": "rc2-cbc",
    "1.3.14.3.2.7": "des-cbc",
    RSA_PSS: "rsassa-pss",
    "1.2.840.113549.1.1.7": "rsaes-oaep",
    RSA: "rsa",
}

SignerKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


# --- DER pieces ----------------------------------------------------------------------------------


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return bytes((tag,)) + _length(len(body)) + body


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, *parts)


def _set(*parts: bytes) -> bytes:
    return _tlv(0x31, *sorted(parts))  # DER: SET OF in the order of the encodings


def _oid(dotted: str) -> bytes:
    return encode(univ.ObjectIdentifier(dotted))


def _int(n: int) -> bytes:
    return encode(univ.Integer(n))


def _octets(data: bytes) -> bytes:
    return _tlv(0x04, data)


def _alg(oid: str, params: bytes | None = None) -> bytes:
    return _seq(_oid(oid), params if params is not None else b"")


def _time(when: datetime) -> bytes:
    when = when.astimezone(UTC)
    if 1950 <= when.year < 2050:  # RFC 5652 11.3: UTCTime in these years
        return _tlv(0x17, when.strftime("%y%m%d%H%M%SZ").encode())
    return _tlv(0x18, when.strftime("%Y%m%d%H%M%SZ").encode())


def _attribute(oid: str, value: bytes) -> bytes:
    return _seq(_oid(oid), _set(value))


def cert_issuer_der(cert: x509.Certificate) -> bytes:
    """The issuer Name of ``cert`` exactly as encoded in it (the TBSCertificate's field), for
    issuerAndSerialNumber: what other implementations copy, even when the CA did not write
    strict DER (cryptography's ``Name.public_bytes`` re-encodes)."""
    try:
        fields = children(definite(cert.tbs_certificate_bytes, "the certificate"))
        return fields[3] if fields[0][0] == 0xA0 else fields[2]
    except (SmimeError, IndexError):
        return cert.issuer.public_bytes()


def micalg(digest: str) -> str:
    """The ``micalg`` parameter for ``digest`` (``sha256`` -> ``sha-256``)."""
    return DIGESTS[_DIGEST_OID[digest]][1]


def digest_bytes(digest: str, data: bytes) -> bytes:
    h = hashes.Hash(DIGESTS[_DIGEST_OID[digest]][2]())
    h.update(data)
    return h.finalize()


def _pss_params(digest: str) -> bytes:
    hash_alg = _alg(_DIGEST_OID[digest])
    size = DIGESTS[_DIGEST_OID[digest]][2]().digest_size
    return _seq(
        _tlv(0xA0, hash_alg),
        _tlv(0xA1, _alg(_MGF1, hash_alg)),
        _tlv(0xA2, _int(size)),
    )


def sign(
    content: bytes,
    *,
    cert: x509.Certificate,
    key: SignerKey,
    chain: tuple[x509.Certificate, ...] = (),
    digest: str = "sha256",
    pss: bool = False,
    signing_time: datetime,
    detached: bool = True,
) -> bytes:
    """The DER ContentInfo of a SignedData over ``content`` (the canonical MIME entity)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    if isinstance(key, ed25519.Ed25519PrivateKey):
        digest = "sha512"  # RFC 8419 3.1: SHA-512 with Ed25519
    if digest not in SIGNING_DIGESTS:
        raise SmimeError(
            f"digest {digest} is not one vedette signs with ({', '.join(SIGNING_DIGESTS)})"
        )
    if pss and not isinstance(key, rsa.RSAPrivateKey):
        raise SmimeError("RSASSA-PSS needs an RSA key")
    if key.public_key().public_bytes(Encoding.DER, _spki()) != cert.public_key().public_bytes(
        Encoding.DER, _spki()
    ):
        raise SmimeError("the key does not match the certificate")
    digest_alg = _alg(_DIGEST_OID[digest])
    caps = _seq(*(_seq(_oid(oid)) for oid, _ in CAPABILITIES))
    attrs = [
        _attribute(ATTR_CONTENT_TYPE, _oid(ID_DATA)),
        _attribute(ATTR_SIGNING_TIME, _time(signing_time)),
        _attribute(ATTR_MESSAGE_DIGEST, _octets(digest_bytes(digest, content))),
        _attribute(ATTR_SMIME_CAPABILITIES, caps),
    ]
    signed_attrs = _set(*attrs)  # what is signed: the SET OF with its universal tag
    hash_alg = DIGESTS[_DIGEST_OID[digest]][2]()
    if isinstance(key, rsa.RSAPrivateKey):
        if pss:
            signature = key.sign(
                signed_attrs,
                padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size),
                hash_alg,
            )
            sig_alg = _alg(RSA_PSS, _pss_params(digest))
        else:
            signature = key.sign(signed_attrs, padding.PKCS1v15(), hash_alg)
            sig_alg = _alg(RSA, b"\x05\x00")
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(signed_attrs, ec.ECDSA(hash_alg))
        sig_alg = _alg({v: k for k, v in _ECDSA_WITH.items()}[digest])
    else:
        signature = key.sign(signed_attrs)
        sig_alg = _alg(ED25519)
    issuer_serial = _seq(cert_issuer_der(cert), _int(cert.serial_number))
    signer_info = _seq(
        _int(1),
        issuer_serial,
        digest_alg,
        b"\xa0" + signed_attrs[1:],  # [0] IMPLICIT SET OF Attribute
        sig_alg,
        _octets(signature),
    )
    ders = [cert.public_bytes(Encoding.DER)]
    ders += [
        c.public_bytes(Encoding.DER) for c in chain if c.public_bytes(Encoding.DER) not in ders
    ]
    encap = _seq(_oid(ID_DATA)) if detached else _seq(_oid(ID_DATA), _tlv(0xA0, _octets(content)))
    signed_data = _seq(
        _int(1),
        _set(digest_alg),
        encap,
        _tlv(0xA0, *sorted(ders)),
        _set(signer_info),
    )
    return _seq(_oid(ID_SIGNED_DATA), _tlv(0xA0, signed_data))


def _spki() -> Any:
    from cryptography.hazmat.primitives.serialization import PublicFormat

    return PublicFormat.SubjectPublicKeyInfo


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SignerInfo:
    """One SignerInfo.

    Attributes:
        index: 1 for the first signer.
        issuer_der, serial: the issuerAndSerialNumber that names the signer's certificate;
            ``None`` when the signer is named by ``subject_key_id``.
        subject_key_id: the subjectKeyIdentifier form of the signer identifier.
        digest_oid, digest: the digest algorithm (``sha256``...; ``None`` when unknown).
        signature_oid: the signature algorithm's OID; ``signature_params`` its parameters.
        signature: the signature value.
        signed_attrs: what the signature covers when there are signed attributes: their
            encoding as carried, with the SET OF tag; ``signed_attrs_der`` the same
            re-encoded in DER (for a writer that did not sort the SET).
        content_type, message_digest, signing_time, capabilities: the signed attributes of
            those types (``None`` / ``()`` when absent).
    """

    index: int
    issuer_der: bytes | None
    serial: int | None
    subject_key_id: bytes | None
    digest_oid: str
    digest: str | None
    signature_oid: str
    signature_params: bytes | None
    signature: bytes
    signed_attrs: bytes | None
    signed_attrs_der: bytes | None
    content_type: str | None
    message_digest: bytes | None
    signing_time: datetime | None
    capabilities: tuple[str, ...]

    @property
    def signature_name(self) -> str:
        """``RSA PKCS#1 v1.5``, ``RSASSA-PSS``, ``ECDSA``, ``Ed25519`` or the OID."""
        if self.signature_oid == RSA or self.signature_oid in _RSA_WITH:
            return "RSA PKCS#1 v1.5"
        if self.signature_oid == RSA_PSS:
            return "RSASSA-PSS"
        if self.signature_oid == EC_PUBLIC_KEY or self.signature_oid in _ECDSA_WITH:
            return "ECDSA"
        if self.signature_oid == ED25519:
            return "Ed25519"
        return self.signature_oid


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedData:
    """A SignedData.

    Attributes:
        content_type: eContentType (id-data for S/MIME).
        content: the encapsulated content; ``None`` when detached.
        certificates: the X.509 certificates carried, DER as carried (other kinds skipped).
        signers: the signer infos.
    """

    content_type: str
    content: bytes | None
    certificates: tuple[bytes, ...]
    signers: tuple[SignerInfo, ...]


def _present(value: Any) -> bool:
    return value is not None and value.isValue


def _attr_values(attr: Any, oid: str, what: str) -> list[bytes]:
    values = [bytes(v) for v in attr["attrValues"]]
    if len(values) != 1:
        raise SmimeError(f"{what}: attribute {oid} has {len(values)} values, not one")
    return values


def _signer(n: int, raw: bytes, info: Any) -> SignerInfo:
    what = f"signer #{n}"
    parts = children(raw)
    sid = info["sid"]
    issuer_der = serial = ski = None
    if sid.getName() == "issuerAndSerialNumber":
        ias = children(parts[1])
        issuer_der, serial = ias[0], int(sid["issuerAndSerialNumber"]["serialNumber"])
    else:
        ski = bytes(sid["subjectKeyIdentifier"])
    digest_oid = str(info["digestAlgorithm"]["algorithm"])
    sig_alg = info["signatureAlgorithm"]
    params = bytes(sig_alg["parameters"]) if _present(sig_alg["parameters"]) else None
    signed = signed_der = None
    content_type = message_digest = signing_time = None
    caps: tuple[str, ...] = ()
    attrs = info["signedAttrs"]
    if _present(attrs):
        raw_attrs = next(p for p in parts if p[0] == 0xA0)
        signed = b"\x31" + raw_attrs[1:]
        signed_der = b"\x31" + encode(attrs)[1:]
        if len(attrs) > MAX_ATTRIBUTES:
            raise SmimeError(f"{what}: more than {MAX_ATTRIBUTES} signed attributes")
        seen: set[str] = set()
        for attr in attrs:
            oid = str(attr["attrType"])
            if oid in seen and oid in (ATTR_CONTENT_TYPE, ATTR_MESSAGE_DIGEST, ATTR_SIGNING_TIME):
                raise SmimeError(f"{what}: signed attribute {oid} appears twice (RFC 5652 11)")
            seen.add(oid)
            if oid == ATTR_CONTENT_TYPE:
                (v,) = _attr_values(attr, oid, what)
                content_type = str(decode(v, univ.ObjectIdentifier(), f"{what}'s contentType"))
            elif oid == ATTR_MESSAGE_DIGEST:
                (v,) = _attr_values(attr, oid, what)
                message_digest = bytes(decode(v, univ.OctetString(), f"{what}'s messageDigest"))
            elif oid == ATTR_SIGNING_TIME:
                (v,) = _attr_values(attr, oid, what)
                t = decode(v, rfc5652.SigningTime(), f"{what}'s signingTime")
                try:
                    signing_time = t.getComponent().asDateTime.astimezone(UTC)
                except (ValueError, TypeError, OverflowError, PyAsn1Error):
                    raise SmimeError(f"{what}: the signingTime is not a valid time") from None
            elif oid == ATTR_SMIME_CAPABILITIES:
                values = [bytes(v) for v in attr["attrValues"]]
                if values:
                    caps = _capabilities(values[0], what)
    digest_name = DIGESTS[digest_oid][0] if digest_oid in DIGESTS else None
    return SignerInfo(
        index=n,
        issuer_der=issuer_der,
        serial=serial,
        subject_key_id=ski,
        digest_oid=digest_oid,
        digest=digest_name,
        signature_oid=str(sig_alg["algorithm"]),
        signature_params=params,
        signature=bytes(info["signature"]),
        signed_attrs=signed,
        signed_attrs_der=signed_der,
        content_type=content_type,
        message_digest=message_digest,
        signing_time=signing_time,
        capabilities=caps,
    )


def _capabilities(value: bytes, what: str) -> tuple[str, ...]:
    from pyasn1_modules import rfc5751

    try:
        caps = decode(value, rfc5751.SMIMECapabilities(), f"{what}'s SMIMECapabilities")
    except SmimeError:
        return ("unreadable",)  # informative only: never fails a signature
    names = [CAPABILITY_NAMES.get(str(c["capabilityID"]), str(c["capabilityID"])) for c in caps]
    return tuple(names[:32])


def parse_signed_data(data: bytes) -> SignedData:
    """The SignedData in the ContentInfo ``data`` (DER or BER); :class:`SmimeError` else."""
    der = definite(data, "the CMS structure")
    info = decode_definite(der, rfc5652.ContentInfo(), "the CMS ContentInfo")
    content_type = str(info["contentType"])
    if content_type != ID_SIGNED_DATA:
        kind = {
            ID_ENVELOPED_DATA: "EnvelopedData (an encrypted message: decrypt it first)",
            ID_AUTH_ENVELOPED_DATA: "AuthEnvelopedData (an encrypted message: decrypt it first)",
            ID_DATA: "plain data, not signed",
        }.get(content_type, content_type)
        raise SmimeError(f"the CMS structure is {kind}, not SignedData")
    try:
        return _signed_data(bytes(info["content"]))
    except (PyAsn1Error, ValueError, TypeError, IndexError, KeyError, OverflowError) as exc:
        # decoded against the specification, yet a value does not convert (a time, an OID)
        text = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise SmimeError(f"the SignedData has a malformed value ({text})") from None


def _signed_data(sd_der: bytes) -> SignedData:
    # counted on the DER first, so that a list built to be long is not decoded at all
    top = children(sd_der)
    if top and top[-1][0] == 0x31 and len(children(top[-1])) > MAX_SIGNERS:
        raise SmimeError(
            f"{len(children(top[-1]))} signers, more than vedette's limit of {MAX_SIGNERS}"
        )
    raw_certs = next((p for p in top[3:] if p[0] == 0xA0), None)
    if raw_certs is not None and len(children(raw_certs)) > MAX_CERTIFICATES:
        raise SmimeError(f"more than {MAX_CERTIFICATES} certificates in the SignedData")
    sd = decode_definite(sd_der, rfc5652.SignedData(), "the SignedData")
    version = int(sd["version"])
    if not 1 <= version <= 5:
        raise SmimeError(f"SignedData version {version} (RFC 5652 knows 1, 3, 4, 5)")
    encap = sd["encapContentInfo"]
    econtent = bytes(encap["eContent"]) if _present(encap["eContent"]) else None
    certs = [c for c in children(raw_certs) if c[0] == 0x30] if raw_certs is not None else []
    raw_signers = children(top[-1])
    signers = tuple(
        _signer(n, raw, info_)
        for n, (raw, info_) in enumerate(zip(raw_signers, sd["signerInfos"], strict=True), 1)
    )
    return SignedData(
        content_type=str(encap["eContentType"]),
        content=econtent,
        certificates=tuple(certs),
        signers=signers,
    )


# --- signature check -----------------------------------------------------------------------------

Outcome = Literal["valid", "invalid", "unsupported", "key-mismatch"]


def _pss(params: bytes | None, what: str) -> padding.PSS | str:
    if params is None:
        return "RSASSA-PSS without parameters"
    p = decode(params, rfc4055.RSASSA_PSS_params(), f"{what}'s RSASSA-PSS parameters")
    hash_oid = (
        str(p["hashAlgorithm"]["algorithm"]) if _present(p["hashAlgorithm"]) else "1.3.14.3.2.26"
    )
    mgf_hash = "1.3.14.3.2.26"
    if _present(p["maskGenAlgorithm"]):
        mgf = p["maskGenAlgorithm"]
        if str(mgf["algorithm"]) != _MGF1:
            return f"RSASSA-PSS mask generation {mgf['algorithm']}"
        if _present(mgf["parameters"]):
            inner = decode(
                bytes(mgf["parameters"]), rfc5280.AlgorithmIdentifier(), f"{what}'s MGF1 hash"
            )
            mgf_hash = str(inner["algorithm"])
    if hash_oid not in DIGESTS or mgf_hash not in DIGESTS:
        return "RSASSA-PSS with an unknown hash"
    salt = int(p["saltLength"]) if _present(p["saltLength"]) else 20
    return padding.PSS(mgf=padding.MGF1(DIGESTS[mgf_hash][2]()), salt_length=salt)


def check_signature(signer: SignerInfo, public_key: object, data: bytes) -> tuple[Outcome, str]:
    """Verify ``signer``'s signature over ``data`` with ``public_key``: (outcome, why)."""
    from cryptography.exceptions import InvalidSignature

    if signer.digest is None:
        return "unsupported", f"digest algorithm {signer.digest_oid}"
    hash_alg = DIGESTS[signer.digest_oid][2]()
    oid = signer.signature_oid
    try:
        if oid in (RSA, RSA_PSS) or oid in _RSA_WITH:
            if not isinstance(public_key, rsa.RSAPublicKey):
                return "key-mismatch", "an RSA signature, the certificate key is not RSA"
            if oid == RSA_PSS:
                pss = _pss(signer.signature_params, f"signer #{signer.index}")
                if isinstance(pss, str):
                    return "unsupported", pss
                public_key.verify(signer.signature, data, pss, hash_alg)
            else:
                public_key.verify(signer.signature, data, padding.PKCS1v15(), hash_alg)
        elif oid == EC_PUBLIC_KEY or oid in _ECDSA_WITH:
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                return "key-mismatch", "an ECDSA signature, the certificate key is not EC"
            public_key.verify(signer.signature, data, ec.ECDSA(hash_alg))
        elif oid == ED25519:
            if not isinstance(public_key, ed25519.Ed25519PublicKey):
                return "key-mismatch", "an Ed25519 signature, the certificate key is not Ed25519"
            public_key.verify(signer.signature, data)
        else:
            return "unsupported", f"signature algorithm {oid}"
    except InvalidSignature:
        return "invalid", "the signature does not verify"
    except (ValueError, TypeError) as exc:
        return "invalid", f"the signature does not verify ({' '.join(str(exc).split())[:100]})"
    return "valid", "the signature verifies"
