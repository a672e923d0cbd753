"""The store side of the cluster runner (SQLite here; PostgreSQL in the cluster tests): shard
leases with budgets that never add up past the scan's limits, client runs that take shards
over, shards that reopen, and the pin pass that puts every target of one address in one
shard."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vedette.scale.cluster import pin_range
from vedette.scale.spool import spool
from vedette.scale.targets import TargetLine, order_key, shard_bounds
from vedette.scan import RunSettings, ScanOptions
from vedette.store.db import MIGRATIONS, SCHEMA_VERSION, Store, TargetResult
from vedette.targets import Pin, parse_target

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SEED = b"s" * 16
LIMITS = (10, 4000)  # 10 endpoints at once, 4 connections a second


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'v.db'}") as opened:
        yield opened


def _scan(store: Store, lines: list[TargetLine], options: ScanOptions | None = None) -> int:
    scan_id = store.begin_fleet_scan(["f"], {"seed": SEED.hex()}, T0, "quick")
    spool(
        store,
        scan_id,
        iter(lines),
        seed=SEED,
        settings=RunSettings(options=options or ScanOptions()),
        max_cidr=256,
        allow_reserved=True,
    )
    store.create_shards(scan_id, shard_bounds(4))
    return scan_id


def _claim(
    store: Store,
    scan_id: int,
    shard: int,
    owner: str,
    budget: tuple[int, int | None],
    *,
    run: str = "r1",
    at: datetime = T0,
) -> str:
    return store.claim_shard(
        scan_id,
        shard,
        owner=owner,
        run=run,
        now=at,
        lease_until=at + timedelta(seconds=6),
        budget=budget,
        limits=LIMITS,
    )


def test_leases_are_granted_only_while_their_budgets_fit_the_limits(store: Store) -> None:
    scan_id = _scan(store, [TargetLine(text=f"192.0.2.{i}") for i in range(1, 60)])
    store.start_shard_run(scan_id, "r1")
    # One worker at the start: its task has the whole budget.
    assert _claim(store, scan_id, 0, "a", (10, 4000)) == "claimed"
    # A second worker joined: the next task's half does not fit until the first is back.
    assert _claim(store, scan_id, 1, "b", (5, 2000)) == "wait"
    assert _claim(store, scan_id, 0, "b", (5, 2000)) == "wait"  # and shard 0 is held
    assert store.finish_shard(scan_id, 0, "a") is False  # its targets are still pending
    assert _claim(store, scan_id, 1, "b", (5, 2000)) == "claimed"
    assert _claim(store, scan_id, 2, "c", (5, 2000)) == "claimed"
    assert _claim(store, scan_id, 3, "d", (1, 1)) == "wait"  # 10 of 10 in use
    # The rate counts too: concurrency would fit once one lease is gone, the rate not.
    assert store.finish_shard(scan_id, 2, "c") is False
    assert _claim(store, scan_id, 3, "d", (1, 2001)) == "wait"
    assert _claim(store, scan_id, 3, "d", (1, 2000)) == "claimed"
    # A lease that lapsed (its worker died) frees its budget and its shard.
    later = T0 + timedelta(seconds=7)
    assert _claim(store, scan_id, 1, "e", (9, 2000), at=later) == "claimed"
    attempts = store.shard_attempts(scan_id)
    assert attempts[1] == 2 and attempts[0] == 1


def test_a_new_run_takes_the_shards_over_and_a_stopped_run_ends(store: Store) -> None:
    scan_id = _scan(store, [TargetLine(text=f"192.0.2.{i}") for i in range(1, 30)])
    store.start_shard_run(scan_id, "r1")
    assert _claim(store, scan_id, 0, "a", (5, None)) == "claimed"
    until = T0 + timedelta(seconds=12)
    assert store.renew_shard(scan_id, 0, owner="a", run="r1", lease_until=until) == (True, True)
    # The client of r1 died; r2 resumes. r1's task keeps its lease but learns it is over.
    store.start_shard_run(scan_id, "r2")
    assert store.renew_shard(scan_id, 0, owner="a", run="r1", lease_until=until) == (True, False)
    assert _claim(store, scan_id, 1, "x", (5, None), run="r1") == "stale"
    assert _claim(store, scan_id, 0, "b", (5, None), run="r2") == "wait"
    assert store.finish_shard(scan_id, 0, "a") is False  # gave back, targets left
    # A renewal that was under way when the lease was given back does not extend it.
    assert store.renew_shard(scan_id, 0, owner="a", run="r1", lease_until=until) == (False, False)
    assert _claim(store, scan_id, 0, "b", (5, None), run="r2") == "claimed"
    assert store.renew_shard(scan_id, 0, owner="a", run="r1", lease_until=until) == (False, False)
    # Ctrl-C on r2's client; a stop from r1 (long gone) would change nothing.
    store.stop_shard_run(scan_id, "r1")
    assert {s.run for s in store.shard_states(scan_id)} == {"r2"}
    store.stop_shard_run(scan_id, "r2")
    assert store.renew_shard(scan_id, 0, owner="b", run="r2", lease_until=until) == (True, False)


def test_a_shard_is_done_only_without_pending_targets_and_reopens(store: Store) -> None:
    scan_id = _scan(store, [TargetLine(text="192.0.2.1"), TargetLine(text="192.0.2.2")])
    store.start_shard_run(scan_id, "r1")
    pending = store.pending_targets(scan_id, after=None, limit=10)
    shards = {s.shard: s for s in store.shard_states(scan_id)}
    holding = {s for s, st in shards.items() if any(st.lo <= p.order_key < st.hi for p in pending)}
    for shard in holding:
        assert _claim(store, scan_id, shard, "a", (1, None)) == "claimed"
        assert store.finish_shard(scan_id, shard, "a") is False
    store.record_results(
        scan_id, [TargetResult(target_id=p.target_id, observations=()) for p in pending]
    )
    for shard in range(4):
        if shard not in holding:
            assert _claim(store, scan_id, shard, "a", (1, None)) == "claimed"
        assert store.finish_shard(scan_id, shard, "a") is True
    assert store.open_shards(scan_id) == []
    assert _claim(store, scan_id, 0, "b", (1, None)) == "done"
    # A target pinned into a finished shard (a late pin pass) reopens it.
    assert store.pending_targets(scan_id, after=None, limit=1) == ()
    key = order_key(SEED, parse_target("late.example"), "192.0.2.1")
    store.spool_targets(scan_id, [("late.example", "192.0.2.1", key)])
    assert store.reopen_shards(scan_id) == 1
    (reopened,) = store.open_shards(scan_id)
    assert reopened[1] <= key < reopened[2]


def test_the_pin_pass_puts_every_target_of_an_address_in_one_shard(
    store: Store, tmp_path: Path
) -> None:
    options = ScanOptions(
        pins=(
            Pin(host="a.example", port=None, addresses=("192.0.2.7",)),
            Pin(host="b.example", port=110, addresses=("192.0.2.7", "192.0.2.8")),
            Pin(host="split.example", port=110, addresses=("192.0.2.7",)),
            Pin(host="split.example", port=995, addresses=("192.0.2.9",)),
        ),
        ports=(110, 995),
    )
    lines = [
        TargetLine(text="imaps://a.example"),
        TargetLine(text="b.example:110"),
        TargetLine(text="c.example:110", pin="192.0.2.7"),  # pinned in the target file
        TargetLine(text="192.0.2.7"),
        TargetLine(text="split.example"),  # its ports lead to two addresses: left alone
    ]
    scan_id = _scan(store, lines, options)
    url = f"sqlite:///{tmp_path / 'v.db'}"
    settings = RunSettings(options=options)
    assert pin_range(url, scan_id, 0, 1 << 62, settings, SEED) == 2
    assert pin_range(url, scan_id, 0, 1 << 62, settings, SEED) == 0  # done already
    rows = {
        (p.target, p.pin): p.order_key for p in store.pending_targets(scan_id, after=None, limit=20)
    }
    assert set(rows) == {
        ("imaps://a.example:993", "192.0.2.7"),
        ("b.example:110", "192.0.2.7"),
        ("b.example:110", "192.0.2.8"),
        ("c.example:110", "192.0.2.7"),
        ("192.0.2.7", ""),
        ("split.example", ""),
    }
    on_7 = {key >> 16 for (target, pin), key in rows.items() if "192.0.2.7" in (pin, target)}
    assert len(on_7) == 1  # one address, one host part of the key: never split by a shard
    state = store.fleet_scan(scan_id)
    assert (state.total, state.done) == (6, 0)  # a.example and b.example:110 replaced


def test_a_version_2_database_with_a_fleet_scan_under_way_migrates_and_resumes(
    tmp_path: Path,
) -> None:
    """A database written by schema 2 (shards without run or budgets), a fleet scan half done
    and one lease lapsed when that vedette stopped: after the upgrade a new client run takes
    the shards over, budgets count, and every pending target is still pending exactly once."""
    url = f"sqlite:///{tmp_path / 'v2.db'}"
    with Store.open(url, migrations=MIGRATIONS[:2]) as old:
        assert old.schema_version() == 2
        scan_id = _scan(old, [TargetLine(text=f"192.0.2.{i}") for i in range(1, 21)])
        first = old.pending_targets(scan_id, after=None, limit=5)
        old.record_results(
            scan_id, [TargetResult(target_id=p.target_id, observations=()) for p in first]
        )
    con = sqlite3.connect(tmp_path / "v2.db")
    con.execute(
        "UPDATE scan_shards SET owner = 'old-worker', lease_until = ?, attempts = 1 "
        "WHERE scan_id = ? AND shard = 0",
        ("2025-12-31 23:59:00.000000", scan_id),
    )
    con.commit()
    con.close()
    with Store.open(url) as store:
        assert store.schema_version() == SCHEMA_VERSION == 5
        states = store.shard_states(scan_id)
        assert len(states) == 4 and {s.run for s in states} == {None}
        # Before a client run takes them, the shards of the old scan are nobody's.
        assert _claim(store, scan_id, 0, "a", (10, 4000)) == "stale"
        store.start_shard_run(scan_id, "r1")
        assert _claim(store, scan_id, 0, "a", (10, 4000)) == "claimed"
        assert _claim(store, scan_id, 1, "b", (5, 2000)) == "wait"  # the budget counts
        assert store.shard_attempts(scan_id)[0] == 2
        pending = store.pending_targets(scan_id, after=None, limit=100)
        assert len(pending) == 15
        assert not {p.target_id for p in pending} & {p.target_id for p in first}
