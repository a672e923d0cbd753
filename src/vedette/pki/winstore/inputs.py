"""Reading what an administrator exports from Windows certificate stores.

One entry point, :func:`read_export`, for every kind of input:

* a ``.p7b`` (PKCS#7, DER or PEM), a PEM bundle or one DER certificate: read by
  :func:`vedette.pki.formats.read_material`;
* a folder of such files (one store per folder);
* the text of ``certutil -store`` (English or French, see :mod:`.certutil`);
* a ``.sst`` (Microsoft serialized store): recognised by its magic, and handed to
  :func:`read_sst`, **the one place where the .sst reader plugs in**.

Which store a file is: ``--store NAME=PATH`` (``Root``, ``CA``, ``My``..., optionally
``LocalMachine\\Root`` / ``CurrentUser\\My``), else the name certutil prints before the
first certificate, else the file or folder name (``LocalMachine-Root.p7b``, ``.../Root/``,
``Intermediate Certification Authorities``, ``Personnel``...). The location is the machine
unless a name says ``CurrentUser`` (or ``user``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vedette.errors import PkiError, UsageError
from vedette.pki._files import read_input
from vedette.pki.formats import read_material
from vedette.pki.sst import parse_sst
from vedette.pki.winstore.certutil import (
    CertutilTextError,
    TextEntry,
    decode_text,
    looks_like_certutil,
    parse_certutil,
    store_name,
)

__all__ = [
    "SST_MAGIC",
    "Export",
    "StoreCert",
    "parse_store_option",
    "read_export",
    "read_sst",
    "store_from_name",
]

#: A serialized store starts with a 32-bit version 0 then the bytes ``CERT``.
SST_MAGIC_VERSION = b"\x00\x00\x00\x00"
SST_MAGIC = SST_MAGIC_VERSION + b"CERT"

#: Files read from one folder at most (a Root store holds a few hundred).
MAX_FOLDER_FILES = 5000

_ALIASES: dict[str, str] = {
    "root": "Root",
    "trustedroot": "Root",
    "trustedrootcertificationauthorities": "Root",
    "autoritésdecertificationracinesdeconfiance": "Root",
    "ca": "CA",
    "intermediate": "CA",
    "intermediatecertificationauthorities": "CA",
    "autoritésintermédiaires": "CA",
    "autoritésdecertificationintermédiaires": "CA",
    "my": "My",
    "personal": "My",
    "personnel": "My",
    "authroot": "AuthRoot",
    "trust": "Trust",
    "disallowed": "Disallowed",
    "trustedpeople": "TrustedPeople",
    "trustedpublisher": "TrustedPublisher",
    "webhosting": "WebHosting",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreCert:
    """One certificate in one store, from DER (everything known) or certutil text (what
    certutil prints: see :mod:`.certutil`).

    Attributes:
        location, store: ``LocalMachine``/``CurrentUser``; ``Root``, ``CA``, ``My``...
        source: the file it was read from (and certutil's entry number).
        subject, issuer: for display (RFC 4514 from DER; as printed from text).
        subject_key: a normalised form for comparing subjects across inputs.
        serial: lower-case hex; sha1: the thumbprint, lower-case hex (``None`` when unknown).
        self_issued: subject equal to issuer; self_signed: the signature checks with its
            own key (``None``: not known).
        is_ca: basicConstraints CA (``None`` from text).
        key_id: SHA-256 of the public key (``None`` from text).
        has_key: a private key is associated (certutil text only; ``None`` otherwise).
        names: DNS names (SAN, else the CN), lower case.
        purposes: ``server``/``client`` from the EKUs (``None`` from text; an empty set:
            no EKU, any purpose).
        subject_der_len: length of the subject's DER (estimated from text).
        der: the certificate, when read from DER.
    """

    location: str
    store: str
    source: str
    subject: str
    issuer: str
    subject_key: str
    serial: str | None
    sha1: str | None
    sha256: str | None
    not_before: datetime | None
    not_after: datetime | None
    self_issued: bool
    self_signed: bool | None
    is_ca: bool | None
    key_id: str | None
    has_key: bool | None
    names: tuple[str, ...]
    purposes: frozenset[str] | None
    subject_der_len: int
    from_text: bool
    der: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Export:
    """One input: where it came from, how it was read, and its certificates."""

    path: str
    location: str
    store: str
    format: str
    certificates: tuple[StoreCert, ...]


def store_from_name(name: str) -> tuple[str | None, str | None]:
    """(location, store) that a file or folder name stands for, each ``None`` if unknown.

    ``LocalMachine-Root``, ``CurrentUser_My``, ``Root``, ``Intermediate Certification
    Authorities``, ``Personnel``...; a trailing ``.certutil`` / ``.store`` part is ignored.
    """
    base = name.lower()
    for suffix in (".certutil", ".store"):
        base = base.removesuffix(suffix)
    location = None
    for prefix, loc in (("localmachine", "LocalMachine"), ("currentuser", "CurrentUser"),
                        ("machine", "LocalMachine"), ("user", "CurrentUser")):  # fmt: skip
        if base.startswith(prefix):
            location = loc
            base = base[len(prefix) :].lstrip("-_. \\/")
            break
    key = re.sub(r"[\s_.-]+", "", base)
    return location, _ALIASES.get(key)


def parse_store_option(text: str) -> tuple[str | None, str, Path]:
    """``--store NAME=PATH``: (location or None, store, path)."""
    name, sep, path = text.partition("=")
    if not sep or not path:
        raise UsageError(f"--store takes NAME=PATH (e.g. Root=./root.p7b): {text!r}")
    location: str | None = None
    if "\\" in name or "/" in name:
        loc_text, _, name = name.replace("/", "\\").partition("\\")
        location = {"localmachine": "LocalMachine", "currentuser": "CurrentUser"}.get(
            loc_text.lower()
        )
        if location is None:
            raise UsageError(f"--store: unknown location {loc_text!r} (LocalMachine, CurrentUser)")
    _, store = store_from_name(name)
    if store is None:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,63}", name):
            raise UsageError(f"--store: not a store name: {name!r}")
        store = name
    return location, store, Path(path)


def read_sst(data: bytes, source: str) -> list[tuple[x509.Certificate, bool | None]]:
    """The certificates of a ``.sst`` file (Microsoft serialized certificate store), each with
    whether a private key is associated (``True`` when the store kept its key provider
    information, ``None``: not said; an .sst never says "no key").

    Read by :mod:`vedette.pki.sst`; a malformed store is its ``SstError`` (a ``PkiError``:
    one line, exit 2). A store's CRLs and CTLs are not store-hygiene material and are skipped.
    """
    try:
        store = parse_sst(data)
    except PkiError as exc:
        raise PkiError(f"{source}: {exc}") from None
    return [
        (ctx.certificate, True if ctx.key_prov_info is not None else None)
        for ctx in store.contexts
        if ctx.kind == "certificate" and ctx.certificate is not None
    ]


def _location_of(path: Path, given: str | None) -> str:
    if given is not None:
        return given
    for part in (path.stem, path.name, path.parent.name):
        loc, _ = store_from_name(part)
        if loc is not None:
            return loc
    return "LocalMachine"


def _store_of(path: Path, given: str | None, text_store: str | None = None) -> str:
    if given is not None:
        return given
    if text_store is not None:
        _, store = store_from_name(text_store)
        return store or text_store
    for part in (path.stem, path.name):
        _, store = store_from_name(part)
        if store is not None:
            return store
    raise UsageError(
        f"{path}: which store is this? name it with --store Root={path} (Root, CA, My...)"
    )


def read_export(path: Path, *, store: str | None = None, location: str | None = None) -> Export:
    """One input (file or folder) as an :class:`Export`; PkiError/UsageError (one line) on
    bad input."""
    if path.is_dir():
        return _read_folder(path, store, location)
    data = read_input(path, what="store export")
    loc = _location_of(path, location)
    if data[:8] == SST_MAGIC:
        name = _store_of(path, store)
        try:
            found = read_sst(data, str(path))
        except PkiError as exc:
            said = str(exc)
            raise PkiError(said if said.startswith(str(path)) else f"{path}: {said}") from None
        if not found:
            raise PkiError(f"{path}: no certificate in this .sst")
        converted = tuple(
            replace(from_der(c, loc, name, str(path)), has_key=has_key) for c, has_key in found
        )
        return Export(path=str(path), location=loc, store=name, format="sst",
                      certificates=converted)  # fmt: skip
    text = _as_text(data)
    if text is not None and looks_like_certutil(text):
        try:
            entries = parse_certutil(text)
        except CertutilTextError as exc:
            raise PkiError(f"{path}: certutil text: {exc}") from None
        name = _store_of(path, store, store_name(text))
        certs_t = tuple(from_text(e, loc, name, f"{path}#{e.index}") for e in entries)
        return Export(path=str(path), location=loc, store=name, format="certutil",
                      certificates=certs_t)  # fmt: skip
    material = read_material(data, source=str(path))
    if not material.certificates:
        raise PkiError(f"{path}: no certificate in this file")
    name = _store_of(path, store)
    return Export(
        path=str(path),
        location=loc,
        store=name,
        format=material.format,
        certificates=tuple(from_der(c, loc, name, str(path)) for c in material.certificates),
    )


def _read_folder(path: Path, store: str | None, location: str | None) -> Export:
    name = store
    if name is None:
        _, name = store_from_name(path.name)
    if name is None:
        raise UsageError(
            f"{path}: which store is this folder? name it Root, CA or My, or give "
            f"--store Root={path}"
        )
    loc = location
    if loc is None:
        loc = store_from_name(path.parent.name)[0] or store_from_name(path.name)[0]
    loc = loc or "LocalMachine"
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if len(files) > MAX_FOLDER_FILES:
        raise PkiError(f"{path}: more than {MAX_FOLDER_FILES} files")
    certs: list[StoreCert] = []
    seen: set[str] = set()
    for f in files:
        sub = read_export(f, store=name, location=loc)
        for c in sub.certificates:
            if c.sha1 is None or c.sha1 not in seen:
                certs.append(c)
                if c.sha1 is not None:
                    seen.add(c.sha1)
    if not certs:
        raise PkiError(f"{path}: no certificate file in this folder")
    return Export(path=str(path), location=loc, store=name, format="folder",
                  certificates=tuple(certs))  # fmt: skip


def _as_text(data: bytes) -> str | None:
    if b"================" not in data and b"=\x00=\x00=\x00=\x00" not in data:
        return None
    try:
        return decode_text(data)
    except CertutilTextError:
        return None


# --- building StoreCert values --------------------------------------------------------------


def _subject_key(text: str) -> str:
    """A subject compared across inputs: case-folded, spaces around separators removed, and
    the attribute names certutil and RFC 4514 spell differently made one (``S``/``ST``,
    ``E``/``emailAddress``)."""
    parts = re.split(r"\s*,\s*(?=[A-Za-z][A-Za-z0-9.]*=)", text.strip())
    out = []
    for part in parts:
        attr, sep, value = part.partition("=")
        attr = {"s": "st", "e": "emailaddress", "1.2.840.113549.1.9.1": "emailaddress"}.get(
            attr.strip().lower(), attr.strip().lower()
        )
        out.append(f"{attr}={' '.join(value.split()).casefold()}" if sep else part.casefold())
    return ",".join(sorted(out))


def windows_name(name: x509.Name) -> str:
    """A name as Windows prints it: RFC 4514 order (last RDN first), ``", "`` between."""
    return ", ".join(rdn.rfc4514_string() for rdn in reversed(name.rdns))


def _der_subject_key(name: x509.Name) -> str:
    # Windows prints the RDNs most specific first (CN=..., O=..., C=...), as RFC 4514 does.
    return _subject_key(name.rfc4514_string())


def estimated_name_der_len(text: str) -> int:
    """The DER size of a subject printed as ``CN=a, O=b``: each attribute is a SET of a
    SEQUENCE of an OID (5 bytes for the usual X.520 ones) and a string, 11 bytes of overhead
    around the value (13 past 127 bytes), in one SEQUENCE."""
    parts = re.split(r"\s*,\s*(?=[A-Za-z][A-Za-z0-9.]*=)", text.strip()) if text.strip() else []
    body = 0
    for part in parts:
        value = part.partition("=")[2].strip().strip('"')
        n = len(value.encode("utf-8"))
        body += n + (11 if n < 128 else 13)
    return body + (2 if body < 128 else 4)


def _purposes(cert: x509.Certificate) -> frozenset[str]:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return frozenset()
    out = set()
    if ExtendedKeyUsageOID.SERVER_AUTH in eku:
        out.add("server")
    if ExtendedKeyUsageOID.CLIENT_AUTH in eku:
        out.add("client")
    others = [o for o in eku if o not in (ExtendedKeyUsageOID.SERVER_AUTH,
                                          ExtendedKeyUsageOID.CLIENT_AUTH)]  # fmt: skip
    if others and not out:
        out.add("other")
    return frozenset(out)


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
        if dns:
            return tuple(sorted(set(dns)))
    except x509.ExtensionNotFound:
        pass
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return tuple(sorted({str(v).lower() for v in cns if isinstance(v, str)}))


def _self_signed(cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:
        return False
    return True


def from_der(cert: x509.Certificate, location: str, store: str, source: str) -> StoreCert:
    der = cert.public_bytes(serialization.Encoding.DER)
    self_issued = cert.subject == cert.issuer
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca: bool | None = bc.ca
    except x509.ExtensionNotFound:
        is_ca = False
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return StoreCert(
        location=location,
        store=store,
        source=source,
        subject=windows_name(cert.subject),
        issuer=windows_name(cert.issuer),
        subject_key=_der_subject_key(cert.subject),
        serial=f"{cert.serial_number:x}",
        sha1=hashlib.sha1(der).hexdigest(),  # noqa: S324 - the Windows thumbprint
        sha256=hashlib.sha256(der).hexdigest(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        self_issued=self_issued,
        self_signed=_self_signed(cert) if self_issued else False,
        is_ca=is_ca,
        key_id=hashlib.sha256(spki).hexdigest(),
        has_key=None,
        names=_names(cert),
        purposes=_purposes(cert),
        subject_der_len=len(cert.subject.public_bytes()),
        from_text=False,
        der=der,
    )


def _cn_names(subject: str) -> tuple[str, ...]:
    out = []
    for part in re.split(r"\s*,\s*(?=[A-Za-z][A-Za-z0-9.]*=)", subject.strip()):
        attr, _, value = part.partition("=")
        if attr.strip().upper() == "CN" and value.strip():
            out.append(value.strip().lower())
    return tuple(sorted(set(out)))


def from_text(entry: TextEntry, location: str, store: str, source: str) -> StoreCert:
    subject = entry.subject or ""
    issuer = entry.issuer or ""
    self_issued = entry.root_line or (
        bool(subject) and _subject_key(subject) == _subject_key(issuer)
    )
    return StoreCert(
        location=location,
        store=store,
        source=source,
        subject=subject,
        issuer=issuer,
        subject_key=_subject_key(subject),
        serial=entry.serial,
        sha1=entry.sha1,
        sha256=None,
        not_before=entry.not_before,
        not_after=entry.not_after,
        self_issued=self_issued,
        self_signed=True if (self_issued and entry.signature_ok) else None,
        is_ca=None,
        key_id=None,
        has_key=entry.has_key,
        names=_cn_names(subject),
        purposes=None,
        subject_der_len=estimated_name_der_len(subject),
        from_text=True,
    )
