"""Spooling targets into the store: deduplicated and permuted by the database, in flat memory,
and read back page by page; a record of results lands once."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from tests.builders import endpoint_for, observed
from vedette.model import Service
from vedette.scale.spool import spool
from vedette.scale.targets import TargetLine, parse_exclusions
from vedette.scan import RunSettings, ScanOptions
from vedette.store.db import PendingTarget, Store, TargetResult

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _lines(n: int, *, repeat: int = 1) -> Iterator[TargetLine]:
    for _ in range(repeat):
        for i in range(n):
            yield TargetLine(text=f"imaps://h{i}.example.org", where=f"f:{i}")


def _spool(
    store: Store, lines: Iterator[TargetLine], batch: int = 5000, **kw: object
) -> tuple[int, int]:
    scan_id = store.begin_fleet_scan(["f"], {}, T0, "quick")
    settings = RunSettings(options=ScanOptions(), **kw)  # type: ignore[arg-type]
    n = spool(
        store,
        scan_id,
        lines,
        seed=b"k" * 16,
        settings=settings,
        max_cidr=1 << 16,
        allow_reserved=True,
        batch=batch,
    )
    return scan_id, n


def _all_pending(store: Store, scan_id: int, page: int) -> list[PendingTarget]:
    out: list[PendingTarget] = []
    after = None
    while batch := store.pending_targets(scan_id, after=after, limit=page):
        out.extend(batch)
        after = (batch[-1].order_key, batch[-1].target_id)
    return out


def test_duplicates_dropped_order_permuted_and_paged(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'v.db'}") as store:
        lines = [
            TargetLine(text="192.0.2.0/26"),
            TargetLine(text="IMAPS://Mail.Example.org"),
            TargetLine(text="imaps://mail.example.org:993"),  # the same target
            TargetLine(text="imaps://mail.example.org", pin="192.0.2.9"),  # pinned: another
            TargetLine(text="192.0.2.5"),  # already in the /26
        ]
        scan_id, n = _spool(store, iter(lines))
        assert n == 64 + 2
        pending = _all_pending(store, scan_id, page=7)
        texts = [p.target for p in pending]
        assert len(texts) == len(set(zip(texts, [p.pin for p in pending], strict=True))) == 66
        addresses = [t for t in texts if t.startswith("192.0.2.")]
        assert sorted(addresses, key=lambda t: int(t.rsplit(".", 1)[1])) != addresses
        assert {p.pin for p in pending if "mail" in p.target} == {"", "192.0.2.9"}
        state = store.fleet_scan(scan_id)
        assert (state.status, state.total, state.done) == ("running", 66, 0)


def test_exclusions_at_spool_time(tmp_path: Path) -> None:
    ex = parse_exclusions(["192.0.2.0/27", "example.org"], "x")
    with Store.open(f"sqlite:///{tmp_path / 'v.db'}") as store:
        scan_id, n = _spool(
            store,
            iter(
                [
                    TargetLine(text="192.0.2.0/26"),
                    TargetLine(text="imaps://mail.example.org"),
                    TargetLine(text="imaps://mail.example.net", pin="192.0.2.1"),
                    TargetLine(text="imaps://mail.example.net"),
                ]
            ),
            exclusions=ex,
        )
        assert n == 32 + 1
        assert "imaps://mail.example.net:993" in {
            p.target for p in _all_pending(store, scan_id, 100)
        }


def test_spooling_memory_does_not_grow_with_the_input(tmp_path: Path) -> None:
    peaks = []
    for n in (2000, 10000):
        with Store.open(f"sqlite:///{tmp_path / f'{n}.db'}") as store:
            tracemalloc.start()
            try:
                _, stored = _spool(store, _lines(n, repeat=1), batch=500)
                peaks.append(tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
            assert stored == n
    # Five times the lines, about the same peak (one batch of rows in flight).
    assert peaks[1] < peaks[0] * 1.5, peaks


def test_results_land_once(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'v.db'}") as store:
        scan_id, _ = _spool(store, iter([TargetLine(text="192.0.2.0/31")]))
        first, second = _all_pending(store, scan_id, 10)

        def result(p: PendingTarget) -> TargetResult:
            ep = endpoint_for(Service.IMAPS, host=None, ip=p.target)
            return TargetResult(target_id=p.target_id, observations=(observed(ep, at=T0),))

        assert store.record_results(scan_id, [result(first)]) == 1
        # A retried batch (a resumed run, a second Dask attempt): the done target is skipped.
        assert store.record_results(scan_id, [result(first), result(second)]) == 1
        assert store.record_results(scan_id, [result(second)]) == 0
        assert sorted(store.endpoint_keys(scan_id)) == [
            f"quick||{first.target}|993|imaps",
            f"quick||{second.target}|993|imaps",
        ]
        assert store.pending_targets(scan_id, after=None, limit=10) == ()
        rows = list(store.iter_rows(scan_id, batch=1))
        assert [r.observation.endpoint.ip for r in rows] == [first.target, second.target]
