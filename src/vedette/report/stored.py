"""``vedette report SCAN --format csv|jsonl|html|summary``: reports over a stored scan, streamed.

The terminal and JSON reports (``--format text|json``) load a scan whole and analyse it; they
suit one host or a domain. These formats read the store in batches (``report.rows``) so they
work on a fleet scan of any size, and write to standard output or ``--output FILE``.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from vedette.commands import _common as c
from vedette.errors import UsageError

if TYPE_CHECKING:
    from vedette.store.db import Store

__all__ = ["STREAMED_FORMATS", "write_stored"]

STREAMED_FORMATS = ("csv", "jsonl", "html", "summary")


def write_stored(store: Store, scan_id: int, args: argparse.Namespace, at: datetime) -> int:
    from vedette.report.rows import endpoint_records

    stored_options = store.scan_options(scan_id)
    extra = c.stored_certificates(stored_options, "ca_roots_der_hex")
    known = c.stored_certificates(stored_options, "intermediates_der_hex")
    ctx = c.context(at, extra, None, known)
    records = endpoint_records(store, scan_id, ctx)
    output = getattr(args, "output", None)
    try:
        handle: TextIO
        with (
            open(output, "w", encoding="utf-8", newline="") if output else nullcontext(sys.stdout)
        ) as handle:
            if args.format == "csv":
                from vedette.report.csv import write_csv

                write_csv(records, handle)
            elif args.format == "summary":
                from vedette.report.aggregate import aggregate, write_summary

                write_summary(aggregate(records), handle)
            elif args.format == "jsonl":
                from vedette.report.jsonl import write_jsonl

                write_jsonl(records, scan_id, handle)
            else:
                from vedette.report.html import write_html

                write_html(store, scan_id, records, handle, analysed_at=at)
    except OSError as exc:
        raise UsageError(f"--output {output}: {exc.strerror or exc}") from None
    return 0
