"""``vedette report [SCAN|last]``: analyse a stored scan again, without the network."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from vedette.commands import _common as c
from vedette.commands._cert_clients import add_matrix_arguments, options_for_report
from vedette.errors import UsageError

NAME = "report"
HELP = "analyse a stored scan again, without the network"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "scan",
        nargs="?",
        default="last",
        help="scan id or 'last' (default); 'diff A B' compares two scans",
    )
    p.add_argument("diff_scans", nargs="*", metavar="A B", help=argparse.SUPPRESS)
    p.add_argument(
        "--format",
        choices=("text", "json", "csv", "jsonl", "html", "summary"),
        default=None,
        help="text (default), json (as --json), or csv, jsonl, html, summary (aggregates) "
        "streamed from the store",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write csv/jsonl/html to FILE")
    p.add_argument("--list", action="store_true", help="list stored scans")
    p.add_argument(
        "--at",
        default="now",
        metavar="now|scan|DATE",
        help="judge certificate dates now (default), at the scan's time, or at an ISO date",
    )
    c.add_output_options(p)
    add_matrix_arguments(p)


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


def run(args: argparse.Namespace) -> int:
    from vedette.store.db import Store

    if args.scan == "diff":
        from vedette.report.diff import run_diff

        return run_diff(args)
    if args.diff_scans:
        raise UsageError(f"unexpected argument(s): {' '.join(args.diff_scans)}")
    if args.format == "json":
        args.json = True
    with Store.open(c.db_url(args)) as store:
        if args.list:
            for s in store.list_scans():
                sys.stdout.write(
                    f"{s.scan_id}\t{s.started_at.isoformat()}\t"
                    f"{s.endpoints}\t{' '.join(s.targets)}\n"
                )
            return 0
        if args.scan == "last":
            scan_id = store.last_scan_id()
            if scan_id is None:
                raise UsageError("no scan stored yet; run vedette scan first")
        elif args.scan.isdigit():
            scan_id = int(args.scan)
        else:
            raise UsageError(f"scan must be a number or 'last', not {args.scan!r}")
        if args.format in ("csv", "jsonl", "html", "summary"):
            from vedette.report.stored import write_stored

            scan_time = store.scan_summary(scan_id).started_at
            return write_stored(store, scan_id, args, _parse_at(args.at, scan_time))
        stored = store.load_scan(scan_id)
    extra = c.stored_certificates(stored.options, "ca_roots_der_hex")
    known = c.stored_certificates(stored.options, "intermediates_der_hex")
    clients, _ = options_for_report(args, stored.options.get("clients"))
    finished = stored.finished_at or stored.started_at
    report = c.make_report(
        scan_id=stored.scan_id,
        targets=stored.targets,
        started=stored.started_at,
        finished=finished,
        observations=stored.observations,
        ctx=c.context(_parse_at(args.at, finished), extra, clients, known),
    )
    return c.emit(report, args)
