"""``vedette report diff`` as a merge-join over two key-ordered store cursors.

Two scans of a few thousand synthetic endpoints are written straight into a store (SQLite
and PostgreSQL);
the diff must print exactly what the former all-in-memory implementation printed (an
oracle kept here: dicts of every endpoint of both scans, sorted), and must produce its
first difference after reading a small part of the scans, with a memory peak far below
what holding them costs.
"""

from __future__ import annotations

import json
import os
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta

import pytest

from tests.builders import endpoint_for, observed_failure
from vedette import analysis
from vedette.cli import main
from vedette.model import FailureKind, Observation, Service
from vedette.report import diff as diff_module
from vedette.report.diff import iter_diff, iter_scan_states
from vedette.report.escape import safe_text
from vedette.report.rows import endpoint_records
from vedette.store.db import Store

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOSTS = 700  # x 2 addresses x 2 ports, plus 400 bare addresses: 3,200 endpoints a scan
SERVICES = ((25, Service.SMTP), (110, Service.POP3))  # "110" < "25" as text, not as numbers


def observation(host: str | None, ip: str, port: int, service: Service, kind: FailureKind):
    return observed_failure(
        kind,
        endpoint=endpoint_for(service, host=host, ip=ip, port=port),
        detail=f"{kind.value} by {ip}",
        at=T0,
        duration_s=0.01,
    )


def endpoints(second: bool) -> list[Observation]:
    out: list[Observation] = []
    for h in range(HOSTS):
        if second and h % 97 == 0:
            continue  # gone in the second scan
        for a in (1, 2):
            for port, service in SERVICES:
                kind = FailureKind.REFUSED
                if second and h % 31 == 0 and a == 2:
                    kind = FailureKind.TIMEOUT  # changed
                ip = f"198.51.{h % 200}.{a + 2 * (h // 200)}"
                # Upper and lower case names: byte order and ICU's order disagree on them.
                name = f"MX{h:04d}.example.net" if h % 10 == 0 else f"h{h:04d}.example.net"
                out.append(observation(name, ip, port, service, kind))
    for n in range(400):
        if second or n % 50 != 0:
            out.append(
                observation(
                    None, f"203.0.{n // 250}.{n % 250}", 25, Service.SMTP, FailureKind.REFUSED
                )
            )
    if second:
        out += [
            observation("new.example.net", "192.0.2.9", port, svc, FailureKind.REFUSED)
            for port, svc in SERVICES
        ]
    # Stored in an order that is not the key order, as a fleet scan's permutation would.
    out.sort(key=lambda o: zlib.crc32(f"{o.endpoint.ip}:{o.endpoint.port}".encode()))
    return out


def icu_database(cluster) -> str:
    """A database whose default collation is ICU's root locale, where 'h' sorts before 'M'
    (byte order says the reverse): an ORDER BY without COLLATE "C" disagrees with Python."""
    import psycopg

    name = f"vedette_diff_icu_{os.getpid()}"
    with psycopg.connect(
        host="127.0.0.1", port=cluster.port, user=cluster.user, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
            "ICU_LOCALE 'und' LOCALE 'C.UTF-8'"
        )
    return str(cluster.url(name))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store_url(request, tmp_path_factory) -> str:
    # PostgreSQL's default collation orders '198.51.10.1' before '198.51.1.2' (punctuation
    # ignored): the cursors must compare text by code point there too.
    if request.param == "postgresql":
        url = icu_database(request.getfixturevalue("postgresql"))
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('diff') / 'v.db'}"
    with Store.open(url) as store:
        for second in (False, True):
            scan = store.begin_scan(["synthetic"], {}, T0)
            observations = endpoints(second)
            for i in range(0, len(observations), 500):
                store.add_observations(scan, observations[i : i + 500])
            store.finish_scan(scan, T0 + timedelta(minutes=5))
    return url


def oracle(url: str, first: int, second: int, at: datetime) -> tuple[str, dict]:
    """The former implementation: both scans in dicts, sorted, then printed."""
    states: list[dict] = []
    with Store.open(url) as store:
        for scan_id in (first, second):
            d: dict = {}
            for r in endpoint_records(store, scan_id, analysis.context(at, ())):
                ep = r.observation.endpoint
                key = (ep.host or "", ep.ip or "", ep.port, ep.service.value)
                d[key] = (ep.label, frozenset(f.id for f in r.findings), r.status)
            states.append(d)
    a, b = states
    new = [b[k] for k in sorted(b.keys() - a.keys())]
    gone = [a[k] for k in sorted(a.keys() - b.keys())]
    changed = [(a[k], b[k]) for k in sorted(a.keys() & b.keys()) if a[k][1:] != b[k][1:]]
    lines = [f"scan {first} -> scan {second}"]
    for label, findings, _ in new:
        extra = f" ({', '.join(sorted(findings))})" if findings else ""
        lines.append(safe_text(f"+ {label}: new endpoint{extra}"))
    lines += [safe_text(f"- {label}: gone") for label, _, _ in gone]
    for old, cur in changed:
        parts = []
        if cur[1] - old[1]:
            parts.append("new findings: " + ", ".join(sorted(cur[1] - old[1])))
        if old[1] - cur[1]:
            parts.append("resolved: " + ", ".join(sorted(old[1] - cur[1])))
        if old[2] != cur[2]:
            parts.append(f"status {old[2]} -> {cur[2]}")
        lines.append(safe_text(f"~ {cur[0]}: {'; '.join(parts)}"))
    regressions = sum(1 for s in new if s[1]) + sum(1 for old, cur in changed if cur[1] - old[1])
    lines.append(
        f"{len(new)} new, {len(gone)} gone, {len(changed)} changed; "
        f"{regressions} regression(s) (a finding added or worse)"
    )
    doc = {
        "from_scan": first,
        "to_scan": second,
        "regressions": regressions,
        "new": [{"endpoint": s[0], "findings": sorted(s[1])} for s in new],
        "gone": [{"endpoint": s[0], "findings": sorted(s[1])} for s in gone],
        "changed": [
            {
                "endpoint": cur[0],
                "findings_added": sorted(cur[1] - old[1]),
                "findings_resolved": sorted(old[1] - cur[1]),
                "findings_worse": [],
                "status": [old[2], cur[2]],
                "tls_version": ["", ""],
                "certificate": ["", ""],
            }
            for old, cur in changed
        ],
    }
    return "\n".join(lines) + "\n", doc


def test_streamed_diff_prints_what_the_in_memory_diff_printed(store_url, capsys):
    at = datetime.now(UTC)
    text, doc = oracle(store_url, 1, 2, at)
    summary = text.splitlines()[-1]
    assert summary.startswith("10 new, 32 gone, 63 changed; ")
    status = 1 if doc["regressions"] else 0
    assert main(["report", "diff", "1", "2", "--db", store_url]) == status
    assert capsys.readouterr().out == text
    assert main(["report", "diff", "1", "2", "--db", store_url, "--json"]) == status
    out = capsys.readouterr().out
    assert out == json.dumps(doc, indent=2, ensure_ascii=True) + "\n"
    # And the other way round, where every section swaps.
    text, doc = oracle(store_url, 2, 1, at)
    assert main(["report", "diff", "2", "1", "--db", store_url, "--json"]) == (
        1 if doc["regressions"] else 0
    )
    assert json.loads(capsys.readouterr().out) == doc


def test_differences_come_while_the_cursors_advance(store_url, monkeypatch):
    read = 0
    original = Store.iter_rows_by_endpoint

    def counting(self, scan_id, *, batch=1000):
        nonlocal read
        for item in original(self, scan_id, batch=batch):
            read += 1
            yield item

    monkeypatch.setattr(Store, "iter_rows_by_endpoint", counting)
    at = datetime.now(UTC)
    with Store.open(store_url) as store:
        total = store.scan_summary(1).endpoints + store.scan_summary(2).endpoints
        changes = iter_diff(
            iter_scan_states(store, 1, at, batch=50), iter_scan_states(store, 2, at, batch=50)
        )
        first = next(changes)
        assert first[0] in ("new", "gone", "changed")
        assert read < total / 20, (read, total)
        assert sum(1 for _ in changes) + 1 == 105
    assert read == total


def test_memory_stays_flat(store_url):
    at = datetime.now(UTC)
    with Store.open(store_url) as store:
        tracemalloc.start()
        try:
            n = sum(
                1
                for _ in iter_diff(
                    iter_scan_states(store, 1, at, batch=50),
                    iter_scan_states(store, 2, at, batch=50),
                )
            )
            streamed = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            held = (diff_module.scan_states(store, 1, at), diff_module.scan_states(store, 2, at))
            materialised = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert n == 105 and len(held[0]) > 3000
    # Holding both scans' states costs several times the streamed peak.
    assert streamed * 3 < materialised, (streamed, materialised)
