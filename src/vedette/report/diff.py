"""``vedette report diff A B``: what changed between two stored scans.

Endpoints are matched by (name, address, port, service). For each: new, gone, or changed
findings, TLS version, certificate (subject, expiry) and status. Both scans are read from the
store (never the network) and analysed at the same date (``--at``, default now), so a
certificate that merely aged does not show as a change unless its expiry crossed that date.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vedette.commands import _common as c
from vedette.errors import UsageError
from vedette.model import Endpoint
from vedette.report.escape import safe_text

__all__ = ["EndpointState", "ScanDiff", "diff_states", "run_diff"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointState:
    label: str
    findings: frozenset[str]
    status: str
    tls_version: str
    cert: str  # subject and not-after, compared as one


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanDiff:
    new: tuple[EndpointState, ...]
    gone: tuple[EndpointState, ...]
    changed: tuple[tuple[EndpointState, EndpointState], ...]


Key = tuple[str, str, int, str]


def _key(ep: Endpoint) -> Key:
    return (ep.host or "", ep.ip or "", ep.port, ep.service.value)


def scan_states(store: Any, scan_id: int, at: datetime) -> dict[Key, EndpointState]:
    from vedette.report.rows import endpoint_records

    options = store.scan_options(scan_id)
    extra = tuple(bytes.fromhex(h) for h in options.get("ca_roots_der_hex", []))
    states: dict[Key, EndpointState] = {}
    for r in endpoint_records(store, scan_id, c.context(at, extra)):
        if r.depth == "full" and _key(r.observation.endpoint) in states:
            continue  # a --deep pass of an endpoint already seen: compare the quick results
        states[_key(r.observation.endpoint)] = EndpointState(
            label=r.observation.endpoint.label,
            findings=frozenset(f.id for f in r.findings),
            status=r.status,
            tls_version=r.tls_version,
            cert=f"{r.cert_subject} until {r.cert_not_after}" if r.cert_subject else "",
        )
    return states


def diff_states(a: dict[Key, EndpointState], b: dict[Key, EndpointState]) -> ScanDiff:
    return ScanDiff(
        new=tuple(b[k] for k in sorted(b.keys() - a.keys())),
        gone=tuple(a[k] for k in sorted(a.keys() - b.keys())),
        changed=tuple(
            (a[k], b[k])
            for k in sorted(a.keys() & b.keys())
            if (a[k].findings, a[k].status, a[k].tls_version, a[k].cert)
            != (b[k].findings, b[k].status, b[k].tls_version, b[k].cert)
        ),
    )


def _changes(old: EndpointState, new: EndpointState) -> list[str]:
    parts: list[str] = []
    added, removed = sorted(new.findings - old.findings), sorted(old.findings - new.findings)
    if added:
        parts.append("new findings: " + ", ".join(added))
    if removed:
        parts.append("resolved: " + ", ".join(removed))
    if old.status != new.status:
        parts.append(f"status {old.status} -> {new.status}")
    if old.tls_version != new.tls_version:
        parts.append(f"TLS {old.tls_version or 'none'} -> {new.tls_version or 'none'}")
    if old.cert != new.cert:
        parts.append(f"certificate {old.cert or 'none'} -> {new.cert or 'none'}")
    return parts


def _scan_id(text: str) -> int:
    if not text.isdigit():
        raise UsageError(f"report diff: {text!r} is not a scan id")
    return int(text)


def run_diff(args: argparse.Namespace) -> int:
    from vedette.store.db import Store

    if len(args.diff_scans) != 2:
        raise UsageError("usage: vedette report diff SCAN_A SCAN_B")
    first, second = (_scan_id(t) for t in args.diff_scans)
    at = datetime.now(UTC)
    if args.at not in ("now", "scan"):
        from vedette.commands.report import _parse_at

        at = _parse_at(args.at, at)
    with Store.open(c.db_url(args)) as store:
        result = diff_states(scan_states(store, first, at), scan_states(store, second, at))
    out = sys.stdout
    if args.json or args.format == "json":
        doc = {
            "from_scan": first,
            "to_scan": second,
            "new": [{"endpoint": s.label, "findings": sorted(s.findings)} for s in result.new],
            "gone": [{"endpoint": s.label, "findings": sorted(s.findings)} for s in result.gone],
            "changed": [
                {
                    "endpoint": new.label,
                    "findings_added": sorted(new.findings - old.findings),
                    "findings_resolved": sorted(old.findings - new.findings),
                    "status": [old.status, new.status],
                    "tls_version": [old.tls_version, new.tls_version],
                    "certificate": [old.cert, new.cert],
                }
                for old, new in result.changed
            ],
        }
        out.write(json.dumps(doc, indent=2, ensure_ascii=True) + "\n")
        return 0
    out.write(f"scan {first} -> scan {second}\n")
    for s in result.new:
        extra = f" ({', '.join(sorted(s.findings))})" if s.findings else ""
        out.write(safe_text(f"+ {s.label}: new endpoint{extra}") + "\n")
    for s in result.gone:
        out.write(safe_text(f"- {s.label}: gone") + "\n")
    for old, new in result.changed:
        out.write(safe_text(f"~ {new.label}: {'; '.join(_changes(old, new))}") + "\n")
    out.write(f"{len(result.new)} new, {len(result.gone)} gone, {len(result.changed)} changed\n")
    return 0
