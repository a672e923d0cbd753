"""The CSV columns issue 11 added at the end: depth filled on plain scans, the worst finding's
severity, and the TLS versions the enumeration saw accepted."""

from __future__ import annotations

import csv
import io

from tests.builders import endpoint_for, failure_of, observed, tls_session
from vedette.model import (
    FailureKind,
    Finding,
    Observation,
    Severity,
    TlsScan,
    VersionSuites,
)
from vedette.report.csv import write_csv
from vedette.report.rows import CSV_COLUMNS, record_for

EP = endpoint_for()
TLS = tls_session()
_obs = observed


def _finding(severity: Severity) -> Finding:
    return Finding(
        id=f"x.{severity.label}",
        severity=severity,
        title="t",
        detail="d",
        remediation="r",
        endpoint=EP,
    )


def _row(
    obs: Observation, findings: tuple[Finding, ...] = (), depth: str | None = None
) -> dict[str, str]:
    out = io.StringIO()
    write_csv([record_for(obs, findings, ptr=None, depth=depth)], out)
    header, values = csv.reader(io.StringIO(out.getvalue()))
    return dict(zip(header, values, strict=True))


def test_the_new_columns_come_last_so_existing_readers_keep_working() -> None:
    assert CSV_COLUMNS[-3:] == ("depth", "severity", "tls_versions_accepted")
    assert CSV_COLUMNS[:3] == ("timestamp", "ip", "port")


def test_a_full_scan_says_full_and_which_versions_are_still_accepted() -> None:
    scan = TlsScan(
        versions=(0x0301, 0x0303, 0x0304),
        suites=(VersionSuites(version=0x0301, suites=(0x002F,)),),
    )
    row = _row(_obs(tls=TLS, tls_scan=scan), (_finding(Severity.LOW), _finding(Severity.HIGH)))
    assert row["depth"] == "full"
    assert row["tls_versions_accepted"] == "TLSv1.0 TLSv1.2 TLSv1.3"
    assert row["severity"] == "high"  # the worst of the endpoint's findings


def test_quick_unreachable_and_fleet_pass_rows() -> None:
    quick = _row(_obs(tls=TLS))
    assert (quick["depth"], quick["tls_versions_accepted"], quick["severity"]) == ("quick", "", "")
    refused = failure_of(FailureKind.REFUSED)
    assert _row(_obs(failure=refused))["depth"] == ""  # never reached TLS: no depth to tell
    # A fleet scan's row carries the pass it was stored by, even without an enumeration.
    assert _row(_obs(tls=TLS), depth="full")["depth"] == "full"
