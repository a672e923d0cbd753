"""The on-disk CA of ``vedette ca``: a directory, a lock, and an index that never lies.

Layout of ``DIR``::

    ca.json                 settings: format, issuing CA, URLs, default lifetime and hash
    root.pem                the root certificate (give it to clients and to ``scan --ca``)
    root-key.pem            its key, 0600, encrypted PKCS#8 when a passphrase was given
    intermediate.pem        the issuing CA when ``--intermediate`` was asked for
    intermediate-key.pem    its key, 0600
    chain.pem               what a server sends after its own certificate (the intermediate,
                            or nothing for a single-level CA)
    issued/SERIAL.pem       every certificate issued, named by its serial in hex
    index.json              one entry per issued certificate: serial, subject, names,
                            dates, profile, SHA-256, revocation time and reason; the CRL
                            number; sealed with an HMAC-SHA256 (``mac``)
    index-mac.key           the seal's random key, 0600 (hex)
    crl.pem, crl.der        the last CRL (``vedette ca crl``)
    .lock                   ``flock`` target: one vedette process at a time

Crash safety. Issuing is three durable steps, each an atomic write (temporary file, fsync,
rename, fsync of the directory; see ``_files``):

1. ``issued/SERIAL.pem`` — the certificate, written with "must not exist" semantics;
2. ``index.json`` — the index, rewritten whole with the new entry;
3. the caller's ``--out`` file.

A crash between 1 and 2 leaves a certificate the index does not list. Every open *reconciles*:
a file in ``issued/`` missing from the index, whose serial matches its name and whose
signature verifies with the issuing CA's key, is added back (reported as recovered); so an
issued certificate is never lost, and since serials are drawn at random (159 bits) and checked
against both the index and ``issued/``, none is ever issued twice. A crash before 1 leaves
nothing (the temporary file is in the directory under a dot-name and is ignored).

Hand edits. Anything that does not add up is a one-line error naming the file: a ``ca.json``
or ``index.json`` that is not the expected JSON, an index entry whose certificate file is
missing or holds another serial, a CA key that does not match its certificate, a file in
``issued/`` not signed by this CA. vedette refuses to issue from a directory it cannot trust.

The index is what the certificates cannot tell: which are revoked, and the CRL number. So:

* it is sealed: ``mac`` is an HMAC-SHA256 over its canonical JSON (sorted keys, no spaces,
  ASCII) without the ``mac`` member, keyed by ``index-mac.key``; every open verifies it, and
  every write (an atomic rewrite) re-seals it, so a crash never leaves a bad seal;
* each entry's serial, subject, names and dates must equal those of its ``issued/`` file;
* the last published CRL (``crl.pem``, its signature verified with the issuing CA) is a
  witness: every serial it lists must still be revoked in the index, and its number must not
  exceed the index's. An old, validly sealed copy of the index put back, or a revocation
  removed, is refused: a CRL never shrinks. There is no "unrevoke" (RFC 5280 5.3.1 makes only
  certificateHold reversible, and clients cache CRLs): issue a new certificate.

An index written by a vedette without seals has no ``mac``: it is refused until ``vedette ca
seal`` (:meth:`CaDir.seal`), run once, has checked every entry as above and sealed it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from vedette.errors import PkiError
from vedette.pki._files import atomic_write, directory_lock, read_input
from vedette.pki.ca import _HASHES as _HASH
from vedette.pki.ca import PrivateKey
from vedette.pki.csr import name_text
from vedette.pki.issue import IssuerUrls, issue_from_csr, make_ca_certificate
from vedette.pki.keys import generate_key, key_matches, key_to_pem, load_private_key
from vedette.x509.chain import signed_by
from vedette.x509.legacy_algorithms import public_key_of

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager

__all__ = [
    "FORMAT",
    "MAC_KEY",
    "REVOCATION_REASONS",
    "CaDir",
    "CaSettings",
    "IndexEntry",
    "init_ca",
]

FORMAT = "vedette-ca/1"
#: The HMAC-SHA256 key sealing index.json (hex, mode 0600, beside the CA keys).
MAC_KEY = "index-mac.key"
_SERIAL_FILE = re.compile(r"^([0-9a-f]{1,40})\.pem$")

#: RFC 5280 5.3.1 reason codes accepted by ``vedette ca revoke --reason``.
REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "caCompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CaSettings:
    """``ca.json``.

    Attributes:
        issuer: ``root`` or ``intermediate``: which CA signs end-entity certificates.
        crl_url, aia_url, ocsp_url: put in issued certificates when set.
        default_days: lifetime when ``--days`` is not given; ``None`` (what ``ca init``
            writes unless told ``--days``) follows the CA/Browser Forum limit in force on the
            day of signing, one day under it (199 days from 2026-03-15, 99 from 2027-03-15):
            an internal certificate that also passes vedette's own validity check.
        hash: signature hash (``sha256`` unless chosen otherwise at init).
        crl_days: how long a CRL is valid (its nextUpdate).
    """

    issuer: str = "root"
    crl_url: str | None = None
    aia_url: str | None = None
    ocsp_url: str | None = None
    default_days: int | None = None
    hash: str = "sha256"
    crl_days: int = 7

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "issuer": self.issuer,
            "crl_url": self.crl_url,
            "aia_url": self.aia_url,
            "ocsp_url": self.ocsp_url,
            "default_days": self.default_days,
            "hash": self.hash,
            "crl_days": self.crl_days,
        }

    @classmethod
    def from_json(cls, raw: object, where: Path) -> CaSettings:
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise PkiError(f"{where}: not a vedette CA settings file (format {FORMAT})")
        try:
            settings = cls(
                issuer=str(raw["issuer"]),
                crl_url=_opt_str(raw.get("crl_url")),
                aia_url=_opt_str(raw.get("aia_url")),
                ocsp_url=_opt_str(raw.get("ocsp_url")),
                default_days=None if raw.get("default_days") is None else int(raw["default_days"]),
                hash=str(raw["hash"]),
                crl_days=int(raw.get("crl_days", 7)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PkiError(f"{where}: bad or missing setting {exc}") from None
        if settings.issuer not in ("root", "intermediate"):
            raise PkiError(f"{where}: issuer must be 'root' or 'intermediate'")
        if settings.hash not in _HASH:
            raise PkiError(f"{where}: hash must be one of {', '.join(_HASH)}")
        days = settings.default_days
        if (days is not None and not 1 <= days <= 3650) or not 1 <= settings.crl_days <= 366:
            raise PkiError(f"{where}: default_days or crl_days out of range")
        return settings


def _opt_str(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexEntry:
    """One issued certificate in ``index.json``."""

    serial: int
    subject: str
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    profile: str
    sha256: str
    revoked_at: datetime | None = None
    reason: str | None = None

    @property
    def serial_hex(self) -> str:
        return format(self.serial, "x")

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial_hex,
            "subject": self.subject,
            "names": list(self.names),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "profile": self.profile,
            "sha256": self.sha256,
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, raw: object, where: str) -> IndexEntry:
        if not isinstance(raw, dict):
            raise PkiError(f"{where}: an entry is not an object")
        try:
            revoked = raw.get("revoked_at")
            reason = raw.get("reason")
            entry = cls(
                serial=int(str(raw["serial"]), 16),
                subject=str(raw["subject"]),
                names=tuple(str(n) for n in raw["names"]),
                not_before=_utc(datetime.fromisoformat(str(raw["not_before"]))),
                not_after=_utc(datetime.fromisoformat(str(raw["not_after"]))),
                profile=str(raw["profile"]),
                sha256=str(raw["sha256"]),
                revoked_at=None if revoked is None else _utc(datetime.fromisoformat(str(revoked))),
                reason=None if reason is None else str(reason),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PkiError(f"{where}: bad entry ({type(exc).__name__}: {exc})") from None
        if entry.serial <= 0:
            raise PkiError(f"{where}: serial {raw.get('serial')!r} is not a positive number")
        if entry.reason is not None and entry.reason not in REVOCATION_REASONS:
            raise PkiError(f"{where}: unknown revocation reason {entry.reason!r}")
        return entry


def _utc(d: datetime) -> datetime:
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def _entry_for(cert: x509.Certificate, profile: str) -> IndexEntry:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(name_text(n) for n in san)
    except x509.ExtensionNotFound:
        names = ()
    return IndexEntry(
        serial=cert.serial_number,
        subject=cert.subject.rfc4514_string(),
        names=names,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        profile=profile,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


def _profile_of(cert: x509.Certificate) -> str:
    try:
        eku = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return "unknown"
    from cryptography.x509.oid import ExtendedKeyUsageOID as E

    if E.SERVER_AUTH in eku and E.CLIENT_AUTH in eku:
        return "server-client"
    for oid, name in (
        (E.SERVER_AUTH, "server"),
        (E.EMAIL_PROTECTION, "smime"),
        (E.OCSP_SIGNING, "ocsp"),
        (E.CLIENT_AUTH, "client"),
    ):
        if oid in eku:
            return name
    return "unknown"


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _load_cert_file(path: Path) -> x509.Certificate:
    data = read_input(path, what="certificate")
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise PkiError(f"{path}: not a PEM certificate (edited by hand?)") from None


@dataclass(slots=True, kw_only=True)
class CaDir:
    """An opened CA directory (use :meth:`open` inside :meth:`locked`)."""

    path: Path
    settings: CaSettings
    root: x509.Certificate
    issuer: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # the issuer's chain up to, excluding, the root
    entries: list[IndexEntry] = field(default_factory=list)
    crl_number: int = 0
    recovered: tuple[int, ...] = ()

    # --- opening ----------------------------------------------------------------------------

    @staticmethod
    def locked(path: Path) -> AbstractContextManager[None]:
        if not (path / "ca.json").is_file():
            raise PkiError(f"{path}: not a vedette CA directory (no ca.json; run vedette ca init)")
        return directory_lock(path)

    @classmethod
    def open(cls, path: Path, *, unsealed: bool = False) -> CaDir:
        """Read and check the directory; reconcile ``issued/`` with the index.

        ``unsealed`` accepts an index without its MAC (for :meth:`seal` only)."""
        settings = CaSettings.from_json(_read_json(path / "ca.json"), path / "ca.json")
        root = _load_cert_file(path / "root.pem")
        if settings.issuer == "intermediate":
            issuer = _load_cert_file(path / "intermediate.pem")
            if not signed_by(issuer, root):
                raise PkiError(f"{path}/intermediate.pem: not issued by {path}/root.pem")
            chain: tuple[x509.Certificate, ...] = (issuer,)
        else:
            issuer, chain = root, ()
        raw = _read_json(path / "index.json")
        if not isinstance(raw, dict) or not isinstance(raw.get("certificates"), list):
            raise PkiError(f"{path}/index.json: not a vedette CA index")
        _verify_seal(path, raw, unsealed=unsealed)
        try:
            crl_number = int(raw.get("crl_number", 0))
        except (TypeError, ValueError):
            raise PkiError(f"{path}/index.json: crl_number is not a number") from None
        entries = [
            IndexEntry.from_json(e, f"{path}/index.json entry #{i + 1}")
            for i, e in enumerate(raw["certificates"])
        ]
        ca = cls(
            path=path,
            settings=settings,
            root=root,
            issuer=issuer,
            chain=chain,
            entries=entries,
            crl_number=crl_number,
        )
        ca._reconcile()
        ca._check_last_crl()
        return ca

    def _reconcile(self) -> None:
        issued = self.path / "issued"
        if not issued.is_dir():
            raise PkiError(f"{issued}: missing (the CA directory is incomplete)")
        known = {e.serial: e for e in self.entries}
        if len(known) != len(self.entries):
            raise PkiError(f"{self.path}/index.json: a serial is listed twice")
        on_disk: dict[int, Path] = {}
        for p in issued.iterdir():
            if p.name.startswith("."):
                continue  # a temporary file left by a crash before its rename
            m = _SERIAL_FILE.match(p.name)
            if m is None:
                raise PkiError(f"{p}: unexpected file in issued/ (names are SERIAL.pem)")
            on_disk[int(m.group(1), 16)] = p
        for serial, entry in known.items():
            if serial not in on_disk:
                raise PkiError(f"{issued}/{entry.serial_hex}.pem: listed in index.json but missing")
            cert = _load_cert_file(on_disk[serial])
            if cert.fingerprint(hashes.SHA256()).hex() != entry.sha256:
                raise PkiError(
                    f"{on_disk[serial]}: not the certificate index.json lists for this serial "
                    "(replaced or edited by hand)"
                )
            if _facts(entry) != _facts(_entry_for(cert, entry.profile)):
                raise PkiError(
                    f"{self.path}/index.json: the entry for serial {entry.serial_hex} does not "
                    f"match {on_disk[serial]} (subject, names or dates edited by hand)"
                )
        recovered: list[int] = []
        for serial, p in sorted(on_disk.items()):
            if serial in known:
                continue
            cert = _load_cert_file(p)
            if cert.serial_number != serial or not signed_by(cert, self.issuer):
                raise PkiError(f"{p}: not a certificate issued by this CA with that serial")
            self.entries.append(_entry_for(cert, _profile_of(cert)))
            recovered.append(serial)
        self.recovered = tuple(recovered)
        if recovered:
            self._write_index()

    def _check_last_crl(self) -> None:
        """A CRL never shrinks behind vedette's back: every serial the last published CRL
        (verified with the issuing CA) lists as revoked must still be revoked in the index,
        and the index must not be older than that CRL."""
        crl_path = self.path / "crl.pem"
        if not crl_path.exists():
            return
        try:
            crl = x509.load_pem_x509_crl(read_input(crl_path, what="CRL"))
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
            signed = crl.is_signature_valid(public_key_of(self.issuer))  # type: ignore[arg-type]
        except (ValueError, TypeError, x509.ExtensionNotFound):
            raise PkiError(f"{crl_path}: not a CRL of this CA (edited by hand?)") from None
        if not signed or crl.issuer != self.issuer.subject:
            raise PkiError(f"{crl_path}: not signed by this CA (replaced by hand?)")
        if number > self.crl_number:
            raise PkiError(
                f"{self.path}/index.json: older than {crl_path} (CRL number {number}, the index "
                f"says {self.crl_number}): restored from an old copy? Put the current one back"
            )
        known = {e.serial: e for e in self.entries}
        for revoked in crl:
            entry = known.get(revoked.serial_number)
            if entry is None or entry.revoked_at is None:
                raise PkiError(
                    f"{self.path}/index.json: serial {revoked.serial_number:x} is revoked in "
                    f"{crl_path} but not in the index (a revocation undone by hand?); "
                    "revocations are final"
                )

    # --- integrity seal ---------------------------------------------------------------------

    def seal(self) -> None:
        """Make a new MAC key and seal the index (``vedette ca seal``, once, on a directory
        written by a vedette without seals, after :meth:`open` checked what it could)."""
        key = secrets.token_hex(32).encode() + b"\n"
        atomic_write(self.path / MAC_KEY, key, mode=0o600, overwrite=True)
        self._write_index()

    # --- keys -------------------------------------------------------------------------------

    def issuer_key(self, passphrase: Callable[[], bytes | None]) -> PrivateKey:
        name = "intermediate-key.pem" if self.settings.issuer == "intermediate" else "root-key.pem"
        path = self.path / name
        data = read_input(path, what="private key")
        secret = passphrase() if b"ENCRYPTED" in data else None
        key = load_private_key(data, secret, source=str(path))
        if not key_matches(key, self.issuer):
            raise PkiError(f"{path}: does not match the CA certificate")
        return key

    # --- state ------------------------------------------------------------------------------

    def _write_index(self) -> None:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "crl_number": self.crl_number,
            "certificates": [e.to_json() for e in self.entries],
        }
        _write_sealed(self.path, doc)

    def _new_serial(self) -> int:
        used = {e.serial for e in self.entries}
        while True:
            # 159 random bits, top bit clear: positive, at most 20 octets (RFC 5280 4.1.2.2),
            # more than the 64 bits of entropy CA/B Forum BR 7.1 asks for.
            serial = secrets.randbits(159) | 1
            if serial not in used and not (self.path / "issued" / f"{serial:x}.pem").exists():
                return serial

    # --- operations -------------------------------------------------------------------------

    def sign(
        self,
        csr: x509.CertificateSigningRequest,
        *,
        key: PrivateKey,
        profile: str,
        days: int,
        hash_alg: str,
        names: Sequence[x509.GeneralName] | None,
        now: datetime,
    ) -> x509.Certificate:
        """Issue, record durably (see the module docstring), return the certificate."""
        cert = issue_from_csr(
            csr=csr,
            issuer=self.issuer,
            issuer_key=key,
            profile=profile,
            now=now,
            days=days,
            names=names,
            hash_alg=hash_alg,
            urls=IssuerUrls(
                crl=self.settings.crl_url, aia=self.settings.aia_url, ocsp=self.settings.ocsp_url
            ),
            serial=self._new_serial(),
        )
        atomic_write(
            self.path / "issued" / f"{cert.serial_number:x}.pem", _pem(cert), overwrite=False
        )
        self.entries.append(_entry_for(cert, profile))
        self._write_index()
        return cert

    def find(self, serial: int) -> IndexEntry:
        for e in self.entries:
            if e.serial == serial:
                return e
        raise PkiError(f"serial {serial:x} was not issued by this CA")

    def revoke(self, serial: int, reason: str, now: datetime) -> IndexEntry:
        entry = self.find(serial)
        if entry.revoked_at is not None:
            raise PkiError(
                f"serial {serial:x} is already revoked ({entry.reason}, "
                f"{entry.revoked_at:%Y-%m-%d %H:%M} UTC)"
            )
        revoked = IndexEntry(
            serial=entry.serial,
            subject=entry.subject,
            names=entry.names,
            not_before=entry.not_before,
            not_after=entry.not_after,
            profile=entry.profile,
            sha256=entry.sha256,
            revoked_at=now,
            reason=reason,
        )
        self.entries[self.entries.index(entry)] = revoked
        self._write_index()
        return revoked

    def crl(self, *, key: PrivateKey, now: datetime) -> x509.CertificateRevocationList:
        """A new CRL listing every revoked certificate not yet expired; written to crl.pem/der."""
        self.crl_number += 1
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.issuer.subject)
            .last_update(now)
            .next_update(now + timedelta(days=self.settings.crl_days))
            .add_extension(x509.CRLNumber(self.crl_number), critical=False)
        )
        try:
            ski = self.issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value),
                critical=False,
            )
        except x509.ExtensionNotFound:
            pass
        for e in self.entries:
            if e.revoked_at is None or e.not_after < now:
                continue  # RFC 5280 5.1: expired certificates may be dropped from the CRL
            rc = (
                x509.RevokedCertificateBuilder()
                .serial_number(e.serial)
                .revocation_date(e.revoked_at)
            )
            if e.reason and e.reason != "unspecified":
                rc = rc.add_extension(x509.CRLReason(REVOCATION_REASONS[e.reason]), critical=False)
            builder = builder.add_revoked_certificate(rc.build())
        if isinstance(key, ed25519.Ed25519PrivateKey):
            crl = builder.sign(key, None)
        else:
            crl = builder.sign(key, _HASH[self.settings.hash]())
        self._write_index()
        atomic_write(
            self.path / "crl.pem", crl.public_bytes(serialization.Encoding.PEM), overwrite=True
        )
        atomic_write(
            self.path / "crl.der", crl.public_bytes(serialization.Encoding.DER), overwrite=True
        )
        return crl


def _canonical(doc: dict[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k != "mac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _mac_key(path: Path) -> bytes:
    key_path = path / MAC_KEY
    if not key_path.exists():
        raise PkiError(
            f"{key_path}: missing; index.json is sealed with it and cannot be trusted without it"
        )
    text = read_input(key_path, what="MAC key").strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) < 32:
        raise PkiError(f"{key_path}: not a vedette MAC key (edited by hand?)")
    return key


def _mac(key: bytes, doc: dict[str, Any]) -> str:
    return "hmac-sha256:" + hmac.new(key, _canonical(doc), hashlib.sha256).hexdigest()


def _write_sealed(path: Path, doc: dict[str, Any]) -> None:
    doc = {**doc, "mac": _mac(_mac_key(path), doc)}
    data = (json.dumps(doc, indent=2) + "\n").encode()
    atomic_write(path / "index.json", data, mode=0o644, overwrite=True)


def _verify_seal(path: Path, raw: dict[str, Any], *, unsealed: bool) -> None:
    where = path / "index.json"
    mac = raw.get("mac")
    if mac is None:
        if unsealed:
            return
        raise PkiError(
            f"{where}: not sealed (written by an older vedette); check the directory, then run "
            f"`vedette ca seal --ca-dir {path}` once"
        )
    if unsealed:
        raise PkiError(f"{where}: already sealed")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(_mac_key(path), raw)):
        raise PkiError(
            f"{where}: integrity check failed (edited by hand, or not this CA's index); "
            "vedette refuses to use it: restore it from a backup"
        )


def _facts(e: IndexEntry) -> tuple[object, ...]:
    return (e.serial, e.subject, e.names, e.not_before, e.not_after, e.sha256)


def _read_json(path: Path) -> object:
    data = read_input(path, what="JSON file")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PkiError(f"{path}: not valid JSON (edited by hand?): {exc}") from None


def init_ca(
    path: Path,
    *,
    name: str,
    org: str | None,
    key_type: str,
    intermediate: bool,
    root_days: int,
    intermediate_days: int,
    permitted_dns: Sequence[str],
    settings: CaSettings,
    permitted_ip: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
    passphrase: bytes | None,
    now: datetime,
) -> tuple[x509.Certificate, x509.Certificate | None]:
    """Create a CA in ``path`` (absent or empty). Returns (root, intermediate or None).

    Files are written keys first, ``ca.json`` last: a directory without ``ca.json`` is not a
    CA, so a crash during init leaves nothing that could be used half-made.
    """
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise PkiError(f"{path}: exists and is not an empty directory")
    try:
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
        (path / "issued").mkdir(mode=0o755, exist_ok=True)
    except OSError as exc:
        raise PkiError(f"cannot create {path}: {exc.strerror or exc}") from None
    with directory_lock(path):
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, name)]
        if org:
            attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        root_key = generate_key(key_type)
        root = make_ca_certificate(
            subject=x509.Name(attrs),
            key=root_key,
            issuer=None,
            issuer_key=None,
            now=now,
            days=root_days,
            path_length=1 if intermediate else 0,
            permitted_dns=permitted_dns,
            permitted_ip=permitted_ip,
            hash_alg=settings.hash,
        )
        atomic_write(path / "root-key.pem", key_to_pem(root_key, passphrase), mode=0o600)
        atomic_write(path / "root.pem", _pem(root))
        inter: x509.Certificate | None = None
        chain = b""
        if intermediate:
            inter_key = generate_key(key_type)
            iattrs = [x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Issuing CA 1")]
            if org:
                iattrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
            inter = make_ca_certificate(
                subject=x509.Name(iattrs),
                key=inter_key,
                issuer=root,
                issuer_key=root_key,
                now=now,
                days=min(intermediate_days, root_days),
                path_length=0,
                permitted_dns=permitted_dns,
                permitted_ip=permitted_ip,
                hash_alg=settings.hash,
                urls=IssuerUrls(crl=None, aia=None, ocsp=None),
            )
            atomic_write(
                path / "intermediate-key.pem", key_to_pem(inter_key, passphrase), mode=0o600
            )
            atomic_write(path / "intermediate.pem", _pem(inter))
            chain = _pem(inter)
        atomic_write(path / "chain.pem", chain)
        atomic_write(path / MAC_KEY, secrets.token_hex(32).encode() + b"\n", mode=0o600)
        _write_sealed(path, {"format": FORMAT, "crl_number": 0, "certificates": []})
        atomic_write(path / "ca.json", (json.dumps(settings.to_json(), indent=2) + "\n").encode())
    return root, inter
