"""What the reporters show of a certificate, read from the DER the server sent.

The chain in an observation is exactly what the server sent, so it may be anything: a valid
certificate, one whose extensions do not parse, or bytes that are not a certificate at all.
``describe_certificate`` never raises for bad input: an unparseable certificate comes back as
``UnparsedCertificate`` with the reason, and an unparseable *field* of an otherwise readable
certificate shows as ``<unreadable: reason>`` (a broken SAN extension must not hide the subject
and expiry, which are what the administrator needs to see).

Nothing here judges the certificate (validity, trust, name match are checks); this is display.
"""

from __future__ import annotations

import base64
import hashlib
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from vedette.x509.legacy_algorithms import key_kind, public_key_of
from vedette.x509.names import name_text

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

__all__ = ["CertificateInfo", "UnparsedCertificate", "der_to_pem", "describe_certificate"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateInfo:
    """Display fields of one certificate.

    Attributes:
        subject, issuer: RFC 4514 strings (``CN=mail.example.test,O=Example``).
        serial: the serial number in lowercase hex, no separators.
        not_before, not_after: UTC; ``None`` only if the field could not be read.
        sha256: SHA-256 of the DER, lowercase hex.
        signature_algorithm: e.g. ``sha256WithRSAEncryption``, ``ecdsa-with-SHA384``.
        key: public key type and size, e.g. ``RSA 2048``, ``EC secp384r1``, ``Ed25519``.
        sans: subject alternative names, each prefixed with its type like OpenSSL does
            (``DNS:mail.example.test``, ``IP:192.0.2.1``, ``email:...``, ``URI:...``).
        pem: the DER exactly as sent, PEM-armoured.
        short_name: the subject's (first) common name, else the whole subject: what a
            one-line summary shows.
    """

    subject: str
    issuer: str
    serial: str
    not_before: datetime | None
    not_after: datetime | None
    sha256: str
    signature_algorithm: str
    key: str
    sans: tuple[str, ...]
    pem: str
    short_name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnparsedCertificate:
    """A chain entry that is not a readable X.509 certificate."""

    error: str
    der: bytes


def der_to_pem(der: bytes) -> str:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def _field(read: Callable[[], _T], fallback: Callable[[str], _T]) -> _T:
    # cryptography parses lazily: a malformed name or extension raises when it is accessed.
    try:
        return read()
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension) as err:
        return fallback(f"<unreadable: {err}>")


def _oid_text(oid: x509.ObjectIdentifier) -> str:
    name = oid._name  # cryptography's display name; "Unknown OID" when it has none
    return oid.dotted_string if not name or name == "Unknown OID" else name


def _key_text(cert: x509.Certificate) -> str:
    return key_kind(public_key_of(cert)).text


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(name_text(n) for n in ext.value)


def _short_name(cert: x509.Certificate) -> str:
    cns = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    value = cns[0].value if cns else None
    if isinstance(value, str) and value:
        return value
    return cert.subject.rfc4514_string()


def describe_certificate(der: bytes) -> CertificateInfo | UnparsedCertificate:
    """Display fields of ``der``; never raises for malformed input."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as err:
        return UnparsedCertificate(error=" ".join(str(err).split()) or "not a certificate", der=der)
    return CertificateInfo(
        subject=_field(lambda: cert.subject.rfc4514_string(), str),
        issuer=_field(lambda: cert.issuer.rfc4514_string(), str),
        serial=_field(lambda: format(cert.serial_number, "x"), str),
        not_before=_field(lambda: cert.not_valid_before_utc, lambda _e: None),
        not_after=_field(lambda: cert.not_valid_after_utc, lambda _e: None),
        sha256=hashlib.sha256(der).hexdigest(),
        signature_algorithm=_field(lambda: _oid_text(cert.signature_algorithm_oid), str),
        key=_field(lambda: _key_text(cert), str),
        sans=_field(lambda: _sans(cert), lambda e: (e,)),
        pem=der_to_pem(der),
        short_name=_field(lambda: _short_name(cert), str),
    )
