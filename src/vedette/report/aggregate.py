"""Aggregates over a stored scan: how many endpoints per finding, TLS version (negotiated, and
accepted), issuer, expiry month, status and protocol. One pass over the records
(``report.rows``), counters only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from vedette.model import Severity
from vedette.report._tls_section import accepted_versions, negotiated_version_name
from vedette.report.rows import EndpointRecord

__all__ = ["Aggregates", "aggregate", "tee", "write_summary"]


@dataclass(slots=True)
class Aggregates:
    """Counts of endpoints (a finding counts once per endpoint).

    Attributes:
        by_tls_version: the version each endpoint negotiated with vedette (its best).
        by_tls_accepted: endpoints accepting each version, from the enumeration of a full
            scan; an endpoint without one (quick mode) counts under its negotiated version
            only, and is counted in ``accepted_unenumerated``.
        severity_of: the severity of each finding id (the highest seen).
        titles: one title per finding id.
        fixes: one remediation per finding id.
    """

    endpoints: int = 0
    failed: int = 0
    by_finding: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)
    by_tls_version: Counter[str] = field(default_factory=Counter)
    by_tls_accepted: Counter[str] = field(default_factory=Counter)
    accepted_unenumerated: int = 0
    by_issuer: Counter[str] = field(default_factory=Counter)
    by_expiry_month: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    by_protocol: Counter[str] = field(default_factory=Counter)
    severity_of: dict[str, Severity] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    fixes: dict[str, str] = field(default_factory=dict)

    def add(self, record: EndpointRecord) -> None:
        self.endpoints += 1
        if record.status != "ok":
            self.failed += 1
        self.by_status[record.status] += 1
        self.by_protocol[record.protocol] += 1
        if record.tls_version:
            self.by_tls_version[record.tls_version] += 1
        scan = record.observation.tls_scan
        if scan is not None:
            for version in set(accepted_versions(scan)):
                self.by_tls_accepted[version] += 1
        elif record.tls_version:
            self.by_tls_accepted[negotiated_version_name(record.tls_version)] += 1
            self.accepted_unenumerated += 1
        if record.cert_issuer:
            self.by_issuer[record.cert_issuer] += 1
        if record.cert_not_after:
            self.by_expiry_month[record.cert_not_after[:7]] += 1
        worst: Severity | None = None
        for finding_id in {f.id for f in record.findings}:
            self.by_finding[finding_id] += 1
        for f in record.findings:
            if f.id not in self.severity_of or f.severity > self.severity_of[f.id]:
                self.severity_of[f.id] = f.severity
            self.titles.setdefault(f.id, f.title)
            self.fixes.setdefault(f.id, f.remediation)
            worst = f.severity if worst is None or f.severity > worst else worst
        self.by_severity[worst.label if worst is not None else "none"] += 1


def aggregate(records: Iterable[EndpointRecord]) -> Aggregates:
    result = Aggregates()
    for record in records:
        result.add(record)
    return result


def tee(records: Iterable[EndpointRecord], into: Aggregates) -> Iterator[EndpointRecord]:
    """Pass ``records`` through while counting them (one pass feeds a table and the charts)."""
    for record in records:
        into.add(record)
        yield record


def write_summary(agg: Aggregates, out: TextIO, *, top: int = 15) -> None:
    """The aggregates as plain-text tables (``vedette report SCAN --format summary``).

    Issuer names come from certificates (server-controlled): shown through ``safe_text``."""
    from vedette.report.escape import safe_text

    out.write(f"endpoints {agg.endpoints}, stopped short {agg.failed}\n")
    if agg.accepted_unenumerated:
        out.write(
            f"{agg.accepted_unenumerated} endpoint(s) not enumerated (quick mode): counted "
            "under their negotiated version in 'TLS version accepted'\n"
        )
    tables: list[tuple[str, list[tuple[str, int]]]] = [
        (
            "finding",
            sorted(
                agg.by_finding.items(),
                key=lambda kv: (-agg.severity_of[kv[0]], -kv[1], kv[0]),
            ),
        ),
        ("worst severity", agg.by_severity.most_common()),
        ("TLS version accepted", sorted(agg.by_tls_accepted.items())),
        ("TLS version negotiated", sorted(agg.by_tls_version.items())),
        ("certificate issuer", agg.by_issuer.most_common(top)),
        ("certificate expiry month", sorted(agg.by_expiry_month.items())),
        ("status", agg.by_status.most_common()),
        ("protocol", agg.by_protocol.most_common()),
    ]
    for title, rows in tables:
        out.write(f"\nby {title}:\n")
        if not rows:
            out.write("  (none)\n")
        for label, n in rows:
            sev = f" [{agg.severity_of[label].label}]" if title == "finding" else ""
            out.write(f"  {n:>9}  {safe_text(label)}{sev}\n")
