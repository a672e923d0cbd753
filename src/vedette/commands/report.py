"""``vedette report [SCAN|last]``: analyse a stored scan again, without the network."""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, datetime

from vedette.commands import _common as c
from vedette.commands._cert_clients import add_matrix_arguments, options_for_report, parse_as_of
from vedette.errors import UsageError
from vedette.model import Severity
from vedette.report.escape import safe_text
from vedette.report.output import report_output

NAME = "report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "scan",
        nargs="?",
        default="last",
        help="scan id or 'last' (default); 'diff A B' compares two scans",
    )
    p.add_argument("diff_scans", nargs="*", metavar="A B", help=argparse.SUPPRESS)
    c.add_format_options(p)
    p.add_argument("--list", action="store_true", help="list stored scans")
    p.add_argument(
        "--at",
        default=None,
        metavar="now|scan|DATE",
        help="judge certificate dates and the client matrix now (default), at the scan's time, "
        "or at an ISO date; --as-of DATE is the same as --at DATE (give one)",
    )
    c.add_output_options(p)
    add_matrix_arguments(p)


#: Scan ids are 64-bit integers in every store.
MAX_SCAN_ID = (1 << 63) - 1


def scan_id(text: str, what: str = "scan") -> int:
    """A scan id given on the command line: 1 .. 2**63 - 1, or a one-line usage error."""
    if (
        not (text.isascii() and text.isdigit() and len(text) <= 19)
        or not 0 < int(text) <= MAX_SCAN_ID
    ):
        raise UsageError(f"{what} must be a scan id (a number from 1 to 2**63-1), not {text!r}")
    return int(text)


def _parse_at(text: str, scan_time: datetime) -> datetime:
    if text == "now":
        return datetime.now(UTC)
    if text == "scan":
        return scan_time
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--at: {text!r} is not 'now', 'scan' or an ISO date") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def analysis_date(args: argparse.Namespace, scan_time: datetime) -> datetime | None:
    """The one date of the analysis given on the command line (``--at`` or ``--as-of``, never
    both), or ``None``: then the scan's stored ``--as-of`` if any, else now."""
    at, as_of = getattr(args, "at", None), getattr(args, "as_of", None)
    if at is not None and as_of is not None:
        raise UsageError(
            "--at and --as-of both set the date of the analysis (certificate dates and the "
            "client matrix); give one"
        )
    if as_of is not None:
        return parse_as_of(as_of)
    return None if at is None else _parse_at(at, scan_time)


def run(args: argparse.Namespace) -> int:
    from vedette.report.stored import write_format
    from vedette.store.db import Store

    if args.scan == "diff":
        return _diff(args)
    if args.diff_scans:
        raise UsageError(f"unexpected argument(s): {' '.join(args.diff_scans)}")
    if args.format == "json":
        args.json = True
    wanted = None if args.list or args.scan == "last" else scan_id(args.scan)
    with Store.open(c.db_url(args), create=False) as store:
        if args.list:
            with report_output(args.output) as out:
                for s in store.list_scans():
                    # Targets as written (a target file's lines, argv bytes): escaped, so that
                    # a control character, bidi override or lone surrogate cannot act or fail.
                    targets = safe_text(" ".join(s.targets))
                    out.write(
                        f"{s.scan_id}\t{s.started_at.isoformat()}\t{s.endpoints}\t{targets}\n"
                    )
            return 0
        if wanted is None:
            wanted = store.last_scan_id()
            if wanted is None:
                raise UsageError("no scan stored yet; run vedette scan first")
        summary = store.scan_summary(wanted)
        scan_time = summary.finished_at or summary.started_at
        date = analysis_date(args, scan_time)
        stored_options = store.scan_options(wanted)
        clients, _ = options_for_report(args, stored_options.get("clients"))
        if date is not None:
            clients = dataclasses.replace(clients, as_of=date)
        counts = write_format(
            store, wanted, c.report_format(args), args.output, clients, verbose=args.verbose
        )
        if counts is None:
            return 0
    if not counts.scanned:
        c.err("no endpoint could be scanned")
        return 2
    threshold = Severity.HIGH if args.fail_on is None else args.fail_on
    return 1 if any(n for sev, n in counts.findings.items() if sev >= threshold) else 0


def _diff(args: argparse.Namespace) -> int:
    """``vedette report diff SCAN_A SCAN_B``: both scans judged at one date (now, or --at /
    --as-of), text or ``--json``, to standard output or ``-o FILE``. Exit 1 when B has a
    regression against A (a finding added or worse, a new endpoint with findings), else 0."""
    from vedette.report.diff import write_diff
    from vedette.store.db import Store

    if len(args.diff_scans) != 2:
        raise UsageError("usage: vedette report diff SCAN_A SCAN_B")
    first, second = (scan_id(t, "report diff: SCAN") for t in args.diff_scans)
    if args.at == "scan":
        raise UsageError("report diff: --at scan has no single date for two scans; give a date")
    now = datetime.now(UTC)
    at = analysis_date(args, now) or now
    if args.format not in (None, "text", "json"):
        raise UsageError(f"report diff: --format {args.format} is not supported (text or json)")
    with Store.open(c.db_url(args), create=False) as store:
        regressions = write_diff(
            store, first, second, at, as_json=bool(args.json or args.format == "json"),
            output=args.output,
        )  # fmt: skip
    return 1 if regressions else 0
