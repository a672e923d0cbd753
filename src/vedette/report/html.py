"""The HTML report: one self-contained file (inline CSS, no script, no external asset),
readable offline, safe to open and readable from 800 px wide up.

What it shows: the scan's counts as bar charts (findings, worst severity, the TLS versions
endpoints *accept* from the full enumeration, the negotiated version, issuers, expiry months,
status); the findings with their fix; one line per endpoint "at a glance"; then per endpoint
its facts, the versions and weak suites it accepts, its client matrix (the families that
fail or warn, with every reason and its fix) and each finding with its fix and ``Run:``
commands. The client matrix is the one the terminal and JSON reports show
(``checks.matrix.endpoint_matrix``, passed in as ``matrix_of``).

Safety: every value that a server controls (names, banners, certificate subjects and issuers,
finding details and client reasons quoting them) passes through ``_t``: ``html.escape`` with
quotes, after ``safe_text`` has made control and bidi characters visible. Nothing is ever
inserted as markup, and the page carries a Content-Security-Policy that forbids scripts and
remote loads even if a future change forgot to escape something.

Layout: charts are HTML bars (label cells wrap, nothing is cut); long unbroken strings
(banners, DNs, suite names, commands) may wrap anywhere, so no table is wider than the page.

Size: the endpoint table and sections cover at most ``MAX_ROWS`` endpoints (those with the
most severe findings first among the ones kept); the charts count every endpoint. The CSV and
JSONL reports hold every row.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from vedette.model import ClientMatrix, ClientOutcome, Finding, Observation
from vedette.report._tls_section import accepted_versions, negotiated_version_name, weak_suites
from vedette.report.aggregate import Aggregates, tee
from vedette.report.clients_section import by_family, summary_text
from vedette.report.escape import safe_text
from vedette.report.rows import EndpointRecord
from vedette.tls.registry import SSL2, version_name

if TYPE_CHECKING:
    from vedette.store.db import Store

__all__ = ["MAX_ROWS", "MatrixOf", "bar_chart", "write_html"]

MAX_ROWS = 5000

#: The client matrix of an observation (``None`` without a TLS session).
MatrixOf = Callable[[Observation], ClientMatrix | None]

_SEVERITY_COLOURS = {
    "critical": "#7b1fa2",
    "high": "#c62828",
    "medium": "#ef6c00",
    "low": "#f9a825",
    "info": "#1565c0",
    "none": "#2e7d32",
}
_OUTCOME_COLOURS = {
    ClientOutcome.FAILS: "#c62828",
    ClientOutcome.WARNING: "#ef6c00",
    ClientOutcome.UNKNOWN: "#616161",
}

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0 auto;padding:1em 1.5em;color:#222;
max-width:1200px;line-height:1.4;overflow-wrap:break-word}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}h3{font-size:1.05em;margin:0 0 .4em}
h4{font-size:.95em;margin:.8em 0 .3em}
table{border-collapse:collapse;width:100%;font-size:.85em;table-layout:fixed}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0}.sev{font-weight:bold}
code{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.9em;
white-space:pre-wrap}
.badge{display:inline-block;padding:0 .4em;border-radius:3px;color:#fff;font-weight:bold;
font-size:.85em}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,22em),1fr));
gap:0 2em}
.bars td,.bars th{border:0;padding:1px 4px;background:none;font-weight:normal}
.bars .label{width:48%;text-align:right}.bars .n{width:3.5em;text-align:left}
.bars .bar span{display:block;height:.95em;min-width:2px}
.ep{border:1px solid #ccc;border-radius:4px;padding:.6em .9em;margin:1em 0}
dl.facts{display:grid;grid-template-columns:minmax(6em,10em) minmax(0,1fr);gap:.15em 1em;
margin:0;font-size:.9em}
dl.facts dt{font-weight:bold}dl.facts dd{margin:0;min-width:0}
.finding{border-left:4px solid #ccc;padding:.2em .7em;margin:.5em 0;font-size:.9em}
.finding p{margin:.15em 0}.fix b,.run b{color:#2e7d32}
ul{margin:.2em 0;padding-left:1.3em}.note{color:#8d6e00}
"""


def _t(value: object) -> str:
    """Server text made inert for HTML (visible escapes, then entity-escaped, quotes too)."""
    return html.escape(safe_text(str(value)), quote=True)


def _dn(value: object) -> str:
    """A distinguished name as ``_t`` makes it, with a line-break opportunity after each comma
    (``CN=…,O=…`` has no space to wrap at)."""
    return _t(value).replace(",", ",<wbr>")


def _badge(label: str, colour: str) -> str:
    text_colour = "#222" if label == "low" else "#fff"
    return f'<span class="badge" style="background:{colour};color:{text_colour}">{_t(label)}</span>'


def bar_chart(
    title: str, counts: Iterable[tuple[str, int]], colours: dict[str, str] | None = None
) -> str:
    """A horizontal bar chart as an HTML table: labels (escaped like any server text) wrap
    instead of being cut, and the bars scale with the page."""
    items = list(counts)
    if not items:
        return f'<div class="chart"><h2>{_t(title)}</h2><p>none</p></div>'
    top = max(n for _, n in items) or 1
    parts = [f'<div class="chart"><h2>{_t(title)}</h2><table class="bars">']
    for label, n in items:
        colour = (colours or {}).get(label, "#455a64")
        width = max(1.0, round(100 * n / top, 1))
        parts.append(
            f'<tr><th scope="row" class="label">{_dn(label)}</th>'
            f'<td class="bar"><span style="width:{width}%;background:{colour}"></span></td>'
            f'<td class="n">{n}</td></tr>'
        )
    parts.append("</table></div>")
    return "".join(parts)


def _top(counter: Counter[str], n: int = 15) -> list[tuple[str, int]]:
    return counter.most_common(n)


def _worst(findings: tuple[Finding, ...]) -> str:
    return max(f.severity for f in findings).label if findings else "none"


def _version_key(label: str) -> tuple[int, str]:
    order = ["SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
    return (order.index(label) if label in order else len(order), label)


def _accepted_text(obs: Observation) -> str:
    """The versions accepted, for the overview (escaped)."""
    scan = obs.tls_scan
    if scan is None:
        return "not enumerated"
    return _t(", ".join(accepted_versions(scan)) or "none")


def _families(matrix: ClientMatrix | None, outcome: ClientOutcome) -> str:
    if matrix is None:
        return ""
    return ", ".join(_t(name) for name, _, _ in by_family(matrix, outcome))


def _tls_facts(obs: Observation) -> list[str]:
    """``<dt>``/``<dd>`` pairs: versions accepted (suites per version), weak suites."""
    scan = obs.tls_scan
    if scan is None:
        return [
            '<dt>TLS accepted</dt><dd class="accepted">not enumerated (quick scan): '
            "<code>vedette scan --mode full</code> lists the versions and suites it "
            "accepts</dd>"
        ]
    counts = {version_name(vs.version): len(vs.suites) for vs in scan.suites}
    versions = [
        f"{_t(v)} ({counts[v]} {'cipher kind' if v == version_name(SSL2) else 'suite'}"
        f"{'s' if counts[v] != 1 else ''})"
        if v in counts
        else _t(v)
        for v in accepted_versions(scan)
    ]
    accepted = ", ".join(versions) or "none accepted a hand-built hello"
    if scan.incomplete:
        accepted += (
            ' <span class="note">(enumeration incomplete: '
            f"{_t(scan.incomplete_reason or 'stopped early')}; more may be accepted)</span>"
        )
    out = [f'<dt>TLS accepted</dt><dd class="accepted">{accepted}</dd>']
    # One line per weak suite, with every version that accepts it.
    weak: dict[tuple[str, str], list[str]] = {}
    for version, name, why in weak_suites(scan):
        weak.setdefault((name, why), []).append(version)
    if weak:
        items = "".join(
            f"<li><code>{_t(name)}</code> ({_t(why)}): {_t(', '.join(versions))}</li>"
            for (name, why), versions in weak.items()
        )
        out.append(f'<dt>Weak suites</dt><dd class="weak"><ul>{items}</ul></dd>')
    else:
        out.append('<dt>Weak suites</dt><dd class="weak">none accepted</dd>')
    return out


def _reasons(reasons: Iterable[tuple[str, str]]) -> str:
    items = "".join(
        f"<li>{_t(text)}"
        + (f' <span class="fix"><b>fix:</b> {_t(fix)}</span>' if fix else "")
        + "</li>"
        for text, fix in reasons
    )
    return f"<ul>{items}</ul>"


def _matrix_html(matrix: ClientMatrix | None) -> str:
    """The endpoint's client matrix: summary, every family that fails or warns (its clients
    and every reason with its fix), unknown clients counted per reason."""
    if matrix is None:
        return '<h4>Clients</h4><p class="matrix">no TLS session: no client matrix</p>'
    parts = [f'<h4>Clients</h4><div class="matrix"><p>{_t(summary_text(matrix))}</p>']
    parts += [f'<p class="note">{_t(note)}</p>' for note in matrix.notes]
    rows = []
    for outcome in (ClientOutcome.FAILS, ClientOutcome.WARNING):
        for family, members, reasons in by_family(matrix, outcome):
            names = ", ".join(_t(v.name) for v in members)
            rows.append(
                f'<tr class="{outcome.value}"><th scope="row">{_t(family)}</th>'
                f"<td>{_badge(outcome.value, _OUTCOME_COLOURS[outcome])}</td>"
                f"<td>{names}</td><td>{_reasons((r.text, r.fix) for r in reasons)}</td></tr>"
            )
    if rows:
        parts.append(
            '<table class="clients"><colgroup><col style="width:9em"><col style="width:6em">'
            '<col style="width:28%"><col></colgroup>'
            "<tr><th>family</th><th>outcome</th><th>clients</th><th>why</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    unknown: dict[tuple[str, str], int] = {}
    for v in matrix.verdicts:
        if v.outcome is ClientOutcome.UNKNOWN:
            for r in v.reasons:
                if r.outcome is ClientOutcome.UNKNOWN:
                    unknown[(r.text, r.fix)] = unknown.get((r.text, r.fix), 0) + 1
    if unknown:
        items = "".join(
            f"<li>{n} client{'s' if n != 1 else ''}: {_t(text)}"
            + (f' <span class="fix"><b>fix:</b> {_t(fix)}</span>' if fix else "")
            + "</li>"
            for (text, fix), n in unknown.items()
        )
        parts.append(f"<p>Unknown:</p><ul>{items}</ul>")
    parts += [f"<p><b>{_t(line)}</b></p>" for line in matrix.inventory]
    parts.append("</div>")
    return "".join(parts)


def _finding_html(f: Finding) -> str:
    colour = _SEVERITY_COLOURS[f.severity.label]
    runs = "".join(
        f'<p class="run"><b>Run:</b> <code>{_t(command)}</code></p>' for command in f.fix_commands
    )
    return (
        f'<div class="finding" style="border-color:{colour}">'
        f"<p>{_badge(f.severity.label, colour)} <code>{_t(f.id)}</code> {_t(f.title)}</p>"
        f"<p>{_t(f.detail)}</p>"
        f'<p class="fix"><b>Fix:</b> {_t(f.remediation)}</p>{runs}</div>'
    )


def _endpoint_html(index: int, r: EndpointRecord, matrix: ClientMatrix | None) -> str:
    worst = _worst(r.findings)
    facts = [f"<dt>Status</dt><dd>{_t(r.status)}</dd>"]
    if r.ptr:
        facts.append(f"<dt>PTR</dt><dd>{_t(r.ptr)}</dd>")
    if r.banner:
        facts.append(f"<dt>Banner</dt><dd><code>{_t(r.banner[:300])}</code></dd>")
    if r.tls_version:
        facts.append(f"<dt>Negotiated</dt><dd>{_t(r.tls_version)}, {_t(r.tls_cipher)}</dd>")
    if r.cert_subject:
        facts.append(
            f"<dt>Certificate</dt><dd>{_dn(r.cert_subject)}<br>issuer {_dn(r.cert_issuer)}<br>"
            f"until {_t(r.cert_not_after)}</dd>"
        )
    if r.tls_version or r.observation.tls_scan is not None:
        facts += _tls_facts(r.observation)
    findings = "".join(_finding_html(f) for f in sorted(r.findings, key=lambda f: -f.severity))
    return (
        f'<section class="ep" id="ep-{index}" data-endpoint="{_t(r.observation.endpoint.label)}">'
        "<h3>"
        f"{_badge(worst, _SEVERITY_COLOURS[worst])} {_t(r.observation.endpoint.label)}</h3>"
        f'<dl class="facts">{"".join(facts)}</dl>'
        + (_matrix_html(matrix) if r.tls_version else "")
        + (f"<h4>Findings</h4>{findings}" if findings else "<h4>Findings</h4><p>none</p>")
        + "</section>\n"
    )


def write_html(
    store: Store,
    scan_id: int,
    records: Iterable[EndpointRecord],
    out: TextIO,
    *,
    analysed_at: datetime,
    matrix_of: MatrixOf | None = None,
) -> int:
    """The page for ``records`` of scan ``scan_id``; ``matrix_of`` gives each endpoint's client
    matrix (no matrix section without it). Returns the number of endpoints counted."""
    summary = store.scan_summary(scan_id)
    agg = Aggregates()
    kept: list[tuple[EndpointRecord, ClientMatrix | None]] = []
    for record in tee(records, agg):
        if len(kept) < MAX_ROWS:
            # Taken as the records stream: the matrix of a just-analysed chunk is cached.
            matrix = None if matrix_of is None else matrix_of(record.observation)
            kept.append((record, matrix))
    kept.sort(
        key=lambda rm: (
            -max((f.severity for f in rm[0].findings), default=-1),
            rm[0].ip,
            rm[0].port,
        )
    )
    write = out.write
    write(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
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
    old = {"SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"}
    write('<div class="charts">')
    write(bar_chart("Endpoints by finding", finding_counts, finding_colours))
    write(
        bar_chart(
            "Endpoints by worst severity",
            [(s, agg.by_severity[s]) for s in severity_order if agg.by_severity[s]],
            _SEVERITY_COLOURS,
        )
    )
    accepted = sorted(agg.by_tls_accepted.items(), key=lambda kv: _version_key(kv[0]))
    write(
        bar_chart(
            "TLS versions accepted (endpoints)",
            accepted,
            {v: _SEVERITY_COLOURS["high"] for v in old},
        )
    )
    negotiated: Counter[str] = Counter()
    for version, n in agg.by_tls_version.items():
        negotiated[negotiated_version_name(version)] += n
    write(
        bar_chart(
            "TLS version negotiated",
            sorted(negotiated.items(), key=lambda kv: _version_key(kv[0])),
        )
    )
    write(bar_chart("Certificate issuer (top 15)", _top(agg.by_issuer)))
    write(bar_chart("Certificate expiry month", sorted(agg.by_expiry_month.items())))
    write(bar_chart("Status", _top(agg.by_status)))
    write("</div>\n")
    if agg.accepted_unenumerated:
        write(
            f'<p class="note">{agg.accepted_unenumerated} endpoint(s) were not enumerated '
            "(quick mode): the accepted-versions chart counts them under the version they "
            "negotiated only.</p>\n"
        )
    if agg.by_finding:
        write(
            '<h2>Findings</h2><table class="findings"><colgroup><col style="width:24%">'
            '<col style="width:7em"><col style="width:7em"><col></colgroup>'
            "<tr><th>finding</th><th>severity</th>"
            "<th>endpoints</th><th>what and fix</th></tr>"
        )
        for fid, n in finding_counts:
            sev = agg.severity_of[fid].label
            write(
                f'<tr><td><code>{_t(fid)}</code></td><td class="sev" '
                f'style="color:{_SEVERITY_COLOURS[sev]}">{sev}</td><td>{n}</td>'
                f'<td>{_t(agg.titles[fid])}<br><span class="fix"><b>Fix:</b> '
                f"{_t(agg.fixes[fid])}</span></td></tr>"
            )
        write("</table>\n")
    shown = f"{len(kept)} of {agg.endpoints}" if agg.endpoints > len(kept) else str(len(kept))
    write(
        f'<h2>Endpoints at a glance ({shown})</h2><table class="glance"><colgroup>'
        '<col style="width:26%"><col style="width:5.5em"><col><col style="width:26%"><col>'
        "</colgroup><tr><th>endpoint</th><th>worst</th><th>TLS accepted</th>"
        "<th>certificate</th><th>clients that fail</th></tr>"
    )
    for i, (r, matrix) in enumerate(kept):
        worst = _worst(r.findings)
        cert = (
            f"{_dn(r.cert_subject)}<br>until {_t(r.cert_not_after[:10])}" if r.cert_subject else ""
        )
        write(
            f'<tr><td><a href="#ep-{i}">{_t(r.observation.endpoint.label)}</a></td>'
            f'<td class="sev" style="color:{_SEVERITY_COLOURS[worst]}">{worst}</td>'
            f"<td>{_accepted_text(r.observation) if r.tls_version else 'no TLS'}</td>"
            f'<td>{cert}</td><td class="failing">{_families(matrix, ClientOutcome.FAILS)}</td>'
            "</tr>\n"
        )
    write("</table>\n<h2>Endpoints</h2>\n")
    for i, (r, matrix) in enumerate(kept):
        write(_endpoint_html(i, r, matrix))
    write("</body></html>\n")
    return agg.endpoints
