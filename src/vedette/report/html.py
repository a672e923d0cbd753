"""The HTML report: one self-contained file (inline CSS and SVG charts, no script, no external
asset), readable offline and safe to open.

Safety: every value that a server controls (names, banners, certificate subjects and issuers,
finding details quoting them) passes through ``_t``: ``html.escape`` with quotes, after
``safe_text`` has made control and bidi characters visible. Nothing is ever inserted as
markup, and the page carries a Content-Security-Policy that forbids scripts and remote loads
even if a future change forgot to escape something.

Size: the endpoint table lists at most ``MAX_ROWS`` endpoints (those with the most severe
findings first among the ones kept); the charts count every endpoint. The CSV and JSONL
reports hold every row.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from vedette.report.aggregate import Aggregates, tee
from vedette.report.escape import safe_text
from vedette.report.rows import EndpointRecord

if TYPE_CHECKING:
    from vedette.store.db import Store

__all__ = ["MAX_ROWS", "bar_chart", "write_html"]

MAX_ROWS = 5000

_SEVERITY_COLOURS = {
    "critical": "#7b1fa2",
    "high": "#c62828",
    "medium": "#ef6c00",
    "low": "#f9a825",
    "info": "#1565c0",
    "none": "#2e7d32",
}

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;width:100%;font-size:.85em}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0}.sev{font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:2em}.chart{flex:1 1 500px}
code{font-size:.9em;word-break:break-all}
"""


def _t(value: object) -> str:
    """Server text made inert for HTML (visible escapes, then entity-escaped, quotes too)."""
    return html.escape(safe_text(str(value)), quote=True)


def bar_chart(
    title: str, counts: Iterable[tuple[str, int]], colours: dict[str, str] | None = None
) -> str:
    """A horizontal bar chart as inline SVG; labels escaped like any server text."""
    items = list(counts)
    if not items:
        return f'<div class="chart"><h2>{_t(title)}</h2><p>none</p></div>'
    width, bar_h, label_w = 560, 18, 250
    height = bar_h * len(items) + 10
    top = max(n for _, n in items) or 1
    parts = [
        f'<div class="chart"><h2>{_t(title)}</h2>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_t(title)}">',
    ]
    for i, (label, n) in enumerate(items):
        y = 5 + i * bar_h
        w = max(1, round((width - label_w - 60) * n / top))
        colour = (colours or {}).get(label, "#455a64")
        shown = label if len(label) <= 40 else label[:39] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" font-size="12">'
            f"<title>{_t(label)}</title>{_t(shown)}</text>"
            f'<rect x="{label_w}" y="{y + 2}" width="{w}" height="{bar_h - 4}" '
            f'fill="{colour}"/>'
            f'<text x="{label_w + w + 4}" y="{y + 13}" font-size="12">{n}</text>'
        )
    parts.append("</svg></div>")
    return "".join(parts)


def _top(counter: Counter[str], n: int = 15) -> list[tuple[str, int]]:
    return counter.most_common(n)


def write_html(
    store: Store,
    scan_id: int,
    records: Iterable[EndpointRecord],
    out: TextIO,
    *,
    analysed_at: datetime,
) -> int:
    summary = store.scan_summary(scan_id)
    agg = Aggregates()
    kept: list[EndpointRecord] = []
    for record in tee(records, agg):
        if len(kept) < MAX_ROWS:
            kept.append(record)
    kept.sort(key=lambda r: (-max((f.severity for f in r.findings), default=-1), r.ip, r.port))
    write = out.write
    write(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>vedette scan {scan_id}</title><style>{_CSS}</style></head><body>\n"
    )
    write(f"<h1>vedette scan {scan_id}</h1>\n<p>")
    write(f"Targets: {_t(' '.join(summary.targets[:20]))}<br>")
    write(f"Started {_t(summary.started_at.isoformat())}, ")
    finished = summary.finished_at.isoformat() if summary.finished_at else "not finished"
    write(f"finished {_t(finished)}; analysed at {_t(analysed_at.isoformat())}.<br>")
    write(f"{agg.endpoints} endpoints, {agg.failed} stopped short.</p>\n")
    finding_counts = [
        (fid, n)
        for fid, n in sorted(
            agg.by_finding.items(), key=lambda kv: (-agg.severity_of[kv[0]], -kv[1], kv[0])
        )
    ]
    finding_colours = {fid: _SEVERITY_COLOURS[agg.severity_of[fid].label] for fid in agg.by_finding}
    severity_order = ["critical", "high", "medium", "low", "info", "none"]
    write('<div class="charts">')
    write(bar_chart("Endpoints by finding", finding_counts, finding_colours))
    write(
        bar_chart(
            "Endpoints by worst severity",
            [(s, agg.by_severity[s]) for s in severity_order if agg.by_severity[s]],
            _SEVERITY_COLOURS,
        )
    )
    write(bar_chart("TLS version", sorted(agg.by_tls_version.items())))
    write(bar_chart("Certificate issuer (top 15)", _top(agg.by_issuer)))
    write(bar_chart("Certificate expiry month", sorted(agg.by_expiry_month.items())))
    write(bar_chart("Status", _top(agg.by_status)))
    write("</div>\n")
    if agg.by_finding:
        write(
            "<h2>Findings</h2><table><tr><th>finding</th><th>severity</th>"
            "<th>endpoints</th><th>title</th></tr>"
        )
        for fid, n in finding_counts:
            sev = agg.severity_of[fid].label
            write(
                f'<tr><td><code>{_t(fid)}</code></td><td class="sev" '
                f'style="color:{_SEVERITY_COLOURS[sev]}">{sev}</td><td>{n}</td>'
                f"<td>{_t(agg.titles[fid])}</td></tr>"
            )
        write("</table>\n")
    shown = f"{len(kept)} of {agg.endpoints}" if agg.endpoints > len(kept) else str(len(kept))
    write(
        f"<h2>Endpoints ({shown})</h2><table><tr><th>endpoint</th><th>ptr</th>"
        "<th>status</th><th>TLS</th><th>certificate</th><th>banner</th><th>findings</th></tr>"
    )
    for r in kept:
        findings = "<br>".join(
            f'<span class="sev" style="color:{_SEVERITY_COLOURS[f.severity.label]}">'
            f"{f.severity.label}</span> <code>{_t(f.id)}</code>: {_t(f.detail)}"
            for f in sorted(r.findings, key=lambda f: -f.severity)
        )
        cert = ""
        if r.cert_subject:
            cert = (
                f"{_t(r.cert_subject)}<br>issuer {_t(r.cert_issuer)}<br>"
                f"until {_t(r.cert_not_after)}"
            )
        write(
            f"<tr><td>{_t(r.observation.endpoint.label)}</td><td>{_t(r.ptr)}</td>"
            f"<td>{_t(r.status)}</td><td>{_t(r.tls_version)}</td><td>{cert}</td>"
            f"<td><code>{_t(r.banner[:300])}</code></td><td>{findings}</td></tr>\n"
        )
    write("</table>\n</body></html>\n")
    return agg.endpoints
