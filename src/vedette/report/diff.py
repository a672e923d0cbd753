"""``vedette report diff A B``: what changed between two stored scans.

Endpoints are matched by (name, address, port, service), by a merge-join: both scans are
read from the store through cursors ordered by that key (``Store.iter_rows_by_endpoint``),
and differences are produced as the two streams advance, so memory stays flat for millions
of endpoints. For each: new, gone, or changed
findings, TLS version, certificate (subject, expiry) and status. Both scans are read from the
store (never the network) and analysed at the same date (``--at``, default now), so a
certificate that merely aged does not show as a change unless its expiry crossed that date.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from vedette.commands import _common as c
from vedette.errors import UsageError
from vedette.model import Endpoint
from vedette.report.escape import safe_text

if TYPE_CHECKING:
    from vedette.report.rows import EndpointRecord
    from vedette.store.db import Store, StoredRow

__all__ = [
    "EndpointState",
    "ScanDiff",
    "diff_states",
    "iter_diff",
    "iter_scan_states",
    "run_diff",
    "scan_states",
]


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


def _state(r: EndpointRecord) -> EndpointState:
    return EndpointState(
        label=r.observation.endpoint.label,
        findings=frozenset(f.id for f in r.findings),
        status=r.status,
        tls_version=r.tls_version,
        cert=f"{r.cert_subject} until {r.cert_not_after}" if r.cert_subject else "",
    )


def _unit(key: Key, row: StoredRow) -> tuple[str, str]:
    # The rows of one host name, or of one bare address (``Store.iter_rows_by_endpoint``).
    return (key[0], key[1] if row.observation.endpoint.host is None else "")


def _pick(rows: list[tuple[Key, EndpointRecord, int]]) -> EndpointRecord:
    """The record of one endpoint key: a ``--deep`` pass only when no quick one exists; among
    several of a kind, the last stored quick one or the first full one (as stored order did)."""
    quick = [(seq, r) for _, r, seq in rows if r.depth != "full"]
    if quick:
        return max(quick, key=lambda t: t[0])[1]
    return min(((seq, r) for _, r, seq in rows), key=lambda t: t[0])[1]


def iter_scan_states(
    store: Store, scan_id: int, at: datetime, *, batch: int = 1000
) -> Iterator[tuple[Key, EndpointState]]:
    """Every endpoint of a stored scan with its state, in ``Key`` order, streamed.

    The store yields the rows one host (or bare address) at a time; each such unit is
    analysed on its own (every ``name:port`` group check sees all its nodes) and re-sorted by
    key, so memory holds one unit, never the scan.
    """
    from vedette.report.rows import _analysed as analysed_rows

    options = store.scan_options(scan_id)
    extra = tuple(bytes.fromhex(h) for h in options.get("ca_roots_der_hex", []))
    ctx = c.context(at, extra)

    def flush(unit: list[tuple[Key, StoredRow]]) -> Iterator[tuple[Key, EndpointState]]:
        # Analysed in storage order, as a report reads them: a group check's finding is
        # attached to the first node stored, whatever the key order.
        unit.sort(key=lambda item: item[1].seq)
        records = list(analysed_rows([row for _, row in unit], ctx))
        by_key: dict[Key, list[tuple[Key, EndpointRecord, int]]] = {}
        for (key, row), record in zip(unit, records, strict=True):
            by_key.setdefault(key, []).append((key, record, row.seq))
        for key in sorted(by_key):
            yield key, _state(_pick(by_key[key]))

    unit: list[tuple[Key, StoredRow]] = []
    current: tuple[str, str] | None = None
    for key, row in store.iter_rows_by_endpoint(scan_id, batch=batch):
        here = _unit(key, row)
        if unit and here != current:
            yield from flush(unit)
            unit = []
        current = here
        unit.append((key, row))
    if unit:
        yield from flush(unit)


def scan_states(store: Store, scan_id: int, at: datetime) -> dict[Key, EndpointState]:
    """``iter_scan_states`` as a dict (small scans, tests)."""
    return dict(iter_scan_states(store, scan_id, at))


Change = tuple[str, EndpointState | None, EndpointState | None]


def iter_diff(
    a: Iterable[tuple[Key, EndpointState]], b: Iterable[tuple[Key, EndpointState]]
) -> Iterator[Change]:
    """Merge-join two key-ordered streams: ``("new", None, s)``, ``("gone", s, None)`` and
    ``("changed", old, new)`` in key order, as soon as each is known."""
    left, right = iter(a), iter(b)
    x, y = next(left, None), next(right, None)
    while x is not None or y is not None:
        if y is None or (x is not None and x[0] < y[0]):
            assert x is not None
            yield ("gone", x[1], None)
            x = next(left, None)
        elif x is None or y[0] < x[0]:
            yield ("new", None, y[1])
            y = next(right, None)
        else:
            old, new = x[1], y[1]
            if (old.findings, old.status, old.tls_version, old.cert) != (
                new.findings,
                new.status,
                new.tls_version,
                new.cert,
            ):
                yield ("changed", old, new)
            x, y = next(left, None), next(right, None)


def diff_states(a: dict[Key, EndpointState], b: dict[Key, EndpointState]) -> ScanDiff:
    new: list[EndpointState] = []
    gone: list[EndpointState] = []
    changed: list[tuple[EndpointState, EndpointState]] = []
    for kind, old, cur in iter_diff(sorted(a.items()), sorted(b.items())):
        if kind == "new" and cur is not None:
            new.append(cur)
        elif kind == "gone" and old is not None:
            gone.append(old)
        elif old is not None and cur is not None:
            changed.append((old, cur))
    return ScanDiff(new=tuple(new), gone=tuple(gone), changed=tuple(changed))


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


class _Sections:
    """The three sections of the output, each written as differences arrive into a spool of
    its own (memory up to ``_SPOOL`` bytes, then a temporary file), then copied out in order:
    the output is the same as if the whole diff had been held in memory, and it never is."""

    def __init__(self, new: IO[str], gone: IO[str], changed: IO[str]) -> None:
        self.files = {"new": new, "gone": gone, "changed": changed}
        self.counts = dict.fromkeys(_KINDS, 0)

    def add(self, kind: str, text: str) -> None:
        self.counts[kind] += 1
        self.files[kind].write(text)

    def copy(self, kind: str, out: IO[str]) -> None:
        f = self.files[kind]
        f.seek(0)
        while chunk := f.read(_SPOOL):
            out.write(chunk)


_KINDS = ("new", "gone", "changed")
_SPOOL = 1 << 20


def _json_item(kind: str, old: EndpointState | None, new: EndpointState | None) -> Any:
    if kind == "changed" and old is not None and new is not None:
        return {
            "endpoint": new.label,
            "findings_added": sorted(new.findings - old.findings),
            "findings_resolved": sorted(old.findings - new.findings),
            "status": [old.status, new.status],
            "tls_version": [old.tls_version, new.tls_version],
            "certificate": [old.cert, new.cert],
        }
    s = new if new is not None else old
    assert s is not None
    return {"endpoint": s.label, "findings": sorted(s.findings)}


def _text_line(kind: str, old: EndpointState | None, new: EndpointState | None) -> str:
    if kind == "new" and new is not None:
        extra = f" ({', '.join(sorted(new.findings))})" if new.findings else ""
        return safe_text(f"+ {new.label}: new endpoint{extra}") + "\n"
    if kind == "gone" and old is not None:
        return safe_text(f"- {old.label}: gone") + "\n"
    assert old is not None and new is not None
    return safe_text(f"~ {new.label}: {'; '.join(_changes(old, new))}") + "\n"


def _indented(item: Any) -> str:
    # One array item as ``json.dumps(doc, indent=2)`` lays it out at depth 2.
    return "    " + json.dumps(item, indent=2, ensure_ascii=True).replace("\n", "\n    ")


def run_diff(args: argparse.Namespace) -> int:
    from vedette.store.db import Store

    if len(args.diff_scans) != 2:
        raise UsageError("usage: vedette report diff SCAN_A SCAN_B")
    first, second = (_scan_id(t) for t in args.diff_scans)
    at = datetime.now(UTC)
    if args.at not in ("now", "scan"):
        from vedette.commands.report import _parse_at

        at = _parse_at(args.at, at)
    as_json = bool(args.json or args.format == "json")
    with (
        tempfile.SpooledTemporaryFile(_SPOOL, mode="w+") as new_f,
        tempfile.SpooledTemporaryFile(_SPOOL, mode="w+") as gone_f,
        tempfile.SpooledTemporaryFile(_SPOOL, mode="w+") as changed_f,
    ):
        sections = _Sections(new_f, gone_f, changed_f)
        with Store.open(c.db_url(args)) as store:
            changes = iter_diff(
                iter_scan_states(store, first, at), iter_scan_states(store, second, at)
            )
            for kind, old, new in changes:
                if as_json:
                    sep = ",\n" if sections.counts[kind] else ""
                    sections.add(kind, sep + _indented(_json_item(kind, old, new)))
                else:
                    sections.add(kind, _text_line(kind, old, new))
        _write(sections, first, second, as_json=as_json, out=sys.stdout)
    return 0


def _write(sections: _Sections, first: int, second: int, *, as_json: bool, out: IO[str]) -> None:
    if as_json:
        out.write(f'{{\n  "from_scan": {first},\n  "to_scan": {second}')
        for kind in _KINDS:
            if sections.counts[kind]:
                out.write(f',\n  "{kind}": [\n')
                sections.copy(kind, out)
                out.write("\n  ]")
            else:
                out.write(f',\n  "{kind}": []')
        out.write("\n}\n")
        return
    out.write(f"scan {first} -> scan {second}\n")
    for kind in _KINDS:
        sections.copy(kind, out)
    n = sections.counts
    out.write(f"{n['new']} new, {n['gone']} gone, {n['changed']} changed\n")
