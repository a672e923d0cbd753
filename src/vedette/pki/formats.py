"""Read certificates, keys, CSRs and CRLs from whatever file an administrator has.

The files in the wild, and how each is recognised (in this order):

1. **UTF-16 text.** PowerShell 5 (``Out-File``, ``>``) and some Windows tools write UTF-16LE
   with a byte-order mark; ``certutil -encode`` output re-saved in Notepad may be UTF-16 too.
   A BOM (``FF FE`` / ``FE FF``), or NUL in every other byte of the first characters, means
   UTF-16; the text is decoded and read as below. A UTF-8 BOM is dropped.
2. **PEM armour** (``-----BEGIN LABEL-----``), any number of blocks, in any order, with text
   around them (``openssl x509 -text`` output, Bag Attributes from ``openssl pkcs12``). Labels:
   ``CERTIFICATE`` / ``X509 CERTIFICATE`` / ``TRUSTED CERTIFICATE`` (OpenSSL's trusted form
   carries auxiliary trust data after the certificate, which is cut off), ``CERTIFICATE
   REQUEST`` and ``NEW CERTIFICATE REQUEST`` (what Windows ``certreq`` and IIS write),
   ``PKCS7`` (a .p7b in PEM), ``X509 CRL``, and private keys (``PRIVATE KEY``, ``ENCRYPTED
   PRIVATE KEY``, ``RSA PRIVATE KEY``, ``EC PRIVATE KEY``). A block that does not decode is an
   error naming the block; an unknown label is skipped with a note.
3. **Headerless base64.** The Windows certificate export "Base-64 encoded X.509" is PEM, but
   certificate requests pasted from web forms, ``certutil -encodehex`` variants and appliance
   GUIs often give the base64 body alone. A file made only of base64 characters and
   whitespace is decoded and read as DER.
4. **DER.** A single ASN.1 SEQUENCE, told apart by trying, in order: an X.509 certificate
   (.cer/.crt/.der), PKCS#7 SignedData with certificates (.p7b/.p7c), PKCS#12 (.pfx/.p12; see
   below), a PKCS#10 request, a CRL, and a private key (PKCS#8 or traditional).

Microsoft's serialized certificate store (.sst, what certmgr and ``Export-Certificate -Type
SST`` write) is recognised first, by its header (version 0 and "CERT"), and read by
``vedette.pki.sst``: its certificates and CRLs, in file order.

PKCS#12. A PFX is ``SEQUENCE { INTEGER 3, ContentInfo, MacData }``, so a DER file starting
with a SEQUENCE whose first element is the INTEGER 3 is taken as PKCS#12. Its structure is
read first, without the password (``vedette.pki.pkcs12``: the MAC and encryption algorithms,
the iteration counts, the plain bags), and a file whose iteration counts exceed vedette's
limits is refused there, before any key derivation (a MAC count of 2^31-1 would cost minutes
of CPU just to say "wrong password"). Then it is opened with the password from the caller
(asked for only then). cryptography opens every encryption found in practice, including the
RC2-40 certificate bags that Windows Server 2003-2012 and OpenSSL 1.x ``-export`` wrote by
default. A wrong password and a damaged file give the same error from the library (the MAC
check fails either way), and the message says so.

Nothing is judged here (dates, trust, chain order are for ``bundle`` and ``lint``): the result
lists what the file holds, in file order.
"""

from __future__ import annotations

import base64
import binascii
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from vedette.errors import PkiError
from vedette.pki.ca import PrivateKey
from vedette.pki.keys import load_private_key
from vedette.pki.pkcs12 import Pfx, Pkcs12Error, definite_form, parse_pfx
from vedette.pki.sst import SstError, is_sst, parse_sst

__all__ = ["Material", "read_material"]

PasswordFn = Callable[[], bytes | None]

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----\r?\n?(.*?)-----END \1-----", re.DOTALL)
_B64_ONLY = re.compile(rb"^[A-Za-z0-9+/=\s]+$")
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_CSR_LABELS = {b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"}
_KEY_LABELS = {b"PRIVATE KEY", b"ENCRYPTED PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY"}
_P7_LABELS = {b"PKCS7", b"CERTIFICATE CHAIN"}
_CRL_LABELS = {b"X509 CRL"}
# cryptography raises InvalidVersion (not a ValueError) for a version number out of range.
_PARSE_ERRORS = (ValueError, x509.InvalidVersion)


@dataclass(frozen=True, slots=True, kw_only=True)
class Material:
    """What a file holds.

    Attributes:
        format: how it was read: ``pem``, ``der``, ``base64`` (headerless), ``pkcs7``,
            ``pkcs12``, each with ``+utf16`` when the text was UTF-16; ``sst`` for a
            serialized certificate store.
        certificates: in file order (for PKCS#12: the key's certificate first).
        keys: private keys (PEM blocks, or the key of a PKCS#12).
        csrs: certificate requests.
        crls: revocation lists.
        friendly_name: the PKCS#12 friendly name of the key's certificate, if any.
        notes: what was skipped, one sentence each.
        pkcs12: the structure of a PKCS#12 file (algorithms, iteration counts, bags);
            ``None`` for other formats.
    """

    format: str
    certificates: tuple[x509.Certificate, ...] = ()
    keys: tuple[PrivateKey, ...] = ()
    csrs: tuple[x509.CertificateSigningRequest, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    friendly_name: str | None = None
    notes: tuple[str, ...] = ()
    pkcs12: Pfx | None = None

    @property
    def empty(self) -> bool:
        return not (self.certificates or self.keys or self.csrs or self.crls)


def _decode_text(data: bytes) -> tuple[bytes, bool]:
    """(bytes as ASCII-compatible text, was UTF-16)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:], False
    utf16: str | None = None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        utf16 = "utf-16"
    elif len(data) >= 8 and data[1:8:2] == b"\0\0\0\0" and data[0:8:2].isascii():
        utf16 = "utf-16-le"
    elif len(data) >= 8 and data[0:8:2] == b"\0\0\0\0" and data[1:8:2].isascii():
        utf16 = "utf-16-be"
    if utf16 is None:
        return data, False
    try:
        text = data.decode(utf16)
    except UnicodeDecodeError:
        raise PkiError("the file looks like UTF-16 text but does not decode as such") from None
    return text.encode("utf-8", "replace"), True


def _der_element_length(der: bytes) -> int | None:
    """Length of the first DER TLV of ``der`` (tag + length + value), ``None`` if malformed."""
    if len(der) < 2:
        return None
    first = der[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n == 0 or n > 4 or len(der) < 2 + n:
        return None
    return 2 + n + int.from_bytes(der[2 : 2 + n], "big")


def _is_pkcs12(der: bytes) -> bool:
    # PFX ::= SEQUENCE { version INTEGER {v3(3)}, authSafe ContentInfo, macData MacData OPTIONAL }
    if len(der) < 8 or der[0] != 0x30:
        return False
    first = der[1]
    start = 2 if first < 0x80 else 2 + (first & 0x7F)
    return der[start : start + 3] == b"\x02\x01\x03"


def _load_cert(der: bytes, where: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except _PARSE_ERRORS as exc:
        # TRUSTED CERTIFICATE: the certificate followed by OpenSSL's X509_AUX trust settings.
        length = _der_element_length(der)
        if length is not None and 0 < length < len(der):
            try:
                return x509.load_der_x509_certificate(der[:length])
            except _PARSE_ERRORS:
                pass
        raise PkiError(f"{where}: not a valid certificate ({_short(exc)})") from None


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:160] or type(exc).__name__


def _open_pkcs12(der: bytes, password: PasswordFn | None, source: str) -> Material:
    try:
        structure = parse_pfx(der)
        # BER (NSS writes indefinite lengths) in DER's form for cryptography, which reads BER
        # with a warning that it "may become an exception"; the MAC covers contents only.
        der = definite_form(der)
    except Pkcs12Error as exc:
        raise PkiError(f"{source}: unreadable PKCS#12 file: {exc}") from None
    try:
        structure.check_limits()  # before cryptography derives a single key
    except Pkcs12Error as exc:
        raise PkiError(f"{source}: PKCS#12 file refused: {exc}") from None
    with warnings.catch_warnings():
        # Inner layers in BER (under the MAC, so left as they are) draw the same warning.
        warnings.simplefilter("ignore", UserWarning)
        return _load_pkcs12(der, password, source, structure)


def _load_pkcs12(der: bytes, password: PasswordFn | None, source: str, structure: Pfx) -> Material:
    try:
        p12 = pkcs12.load_pkcs12(der, None)
    except ValueError:
        secret = password() if password is not None else None
        if secret is None:
            raise PkiError(
                f"{source}: PKCS#12 file protected by a password; give it with --passin"
            ) from None
        try:
            p12 = pkcs12.load_pkcs12(der, secret)
        except ValueError:
            raise PkiError(
                f"{source}: wrong password, or a damaged PKCS#12 file (the integrity check fails)"
            ) from None
    except Exception as exc:
        raise PkiError(f"{source}: unreadable PKCS#12 file: {_short(exc)}") from None
    certs: list[x509.Certificate] = []
    friendly: str | None = None
    if p12.cert is not None:
        certs.append(p12.cert.certificate)
        if p12.cert.friendly_name:
            friendly = p12.cert.friendly_name.decode("utf-8", "replace")
    certs.extend(c.certificate for c in p12.additional_certs)
    keys: tuple[PrivateKey, ...] = ()
    notes: tuple[str, ...] = ()
    if p12.key is not None:
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        if isinstance(
            p12.key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        ):
            keys = (p12.key,)
        else:
            notes = (f"unsupported key type {type(p12.key).__name__} skipped",)
    return Material(
        format="pkcs12",
        certificates=tuple(certs),
        keys=keys,
        friendly_name=friendly,
        notes=notes,
        pkcs12=structure,
    )


def _load_pkcs7(der: bytes) -> list[x509.Certificate]:
    # OpenSSL (crl2pkcs7) and Windows write the SET OF certificates in file order, which is
    # BER, not DER (DER sorts a SET). cryptography reads it with a UserWarning; the order is
    # normalised by order_set anyway, so the warning says nothing useful here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return pkcs7.load_der_pkcs7_certificates(der)


def order_set(certs: list[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """Leaf first, then each issuer, for certificates from an unordered container.

    PKCS#7 keeps certificates in a DER ``SET OF``, which is sorted by encoding, so the order
    a .p7b was written in is lost; ``openssl pkcs7 -print_certs`` shows that sorted order.
    The leaf is a certificate that issued none of the others (by name); the rest follows the
    issuer names, and anything left over goes at the end in the order found.
    """
    remaining = list(certs)
    subjects_issuing = {c.issuer for c in certs if c.issuer != c.subject}
    leaves = [c for c in remaining if c.subject not in subjects_issuing]
    if not leaves:
        return tuple(certs)
    ordered = [leaves[0]]
    remaining.remove(leaves[0])
    while True:
        cur = ordered[-1]
        nxt = next(
            (c for c in remaining if c.subject == cur.issuer and cur.issuer != cur.subject), None
        )
        if nxt is None:
            break
        ordered.append(nxt)
        remaining.remove(nxt)
    return tuple(ordered + remaining)


def _read_der(der: bytes, password: PasswordFn | None, source: str, fmt: str) -> Material:
    if not der or der[0] != 0x30:
        raise PkiError(
            f"{source}: not a certificate, key, CSR, CRL, PKCS#7 or PKCS#12 file "
            "(neither PEM text nor DER)"
        )
    if _is_pkcs12(der):
        return _open_pkcs12(der, password, source)
    try:
        return Material(format=fmt, certificates=(x509.load_der_x509_certificate(der),))
    except ValueError:
        pass
    except x509.InvalidVersion as exc:
        raise PkiError(f"{source}: not a valid certificate ({_short(exc)})") from None
    try:
        certs = _load_pkcs7(der)
        return Material(
            format="pkcs7" if fmt == "der" else f"pkcs7+{fmt}",
            certificates=order_set(certs),
        )
    except _PARSE_ERRORS:
        pass
    try:
        return Material(format=fmt, csrs=(x509.load_der_x509_csr(der),))
    except _PARSE_ERRORS:
        pass
    try:
        return Material(format=fmt, crls=(x509.load_der_x509_crl(der),))
    except _PARSE_ERRORS:
        pass
    try:
        key = load_private_key(der, None, source=source)
        return Material(format=fmt, keys=(key,))
    except PkiError as exc:
        if "encrypted" in str(exc) and password is not None:
            secret = password()
            if secret is not None:
                key = load_private_key(der, secret, source=source)
                return Material(format=fmt, keys=(key,))
    length = _der_element_length(der)
    if length is not None and length > len(der):
        raise PkiError(f"{source}: truncated DER ({len(der)} of {length} bytes)")
    raise PkiError(f"{source}: DER data that is no certificate, key, CSR, CRL, PKCS#7 or PKCS#12")


def _read_pem(text: bytes, password: PasswordFn | None, source: str, fmt: str) -> Material:
    certs: list[x509.Certificate] = []
    keys: list[PrivateKey] = []
    csrs: list[x509.CertificateSigningRequest] = []
    crls: list[x509.CertificateRevocationList] = []
    notes: list[str] = []
    blocks = list(_PEM_BLOCK.finditer(text))
    begins = text.count(b"-----BEGIN ")
    if len(blocks) < begins:
        raise PkiError(
            f"{source}: {begins - len(blocks)} PEM block(s) without a matching END line "
            "(truncated file?)"
        )
    for n, m in enumerate(blocks, 1):
        label = m.group(1)
        where = f"{source}: PEM block #{n} ({label.decode('ascii', 'replace')})"
        if label in _KEY_LABELS:
            secret: bytes | None = None
            if b"ENCRYPTED" in m.group(0) and password is not None:
                secret = password()
            keys.append(load_private_key(m.group(0), secret, source=where))
            continue
        body = m.group(2)
        if b"Proc-Type:" in body or b"DEK-Info:" in body:
            raise PkiError(f"{where}: encrypted PEM headers on a non-key block")
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise PkiError(f"{where}: the base64 body does not decode") from None
        try:
            if label in _CERT_LABELS:
                certs.append(_load_cert(der, where))
            elif label in _CSR_LABELS:
                csrs.append(x509.load_der_x509_csr(der))
            elif label in _P7_LABELS:
                certs.extend(order_set(_load_pkcs7(der)))
            elif label in _CRL_LABELS:
                crls.append(x509.load_der_x509_crl(der))
            else:
                notes.append(f"PEM block #{n} ({label.decode('ascii', 'replace')}) skipped")
        except _PARSE_ERRORS as exc:
            raise PkiError(f"{where}: does not parse ({_short(exc)})") from None
    return Material(
        format=fmt,
        certificates=tuple(certs),
        keys=tuple(keys),
        csrs=tuple(csrs),
        crls=tuple(crls),
        notes=tuple(notes),
    )


def _read_sst(data: bytes, source: str) -> Material:
    try:
        store = parse_sst(data)
    except SstError as exc:
        raise PkiError(f"{source}: unreadable serialized store (.sst): {exc}") from None
    notes = list(store.notes)
    if store.ctls:
        notes.append(f"{len(store.ctls)} certificate trust list(s) (CTL) not read")
    return Material(
        format="sst", certificates=store.certificates, crls=store.crls, notes=tuple(notes)
    )


def read_material(data: bytes, *, source: str, password: PasswordFn | None = None) -> Material:
    """Everything ``data`` holds; a one-line PkiError when it holds nothing usable.

    ``password`` is called (at most once per secret) only when a PKCS#12 file or an
    encrypted key needs one; it may return ``None`` for "no password available".
    """
    if is_sst(data):
        material = _read_sst(data, source)
        if material.empty:
            raise PkiError(f"{source}: a serialized store (.sst) with no certificate or CRL")
        return material
    text, utf16 = _decode_text(data)
    suffix = "+utf16" if utf16 else ""
    if b"-----BEGIN " in text:
        material = _read_pem(text, password, source, "pem" + suffix)
    elif text.strip() and _B64_ONLY.match(text):
        try:
            der = base64.b64decode(b"".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise PkiError(f"{source}: looks like base64 but does not decode") from None
        material = _read_der(der, password, source, "base64" + suffix)
    else:
        if utf16:
            raise PkiError(f"{source}: UTF-16 text without a certificate, key or request")
        material = _read_der(data, password, source, "der")
    if material.empty:
        raise PkiError(f"{source}: no certificate, key, CSR or CRL in this file")
    return material
