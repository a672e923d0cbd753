"""``--targets`` takes a Shadowserver CSV report as received, and vedette's own CSV report.

A CERT re-checks the hosts of a Shadowserver report: ``timestamp,ip,protocol,port,...``
where ``protocol`` is the transport, so the service comes from the port (``--service``
overrides). vedette's own CSV report (``protocol`` is the service there) gives the same
endpoints back. The addresses are loopback ones where nothing listens: the scans are
refused at once and only the endpoints matter here.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.integration.fleet_support import run_vedette

COMMON = ("--quiet", "--connect-timeout", "2")


def _shadowserver(path: Path, rows: list[tuple[str, str]]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)  # CRLF line ends, every field quoted
    writer.writerow(["timestamp", "ip", "protocol", "port", "hostname", "tag", "asn", "geo"])
    for ip, port in rows:
        writer.writerow(["2026-12-01 00:01:02", ip, "tcp", port, "", "imap", "64496", "ZZ"])
    path.write_text("\ufeff" + out.getvalue(), newline="")
    return path


def _endpoints(url: str, scan: str) -> set[tuple[str, str, str]]:
    proc = run_vedette("report", scan, "--format", "csv", "--db", url)
    assert proc.returncode in (0, 1), proc.stderr
    return {(r["ip"], r["port"], r["protocol"]) for r in csv.DictReader(io.StringIO(proc.stdout))}


def test_shadowserver_and_vedette_csv_reports_as_targets(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    rows = [("127.0.9.1", "993"), ("127.0.9.2", "143"), ("127.0.9.3", "995")]
    report = _shadowserver(tmp_path / "shadow.csv", rows)
    proc = run_vedette("scan", "--targets", str(report), "--db", url, *COMMON)
    assert proc.returncode == 0, proc.stderr
    expected = {
        ("127.0.9.1", "993", "imaps"),
        ("127.0.9.2", "143", "imap"),
        ("127.0.9.3", "995", "pop3s"),
    }
    assert _endpoints(url, "1") == expected

    # A port with no standard service: the line is named, nothing is stored ...
    odd = _shadowserver(tmp_path / "odd.csv", [*rows, ("127.0.9.4", "10143")])
    proc = run_vedette("scan", "--targets", str(odd), "--db", url, *COMMON)
    assert proc.returncode == 2
    assert proc.stderr.startswith("vedette: error: ") and f"{odd}:5: port 10143" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    listed = run_vedette("report", "--list", "--db", url)
    assert len(listed.stdout.splitlines()) == 1, listed.stdout
    # ... and --service names it (for every row of the report).
    proc = run_vedette("scan", "--targets", str(odd), "--service", "imap", "--db", url, *COMMON)
    assert proc.returncode == 0, proc.stderr
    assert {p for _, p, s in _endpoints(url, "2") if s == "imap"} == {"993", "143", "995", "10143"}

    # vedette's own CSV report, as written by `report --format csv -o`, is a target file.
    own = tmp_path / "scan1.csv"
    proc = run_vedette("report", "1", "--format", "csv", "-o", str(own), "--db", url)
    assert proc.returncode in (0, 1), proc.stderr
    proc = run_vedette("scan", "--targets", str(own), "--db", url, *COMMON)
    assert proc.returncode == 0, proc.stderr
    assert _endpoints(url, "3") == expected
