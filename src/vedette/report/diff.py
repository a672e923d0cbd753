"""``vedette report diff A B``: what changed between two stored scans.

Endpoints are matched by (name, address, port, service), by a merge-join: both scans are
read from the store through cursors ordered by that key (``Store.iter_rows_by_endpoint``),
and differences are produced as the two streams advance, so memory stays flat for millions
of endpoints. For each: new, gone, or changed
findings (added, resolved, or worse: the same check at a higher severity), TLS version, the
versions the enumeration saw accepted (when both scans enumerated the endpoint), certificate
(subject, expiry) and status. ``write_diff`` returns how many regressions it saw (a finding
added or worse, a new endpoint with findings): the command exits 1 on any, like a regression
check in cron. Both scans are read from the
store (never the network) and analysed at the same date (``--at``, default now), so a
certificate that merely aged does not show as a change unless its expiry crossed that date.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from vedette import analysis
from vedette.model import Endpoint
from vedette.report.escape import safe_text
from vedette.report.output import report_output

if TYPE_CHECKING:
    from vedette.report.rows import EndpointRecord
    from vedette.store.db import Store, StoredRow

__all__ = [
    "EndpointState",
    "ScanDiff",
    "diff_states",
    "iter_diff",
    "iter_scan_states",
    "scan_states",
    "write_diff",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointState:
    label: str
    findings: frozenset[str]
    status: str
    tls_version: str
    cert: str  # subject and not-after, compared as one
    #: Severity of each finding, by id (the worst when a check fired more than once).
    severity: tuple[tuple[str, int], ...] = ()
    #: Versions the enumeration saw accepted, oldest first; empty when not enumerated.
    versions_accepted: str = ""
    #: The findings that hang on the full TLS enumeration (``--mode full``): on an endpoint
    #: enumerated, those that go or come when its enumeration is left out. A quick
    #: observation (``full`` False) never checked them: they are not compared with it.
    full: bool = False
    full_only: frozenset[str] = frozenset()
    #: The enumeration was the partial one of ``--mode clients`` (two hellos).
    partial: bool = False


def _depth(state: EndpointState) -> int:
    """0 quick, 1 ``--mode clients``, 2 a full enumeration: findings that hang on the
    enumeration are compared between states of one depth only."""
    return 0 if not state.full else 1 if state.partial else 2


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanDiff:
    new: tuple[EndpointState, ...]
    gone: tuple[EndpointState, ...]
    changed: tuple[tuple[EndpointState, EndpointState], ...]


Key = tuple[str, str, int, str]


def _key(ep: Endpoint) -> Key:
    return (ep.host or "", ep.ip or "", ep.port, ep.service.value)


def _state(r: EndpointRecord, without_enumeration: frozenset[str] | None) -> EndpointState:
    findings = frozenset(f.id for f in r.findings)
    full = r.observation.tls_scan is not None and without_enumeration is not None
    worst: dict[str, int] = {}
    for f in r.findings:
        worst[f.id] = max(worst.get(f.id, 0), int(f.severity))
    return EndpointState(
        label=r.observation.endpoint.label,
        findings=findings,
        status=r.status,
        tls_version=r.tls_version,
        cert=f"{r.cert_subject} until {r.cert_not_after}" if r.cert_subject else "",
        severity=tuple(sorted(worst.items())),
        versions_accepted=r.tls_versions_accepted,
        full=full,
        full_only=findings ^ without_enumeration if full and without_enumeration else frozenset(),
        partial=full and r.observation.tls_scan is not None and r.observation.tls_scan.partial,
    )


def _compared(old: EndpointState, new: EndpointState) -> tuple[frozenset[str], frozenset[str]]:
    """The findings of each side that the diff compares: when one side was enumerated and
    the other not, not those that hang on the enumeration (a check that did not run is
    neither resolved nor new)."""
    if _depth(old) == _depth(new):
        return old.findings, new.findings
    skip = old.full_only | new.full_only
    return old.findings - skip, new.findings - skip


def _worse(old: EndpointState, new: EndpointState) -> list[str]:
    """Findings present in both scans whose severity rose."""
    before = dict(old.severity)
    return sorted(i for i, sev in new.severity if i in before and sev > before[i])


def _versions_changed(old: EndpointState, new: EndpointState) -> bool:
    # Only two enumerations of one depth can be compared: a quick scan did not look.
    both = bool(old.versions_accepted and new.versions_accepted)
    return both and old.partial == new.partial and old.versions_accepted != new.versions_accepted


def regression(kind: str, old: EndpointState | None, new: EndpointState | None) -> bool:
    """A change a regression check fails on: a finding added or worse, or a new endpoint
    that has findings. Resolved findings, gone endpoints and unchecked ones are not."""
    if kind == "new":
        return new is not None and bool(new.findings)
    if kind != "changed" or old is None or new is None:
        return False
    was, now = _compared(old, new)
    return bool(now - was) or bool(_worse(old, new))


def _unchecked(old: EndpointState, new: EndpointState) -> list[str]:
    a, b = _compared(old, new)
    return sorted((old.findings ^ new.findings) - (a ^ b))


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
    # The scan's own --ca roots and --intermediates/--fetch certificates, as `report` replays
    # them: the same chain diagnosis in a diff as in each scan's report.
    extra = analysis.stored_certificates(options, "ca_roots_der_hex")
    known = analysis.stored_certificates(options, "intermediates_der_hex")
    ctx = analysis.context(at, extra, None, known)

    def flush(unit: list[tuple[Key, StoredRow]]) -> Iterator[tuple[Key, EndpointState]]:
        # Analysed in storage order, as a report reads them: a group check's finding is
        # attached to the first node stored, whatever the key order.
        unit.sort(key=lambda item: item[1].seq)
        rows = [row for _, row in unit]
        records = list(analysed_rows(rows, ctx))
        # What each enumerated endpoint's findings would be without its enumeration (a
        # quick scan's view), to tell which findings a quick scan cannot have checked.
        quick_view: list[frozenset[str] | None] = [None] * len(rows)
        if any(row.observation.tls_scan is not None for row in rows):
            stripped = [
                replace(row, observation=replace(row.observation, tls_scan=None)) for row in rows
            ]
            quick_view = [frozenset(f.id for f in r.findings) for r in analysed_rows(stripped, ctx)]
        by_key: dict[Key, list[tuple[Key, EndpointRecord, int]]] = {}
        views: dict[int, frozenset[str] | None] = {}
        for (key, row), record, view in zip(unit, records, quick_view, strict=True):
            by_key.setdefault(key, []).append((key, record, row.seq))
            views[id(record)] = view
        for key in sorted(by_key):
            picked = _pick(by_key[key])
            yield key, _state(picked, views[id(picked)])

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
    """Merge-join two key-ordered streams: ``("new", None, s)``, ``("gone", s, None)``,
    ``("changed", old, new)`` and ``("unchecked", old, new)`` (nothing compared changed, but
    one side was not enumerated: some findings were not checked there) in key order, as soon
    as each is known."""
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
            was, now = _compared(old, new)
            if (
                (was, old.status, old.tls_version, old.cert)
                != (now, new.status, new.tls_version, new.cert)
                or _worse(old, new)
                or _versions_changed(old, new)
            ):
                yield ("changed", old, new)
            elif _depth(old) != _depth(new) and _unchecked(old, new):
                yield ("unchecked", old, new)
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
        elif kind == "changed" and old is not None and cur is not None:
            changed.append((old, cur))
    return ScanDiff(new=tuple(new), gone=tuple(gone), changed=tuple(changed))


def _changes(old: EndpointState, new: EndpointState, scans: tuple[int, int]) -> list[str]:
    parts: list[str] = []
    was, now = _compared(old, new)
    added, removed = sorted(now - was), sorted(was - now)
    if added:
        parts.append("new findings: " + ", ".join(added))
    if removed:
        parts.append("resolved: " + ", ".join(removed))
    if worse := _worse(old, new):
        parts.append("worse: " + ", ".join(worse))
    if _versions_changed(old, new):
        parts.append(f"TLS versions accepted {old.versions_accepted} -> {new.versions_accepted}")
    if old.status != new.status:
        parts.append(f"status {old.status} -> {new.status}")
    if old.tls_version != new.tls_version:
        parts.append(f"TLS {old.tls_version or 'none'} -> {new.tls_version or 'none'}")
    if old.cert != new.cert:
        parts.append(f"certificate {old.cert or 'none'} -> {new.cert or 'none'}")
    unchecked = _unchecked(old, new)
    if unchecked:
        lesser = new if _depth(old) > _depth(new) else old
        mode = "clients mode" if lesser.partial else "quick"
        scan = scans[1] if lesser is new else scans[0]
        parts.append(f"not checked in scan {scan} ({mode}): " + ", ".join(unchecked))
    return parts


class _Sections:
    """The three sections of the output, each written as differences arrive into a spool of
    its own (memory up to ``_SPOOL`` bytes, then a temporary file), then copied out in order:
    the output is the same as if the whole diff had been held in memory, and it never is."""

    def __init__(self, new: IO[str], gone: IO[str], changed: IO[str]) -> None:
        self.files = {"new": new, "gone": gone, "changed": changed}
        self.counts = dict.fromkeys(_KINDS, 0)
        self.unchecked = 0  # endpoints probed at a different depth in each scan

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
        was, now = _compared(old, new)
        item: dict[str, Any] = {
            "endpoint": new.label,
            "findings_added": sorted(now - was),
            "findings_resolved": sorted(was - now),
            "findings_worse": _worse(old, new),
            "status": [old.status, new.status],
            "tls_version": [old.tls_version, new.tls_version],
            "certificate": [old.cert, new.cert],
        }
        if _versions_changed(old, new):
            item["tls_versions_accepted"] = [old.versions_accepted, new.versions_accepted]
        unchecked = _unchecked(old, new)
        if unchecked:  # probed at different depths: neither added nor resolved
            item["findings_not_checked"] = unchecked
        return item
    s = new if new is not None else old
    assert s is not None
    return {"endpoint": s.label, "findings": sorted(s.findings)}


def _text_line(
    kind: str, old: EndpointState | None, new: EndpointState | None, scans: tuple[int, int]
) -> str:
    if kind == "new" and new is not None:
        extra = f" ({', '.join(sorted(new.findings))})" if new.findings else ""
        return safe_text(f"+ {new.label}: new endpoint{extra}") + "\n"
    if kind == "gone" and old is not None:
        return safe_text(f"- {old.label}: gone") + "\n"
    assert old is not None and new is not None
    return safe_text(f"~ {new.label}: {'; '.join(_changes(old, new, scans))}") + "\n"


def _indented(item: Any) -> str:
    # One array item as ``json.dumps(doc, indent=2)`` lays it out at depth 2.
    return "    " + json.dumps(item, indent=2, ensure_ascii=True).replace("\n", "\n    ")


def write_diff(
    store: Store, first: int, second: int, at: datetime, *, as_json: bool, output: str | None
) -> int:
    """The diff of two stored scans, both judged at ``at``, streamed to ``output`` (standard
    output when ``None``): text, or the ``vedette.diff`` JSON document. Returns the number of
    regressions (see ``regression``)."""
    regressions = 0
    with (
        tempfile.SpooledTemporaryFile(_SPOOL, mode="w+") as new_f,
        tempfile.SpooledTemporaryFile(_SPOOL, mode="w+") as gone_f,
        tempfile.SpooledTemporaryFile(_SPOOL, mode="w+") as changed_f,
    ):
        sections = _Sections(new_f, gone_f, changed_f)
        changes = iter_diff(iter_scan_states(store, first, at), iter_scan_states(store, second, at))
        for kind, old, new in changes:
            regressions += regression(kind, old, new)
            if old is not None and new is not None and _depth(old) != _depth(new):
                sections.unchecked += bool(_unchecked(old, new))
            if kind == "unchecked":
                continue
            if as_json:
                sep = ",\n" if sections.counts[kind] else ""
                sections.add(kind, sep + _indented(_json_item(kind, old, new)))
            else:
                sections.add(kind, _text_line(kind, old, new, (first, second)))
        with report_output(output) as out:
            _write(sections, first, second, regressions, as_json=as_json, out=out)
    return regressions


def _write(
    sections: _Sections, first: int, second: int, regressions: int, *, as_json: bool, out: IO[str]
) -> None:
    if as_json:
        out.write(f'{{\n  "from_scan": {first},\n  "to_scan": {second}')
        out.write(f',\n  "regressions": {regressions}')
        if sections.unchecked:
            out.write(f',\n  "endpoints_enumerated_in_one_scan": {sections.unchecked}')
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
    if sections.unchecked:
        out.write(
            f"{sections.unchecked} endpoint(s) probed at a different depth in each scan "
            "(quick, clients or full): findings that need what only one of them tested are "
            "not compared there (not checked is neither resolved nor new)\n"
        )
    for kind in _KINDS:
        sections.copy(kind, out)
    n = sections.counts
    out.write(
        f"{n['new']} new, {n['gone']} gone, {n['changed']} changed; "
        f"{regressions} regression(s) (a finding added or worse)\n"
    )
