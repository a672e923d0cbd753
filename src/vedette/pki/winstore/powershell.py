"""PowerShell and certutil text that vedette prints for Windows certificate stores.

Nothing here runs anything: it writes text an administrator pastes into PowerShell. Every
value that comes from a certificate or an argument is either one of a closed set (store
locations and names, checked here), hexadecimal (thumbprints, checked here), or a literal
quoted by :func:`ps_quote`, which follows PowerShell's single-quote rules and refuses control
characters: a hostile subject (quotes, backticks, ``$()``, newlines) stays data.

PowerShell's single-quoted strings expand nothing (no ``$``, no backtick escapes); the only
special characters inside them are the quote characters, which are written twice. PowerShell
treats the typographic single quotes U+2018, U+2019, U+201A and U+201B as quotes too (its
tokenizer's ``IsSingleQuote``; ``CodeGeneration.EscapeSingleQuotedStringContent`` doubles each
of them), so they are doubled as well.

Cmdlets used: ``Export-Certificate`` (one or more certificates; ``-Type SST|P7B|CERT``, from the
``pki`` module's reference), and ``Get-Item``, ``Remove-Item`` and ``Move-Item`` on the ``Cert:``
drive (``about_Certificate_Provider`` lists them among the cmdlets the Certificate provider
supports); ``certutil -store STORE ID FILE`` exports one certificate, as the certutil sample in
:mod:`.certutil` does, and ``-delstore``, ``-addstore`` and ``-repairstore`` are certutil's
own verbs (``certutil -?``).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "LOCATIONS",
    "STORE_LABELS",
    "export_script",
    "ps_quote",
    "safe_store",
    "safe_thumbprint",
]

#: Store locations vedette writes commands for.
LOCATIONS = ("LocalMachine", "CurrentUser")

#: The stores the check knows, with the names the MMC shows.
STORE_LABELS: dict[str, str] = {
    "Root": "Trusted Root Certification Authorities",
    "CA": "Intermediate Certification Authorities",
    "My": "Personal",
    "AuthRoot": "Third-Party Root Certification Authorities",
    "Trust": "Enterprise Trust",
    "Disallowed": "Untrusted Certificates",
    "TrustedPeople": "Trusted People",
    "TrustedPublisher": "Trusted Publishers",
    "WebHosting": "Web Hosting",
}

_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_REFUSED = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_STORE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
_THUMB = re.compile(r"^[0-9A-Fa-f]{40}$")


def ps_quote(text: str) -> str:
    """``text`` as a PowerShell single-quoted string literal.

    ValueError when ``text`` holds a control, format (bidi), separator or surrogate
    character: such a value is never written into a script, whatever the quoting.
    """
    for ch in text:
        if unicodedata.category(ch) in _REFUSED:
            raise ValueError(f"control character U+{ord(ch):04X} in a value for PowerShell")
    return "'" + "".join(ch * 2 if ch in _SINGLE_QUOTES else ch for ch in text) + "'"


def safe_store(name: str) -> str:
    if not _STORE.match(name):
        raise ValueError(f"not a store name vedette writes commands for: {name!r}")
    return name


def safe_thumbprint(sha1: str) -> str:
    if not _THUMB.match(sha1):
        raise ValueError("a thumbprint is 40 hexadecimal digits")
    return sha1.upper()


def _location(location: str) -> str:
    if location not in LOCATIONS:
        raise ValueError(f"unknown store location {location!r}")
    return location


def cert_path(location: str, store: str, sha1: str | None = None) -> str:
    """``'Cert:\\LocalMachine\\Root\\THUMB'``, quoted."""
    path = f"Cert:\\{_location(location)}\\{safe_store(store)}"
    if sha1 is not None:
        path += "\\" + safe_thumbprint(sha1)
    return ps_quote(path)


def certutil_user(location: str) -> str:
    """certutil's flag for the current user's stores (``-user``), nothing for the machine."""
    return "-user " if _location(location) == "CurrentUser" else ""


def backup_lines(location: str, store: str, sha1: str) -> list[str]:
    """Export one certificate to ``$backup`` before it is touched (PowerShell, then the
    certutil equivalent as a comment)."""
    thumb = safe_thumbprint(sha1)
    name = ps_quote(f"{location}-{safe_store(store)}-{thumb}.cer")
    return [
        f"Export-Certificate -Cert (Get-Item -LiteralPath {cert_path(location, store, thumb)}) "
        f"-FilePath (Join-Path $backup {name}) | Out-Null",
        f"#   or: certutil {certutil_user(location)}-store {store} {thumb} "
        f'"$backup\\{location}-{store}-{thumb}.cer"',
    ]


def header(backup_dir: str) -> list[str]:
    """The first lines of every fix script: stop on error, make the backup folder."""
    return [
        "$ErrorActionPreference = 'Stop'",
        f"$backup = {ps_quote(backup_dir)}",
        "New-Item -ItemType Directory -Force -Path $backup | Out-Null",
    ]


def remove_lines(location: str, store: str, sha1: str) -> list[str]:
    thumb = safe_thumbprint(sha1)
    return [
        *backup_lines(location, store, thumb),
        f"Remove-Item -LiteralPath {cert_path(location, store, thumb)}",
        f"#   or: certutil {certutil_user(location)}-delstore {store} {thumb}",
    ]


def move_lines(location: str, store: str, sha1: str, to_store: str) -> list[str]:
    thumb = safe_thumbprint(sha1)
    return [
        *backup_lines(location, store, thumb),
        f"Move-Item -LiteralPath {cert_path(location, store, thumb)} "
        f"-Destination {cert_path(location, to_store)}",
        f"#   or: certutil {certutil_user(location)}-addstore {safe_store(to_store)} "
        f'"$backup\\{location}-{store}-{thumb}.cer"; '
        f"certutil {certutil_user(location)}-delstore {store} {thumb}",
    ]


def repair_key_lines(location: str, store: str, sha1: str) -> list[str]:
    thumb = safe_thumbprint(sha1)
    return [
        *backup_lines(location, store, thumb),
        f"certutil {certutil_user(location)}-repairstore {safe_store(store)} {thumb}",
    ]


def schannel_lines() -> list[str]:
    key = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL"
    return [
        f"reg export {ps_quote(key)} (Join-Path $backup 'schannel.reg') /y",
        f"Set-ItemProperty -LiteralPath {ps_quote('HKLM:' + key[4:])} "
        "-Name 'SendTrustedIssuerList' -Value 0 -Type DWord",
    ]


def comment(text: str) -> str:
    """A comment line quoting ``text`` (ps_quote refuses newlines, so it stays one line)."""
    return "# " + ps_quote(text)


def export_script(out_dir: str) -> str:
    """The PowerShell that exports the Root, CA and My stores of the machine and of the
    current user for ``vedette store check``, each store backed up first (.sst, which
    ``Import-Certificate`` restores)."""
    out = ps_quote(out_dir)
    return "\n".join(
        [
            "# vedette store export: the Root, CA and My stores of this machine and of the",
            "# current user. Run in PowerShell as an administrator. Nothing is changed and no",
            "# private key is exported.",
            "$ErrorActionPreference = 'Stop'",
            f"$out = {out}",
            "New-Item -ItemType Directory -Force -Path $out | Out-Null",
            "foreach ($location in 'LocalMachine', 'CurrentUser') {",
            "    foreach ($store in 'Root', 'CA', 'My') {",
            '        $certs = @(Get-ChildItem -LiteralPath "Cert:\\$location\\$store")',
            "        if ($certs.Count -eq 0) { continue }",
            "        # 1. a backup of the whole store first (Import-Certificate restores it)",
            '        Export-Certificate -Cert $certs -Type SST -FilePath "$out\\backup-$location-$store.sst" | Out-Null',  # noqa: E501
            "        # 2. the store for vedette: certificates only, in one PKCS#7 file",
            '        Export-Certificate -Cert $certs -Type P7B -FilePath "$out\\$location-$store.p7b" | Out-Null',  # noqa: E501
            "    }",
            "}",
            "# 3. the personal stores as certutil prints them (which certificates have a key)",
            'certutil -store My | Out-File -Encoding utf8 "$out\\LocalMachine-My.certutil.txt"',
            'certutil -user -store My | Out-File -Encoding utf8 "$out\\CurrentUser-My.certutil.txt"',  # noqa: E501
            "# then copy the folder and run: vedette store check <folder>/*.p7b <folder>/*.txt",
            "",
        ]
    )
