"""What ``vedette cert inspect`` shows: plain dicts, one per certificate, request, CRL or key.

The values are JSON-ready (``str``, ``int``, ``bool``, lists, ``None``) so the same structure
feeds ``--json`` and the terminal view; server-chosen strings are kept verbatim here and
escaped by the terminal renderer. A field that does not parse becomes ``<unreadable: ...>``
instead of hiding the rest (cryptography parses names and extensions lazily).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtensionOID

from vedette.pki.csr import name_text
from vedette.pki.keys import describe_key
from vedette.x509.chain import analyse_chain, is_self_signed
from vedette.x509.legacy_algorithms import public_key_of

__all__ = [
    "describe_certificate",
    "describe_chain",
    "describe_crl",
    "describe_csr",
]

_T = TypeVar("_T")


def _safe(read: Callable[[], _T], fallback: Callable[[str], _T]) -> _T:
    try:
        return read()
    except Exception as exc:  # malformed server data must not stop the display
        return fallback(f"<unreadable: {' '.join(str(exc).split())[:120]}>")


def _iso(d: datetime) -> str:
    return d.isoformat()


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    name = oid._name
    return oid.dotted_string if not name or name == "Unknown OID" else name


def _ku_text(ku: x509.KeyUsage) -> str:
    names = []
    for attr, label in (
        ("digital_signature", "digitalSignature"),
        ("content_commitment", "nonRepudiation"),
        ("key_encipherment", "keyEncipherment"),
        ("data_encipherment", "dataEncipherment"),
        ("key_agreement", "keyAgreement"),
        ("key_cert_sign", "keyCertSign"),
        ("crl_sign", "cRLSign"),
    ):
        if getattr(ku, attr):
            names.append(label)
    return ", ".join(names) or "none"


def _ext_value(ext: x509.Extension[x509.ExtensionType]) -> str:
    v = ext.value
    if isinstance(v, x509.BasicConstraints):
        text = "CA:TRUE" if v.ca else "CA:FALSE"
        return text + (f", pathlen:{v.path_length}" if v.path_length is not None else "")
    if isinstance(v, x509.KeyUsage):
        return _ku_text(v)
    if isinstance(v, x509.ExtendedKeyUsage):
        return ", ".join(_oid_name(o) for o in v)
    if isinstance(v, x509.SubjectAlternativeName | x509.IssuerAlternativeName):
        return ", ".join(name_text(n) for n in v)
    if isinstance(v, x509.SubjectKeyIdentifier):
        return v.digest.hex(":")
    if isinstance(v, x509.AuthorityKeyIdentifier):
        return v.key_identifier.hex(":") if v.key_identifier else "(issuer and serial)"
    if isinstance(v, x509.CRLDistributionPoints):
        return ", ".join(name_text(n) for dp in v for n in dp.full_name or ())
    if isinstance(v, x509.AuthorityInformationAccess):
        return ", ".join(f"{_oid_name(a.access_method)}: {name_text(a.access_location)}" for a in v)
    if isinstance(v, x509.NameConstraints):
        parts = []
        if v.permitted_subtrees:
            parts.append("permitted " + ", ".join(name_text(n) for n in v.permitted_subtrees))
        if v.excluded_subtrees:
            parts.append("excluded " + ", ".join(name_text(n) for n in v.excluded_subtrees))
        return "; ".join(parts)
    if isinstance(v, x509.CertificatePolicies):
        return ", ".join(p.policy_identifier.dotted_string for p in v)
    if isinstance(v, x509.CRLNumber):
        return str(v.crl_number)
    if isinstance(v, x509.OCSPNoCheck):
        return "present"
    if isinstance(v, x509.PrecertificateSignedCertificateTimestamps):
        return f"{len(list(v))} SCTs"
    if isinstance(v, x509.UnrecognizedExtension):
        return v.value.hex()[:64] + ("…" if len(v.value) > 32 else "")
    return type(v).__name__


def _extensions(exts: x509.Extensions) -> list[dict[str, Any]]:
    out = []
    for ext in exts:
        out.append(
            {
                "name": _oid_name(ext.oid),
                "oid": ext.oid.dotted_string,
                "critical": ext.critical,
                "value": _safe(functools.partial(_ext_value, ext), str),
            }
        )
    return out


def _sans(exts: x509.Extensions) -> list[str]:
    try:
        san = exts.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return []
    assert isinstance(san, x509.SubjectAlternativeName)
    return [name_text(n) for n in san]


def describe_certificate(cert: x509.Certificate) -> dict[str, Any]:
    spki = _safe(
        lambda: hashlib.sha256(
            public_key_of(cert).public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).hexdigest(),
        str,
    )
    exts = _safe(lambda: _extensions(cert.extensions), lambda e: [{"error": e}])
    return {
        "type": "certificate",
        "subject": _safe(lambda: cert.subject.rfc4514_string(), str),
        "issuer": _safe(lambda: cert.issuer.rfc4514_string(), str),
        "serial": format(cert.serial_number, "x"),
        "not_before": _iso(cert.not_valid_before_utc),
        "not_after": _iso(cert.not_valid_after_utc),
        "key": _safe(lambda: describe_key(public_key_of(cert)), str),
        "signature_algorithm": _oid_name(cert.signature_algorithm_oid),
        "sans": _safe(lambda: _sans(cert.extensions), lambda e: [e]),
        "self_signed": _safe(lambda: is_self_signed(cert), lambda _e: False),
        "extensions": exts,
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
        "sha1": cert.fingerprint(hashes.SHA1()).hex(),  # noqa: S303 - Windows shows it
        "spki_sha256": spki,
    }


def describe_chain(certs: Sequence[x509.Certificate]) -> dict[str, Any]:
    """Order problems and the path built from the first certificate over the others."""
    analysis = analyse_chain([c.public_bytes(serialization.Encoding.DER) for c in certs])
    return {
        "order_problems": list(analysis.order_problems),
        "path": [c.subject.rfc4514_string() for c in analysis.path],
        "missing_issuer": None
        if analysis.missing_issuer is None
        else analysis.missing_issuer.rfc4514_string(),
        "unused": list(analysis.unused),
    }


def describe_csr(csr: x509.CertificateSigningRequest) -> dict[str, Any]:
    return {
        "type": "request",
        "subject": _safe(lambda: csr.subject.rfc4514_string(), str),
        "key": _safe(lambda: describe_key(public_key_of(csr)), str),
        "signature_algorithm": _oid_name(csr.signature_algorithm_oid),
        "signature_valid": _safe(lambda: csr.is_signature_valid, lambda _e: False),
        "sans": _safe(lambda: _sans(csr.extensions), lambda e: [e]),
        "extensions": _safe(lambda: _extensions(csr.extensions), lambda e: [{"error": e}]),
    }


def describe_crl(crl: x509.CertificateRevocationList) -> dict[str, Any]:
    try:
        number: int | None = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except (x509.ExtensionNotFound, ValueError):
        number = None
    nxt = crl.next_update_utc
    return {
        "type": "crl",
        "issuer": _safe(lambda: crl.issuer.rfc4514_string(), str),
        "crl_number": number,
        "last_update": _iso(crl.last_update_utc),
        "next_update": None if nxt is None else _iso(nxt),
        "revoked": [
            {"serial": format(r.serial_number, "x"), "date": _iso(r.revocation_date_utc)}
            for r in crl
        ],
        "signature_algorithm": _oid_name(crl.signature_algorithm_oid),
    }
