"""The PowerShell that sets S/MIME up in Exchange Online (``vedette smime exo``).

What an administrator otherwise types by hand (PowerShell 7 and the ExchangeOnlineManagement
module): ``Connect-ExchangeOnline``; ``Set-SmimeConfig -SMIMECertificateIssuingCA`` with the
``.sst`` of the issuing CAs; ``Set-Mailbox -UserCertificate`` for each internal user;
``New-MailContact`` (when the contact does not exist) and ``Set-MailContact -UserCertificate``
for each external contact; then the check that what Exchange stored is byte for byte each
certificate (compared by SHA-256, which vedette prints too).

Injection. Addresses and names come from a CSV file; none of them is ever code. Each is
written as a PowerShell single-quoted literal by the ``quote`` function the caller gives
(``vedette.pki.winstore.powershell.ps_quote``: quotes doubled, typographic single quotes
included, control characters refused); the CSV reader refuses control characters before
that, with the line number. Certificate and store bytes are embedded as base64 literals
(the alphabet ``A-Za-z0-9+/=``, checked) decoded by ``[Convert]::FromBase64String``: the
script is one self-contained file, and no path is resolved at run time (``[System.IO.File]``
resolves a relative path against the process's directory, not PowerShell's location, a
classic trap).

Input, one recipient a row (a header row is optional, lines starting with ``#`` are
comments)::

    address,certificate-file,kind,display-name
    alice@example.org,alice.cer,internal,Alice Martin
    bob@partner.example,bob.p7b,external,Bob (Partner)

Pure: text and certificates in, script text out.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from vedette.smime.asn1 import SmimeError
from vedette.x509.chain import describe

__all__ = [
    "MAX_NAME",
    "MAX_ROWS",
    "Recipient",
    "Row",
    "parse_rows",
    "script",
]

#: Most recipients one CSV holds.
MAX_ROWS = 10_000
#: Exchange's Name of a recipient is at most 64 characters.
MAX_NAME = 64
_MAX_ADDRESS = 254
_ADDRESS = re.compile(r"^[^\s@'\"`]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_HEX = re.compile(r"^[0-9A-F]{64}$")

Kind = Literal["internal", "external"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One recipient as the CSV gives it (``line`` for messages)."""

    line: int
    address: str
    certificate_file: str
    kind: Kind
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    """A row with its certificate, ready for the script."""

    row: Row
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(Encoding.DER)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest().upper()


def _plain(value: str, what: str, line: int) -> str:
    for ch in value:
        if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029":
            raise SmimeError(f"line {line}: control character U+{ord(ch):04X} in the {what}")
    return value.strip()


def parse_rows(text: str) -> tuple[Row, ...]:
    """The rows of the recipients CSV; :class:`SmimeError` (one line, with the line number)
    for a row that is not ``address,certificate-file,internal|external,display-name``."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[Row] = []
    seen: dict[str, int] = {}
    try:
        while True:
            line = reader.line_num + 1  # where the record starts (a quoted field may span lines)
            fields = next(reader, None)
            if fields is None:
                break
            if not fields or not "".join(fields).strip() or fields[0].lstrip().startswith("#"):
                continue
            if not rows and fields[0].strip().lower() == "address":
                continue  # the header row
            if len(rows) >= MAX_ROWS:
                raise SmimeError(f"more than {MAX_ROWS} recipients")
            if len(fields) not in (3, 4):
                raise SmimeError(
                    f"line {line}: {len(fields)} fields; expected "
                    "address,certificate-file,internal|external[,display-name]"
                )
            address, cert_file, kind = (
                _plain(f, w, line)
                for f, w in zip(fields, ("address", "certificate file", "kind"), strict=False)
            )
            name = _plain(fields[3], "display name", line) if len(fields) == 4 else ""
            if len(address) > _MAX_ADDRESS or not _ADDRESS.match(address):
                raise SmimeError(f"line {line}: {address!r} is not an e-mail address")
            kind_l = kind.lower()
            if kind_l not in ("internal", "external"):
                raise SmimeError(f"line {line}: kind {kind!r}: internal or external")
            if not cert_file:
                raise SmimeError(f"line {line}: no certificate file")
            if kind_l == "external" and not name:
                raise SmimeError(
                    f"line {line}: an external contact needs a display name (New-MailContact "
                    "-Name; users pick the contact by that name in the address book)"
                )
            if len(name) > MAX_NAME:
                raise SmimeError(
                    f"line {line}: display name of {len(name)} characters (Exchange takes "
                    f"{MAX_NAME} at most)"
                )
            key = address.lower()
            if key in seen:
                raise SmimeError(f"line {line}: {address} is already on line {seen[key]}")
            seen[key] = line
            rows.append(
                Row(
                    line=line,
                    address=address,
                    certificate_file=cert_file,
                    kind="internal" if kind_l == "internal" else "external",
                    name=name,
                )
            )
    except csv.Error as exc:
        raise SmimeError(f"line {reader.line_num}: {' '.join(str(exc).split())}") from None
    if not rows:
        raise SmimeError("no recipient in the CSV")
    return tuple(rows)


def _b64(data: bytes) -> str:
    text = base64.b64encode(data).decode("ascii")
    assert _BASE64.match(text)
    return "'" + text + "'"


def _hex(digest: str) -> str:
    if not _HEX.match(digest):
        raise ValueError("a SHA-256 is 64 hexadecimal digits")
    return "'" + digest + "'"


def _store_lines(sst: bytes, sst_name: str, quote: Callable[[str], str]) -> list[str]:
    digest = hashlib.sha256(sst).hexdigest().upper()
    return [
        "",
        "# 1. The CAs that issue the users' and contacts' certificates (the .sst).",
        f"#    {quote(sst_name)}, {len(sst)} bytes, SHA-256 {digest}.",
        "#    Set-SmimeConfig REPLACES the list: this store must hold every issuing CA.",
        f"$issuingCA = [Convert]::FromBase64String({_b64(sst)})",
        "Set-SmimeConfig -SMIMECertificateIssuingCA $issuingCA",
    ]


def _recipient_lines(r: Recipient, parameter: str, quote: Callable[[str], str]) -> list[str]:
    address = quote(r.row.address)
    subject = describe(r.certificate.subject) or "(empty subject)"
    lines = [
        "",
        f"# {r.row.kind}: {address} (line {r.row.line}), certificate {quote(subject)},",
        f"#   SHA-256 {r.sha256}",
        f"$der = [Convert]::FromBase64String({_b64(r.der)})",
        "$certs = [System.Collections.Generic.List[byte[]]]::new()",
        "$certs.Add($der)",
    ]
    if r.row.kind == "internal":
        lines.append(f"Set-Mailbox -Identity {address} -{parameter} $certs")
    else:
        name = quote(r.row.name)
        lines += [
            "try {",
            f"    Get-MailContact -Identity {address} -ErrorAction Stop | Out-Null",
            "} catch {",
            f"    New-MailContact -Name {name} -ExternalEmailAddress {address} | Out-Null",
            "}",
            f"Set-MailContact -Identity {address} -{parameter} $certs",
        ]
    return lines


def script(
    recipients: Sequence[Recipient],
    *,
    quote: Callable[[str], str],
    sst: bytes | None = None,
    sst_name: str = "chainOfTrust.sst",
    admin: str | None = None,
    smime_attribute: bool = False,
    source: str = "",
) -> str:
    """The PowerShell 7 script (see the module doc). ``quote`` makes a PowerShell string
    literal and raises ValueError on what it refuses; ``smime_attribute`` writes
    ``-UserSMimeCertificate`` instead of ``-UserCertificate``."""
    parameter = "UserSMimeCertificate" if smime_attribute else "UserCertificate"
    connect = "Connect-ExchangeOnline" + (
        f" -UserPrincipalName {quote(admin)}" if admin is not None else ""
    )
    lines = [
        "#Requires -Version 7.0",
        "#Requires -Modules ExchangeOnlineManagement",
        "# Written by vedette smime exo"
        + (f" from {quote(source)}" if source else "")
        + ": S/MIME in Exchange Online.",
        "# Run in PowerShell 7 (below 7: 'unable to find type [uint]') after",
        "# Install-Module ExchangeOnlineManagement. Every value below is a literal: nothing",
        "# from the CSV is code.",
        "$ErrorActionPreference = 'Stop'",
        "Import-Module ExchangeOnlineManagement",
        connect,
    ]
    if sst is not None:
        lines += _store_lines(sst, sst_name, quote)
    else:
        lines += ["", "# 1. No .sst given: Set-SmimeConfig is left as it is."]
    lines += ["", f"# 2. Each recipient's certificate (DER) as its {parameter}."]
    for r in recipients:
        lines += _recipient_lines(r, parameter, quote)
    lines += [
        "",
        "# 3. Check: what Exchange stored is each certificate, byte for byte (by SHA-256).",
        "function Get-VedetteSha256 ($Value) {",
        "    $bytes = if ($Value -is [string]) { [Convert]::FromBase64String($Value) } "
        "else { [byte[]]$Value }",
        "    $sha = [System.Security.Cryptography.SHA256]::Create()",
        "    try { ([System.BitConverter]::ToString($sha.ComputeHash($bytes))) -replace '-', '' }",
        "    finally { $sha.Dispose() }",
        "}",
        "$failed = 0",
        "$expected = @(",
    ]
    for r in recipients:
        cmdlet = "Get-Mailbox" if r.row.kind == "internal" else "Get-MailContact"
        lines.append(
            f"    @{{ Cmdlet = '{cmdlet}'; Identity = {quote(r.row.address)}; "
            f"Sha256 = {_hex(r.sha256)} }}"
        )
    lines += [
        ")",
        "foreach ($e in $expected) {",
        "    $recipient = & $e.Cmdlet -Identity $e.Identity",
        f"    $stored = @($recipient.{parameter} | ForEach-Object {{ Get-VedetteSha256 $_ }})",
        "    if ($stored -contains $e.Sha256) {",
        '        Write-Output "OK        $($e.Identity) $($e.Sha256)"',
        "    } else {",
        "        $failed++",
        '        Write-Warning "DIFFERENT $($e.Identity): expected $($e.Sha256), stored '
        "$($stored -join ', ')\"",
        "    }",
        "}",
        'if ($failed) { throw "$failed recipient(s) do not hold the expected certificate" }',
        "",
    ]
    return "\n".join(lines)
