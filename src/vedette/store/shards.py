"""Shard leases for the Dask runner: who works which key range of a scan, with what budget.

A cluster scan cuts its spooled targets' ``order_key`` range into shards. A worker takes a
shard's lease with a budget (concurrency, connection rate) granted only while the live leases'
budgets stay within the scan's limits; it renews the lease as it goes and gives it back when
the shard has nothing pending. A client run owns the open shards: a task of an earlier run sees
at its next renewal that it is over and winds down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa

from vedette.store._base import StoreBase, mapped
from vedette.store.schema import scans as _scans
from vedette.store.schema import shards as _shards
from vedette.store.schema import targets as _targets

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

__all__ = ["ShardState", "ShardStore"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardState:
    """One shard of a cluster scan: its key range ``[lo, hi)``, the last lease holder, how
    many leases were granted to a new holder, whether it is done, the client run it is for,
    whether a lease is held (not given back; it may have lapsed)."""

    shard: int
    lo: int
    hi: int
    owner: str | None
    attempts: int
    done: bool
    run: str | None
    leased: bool


class ShardStore(StoreBase):
    """The shard part of ``Store`` (the Dask runner's leases and budgets)."""

    def create_shards(self, scan_id: int, bounds: Sequence[tuple[int, int]]) -> None:
        """Record the shards ``[lo, hi)`` of a scan once; a resumed scan keeps its own."""
        with mapped(f"cannot record shards in {self._url}"), self._writer.begin() as conn:
            existing = conn.execute(
                sa.select(sa.func.count()).where(_shards.c.scan_id == scan_id)
            ).scalar_one()
            if existing:
                return
            conn.execute(
                sa.insert(_shards),
                [
                    {
                        "scan_id": scan_id,
                        "shard": i,
                        "lo": lo,
                        "hi": hi,
                        "owner": None,
                        "lease_until": None,
                        "attempts": 0,
                        "done": 0,
                    }
                    for i, (lo, hi) in enumerate(bounds)
                ],
            )

    def open_shards(self, scan_id: int) -> list[tuple[int, int, int]]:
        """``(shard, lo, hi)`` of the shards not finished."""
        with mapped(f"cannot read shards from {self._url}"), self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(_shards.c.shard, _shards.c.lo, _shards.c.hi)
                .where(_shards.c.scan_id == scan_id, _shards.c.done == 0)
                .order_by(_shards.c.shard)
            ).all()
        return [(int(r.shard), int(r.lo), int(r.hi)) for r in rows]

    def start_shard_run(self, scan_id: int, run: str) -> None:
        """Hand the open shards of a scan to client run ``run``. A task of an earlier run (a
        client killed or stopped, whose task still runs on a worker) sees at its next lease
        renewal that its run is over, stops taking targets and gives its lease back."""
        with mapped(f"cannot record shards in {self._url}"), self._writer.begin() as conn:
            conn.execute(
                sa.update(_shards)
                .where(_shards.c.scan_id == scan_id, _shards.c.done == 0)
                .values(run=run)
            )

    def stop_shard_run(self, scan_id: int, run: str) -> None:
        """Ctrl-C on the client: the tasks of ``run`` stop (unless another run took over)."""
        with mapped(f"cannot record shards in {self._url}"), self._writer.begin() as conn:
            conn.execute(
                sa.update(_shards)
                .where(_shards.c.scan_id == scan_id, _shards.c.run == run)
                .values(run=None)
            )

    def reopen_shards(self, scan_id: int) -> int:
        """Mark not done the shards that still have pending targets (a target re-pinned into
        a shard after it finished, a task that stopped early); how many were reopened."""
        pending = (
            sa.select(_targets.c.id)
            .where(
                _targets.c.scan_id == _shards.c.scan_id,
                _targets.c.done == 0,
                _targets.c.order_key >= _shards.c.lo,
                _targets.c.order_key < _shards.c.hi,
            )
            .exists()
        )
        with mapped(f"cannot record shards in {self._url}"), self._writer.begin() as conn:
            result = conn.execute(
                sa.update(_shards)
                .where(_shards.c.scan_id == scan_id, _shards.c.done == 1, pending)
                .values(done=0)
            )
        return int(result.rowcount)

    def claim_shard(
        self,
        scan_id: int,
        shard: int,
        *,
        owner: str,
        run: str,
        now: datetime,
        lease_until: datetime,
        budget: tuple[int, int | None],
        limits: tuple[int, int | None],
    ) -> Literal["claimed", "wait", "done", "stale"]:
        """Take the lease on a shard with a budget ``(concurrency, connections per 1000 s)``.

        ``done``: nothing left to do. ``stale``: the shard belongs to another client run.
        ``wait``: another owner's lease runs, or the budgets of the live leases of the scan
        plus this one would exceed ``limits`` (the scan's own). The check and the grant are
        one transaction holding the scan row, so the sum of the budgets of the live leases
        never exceeds the limits, however many workers come and go.
        """
        with mapped(f"cannot claim shard {shard} in {self._url}"), self._writer.begin() as conn:
            conn.execute(sa.select(_scans.c.id).where(_scans.c.id == scan_id).with_for_update())
            row = conn.execute(
                sa.select(
                    _shards.c.owner,
                    _shards.c.lease_until,
                    _shards.c.done,
                    _shards.c.attempts,
                    _shards.c.run,
                )
                .where(_shards.c.scan_id == scan_id, _shards.c.shard == shard)
                .with_for_update()
            ).first()
            if row is None or row.done:
                return "done"
            if row.run != run:
                return "stale"
            live = sa.and_(_shards.c.lease_until.is_not(None), _shards.c.lease_until > now)
            lease = row.lease_until
            if row.owner not in (None, owner) and lease is not None and lease > now:
                return "wait"
            used_c, used_r = conn.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(_shards.c.concurrency), 0),
                    sa.func.coalesce(sa.func.sum(_shards.c.rate_milli), 0),
                ).where(_shards.c.scan_id == scan_id, _shards.c.shard != shard, live)
            ).one()
            concurrency, rate_milli = budget
            limit_c, limit_r = limits
            if int(used_c) + concurrency > limit_c and int(used_c) > 0:
                return "wait"
            over_rate = limit_r is not None and int(used_r) + (rate_milli or 0) > limit_r
            if over_rate and int(used_r) > 0:
                return "wait"
            attempts = int(row.attempts) + (0 if row.owner == owner else 1)
            conn.execute(
                sa.update(_shards)
                .where(_shards.c.scan_id == scan_id, _shards.c.shard == shard)
                .values(
                    owner=owner,
                    lease_until=lease_until,
                    attempts=attempts,
                    concurrency=concurrency,
                    rate_milli=rate_milli,
                )
            )
            return "claimed"

    def renew_shard(
        self, scan_id: int, shard: int, *, owner: str, run: str, lease_until: datetime
    ) -> tuple[bool, bool]:
        """Extend ``owner``'s lease: ``(held, current)``. ``held`` is False when the lease
        was lost (it lapsed and another took it); ``current`` is False when the shard's run
        is no longer ``run`` (the client stopped, or a resumed scan took over): the holder
        keeps its lease (its budget stays counted) while it winds down, then finishes."""
        with mapped(f"cannot renew shard {shard} in {self._url}"), self._writer.begin() as conn:
            row = conn.execute(
                sa.select(_shards.c.owner, _shards.c.lease_until, _shards.c.done, _shards.c.run)
                .where(_shards.c.scan_id == scan_id, _shards.c.shard == shard)
                .with_for_update()
            ).first()
            if row is None or row.owner != owner or row.lease_until is None:
                return False, False  # taken over, or given back
            conn.execute(
                sa.update(_shards)
                .where(_shards.c.scan_id == scan_id, _shards.c.shard == shard)
                .values(lease_until=lease_until)
            )
            return True, row.run == run and not row.done

    def finish_shard(self, scan_id: int, shard: int, owner: str) -> bool:
        """Give ``owner``'s lease back; the shard is marked done (True) only when none of its
        targets is pending (a task that stopped early leaves it open for another run)."""
        with mapped(f"cannot finish shard {shard} in {self._url}"), self._writer.begin() as conn:
            row = conn.execute(
                sa.select(_shards.c.owner, _shards.c.lo, _shards.c.hi)
                .where(_shards.c.scan_id == scan_id, _shards.c.shard == shard)
                .with_for_update()
            ).first()
            if row is None or row.owner != owner:
                return False
            left = conn.execute(
                sa.select(_targets.c.id)
                .where(
                    _targets.c.scan_id == scan_id,
                    _targets.c.done == 0,
                    _targets.c.order_key >= row.lo,
                    _targets.c.order_key < row.hi,
                )
                .limit(1)
            ).first()
            conn.execute(
                sa.update(_shards)
                .where(_shards.c.scan_id == scan_id, _shards.c.shard == shard)
                .values(done=1 if left is None else 0, lease_until=None)
            )
            return left is None

    def shard_states(self, scan_id: int) -> list[ShardState]:
        """Every shard of a scan as stored (tests and diagnostics)."""
        with mapped(f"cannot read shards from {self._url}"), self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(_shards).where(_shards.c.scan_id == scan_id).order_by(_shards.c.shard)
            ).all()
        return [
            ShardState(
                shard=int(r.shard),
                lo=int(r.lo),
                hi=int(r.hi),
                owner=r.owner,
                attempts=int(r.attempts),
                done=bool(r.done),
                run=r.run,
                leased=r.lease_until is not None,
            )
            for r in rows
        ]

    def shard_attempts(self, scan_id: int) -> dict[int, int]:
        with mapped(f"cannot read shards from {self._url}"), self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(_shards.c.shard, _shards.c.attempts).where(_shards.c.scan_id == scan_id)
            ).all()
        return {int(r.shard): int(r.attempts) for r in rows}
