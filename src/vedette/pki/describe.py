"""What ``vedette cert inspect`` shows: plain dicts, one per certificate, request, CRL or key.

The values are JSON-ready (``str``, ``int``, ``bool``, lists, ``None``) so the same structure
feeds ``--json`` and the terminal view; server-chosen strings are kept verbatim here and
escaped by the terminal renderer. A field that does not parse becomes ``<unreadable: ...>``
instead of hiding the rest (cryptography parses names and extensions lazily).
"""

from __future__ import annotations

import functools
import hashlib
import shlex
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import PurePath
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtensionOID

from vedette.pki.csr import name_text
from vedette.pki.keys import describe_key
from vedette.pki.pkcs12 import PROVIDERS, Encryption, KeyAttributes, Pfx, SafeBag
from vedette.x509.chain import analyse_chain, is_self_signed, signed_by
from vedette.x509.legacy_algorithms import public_key_of

__all__ = [
    "describe_certificate",
    "describe_chain",
    "describe_crl",
    "describe_csr",
    "describe_pkcs12",
    "describe_windows",
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


# --- PKCS#12 -------------------------------------------------------------------------------------

#: Certificates above this count are not searched for chains (n^2 signature checks).
_MAX_LINKED = 64


def _encryption(enc: Encryption | None) -> dict[str, Any] | None:
    if enc is None:
        return None
    return {
        "scheme": enc.scheme,
        "cipher": enc.cipher,
        "kdf": enc.kdf,
        "prf": enc.prf,
        "iterations": enc.iterations,
        "salt_length": enc.salt_length,
        "legacy": enc.legacy,
        "text": enc.describe(),
    }


def _bag(bag: SafeBag, subjects: dict[bytes, str]) -> dict[str, Any]:
    """``subjects``: the subject of each certificate the loader read, by DER (a certificate
    bag is not parsed a second time)."""
    subject = subjects.get(bag.value) if bag.kind == "certificate" else None
    attrs = bag.attributes
    return {
        "kind": bag.kind,
        "oid": bag.oid,
        "encryption": _encryption(bag.encryption),
        "subject": subject,
        "friendly_name": attrs.friendly_name,
        "local_key_id": None if attrs.local_key_id is None else attrs.local_key_id.hex(),
        "csp_name": attrs.csp_name,
        "other_attributes": list(attrs.other),
        "nested": [_bag(b, subjects) for b in bag.nested],
    }


def _subject(cert: x509.Certificate) -> str:
    return _safe(lambda: cert.subject.rfc4514_string(), str)


def _orphans(unique: list[x509.Certificate], key_cert: x509.Certificate | None) -> list[int]:
    """Indexes (in ``unique``) of certificates on no chain: with a key, those not on the path
    from the key's certificate up; without one, those that neither issued nor were issued by
    another certificate of the file."""
    if len(unique) < 2 or len(unique) > _MAX_LINKED:
        return []
    if key_cert is not None:
        on_chain = {id(key_cert)}
        current = key_cert
        while True:
            issuer = next(
                (c for c in unique if id(c) not in on_chain and signed_by(current, c)), None
            )
            if issuer is None:
                break
            on_chain.add(id(issuer))
            current = issuer
        return [i for i, c in enumerate(unique) if id(c) not in on_chain]
    linked: set[int] = set()
    for i, child in enumerate(unique):
        for j, issuer in enumerate(unique):
            if i != j and signed_by(child, issuer):
                linked.update((i, j))
    return [i for i in range(len(unique)) if i not in linked]


def describe_pkcs12(
    pfx: Pfx, certificates: Sequence[x509.Certificate], *, key_certificate: int | None
) -> dict[str, Any]:
    """What a PKCS#12 file is made of: MAC, each container's and key's encryption, the bags
    readable without the password, and the certificates (decrypted by the loader) that are
    duplicated or on no chain. ``key_certificate`` is the index in ``certificates`` of the
    certificate matching the file's key, if any."""
    mac = pfx.mac
    encryptions = [c.encryption for c in pfx.containers if c.encryption is not None]
    encryptions += [b.encryption for b in pfx.bags() if b.encryption is not None]
    # Without any encryption, the MAC alone does not make the file legacy or modern.
    legacy = [e.legacy for e in encryptions]
    if legacy and mac is not None:
        legacy.append(mac.legacy)
    profile = "none" if not legacy else "legacy" if all(legacy) else "modern"
    if legacy and any(legacy) and not all(legacy):
        profile = "mixed"
    by_der: dict[bytes, list[int]] = {}
    for i, cert in enumerate(certificates):
        by_der.setdefault(cert.public_bytes(serialization.Encoding.DER), []).append(i)
    duplicates = [
        {
            "subject": _subject(certificates[idx[0]]),
            "sha256": certificates[idx[0]].fingerprint(hashes.SHA256()).hex(),
            "count": len(idx),
            "certificates": [i + 1 for i in idx],
        }
        for idx in by_der.values()
        if len(idx) > 1
    ]
    subjects = {der: _subject(certificates[idx[0]]) for der, idx in by_der.items()}
    firsts = [idx[0] for idx in by_der.values()]
    unique = [certificates[i] for i in firsts]
    key_cert = certificates[key_certificate] if key_certificate is not None else None
    if key_cert is not None:
        key_cert = unique[
            firsts.index(by_der[key_cert.public_bytes(serialization.Encoding.DER)][0])
        ]
    orphans = [
        {
            "subject": _subject(unique[i]),
            "sha256": unique[i].fingerprint(hashes.SHA256()).hex(),
            "certificate": firsts[i] + 1,
        }
        for i in _orphans(unique, key_cert)
    ]
    return {
        "integrity": pfx.integrity,
        "mac": None
        if mac is None
        else {
            "digest": mac.digest,
            "iterations": mac.iterations,
            "salt_length": mac.salt_length,
            "legacy": mac.legacy,
            "text": mac.describe(),
        },
        "encryption_profile": profile,
        "containers": [
            {
                "kind": c.kind,
                "oid": c.oid,
                "encryption": _encryption(c.encryption),
                "bags": [_bag(b, subjects) for b in c.bags],
            }
            for c in pfx.containers
        ],
        "duplicates": duplicates,
        "orphans": orphans,
        "orphans_rule": "not on the chain of the key's certificate"
        if key_cert is not None
        else "neither issued nor issued by another certificate of the file",
    }


# --- Windows import attributes of a PKCS#12 ------------------------------------------------------

#: The provider Skype for Business / Lync servers need (a CryptoAPI CSP), and the import
#: command that forces it (certutil's -csp option).
SCHANNEL_CSP = "Microsoft RSA SChannel Cryptographic Provider"
_SKYPE = (
    "Skype for Business Server 2015 needs a CAPI key with KeySpec exchange: otherwise its "
    'services fail with "may not have a private key that is capable of key exchange or the '
    "process may not have access rights for the private key ... Invalid provider type "
    'specified"'
)


def describe_windows(
    pfx: Pfx, key: KeyAttributes | None, *, source: str, key_note: str | None = None
) -> dict[str, Any] | None:
    """How Windows will import the key of ``pfx``: the provider named by the key bag's CSP
    attribute, the machine key set marker and the KeySpec (``key``: the key's own attributes,
    ``None`` when the key was not decrypted, ``key_note`` saying why); with advice and the
    commands that give a service the key it needs. ``None`` when no key bag is visible."""
    bag = next((b for b in pfx.bags() if b.kind in ("shrouded-key", "key")), None)
    if bag is None:
        return None
    csp = bag.attributes.csp_name
    provider = PROVIDERS.get(csp or "")
    api = provider.api if provider is not None else ("unknown" if csp else None)
    keyspec = key.keyspec if key is not None else None
    usage = key.key_usage if key is not None else None
    quoted = shlex.quote(source)
    out = shlex.quote(str(PurePath(source).with_suffix("")) + "-capi.pfx")
    rewrite = (
        f"vedette cert convert {quoted} {out} --passin prompt "
        f'--csp "{SCHANNEL_CSP}" --keyspec exchange --passout prompt'
    )
    certutil = f'certutil -csp "{SCHANNEL_CSP}" -importpfx {quoted}'
    advice: list[str] = []
    commands: list[str] = []
    if csp is None:
        advice.append(
            "no CSP name: the importing tool chooses the provider, and the MMC and certutil "
            "-importpfx put the key in a CNG key storage provider unless told otherwise. " + _SKYPE
        )
        commands += [certutil, rewrite]
    elif api == "cng":
        advice.append(f"{csp} is a CNG key storage provider, which has no KeySpec. " + _SKYPE)
        commands.append(rewrite)
    elif api == "capi" and keyspec == "signature":
        advice.append(
            "KeySpec signature (AT_SIGNATURE): the key cannot be used for RSA key exchange. "
            + _SKYPE
        )
        commands.append(rewrite)
    elif api == "capi" and keyspec == "exchange":
        advice.append(
            "a CryptoAPI key with KeySpec exchange: what Skype for Business Server 2015 needs"
        )
    if key is None:
        advice.append(
            key_note or "the KeySpec is inside the encrypted key: give --passin to read it"
        )
    elif usage is not None and keyspec is None:
        advice.append(
            f"key usage attribute {usage.hex()}: neither exchange (10) nor signature (80)"
        )
    return {
        "csp_name": csp,
        "provider_api": api,
        "provider_type": provider.type if provider is not None else None,
        "local_machine_keyset": bag.attributes.local_machine_keyset,
        "keyspec_read": key is not None,
        "key_usage": None if usage is None else usage.hex(),
        "keyspec": keyspec,
        "advice": advice,
        "commands": commands,
    }
