"""``vedette domain check`` output: plain words in the terminal, JSON ``vedette.domain/1``.

The JSON document (documented in the README, "Checking a mail domain")::

    {"schema": "vedette.domain/1", "vedette": VERSION, "domains": [DOMAIN...],
     "summary": {"critical": N, "high": N, "medium": N, "low": N, "info": N}}

    DOMAIN = {"domain", "started_at", "finished_at", "dnssec_source", "dns_queries",
              "mx": {...}, "rules": {"mta_sts": {...}, "spf": {...}, ...},
              "mx_view": [MX...], "findings": [FINDING...],
              "endpoints": [ENDPOINT...], "endpoint_findings": [RESOLVED...],
              "observation": OBSERVED}   (domain.check.Observed: the DNS answers the rules
              read and the policies fetched; with the MX scans, enough to judge again)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from rich.text import Text

from vedette import __version__
from vedette.model import Observation, Severity
from vedette.report.escape import safe_text
from vedette.report.lines import put
from vedette.report.terminal import badge_style, short_fix

if TYPE_CHECKING:
    from rich.console import Console

    from vedette.domain.check import DomainReport
    from vedette.domain.view import ResolvedFinding

__all__ = [
    "CSV_COLUMNS",
    "SCHEMA",
    "render_terminal",
    "severities",
    "to_json",
    "write_csv",
    "write_html",
    "write_json",
]

SCHEMA = "vedette.domain/1"


def severities(reports: Sequence[DomainReport]) -> list[Severity]:
    """Every finding's severity as the domain check weighs it (domain findings, and the
    endpoint findings resolved by DANE/MTA-STS)."""
    out = [f.severity for r in reports for f in r.findings]
    out.extend(f.severity for r in reports for f in r.resolved)
    return out


def _resolved_json(r: ResolvedFinding) -> dict[str, Any]:
    f = r.finding
    return {
        "id": f.id,
        "severity": r.severity.label,
        "scan_severity": f.severity.label,
        "title": f.title,
        "host": f.endpoint.host,
        "ip": f.endpoint.ip,
        "port": f.endpoint.port,
        "service": f.endpoint.service.value,
        "detail": f.detail,
        "remediation": f.remediation,
        "note": r.note,
    }


def _endpoint_json(o: Observation) -> dict[str, Any]:
    ep = o.endpoint
    return {
        "host": ep.host,
        "ip": ep.ip,
        "port": ep.port,
        "service": ep.service.value,
        "scanned": o.scanned,
        "tls_version": None if o.tls is None else o.tls.version,
        "chain_sha256": [] if o.tls is None else [_sha256(d) for d in o.tls.chain_der],
        "failure": None if o.failure is None else o.failure.detail,
    }


def _sha256(der: bytes) -> str:
    import hashlib

    return hashlib.sha256(der).hexdigest()


def domain_json(r: DomainReport) -> dict[str, Any]:
    return {
        "domain": r.domain,
        "started_at": r.started_at.isoformat(),
        "finished_at": r.finished_at.isoformat(),
        "dnssec_source": r.dnssec_source,
        "dns_queries": r.dns_queries,
        "mx": r.mx.to_json(),
        "rules": {name: outcome.to_json() for name, outcome in r.outcomes.items()},
        "mx_view": [v.to_json() for v in r.views],
        "findings": [f.to_json() for f in r.findings],
        "endpoints": [_endpoint_json(o) for o in r.scan.observations],
        "endpoint_findings": [_resolved_json(x) for x in r.resolved],
        "observation": r.observed.to_json(),
    }


def to_json(reports: Sequence[DomainReport]) -> dict[str, Any]:
    counts = Counter(s.label for s in severities(reports))
    return {
        "schema": SCHEMA,
        "vedette": __version__,
        "domains": [domain_json(r) for r in reports],
        "summary": {s.label: counts.get(s.label, 0) for s in sorted(Severity, reverse=True)},
    }


def write_json(reports: Sequence[DomainReport], out: TextIO) -> None:
    """The :func:`to_json` document, one domain a line (compact, so that a fleet of thousands
    is written at the C encoder's speed; any JSON reader reads it as one document)."""
    import json

    doc = to_json(reports)
    domains = doc.pop("domains")
    head = json.dumps(doc, indent=2)[:-2]  # without the closing "\n}"
    out.write(head + ',\n  "domains": [')
    for i, d in enumerate(domains):
        out.write(("\n    " if i == 0 else ",\n    ") + json.dumps(d, separators=(",", ":")))
    out.write("\n  ]\n}\n")


# --- terminal ----------------------------------------------------------------------------------

_MX_STATUS_WORDS = {
    "ok": "",
    "implicit": "no MX record: mail goes to the domain's own address",
    "null": "null MX: this domain accepts no mail",
    "no-mail": "no MX and no address: this domain cannot receive mail",
    "nxdomain": "the domain does not exist",
    "failed": "the MX lookup failed",
}


_MARKS: dict[bool | None, tuple[str, str]] = {
    True: ("ok ", "green"),
    False: ("NO ", "bold red"),
    None: (" - ", "dim"),
}


def _s(text: str) -> str:
    return safe_text(text)


def _badge(console: Console, severity: Severity, ident: str, title: str, indent: int) -> None:
    put(
        console,
        (f" {severity.label.upper()} ", badge_style(severity)),
        " ",
        (_s(ident), "bold"),
        "  ",
        _s(title),
        indent=indent,
        hang=2,
    )


def _mta_sts_line(data: dict[str, Any]) -> str:
    if data.get("record_status") != "present":
        return f"record {data.get('record_status')}"
    if not data.get("fetched"):
        return f"policy not fetched: {data.get('fetch_error')}"
    mode = data.get("mode_applied")
    policy = data.get("policy") or {}
    host = data.get("policy_host_certificate_valid")
    cert = "policy host certificate valid" if host else "policy host certificate NOT valid"
    return (
        f"mode applied by senders: {mode or 'none'} (policy says {policy.get('mode')}, "
        f"max_age {policy.get('max_age')}, mx {', '.join(policy.get('mx') or [])}); {cert}"
    )


def _spf_line(data: dict[str, Any]) -> str:
    records = data.get("records") or []
    if not records:
        return "no SPF record"
    if len(records) > 1:
        return f"{len(records)} SPF records (receivers treat that as an error)"
    more = "+" if data.get("lookup_count_truncated") else ""
    parts = [
        f"DNS lookups {data.get('lookup_count')}{more} of 10, void {data.get('void_lookups')} of 2",
        f"ends {data['all']}all" if data.get("all") else "no all term",
    ]
    verdicts = data.get("verdicts") or []
    if verdicts:
        parts.append(
            ", ".join(
                f"{v.get('host') or 'sender'} {v.get('address')} {v.get('result')}"
                for v in verdicts[:6]
            )
            + (f" and {len(verdicts) - 6} more" if len(verdicts) > 6 else "")
        )
    return "; ".join(parts)


def _dkim_line(data: dict[str, Any]) -> str:
    keys = [k for k in data.get("keys") or [] if k.get("status") == "found"]
    asked = len(data.get("keys") or [])
    common = data.get("selectors_from") == "common list"
    if not keys:
        where = f"the {asked} common selectors" if common else f"the {asked} selector(s) given"
        hint = " (selectors cannot be listed: give --dkim-selector)" if common else ""
        return f"no key at {where}{hint}"
    found = []
    for k in keys[:6]:
        words = "revoked" if k.get("revoked") else f"{k.get('key_type')} {k.get('bits') or '?'}"
        found.append(f"{k.get('selector')} ({words}{', testing' if k.get('testing') else ''})")
    return f"keys at {', '.join(found)}" + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")


def _dmarc_line(data: dict[str, Any]) -> str:
    record = data.get("record")
    if not record:
        return "no DMARC record"
    where = data.get("policy_domain")
    inherited = f" (inherited from {where})" if where and where != data.get("domain") else ""
    testing = ", t=y: testing" if record.get("t") == "y" else ""
    return (
        f"policy applied: {data.get('applied_policy')}{inherited}{testing}; alignment "
        f"DKIM {record.get('adkim') or 'r'}, SPF {record.get('aspf') or 'r'}; reports to "
        f"{', '.join(record.get('rua') or []) or 'nobody'}"
    )


def _tlsrpt_line(data: dict[str, Any]) -> str:
    if not data.get("record"):
        return "no TLS-RPT record"
    return "reports to " + (", ".join(data.get("destinations") or []) or "nobody")


def _bimi_line(data: dict[str, Any]) -> str:
    if not data.get("record"):
        return "no BIMI record"
    logo = (data.get("logo") or {}).get("status")
    enforcing = "DMARC enforces" if data.get("dmarc_enforcing") else "DMARC does NOT enforce"
    return f"record at {data.get('record_name')}; logo {logo}; {enforcing}"


def _caa_line(data: dict[str, Any]) -> str:
    issue = data.get("issue")
    allowed = "any CA may issue" if issue is None else f"issue: {', '.join(issue) or 'no CA'}"
    words = {True: "allowed", False: "NOT allowed", None: "unknown"}
    certs = [
        f"{name} ({c.get('issuer')}) {words.get(ok, 'unknown')}"
        for c in data.get("certificates") or []
        for name, ok in (c.get("allowed") or {}).items()
    ]
    return allowed + ("; MX certificates: " + ", ".join(certs[:8]) if certs else "")


def _dnssec_line(data: dict[str, Any]) -> str:
    return ", ".join(
        f"{name} {v.get('security')}"
        + (f" ({v.get('reason')})" if v.get("security") == "bogus" else "")
        for name, v in list(data.items())[:8]
    )


def _dane_line(data: dict[str, Any]) -> str:
    parts = []
    for host, v in list(data.items())[:8]:
        if not v.get("applies"):
            words = (
                "no TLSA record"
                if v.get("tlsa_status") in ("nodata", "nxdomain")
                else ("does not apply")
            )
        elif v.get("dane_ee_match"):
            words = "a DANE-EE record matches"
        elif v.get("dane_match") and all(v["dane_match"].values()):
            words = "a TLSA record matches"
        else:
            words = "NO TLSA record matches"
        parts.append(f"{host} {words}")
    return ", ".join(parts)


_RULE_LINES = {
    "dnssec": _dnssec_line,
    "dane": _dane_line,
    "mta_sts": _mta_sts_line,
    "spf": _spf_line,
    "dkim": _dkim_line,
    "dmarc": _dmarc_line,
    "tlsrpt": _tlsrpt_line,
    "bimi": _bimi_line,
    "caa": _caa_line,
}


def _rule_line(name: str, outcome: Any) -> str:
    """One line of facts for a rule (its findings follow, with the domain's)."""
    data = outcome.to_json()
    line = _RULE_LINES.get(name)
    if line is not None:
        try:
            return line(data)
        except (AttributeError, TypeError, ValueError):
            pass  # an unexpected shape: the count below still says something true
    count = len(outcome.findings)
    return "no problem found" if not count else f"{count} finding(s)"


def render_terminal(reports: Sequence[DomainReport], console: Console, *, verbose: bool) -> None:
    for r in reports:
        put(console, (_s(r.domain), "bold"), "  mail domain check", indent=0)
        words = _MX_STATUS_WORDS.get(str(r.mx.status), "")
        if words:
            put(console, ("Mail servers: ", "bold"), words, indent=2, hang=14)
        for v in r.views:
            where = ", ".join(v.addresses) or "no address"
            put(
                console,
                ("MX ", "bold"),
                f"{v.preference} {_s(v.host)} ({_s(where)})",
                indent=2,
                hang=3,
            )
            for s in v.senders:
                mark, style = _MARKS[s.delivers]
                put(console, (mark, style), f"{s.profile}: {_s(s.reason)}", indent=6, hang=4)
        for name, outcome in r.outcomes.items():
            put(console, (f"{name}: ", "bold"), _s(_rule_line(name, outcome)), indent=2, hang=4)
        put(console, ("DNSSEC from: ", "dim"), r.dnssec_source, f"; {r.dns_queries} DNS queries",
            indent=2)  # fmt: skip
        if r.findings:
            put(console, (f"Domain findings ({len(r.findings)})", "bold"), indent=2)
        for f in r.findings:
            _badge(console, f.severity, f.id, f.title, 4)
            put(console, f"{_s(f.subject)}: {_s(f.detail)}", indent=6, hang=2)
            fix = f.remediation if verbose else short_fix(f.remediation)
            put(console, ("Fix: ", "bold green"), _s(fix), indent=6, hang=5)
        if r.resolved:
            put(console, (f"Server findings ({len(r.resolved)})", "bold"), indent=2)
        for x in r.resolved:
            sf = x.finding
            _badge(console, x.severity, sf.id, sf.title, 4)
            where = f"{sf.endpoint.host or sf.endpoint.ip} port {sf.endpoint.port}"
            put(console, f"{_s(where)}: {_s(sf.detail)}", indent=6, hang=2)
            if x.note:
                put(console, ("DANE/MTA-STS: ", "dim"), x.note, indent=6, hang=14)
            fix = sf.remediation if verbose else short_fix(sf.remediation)
            put(console, ("Fix: ", "bold green"), _s(fix), indent=6, hang=5)
        console.print()
    counts = Counter(severities(reports))
    parts = [f"{counts[s]} {s.label}" for s in sorted(Severity, reverse=True) if counts[s]]
    put(console, Text(f"{len(reports)} domain(s): " + (", ".join(parts) or "no findings")))


# --- CSV and HTML ------------------------------------------------------------------------------

#: One row a finding, domain findings first, then the servers' (weighed by DANE/MTA-STS).
CSV_COLUMNS = (
    "domain",
    "kind",
    "id",
    "severity",
    "scan_severity",
    "subject",
    "port",
    "title",
    "detail",
    "note",
    "remediation",
)


def _rows(reports: Sequence[DomainReport]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for r in reports:
        for f in r.findings:
            rows.append(
                {
                    "domain": r.domain,
                    "kind": "domain",
                    "id": f.id,
                    "severity": f.severity.label,
                    "scan_severity": "",
                    "subject": f.subject,
                    "port": "",
                    "title": f.title,
                    "detail": f.detail,
                    "note": "",
                    "remediation": f.remediation,
                }
            )
        for x in r.resolved:
            sf = x.finding
            rows.append(
                {
                    "domain": r.domain,
                    "kind": "server",
                    "id": sf.id,
                    "severity": x.severity.label,
                    "scan_severity": sf.severity.label,
                    "subject": sf.endpoint.host or sf.endpoint.ip or "",
                    "port": str(sf.endpoint.port),
                    "title": sf.title,
                    "detail": sf.detail,
                    "note": x.note,
                    "remediation": sf.remediation,
                }
            )
    return rows


def write_csv(reports: Sequence[DomainReport], out: TextIO) -> None:
    """One row a finding (:data:`CSV_COLUMNS`), every cell made inert for a spreadsheet the
    way ``vedette report --format csv`` does it (``report.csv.csv_cell``: no formula, control
    characters shown as escapes), RFC 4180 quoting."""
    import csv

    from vedette.report.csv import csv_cell

    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in _rows(reports):
        writer.writerow([csv_cell(row[k]) for k in CSV_COLUMNS])


def write_html(reports: Sequence[DomainReport], out: TextIO) -> None:
    """One self-contained page: per domain, its MX and what senders do, one line per record
    (as the terminal), then the findings.
    As ``vedette report --format html``: every value passes through ``html.escape`` (quotes
    too) after ``safe_text``, and a Content-Security-Policy forbids scripts and remote loads."""
    from html import escape

    def e(text: object) -> str:
        return escape(safe_text(str(text)), quote=True)

    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\"><title>vedette domain check</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
        ".critical,.high{color:#a00;font-weight:bold}.medium{color:#a60}.low{color:#068}"
        ".info{color:#555}.no{color:#a00}.ok{color:#070}</style></head><body>",
        "<h1>vedette domain check</h1>",
    ]
    for r in reports:
        parts.append(f"<h2>{e(r.domain)}</h2><table><tr><th>MX</th><th>sender</th>"
                     "<th>delivers</th><th>why</th></tr>")  # fmt: skip
        for v in r.views:
            for s in v.senders:
                mark, cls = {True: ("yes", "ok"), False: ("no", "no"), None: ("-", "")}[s.delivers]
                parts.append(
                    f"<tr><td>{v.preference} {e(v.host)}</td><td>{e(s.profile)}</td>"
                    f"<td class='{cls}'>{mark}</td><td>{e(s.reason)}</td></tr>"
                )
        parts.append("</table><table><tr><th>record</th><th>what vedette read</th></tr>")
        for name, outcome in r.outcomes.items():
            parts.append(f"<tr><td>{e(name)}</td><td>{e(_rule_line(name, outcome))}</td></tr>")
        parts.append("</table><table><tr><th>severity</th><th>id</th><th>where</th>"
                     "<th>what</th><th>fix</th></tr>")  # fmt: skip
        for row in _rows([r]):
            where = row["subject"] + (f" port {row['port']}" if row["port"] else "")
            what = row["title"] + (f": {row['detail']}" if row["detail"] else "")
            if row["note"]:
                what += f" ({row['note']})"
            parts.append(
                f"<tr><td class='{e(row['severity'])}'>{e(row['severity'])}</td>"
                f"<td>{e(row['id'])}</td><td>{e(where)}</td><td>{e(what)}</td>"
                f"<td>{e(row['remediation'])}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    out.write("\n".join(parts) + "\n")
