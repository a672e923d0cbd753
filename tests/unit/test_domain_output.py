"""``vedette domain check`` CSV and HTML: DNS-controlled text stays inert in both."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from html.parser import HTMLParser

from vedette.domain.check import DomainReport, Observed
from vedette.domain.output import CSV_COLUMNS, write_csv, write_html
from vedette.domain.view import one_view
from vedette.mailauth.mx import MxHost, MxResult, MxStatus
from vedette.mailauth.registry import DomainFinding
from vedette.model import ScanReport, Severity

NOW = datetime(2026, 12, 1, tzinfo=UTC)
#: A TXT record's text, as a hostile zone may publish it.
HOSTILE = '=HYPERLINK("http://evil.example/","x")<script>alert(1)</script>"\r\nnext'


def _report() -> DomainReport:
    mx = MxResult(
        domain="example.com",
        status=MxStatus.OK,
        hosts=(MxHost(name="mx1.example.com", preference=10, addresses=("192.0.2.1",)),),
    )
    scan = ScanReport(
        scan_id=None,
        targets=(),
        started_at=NOW,
        finished_at=NOW,
        analysed_at=NOW,
        observations=(),
        findings=(),
    )
    finding = DomainFinding(
        id="domain.spf-syntax",
        severity=Severity.MEDIUM,
        title="The SPF record has a syntax error",
        subject="example.com",
        detail=HOSTILE,
        remediation="-all at the end",
    )
    view = one_view(mx, {}, scan, {})
    observed = Observed(domain="example.com", started_at=NOW, finished_at=NOW, dns=(), fetches={})
    return DomainReport(
        domain="example.com",
        started_at=NOW,
        finished_at=NOW,
        mx=mx,
        scan=scan,
        outcomes={},
        findings=(finding,),
        resolved=view.resolved,
        views=view.mx,
        dns_queries=0,
        observed=observed,
        dnssec_source="trust-ad",
    )


def test_csv_cells_are_no_formulas_and_one_row_a_line() -> None:
    out = io.StringIO()
    write_csv([_report()], out)
    lines = out.getvalue().split("\r\n")
    assert len([line for line in lines if line]) == 2  # header and the one finding
    reader = csv.DictReader(io.StringIO(out.getvalue()))
    (row,) = list(reader)
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    assert row["detail"].startswith("'=HYPERLINK(")  # shown as text by spreadsheets
    assert "\r" not in row["detail"] and "\n" not in row["detail"]
    assert row["remediation"] == "'-all at the end"
    assert (row["domain"], row["kind"], row["severity"]) == (
        "example.com",
        "domain",
        "medium",
    )


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_escapes_record_text_and_forbids_scripts() -> None:
    out = io.StringIO()
    write_html([_report()], out)
    page = out.getvalue()
    parser = _Collect()
    parser.feed(page)
    assert "script" not in parser.tags
    assert any("<script>alert(1)</script>" in t for t in parser.text)  # shown, not run
    assert "default-src 'none'" in page
    # The sender table says what each kind of sender does with the MX.
    assert "Opportunistic senders" in "".join(parser.text)


def test_json_document_one_domain_a_line_reads_as_to_json() -> None:
    import json

    from vedette.domain.output import to_json, write_json

    reports = [_report(), _report()]
    out = io.StringIO()
    write_json(reports, out)
    assert json.loads(out.getvalue()) == json.loads(json.dumps(to_json(reports)))
    lines = out.getvalue().splitlines()
    assert lines[0] == "{" and lines[1] == '  "schema": "vedette.domain/1",'
    assert sum(line.startswith('    {"domain":"example.com"') for line in lines) == 2
