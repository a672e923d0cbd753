"""The text of ``certutil -store`` (and ``certutil -user -store``), in English and French.

Pure: text in, :class:`TextEntry` values out. ``certutil -store NAME`` without ``-v`` or
``-dump`` prints, per certificate, a few labelled lines and **not the certificate's bytes**.
What can therefore be judged from the text alone: the subject and issuer as Windows displays
them, the serial number, the validity dates, the SHA-1 thumbprint, whether certutil found the
subject equal to the issuer ("Root Certificate") and the self-signature valid, and whether a
private key is associated with the certificate (key container and provider lines, or "no key
provider information"). What cannot be judged from the text: the public key (so duplicated
roots are matched by subject, never by key), the extensions (basicConstraints, EKUs: the
purpose of a personal certificate is unknown), the signature algorithm, and the exact DER
size of the subject (the CA list size is an estimate).

Where each label comes from (real output, not invented):

* English: certificate.fyicenter.com/699 ("Microsoft certutil -store - Certificate File
  Format", ``certutil -store -user TestStore``): the store name on the first line,
  ``================ Certificate 0 ================``, ``Serial Number:``, ``Issuer:``,
  `` NotBefore: 7/1/2012 10:34 PM``, `` NotAfter:``, ``Subject:``, ``Signature matches Public
  Key``, ``Root Certificate: Subject matches Issuer``, ``Cert Hash(sha1): 32 c6 b7 ...``
  (spaced hex), ``  Key Container = JoeSoft``, ``  Provider = Microsoft Strong Cryptographic
  Provider``, ``CertUtil: -store command completed successfully.``
* English "no key": ``Cannot find the certificate and private key for decryption.`` is the
  Windows message quoted in dotnet/corefx#8393 and Crypt32/PSPKI#99; ``No key provider
  information`` is the English counterpart of the French line below (not seen in an English
  sample: a key is judged absent only from a line seen in a real sample, see below).
* French: saltstack/salt#55024 (``certutil -store`` on a French Windows 10):
  ``================ Certificat 11 ================``, ``Numéro de série :``, ``Émetteur:``,
  `` NotBefore : 12/05/1997 02:00`` (day first, 24-hour clock), ``Objet:``, ``La signature
  correspond à la clé publique``, ``Certificat racine : le sujet correspond à l’émetteur``,
  ``Hach. cert. (sha1) : 18f7c1fc...`` (unspaced hex), ``Aucune information sur le
  fournisseur de clé``, ``Impossible de trouver le certificat et la clé privée pour le
  déchiffrement.``, ``Version de l’autorité de certification: V0.0``.
* ``Hachage Cert(sha1)`` is accepted as well, but was not seen in a sample (the French
  sample says ``Hach. cert. (sha1)``).
* French key lines (``Conteneur de clé =``, ``Fournisseur =``) were not found in a sample:
  they are accepted, but a French entry with neither a key line nor the "Aucune information"
  line has an *unknown* key state, never "no key".
* ``saltstack/salt#41367`` notes that the output changed in Windows 10 (the thumbprint is
  printed without spaces there, as in the French sample): both forms are read.

Bounds: at most :data:`MAX_TEXT` characters, :data:`MAX_ENTRIES` certificates and
:data:`MAX_LINE` characters per line; beyond, or for text with no certificate separator, a
:class:`CertutilTextError` (one line).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "MAX_ENTRIES",
    "MAX_TEXT",
    "CertutilTextError",
    "TextEntry",
    "decode_text",
    "looks_like_certutil",
    "parse_certutil",
]

MAX_TEXT = 8 * 1024 * 1024
MAX_ENTRIES = 5000
MAX_LINE = 4096


class CertutilTextError(ValueError):
    """The text is not ``certutil -store`` output vedette can read."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TextEntry:
    """One certificate as ``certutil -store`` prints it.

    Attributes:
        index: certutil's own number (``Certificate N``).
        language: ``en`` or ``fr`` (from the separator line).
        serial: lower-case hex without spaces, or ``None`` when absent.
        issuer, subject: as printed (``CN=..., O=...``), ``None`` when absent.
        not_before, not_after: UTC, or ``None`` when absent or in an unknown date form.
        sha1: the thumbprint, 40 lower-case hex characters, or ``None``.
        root_line: certutil printed "Root Certificate: Subject matches Issuer".
        signature_ok: certutil printed "Signature matches Public Key" (self-signature
            checked by Windows).
        has_key: ``True`` (key container / provider lines), ``False`` ("no key provider
            information"), ``None`` (neither seen).
        provider: the key's provider name when printed.
    """

    index: int
    language: str
    serial: str | None
    issuer: str | None
    subject: str | None
    not_before: datetime | None
    not_after: datetime | None
    sha1: str | None
    root_line: bool
    signature_ok: bool
    has_key: bool | None
    provider: str | None


_SEPARATOR = re.compile(r"^=+ (Certificate|Certificat) (\d{1,6}) =+$")

# Field labels, English then French. Each value is the rest of the line after the label and
# optional spaces and a colon (French puts a space before the colon: "Numéro de série :").
_FIELDS: dict[str, tuple[str, ...]] = {
    "serial": ("Serial Number", "Numéro de série"),
    "issuer": ("Issuer", "Émetteur"),
    "subject": ("Subject", "Objet"),
    "not_before": ("NotBefore",),
    "not_after": ("NotAfter",),
    "sha1": ("Cert Hash(sha1)", "Hach. cert. (sha1)", "Hachage Cert(sha1)"),
}
_ROOT_LINES = ("Root Certificate:", "Certificat racine :", "Certificat racine:")
_SIGNATURE_LINES = ("Signature matches Public Key", "La signature correspond à la clé publique")
_NO_KEY_LINES = (
    "No key provider information",
    "Aucune information sur le fournisseur de clé",
    "Cannot find the certificate and private key for decryption",
    "Impossible de trouver le certificat et la clé privée pour le déchiffrement",
)
_KEY_LINES = ("Key Container =", "Conteneur de clé =", "Unique container name:")
_PROVIDER_LINES = ("Provider =", "Fournisseur =")

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_EN_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2})(?::\d{2})? ?([AaPp][Mm])?$")
_FR_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2})(?::\d{2})?$")
_YMD_DATE = re.compile(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2}) (\d{1,2}):(\d{2})(?::\d{2})?$")


def decode_text(data: bytes) -> str:
    """The text of a certutil export: UTF-16 (PowerShell 5's ``>``), UTF-8 (with or without
    a BOM), or the OEM code page 850 of a French ``cmd.exe`` redirection; a character that
    decodes in none of them is an error."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) >= 4 and data[1] == 0 == data[3]):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise CertutilTextError("UTF-16 text that does not decode") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    return data.decode("cp850")


def looks_like_certutil(text: str) -> bool:
    """A certutil certificate separator line is in the first 64 KiB."""
    head = text[: 64 * 1024]
    return any(_SEPARATOR.match(line.strip()) for line in head.splitlines())


def store_name(text: str) -> str | None:
    """The store certutil names on the line before the first certificate (``Root "Trusted
    Root Certification Authorities"``, or a bare name like ``TestStore``), if any."""
    for line in text[: 64 * 1024].splitlines():
        s = line.strip()
        if _SEPARATOR.match(s):
            return None
        if s:
            word = s.split()[0]
            return word if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", word) else None
    return None


def _field(line: str, labels: tuple[str, ...]) -> str | None:
    for label in labels:
        if line.startswith(label):
            rest = line[len(label) :].lstrip()
            if rest.startswith(":"):
                return rest[1:].strip()
    return None


def _date(value: str, language: str) -> datetime | None:
    value = " ".join(value.split())
    m = _YMD_DATE.match(value)
    if m:
        y, mo, d, h, mi = (int(g) for g in m.groups())
        return _make(y, mo, d, h, mi)
    if language == "fr":
        m = _FR_DATE.match(value)
        if m:
            d, mo, y, h, mi = (int(g) for g in m.groups())
            return _make(y, mo, d, h, mi)
        return None
    m = _EN_DATE.match(value)
    if not m:
        return None
    mo, d, y, h, mi = (int(g) for g in m.groups()[:5])
    ampm = (m.group(6) or "").lower()
    if ampm:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if ampm == "pm" else 0)
    return _make(y, mo, d, h, mi)


def _make(y: int, mo: int, d: int, h: int, mi: int) -> datetime | None:
    # certutil prints local time; the day is what matters for expiry, so UTC is assumed.
    try:
        return datetime(y, mo, d, h, mi, tzinfo=UTC)
    except ValueError:
        return None


def _hex(value: str) -> str | None:
    compact = "".join(value.split()).lower()
    return compact if compact and _HEX.match(compact) and len(compact) <= 128 else None


def _clean(value: str) -> str:
    return value[:MAX_LINE]


def parse_certutil(text: str) -> list[TextEntry]:
    """Every certificate entry of ``certutil -store`` text; :class:`CertutilTextError` when
    the text is too large, has no entry, or an entry has neither a subject nor a thumbprint."""
    if len(text) > MAX_TEXT:
        raise CertutilTextError(f"more than {MAX_TEXT} characters of certutil text")
    blocks: list[tuple[int, str, list[str]]] = []
    for raw in text.splitlines():
        line = raw.replace("\t", " ").strip()
        if len(line) > MAX_LINE:
            raise CertutilTextError(f"a line of more than {MAX_LINE} characters")
        m = _SEPARATOR.match(line)
        if m:
            if len(blocks) >= MAX_ENTRIES:
                raise CertutilTextError(f"more than {MAX_ENTRIES} certificates")
            blocks.append((int(m.group(2)), "en" if m.group(1) == "Certificate" else "fr", []))
        elif blocks:
            blocks[-1][2].append(line)
    if not blocks:
        raise CertutilTextError("no '================ Certificate N ================' line")
    return [_entry(index, language, lines) for index, language, lines in blocks]


def _entry(index: int, language: str, lines: list[str]) -> TextEntry:
    values: dict[str, str] = {}
    root_line = signature_ok = False
    has_key: bool | None = None
    provider: str | None = None
    for line in lines:
        if any(unicodedata.category(ch) == "Cc" for ch in line):
            raise CertutilTextError(f"certificate {index}: a control character in the text")
        for key, labels in _FIELDS.items():
            value = _field(line, labels)
            if value is not None and key not in values:
                values[key] = _clean(value)
                break
        if line.startswith(_ROOT_LINES):
            root_line = True
        elif line.startswith(_SIGNATURE_LINES):
            signature_ok = True
        elif line.startswith(_NO_KEY_LINES):
            has_key = False if has_key is None else has_key
        elif line.startswith(_KEY_LINES):
            has_key = True
        elif line.startswith(_PROVIDER_LINES):
            has_key = True
            provider = _clean(line.split("=", 1)[1].strip())
    subject = values.get("subject")
    sha1 = _hex(values["sha1"]) if "sha1" in values else None
    if sha1 is not None and len(sha1) != 40:
        raise CertutilTextError(f"certificate {index}: a SHA-1 thumbprint of {len(sha1)} digits")
    if subject is None and sha1 is None:
        raise CertutilTextError(f"certificate {index}: neither a subject nor a thumbprint")
    return TextEntry(
        index=index,
        language=language,
        serial=_hex(values["serial"]) if "serial" in values else None,
        issuer=values.get("issuer"),
        subject=subject,
        not_before=_date(values["not_before"], language) if "not_before" in values else None,
        not_after=_date(values["not_after"], language) if "not_after" in values else None,
        sha1=sha1,
        root_line=root_line,
        signature_ok=signature_ok,
        has_key=has_key,
        provider=provider,
    )
