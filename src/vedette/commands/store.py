"""``vedette store check|export-commands``: Windows certificate store hygiene.

``check`` reads exports of the Root, CA and My stores (.p7b, PEM/DER files or folders, the
text of ``certutil -store`` in English or French; .sst through ``vedette.pki.winstore.inputs
.read_sst``) and reports misplaced, duplicated, expired and distrusted certificates, personal
certificates without a key, several certificates for one name, and the CA list a server would
send, each with the PowerShell that fixes it (a backup export first). ``export-commands``
prints the PowerShell that makes those exports.

Exit status: 0 when no finding reaches ``--fail-on`` (default high), 1 when one does, 2 on
bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vedette.commands import _common as c
from vedette.commands import _pki as p
from vedette.errors import UsageError
from vedette.model import Severity

if TYPE_CHECKING:
    from vedette.pki.winstore.analyse import StoreReport
    from vedette.pki.winstore.inputs import StoreCert

NAME = "store"

#: The version of the ``--json`` document.
SCHEMA = "vedette.store-check/1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = sub.add_parser(
        "check",
        help="check exports of Windows certificate stores (Root, CA, My)",
        description="Read exports of Windows certificate stores and report misplaced roots, "
        "non-roots in Root, duplicated, expired and distrusted certificates, personal "
        "certificates without a private key, several certificates for one name, and the CA "
        "list size; print the PowerShell that fixes each, a backup export first.",
    )
    check.add_argument(
        "exports",
        nargs="*",
        type=Path,
        metavar="EXPORT",
        help=".p7b, PEM/DER file or folder named after its store (Root, CA, My; "
        "LocalMachine-Root.p7b), or certutil -store text (English or French)",
    )
    check.add_argument(
        "--store",
        action="append",
        default=[],
        metavar="[LOCATION\\]NAME=PATH",
        help="an export and its store, e.g. Root=roots.p7b or CurrentUser\\My=my.txt; repeatable",
    )
    check.add_argument("--json", action="store_true", help="print the versioned JSON document")
    check.add_argument(
        "--fail-on",
        type=c.severity,
        default=None,
        metavar="SEVERITY",
        help="exit 1 when a finding reaches this severity (default high)",
    )
    check.add_argument(
        "--backup-dir",
        default="C:\\vedette-backup",
        metavar="DIR",
        help="where the printed fix commands export certificates before changing anything "
        "(default C:\\vedette-backup)",
    )
    check.add_argument(
        "--at",
        type=_date,
        metavar="YYYY-MM-DD",
        help="judge expiry and distrust on this date instead of today",
    )
    export = sub.add_parser(
        "export-commands",
        help="print the PowerShell that exports the Root, CA and My stores for check",
    )
    export.add_argument(
        "--out-dir",
        default="C:\\vedette-export",
        metavar="DIR",
        help="the folder the exports go to, on the Windows machine (default C:\\vedette-export)",
    )


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a date as YYYY-MM-DD: {text!r}") from None


def run(args: argparse.Namespace) -> int:
    with p.certificate_errors():
        if args.action == "export-commands":
            return _export_commands(args)
        return _check(args)


def _export_commands(args: argparse.Namespace) -> int:
    from vedette.pki.winstore.powershell import export_script

    try:
        script = export_script(args.out_dir)
    except ValueError as exc:
        raise UsageError(f"--out-dir: {exc}") from None
    sys.stdout.write(script)
    return 0


def _check(args: argparse.Namespace) -> int:
    from vedette.checks.tls_protocols import CA_LIST_LIMIT
    from vedette.pki.winstore.analyse import check_stores
    from vedette.pki.winstore.inputs import parse_store_option, read_export
    from vedette.pki.winstore.powershell import ps_quote
    from vedette.trust import trust_data

    try:
        ps_quote(args.backup_dir)
    except ValueError as exc:
        raise UsageError(f"--backup-dir: {exc}") from None
    inputs: list[tuple[Path, str | None, str | None]] = [(e, None, None) for e in args.exports]
    for text in args.store:
        location, store, path = parse_store_option(text)
        inputs.append((path, store, location))
    if not inputs:
        raise UsageError("give at least one export (vedette store export-commands prints how)")
    exports = [read_export(path, store=store, location=loc) for path, store, loc in inputs]
    now = args.at or datetime.now(UTC)
    report = check_stores(exports, now=now, trust=trust_data(), ca_list_limit=CA_LIST_LIMIT)
    if args.json:
        doc = _to_json(report, now, args.backup_dir)
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=True) + "\n")
    else:
        _render(report, args.backup_dir)
    threshold = Severity.HIGH if args.fail_on is None else args.fail_on
    return 1 if any(f.severity >= threshold for f in report.findings) else 0


def _cert_json(cert: StoreCert) -> dict[str, Any]:
    return {
        "location": cert.location,
        "store": cert.store,
        "subject": cert.subject,
        "issuer": cert.issuer,
        "serial": cert.serial,
        "thumbprint": cert.sha1.upper() if cert.sha1 else None,
        "not_after": cert.not_after.isoformat() if cert.not_after else None,
        "has_private_key": cert.has_key,
        "source": cert.source,
    }


def _fix_lines(report_fix: tuple[str, ...], backup_dir: str) -> list[str]:
    from vedette.pki.winstore.powershell import header

    return [*header(backup_dir), *report_fix] if report_fix else []


def _to_json(report: StoreReport, now: datetime, backup_dir: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "judged_at": now.isoformat(),
        "inputs": [
            {
                "path": e.path,
                "location": e.location,
                "store": e.store,
                "format": e.format,
                "certificates": len(e.certificates),
            }
            for e in report.exports
        ],
        "stores": _counts(report),
        "ca_list": [
            {
                "location": cl.location,
                "count": cl.count,
                "bytes": cl.bytes,
                "limit": cl.limit,
                "estimated": cl.estimated,
            }
            for cl in report.ca_lists
        ],
        "findings": [
            {
                "id": f.id,
                "severity": f.severity.label,
                "title": f.title,
                "detail": f.detail,
                "certificates": [_cert_json(x) for x in f.certificates],
                "fix": _fix_lines(f.fix, backup_dir),
            }
            for f in report.findings
        ],
        "notes": list(report.notes),
    }


def _counts(report: StoreReport) -> dict[str, int]:
    counts: dict[str, int] = {}
    for cert in report.certificates:
        key = f"{cert.location}\\{cert.store}"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


_STYLE = {
    Severity.INFO: "dim",
    Severity.LOW: "cyan",
    Severity.MEDIUM: "yellow",
    Severity.HIGH: "bold red",
    Severity.CRITICAL: "bold red",
}


def _render(report: StoreReport, backup_dir: str) -> None:
    console = c.console()
    for e in report.exports:
        p.line(console, f"read {e.path}: {len(e.certificates)} certificate(s), "
               f"{e.location}\\{e.store} ({e.format})")  # fmt: skip
    for name, n in _counts(report).items():
        p.field(console, name, f"{n} certificate(s)")
    for cl in report.ca_lists:
        p.field(
            console,
            "CA list",
            f"{cl.count} root names, {'about ' if cl.estimated else ''}{cl.bytes} bytes "
            f"(SChannel clients accept {cl.limit})",
        )
    if not report.findings:
        p.line(console, ("no problem found in these stores", "green"))
    for f in report.findings:
        p.line(console, "")
        p.line(console, (f"[{f.severity.label}] ", _STYLE[f.severity]), (f.title, "bold"),
               f"  ({f.id})")  # fmt: skip
        p.line(console, f.detail, indent=2)
        lines = _fix_lines(f.fix, backup_dir)
        if lines:
            p.line(console, ("Fix (PowerShell, as an administrator; backups first):", "bold"),
                   indent=2)  # fmt: skip
            for fix_line in lines:
                p.line(console, fix_line, indent=4)
    for note in report.notes:
        p.line(console, "")
        p.line(console, ("note: ", "dim"), note)
