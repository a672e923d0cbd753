"""``vedette report SCAN --format csv|jsonl|html|summary``: reports over a stored scan, streamed.

The terminal and JSON reports (``--format text|json``) load a scan whole and analyse it; they
suit one host or a domain. These formats read the store in batches (``report.rows``) so they
work on a fleet scan of any size, and write to standard output or ``--output FILE``
(atomically: ``report.output``).
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from vedette import analysis
from vedette.model import ScanReport, Severity
from vedette.plan import FORMATS as FORMATS
from vedette.plan import STREAMED_FORMATS as STREAMED_FORMATS
from vedette.report.output import report_output

if TYPE_CHECKING:
    from collections.abc import Iterable

    from vedette.checks import CheckContext
    from vedette.model import Finding
    from vedette.report.json import ScanHead
    from vedette.store.db import Store, StoredRow
    from vedette.trust.simulate import ClientOptions

__all__ = [
    "FORMATS",
    "STREAMED_FORMATS",
    "ReportCounts",
    "write_format",
    "write_report",
    "write_stored",
]


def write_stored(
    store: Store,
    scan_id: int,
    fmt: str,
    output: str | None,
    at: datetime,
    clients: ClientOptions | None = None,
) -> int:
    """Scan ``scan_id`` as ``fmt`` (one of :data:`STREAMED_FORMATS`), judged at ``at``, to
    ``output`` (standard output when ``None``); ``clients`` are the client matrix's options
    (families, ``--inventory``…), as for the terminal report."""
    from vedette.report.rows import endpoint_records

    stored_options = store.scan_options(scan_id)
    extra = analysis.stored_certificates(stored_options, "ca_roots_der_hex")
    known = analysis.stored_certificates(stored_options, "intermediates_der_hex")
    ctx = analysis.context(at, extra, clients, known)
    records = endpoint_records(store, scan_id, ctx)
    with report_output(output) as handle:
        if fmt == "csv":
            from vedette.report.csv import write_csv

            write_csv(records, handle)
        elif fmt == "summary":
            from vedette.report.aggregate import aggregate, write_summary

            write_summary(aggregate(records), handle)
        elif fmt == "jsonl":
            from vedette.report.jsonl import write_jsonl

            write_jsonl(records, scan_id, handle)
        else:
            from vedette.checks.matrix import endpoint_matrix
            from vedette.report.html import write_html

            write_html(
                store,
                scan_id,
                records,
                handle,
                analysed_at=ctx.now,
                matrix_of=lambda obs: endpoint_matrix(ctx, obs),
            )
    return 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportCounts:
    """What the exit status is decided on: endpoints scanned, findings per severity."""

    scanned: int
    findings: dict[Severity, int]


def write_report(
    store: Store,
    scan_id: int,
    ctx: CheckContext,
    *,
    as_json: bool,
    verbose: bool,
    output: str | None,
) -> ReportCounts:
    """``vedette report SCAN [--json]``: the terminal report or the JSON document of a stored
    scan, read and analysed in chunks (``report.rows.analysed_chunks``), so memory stays flat
    whatever the scan's size. For a scan that is one chunk (one host, a domain, any plain
    scan) the output is exactly what analysing it whole gives; in a fleet scan, a host whose
    targets were stored apart is listed once per chunk it appears in."""
    from vedette.checks.matrix import report_matrices
    from vedette.report.json import ScanHead, json_stream
    from vedette.report.rows import analysed_chunks

    summary = store.scan_summary(scan_id)
    head = ScanHead(
        scan_id=scan_id,
        targets=summary.targets,
        started_at=summary.started_at,
        finished_at=summary.finished_at or summary.started_at,
        analysed_at=ctx.now,
    )
    counts = dict.fromkeys(Severity, 0)
    chunks = analysed_chunks(store, scan_id, ctx)
    with report_output(output) as out:
        if as_json:
            with json_stream() as doc:
                for chunk in chunks:
                    rows = [(row.observation, found) for row, found in chunk]
                    doc.add(rows, report_matrices([obs for obs, _ in rows], ctx))
                    for _, found in rows:
                        for f in found:
                            counts[f.severity] += 1
                doc.write(head, out)
                scanned = doc.scanned
        else:
            scanned = _write_text(head, chunks, ctx, out, counts, verbose=verbose)
    return ReportCounts(scanned=scanned, findings=counts)


def _write_text(
    head: ScanHead,
    chunks: Iterable[list[tuple[StoredRow, tuple[Finding, ...]]]],
    ctx: CheckContext,
    out: TextIO,
    counts: dict[Severity, int],
    *,
    verbose: bool,
) -> int:
    """The terminal report: each chunk's hosts rendered into a spool as they are analysed,
    then the summary line and the opening table (known only at the end) and the spool copied
    after them."""
    from rich.console import Console

    from vedette.checks.matrix import report_matrices
    from vedette.report.lines import put
    from vedette.report.terminal import (
        OVERVIEW_LIMIT,
        OverviewRow,
        overview_rows,
        render_hosts,
        render_orphans,
        render_overview,
        summary_line,
    )

    real = (
        Console(highlight=False, soft_wrap=False)
        if out is sys.stdout
        else Console(file=out, highlight=False)
    )
    endpoints = scanned = unreachable = 0
    orphans: list[Finding] = []
    rows: list[OverviewRow] = []
    notes_seen: set[str] = set()
    with tempfile.SpooledTemporaryFile(1 << 20, mode="w+", encoding="utf-8") as spool:
        body = Console(
            file=spool,
            force_terminal=real.is_terminal,
            color_system=real.color_system,  # type: ignore[arg-type]
            no_color=real.no_color,
            width=real.width,
            highlight=False,
            soft_wrap=False,
        )
        for chunk in chunks:
            observations = tuple(row.observation for row, _ in chunk)
            found = sorted(
                (f for _, fs in chunk for f in fs),
                key=lambda f: (-f.severity, f.endpoint.label, f.id, f.detail),
            )
            part = ScanReport(
                scan_id=head.scan_id,
                targets=head.targets,
                started_at=head.started_at,
                finished_at=head.finished_at,
                analysed_at=head.analysed_at,
                observations=observations,
                findings=tuple(found),
                clients=report_matrices(observations, ctx),
            )
            orphans += render_hosts(part, body, verbose=verbose, notes_seen=notes_seen)
            if len(rows) < OVERVIEW_LIMIT:  # the table shows no more: hold no more
                rows += overview_rows(part)[: OVERVIEW_LIMIT - len(rows)]
            endpoints += len(observations)
            scanned += sum(1 for o in observations if o.scanned)
            unreachable += sum(1 for o in observations if not o.reachable)
            for f in found:
                counts[f.severity] += 1
        line = summary_line(
            head.scan_id,
            endpoints=endpoints,
            scanned=scanned,
            unreachable=unreachable,
            counts=counts,
        )
        put(real, line, hang=2)
        real.print()
        render_overview(real, rows, total=endpoints)
        spool.seek(0)
        while text := spool.read(1 << 20):
            out.write(text)
    render_orphans(real, orphans, verbose=verbose)
    return scanned


def write_format(
    store: Store,
    scan_id: int,
    fmt: str,
    output: str | None,
    clients: ClientOptions,
    *,
    verbose: bool = False,
) -> ReportCounts | None:
    """Stored scan ``scan_id`` in any of :data:`FORMATS`, to ``output`` (standard output when
    ``None``), judged at ``clients.as_of`` or now, with the scan's own ``--ca`` roots and
    intermediates. Text and JSON return what the exit status is decided on; the streamed
    formats return ``None``. What ``vedette report`` and ``vedette scan --format`` both do."""
    from datetime import UTC

    now = datetime.now(UTC)
    if fmt in STREAMED_FORMATS:
        write_stored(store, scan_id, fmt, output, clients.as_of or now, clients)
        return None
    stored_options = store.scan_options(scan_id)
    extra = analysis.stored_certificates(stored_options, "ca_roots_der_hex")
    known = analysis.stored_certificates(stored_options, "intermediates_der_hex")
    ctx = analysis.context(now, extra, clients, known)
    return write_report(store, scan_id, ctx, as_json=fmt == "json", verbose=verbose, output=output)
