"""The target spool of fleet scans: targets stored once, probed in permutation order.

A fleet scan (``vedette scan --targets FILE``, a CIDR) first stores its targets here
(``spool_targets``: deduplicated by the database, in one transaction), then works through the
pending ones page by page (``pending_targets``) and stores each target's observations with its
``done`` mark in one transaction (``record_results``), so a scan killed at any moment resumes
where it stopped, with nothing lost or stored twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from vedette.errors import StoreError
from vedette.plan import ScanMode, ScanPlan
from vedette.store._base import (
    StoreBase,
    column_text,
    endpoint_key,
    insert_ignoring_conflicts,
    json_object,
    json_strings,
    mapped,
    observation_row,
)
from vedette.store.codec import plan_from_dict
from vedette.store.records import PendingTarget, TargetResult
from vedette.store.schema import observations as _observations
from vedette.store.schema import plans as _plans
from vedette.store.schema import scans as _scans
from vedette.store.schema import targets as _targets

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime

    from sqlalchemy.engine import Connection

__all__ = ["FleetScan", "SpoolStore"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetScan:
    """The state of a fleet scan (``vedette scan --targets/CIDR``) as the store knows it.

    Attributes:
        mode: ``quick`` or ``full``.
        status: ``spooling`` (targets being read; a scan killed then has none and cannot be
            resumed), ``running`` (targets spooled; resumable) or ``finished``.
        total: distinct targets spooled. done: of those, how many have their results stored.
    """

    scan_id: int
    mode: ScanMode
    status: str
    targets: tuple[str, ...]
    options: Mapping[str, Any]
    started_at: datetime
    finished_at: datetime | None
    total: int
    done: int


class SpoolStore(StoreBase):
    """The fleet-scan part of ``Store``: the scan's mode and status, its spooled targets."""

    def begin_fleet_scan(
        self,
        targets: Sequence[str],
        options: Mapping[str, Any],
        started_at: datetime,
        mode: ScanMode,
        plan: ScanPlan | None = None,
    ) -> int:
        """Record a fleet scan in state ``spooling`` with its plan (what ``--resume`` probes
        with); ``spool_targets`` fills it. ``options`` are what reports read (roots, client
        options)."""
        extra = {"mode": ScanMode(mode).value, "status": "spooling"}
        return self._insert_scan(targets, options, started_at, extra, plan)

    def scan_plan(self, scan_id: int) -> ScanPlan:
        """The plan stored with a fleet scan. ``StoreError`` (one line) when the scan has none
        (a scan of schema 3 whose options could not be converted) or it is corrupt."""
        where = f"scan {scan_id} plan"
        with mapped(f"cannot read scan {scan_id} from {self._url}"), self._engine.connect() as conn:
            self._scan_row(conn, scan_id)
            text = conn.execute(
                sa.select(_plans.c.plan_json).where(_plans.c.scan_id == scan_id)
            ).scalar_one_or_none()
        if text is None:
            raise StoreError(
                f"scan {scan_id} has no stored plan to resume from (a finished scan of an "
                "older vedette)"
            )
        try:
            data = json.loads(text)
            return plan_from_dict(data)
        except (ValueError, RecursionError):
            raise StoreError(f"{where}: stored JSON is corrupt") from None
        except StoreError as err:
            raise StoreError(f"{where}: {err}") from None

    def spool_targets(
        self, scan_id: int, rows: Iterable[tuple[str, str, int]], *, batch: int = 5000
    ) -> int:
        """Store ``(target, pin, order_key)`` rows, dropping repeats, and open the scan.

        One transaction: a scan killed while its targets are read has none (status stays
        ``spooling``), so a resumed scan never works from half a list. ``rows`` is consumed
        lazily in batches, so memory does not grow with the input. Returns the number of
        distinct targets.
        """
        with mapped(f"cannot store targets in {self._url}"), self._writer.begin() as conn:
            insert = insert_ignoring_conflicts(conn, _targets)
            chunk: list[dict[str, Any]] = []
            for target, pin, key in rows:
                chunk.append(
                    {"scan_id": scan_id, "target": target, "pin": pin, "order_key": key, "done": 0}
                )
                if len(chunk) >= batch:
                    conn.execute(insert, chunk)
                    chunk = []
            if chunk:
                conn.execute(insert, chunk)
            conn.execute(sa.update(_scans).where(_scans.c.id == scan_id).values(status="running"))
            total = conn.execute(
                sa.select(sa.func.count()).where(_targets.c.scan_id == scan_id)
            ).scalar_one()
        return int(total)

    def fleet_scan(self, scan_id: int) -> FleetScan:
        """The fleet scan ``scan_id``; ``StoreError`` if absent or not a fleet scan."""
        with (
            mapped(f"cannot read scan {scan_id} from {self._url}"),
            self._engine.connect() as conn,
        ):
            row = self._scan_row(conn, scan_id)
            if row.mode is None:
                raise StoreError(f"scan {scan_id} is not a fleet scan (--targets or CIDR)")
            total, done = conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_targets.c.done), 0)).where(
                    _targets.c.scan_id == scan_id
                )
            ).one()
        return FleetScan(
            scan_id=scan_id,
            mode=_mode(row.mode, scan_id),
            status=str(row.status),
            targets=json_strings(row.targets_json, f"scan {scan_id} targets"),
            options=MappingProxyType(json_object(row.options_json, f"scan {scan_id} options")),
            started_at=row.started_at,
            finished_at=row.finished_at,
            total=int(total),
            done=int(done),
        )

    def pending_targets(
        self,
        scan_id: int,
        *,
        after: tuple[int, int] | None,
        limit: int,
        lo: int | None = None,
        hi: int | None = None,
    ) -> tuple[PendingTarget, ...]:
        """Up to ``limit`` targets not done, in permutation order, with ``order_key`` past
        ``after`` (an ``(order_key, target_id)`` pair) and within ``[lo, hi)`` when given
        (keyset paging: no OFFSET scans, no target skipped when two share a key)."""
        query = sa.select(_targets.c.id, _targets.c.target, _targets.c.pin, _targets.c.order_key)
        query = query.where(_targets.c.scan_id == scan_id, _targets.c.done == 0)
        if after is not None:
            key, target_id = after
            query = query.where(
                sa.or_(
                    _targets.c.order_key > key,
                    sa.and_(_targets.c.order_key == key, _targets.c.id > target_id),
                )
            )
        if lo is not None:
            query = query.where(_targets.c.order_key >= lo)
        if hi is not None:
            query = query.where(_targets.c.order_key < hi)
        query = query.order_by(_targets.c.order_key, _targets.c.id).limit(limit)
        with mapped(f"cannot read targets from {self._url}"), self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return tuple(
            PendingTarget(
                target_id=int(r.id), target=r.target, pin=r.pin, order_key=int(r.order_key)
            )
            for r in rows
        )

    def record_results(self, scan_id: int, results: Sequence[TargetResult]) -> int:
        """Store the observations of finished targets and mark them done, atomically.

        The target rows are locked and re-read inside the transaction: a target another
        process (a retried Dask shard, a second resume) has recorded meanwhile is skipped
        whole, and the unique ``(scan_id, endpoint_key)`` index drops an endpoint reached
        through two target lines. Either a target's results and its ``done`` mark land
        together, or neither does, so a kill at any moment leaves it to be probed again.
        Returns the number of targets newly marked done.
        """
        if not results:
            return 0
        ids = [r.target_id for r in results]
        with mapped(f"cannot store observations in {self._url}"), self._writer.begin() as conn:
            # Serialise writers of one scan (PostgreSQL row lock; SQLite has one writer anyway)
            # so that the sequence numbers below do not collide.
            scan = conn.execute(
                sa.select(_scans.c.finished_at, _scans.c.status)
                .where(_scans.c.id == scan_id)
                .with_for_update()
            ).first()
            if scan is None:
                raise StoreError(f"no scan with id {scan_id} in {self._url}")
            if scan.status == "finished":
                raise StoreError(f"scan {scan_id} is finished; it takes no more observations")
            fresh = _lock_pending(conn, scan_id, ids)
            if not fresh:
                return 0
            conn.execute(sa.update(_targets).where(_targets.c.id.in_(sorted(fresh))).values(done=1))
            last = conn.execute(
                sa.select(sa.func.max(_observations.c.seq)).where(
                    _observations.c.scan_id == scan_id
                )
            ).scalar_one()
            seq = 0 if last is None else int(last) + 1
            rows: list[dict[str, Any]] = []
            for result in results:
                if result.target_id not in fresh:
                    continue
                for obs in result.observations:
                    row = observation_row(scan_id, seq, obs)
                    row["target_id"] = result.target_id
                    row["endpoint_key"] = column_text(endpoint_key(obs, result.depth))
                    row["ptr"] = column_text(result.ptr)
                    rows.append(row)
                    seq += 1
            if rows:
                conn.execute(insert_ignoring_conflicts(conn, _observations), rows)
        return len(fresh)

    def finish_fleet_scan(self, scan_id: int, finished_at: datetime) -> None:
        with mapped(f"cannot finish scan {scan_id} in {self._url}"), self._writer.begin() as conn:
            self._scan_row(conn, scan_id)
            conn.execute(
                sa.update(_scans)
                .where(_scans.c.id == scan_id)
                .values(finished_at=finished_at, status="finished")
            )

    def pin_targets(
        self, scan_id: int, pins: Sequence[tuple[int, Sequence[tuple[str, str, int]]]]
    ) -> int:
        """Replace pending targets by pinned ones: for each ``(target_id, rows)``, the
        ``(target, pin, order_key)`` rows are added (repeats dropped) and the target removed,
        in one transaction (the scan's total counts the pinned targets instead). A target
        done meanwhile is left alone, and a result for a removed one is never stored
        (``record_results`` skips targets it does not find pending). Returns the number of
        targets replaced."""
        if not pins:
            return 0
        with mapped(f"cannot store targets in {self._url}"), self._writer.begin() as conn:
            fresh = _lock_pending(conn, scan_id, [target_id for target_id, _ in pins])
            rows = [
                {"scan_id": scan_id, "target": target, "pin": pin, "order_key": key, "done": 0}
                for target_id, new in pins
                if target_id in fresh
                for target, pin, key in new
            ]
            if rows:
                conn.execute(insert_ignoring_conflicts(conn, _targets), rows)
            if fresh:
                conn.execute(sa.delete(_targets).where(_targets.c.id.in_(sorted(fresh))))
        return len(fresh)


def _lock_pending(conn: Connection, scan_id: int, ids: Iterable[int]) -> set[int]:
    """Of ``ids``, the targets of the scan still pending, their rows locked until commit."""
    query = (
        sa.select(_targets.c.id)
        .where(_targets.c.scan_id == scan_id, _targets.c.id.in_(list(ids)), _targets.c.done == 0)
        .with_for_update()
    )
    return {int(i) for (i,) in conn.execute(query)}


def _mode(value: object, scan_id: int) -> ScanMode:
    try:
        return ScanMode(str(value))
    except ValueError:
        raise StoreError(f"scan {scan_id}: stored mode {str(value)[:20]!r} is unknown") from None
