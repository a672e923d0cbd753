"""The versioned result store: SQLite by default, PostgreSQL by URL, through SQLAlchemy Core.

``Store`` is the one facade over the database. It is made of a part per concern:

* this module: opening and migrating the database, plain scans and their observations, reading
  stored scans back (whole, streamed, or merged by endpoint for ``report --diff``);
* ``vedette.store.spool``: the target spool of fleet scans (``SpoolStore``);
* ``vedette.store.shards``: the shard leases and budgets of the Dask runner (``ShardStore``);
* ``vedette.store.schema``: the tables, ``MIGRATIONS`` and ``SCHEMA_VERSION``, the SQLite hooks.

An observation is stored whole as JSON (``vedette.store.codec``, which carries its own format
number), so the relational columns are only an index for cheap queries: which endpoints of a
scan failed and how (``status`` is ``"ok"`` or a ``FailureKind`` value), on which host or port.
Findings are not stored: re-analysing stored observations is the point of keeping them.

``Store.open`` reads the schema version (locking the row where the backend can, so two
processes do not migrate at once) and applies the missing migrations in one transaction:
either all of them land, or the database is left as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Self

import sqlalchemy as sa
from sqlalchemy import exc

from vedette.errors import StoreError
from vedette.store._base import (
    MAX_SCAN_ID as MAX_SCAN_ID,
)
from vedette.store._base import (
    decode_observation,
    json_object,
    json_strings,
    mapped,
    observation_row,
    one_line,
)
from vedette.store._base import (
    endpoint_key as endpoint_key,
)
from vedette.store.domains import DomainStore
from vedette.store.domains import StoredDomainCheck as StoredDomainCheck
from vedette.store.records import PendingTarget as PendingTarget
from vedette.store.records import TargetResult as TargetResult
from vedette.store.schema import MIGRATIONS, SCHEMA_VERSION, sqlite_hooks
from vedette.store.schema import domain_checks as _domains
from vedette.store.schema import observations as _observations
from vedette.store.schema import plans as _plans
from vedette.store.schema import scans as _scans
from vedette.store.schema import schema_version as _schema_version
from vedette.store.schema import shards as _shards
from vedette.store.schema import targets as _targets
from vedette.store.shards import ShardState, ShardStore
from vedette.store.spool import FleetScan, SpoolStore

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from sqlalchemy.engine import Connection

    from vedette.model import Observation

__all__ = [
    "MAX_SCAN_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "FleetScan",
    "PendingTarget",
    "ScanSummary",
    "ShardState",
    "Store",
    "StoredDomainCheck",
    "StoredRow",
    "StoredScan",
    "TargetResult",
    "default_db_url",
    "endpoint_key",
]


def default_db_url() -> str:
    """Where vedette keeps its results unless told otherwise.

    ``$VEDETTE_DB`` (any SQLAlchemy URL) when set and non-empty; otherwise the SQLite file
    ``$XDG_DATA_HOME/vedette/vedette.db``, with ``~/.local/share`` standing in for an unset or
    relative ``XDG_DATA_HOME`` (as the XDG base-directory specification says). The directory is
    created if missing.
    """
    env = os.environ.get("VEDETTE_DB", "").strip()
    if env:
        return env
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    directory = base / "vedette"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create {directory}: {err.strerror or err}") from err
    return f"sqlite:///{directory / 'vedette.db'}"


# --- values ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredScan:
    """One scan read back from the store.

    Attributes:
        scan_id: its id in the store.
        targets: the targets as the user wrote them.
        options: the scan options recorded by ``begin_scan`` (read-only mapping of JSON values).
        started_at, finished_at: UTC; ``finished_at`` is ``None`` for a scan that never
            finished (interrupted, or still running).
        observations: in insertion order.
        vedette_version: the vedette that ran the scan.
    """

    scan_id: int
    targets: tuple[str, ...]
    options: Mapping[str, Any]
    started_at: datetime
    finished_at: datetime | None
    observations: tuple[Observation, ...]
    vedette_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanSummary:
    """One line of ``list_scans``: a scan without its observations.

    Attributes:
        endpoints: observations stored for the scan.
        failed: of those, how many stopped short (status other than ``"ok"``).
    """

    scan_id: int
    targets: tuple[str, ...]
    started_at: datetime
    finished_at: datetime | None
    endpoints: int
    failed: int
    vedette_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredRow:
    """One stored observation with the columns reports need beside it."""

    seq: int
    observation: Observation
    ptr: str | None
    depth: str | None
    target_id: int | None = None


#: ``(host or "", ip or "", port, service)`` of a stored row, as its columns hold them.
EndpointColumns = tuple[str, str, int, str]


def _missing_sqlite_file(url: sa.URL) -> str | None:
    """The path of a SQLite database file that does not exist (opening it would create it),
    or ``None``: another backend, an in-memory database, or a file that is there."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None  # in memory, or a SQLite URI whose mode= the user chose
    return None if os.path.lexists(database) else database


class Store(SpoolStore, ShardStore, DomainStore):
    """A connection to the result store. Use ``Store.open(url)``, ideally as a context manager.

    Every method runs in its own transaction and raises ``StoreError`` (one line) when the
    database cannot be used.
    """

    @classmethod
    def open(
        cls,
        url: str,
        *,
        migrations: Sequence[Callable[[Connection], None]] = MIGRATIONS,
        create: bool = True,
    ) -> Store:
        """Connect to ``url`` and bring its schema to the current version.

        ``create=False`` is for commands that only read (``report``, ``scan --resume``): a
        SQLite file that does not exist is not created, and a database without vedette's
        tables is not given them; both are ``StoreError("no vedette database at ...")``, so a
        mistyped ``--db`` leaves nothing behind.
        ``migrations`` exists for tests that need to simulate a later vedette; callers leave it.
        Raises ``StoreError`` for a malformed URL, a missing driver, a file that cannot be
        opened or is not a database, a database that is not vedette's, or one whose schema is
        newer than this vedette.
        """
        try:
            parsed = sa.make_url(url)
        except (exc.ArgumentError, ValueError) as err:
            raise StoreError(f"invalid database URL {url!r}: {one_line(err)}") from None
        shown = parsed.render_as_string(hide_password=True)
        if not create:
            missing = _missing_sqlite_file(parsed)
            if missing is not None:
                raise StoreError(f"no vedette database at {missing}")
        try:
            engine = sa.create_engine(parsed)
        except (exc.NoSuchModuleError, ImportError) as err:
            raise StoreError(f"cannot use database {shown}: {one_line(err)}") from err
        except (exc.ArgumentError, TypeError, ValueError) as err:
            raise StoreError(f"invalid database URL {shown}: {one_line(err)}") from err
        if engine.dialect.name == "sqlite":
            sqlite_hooks(engine)
        store = cls(engine, shown)
        try:
            with mapped(f"cannot open database {shown}"):
                store._migrate(tuple(migrations), create=create)
        except BaseException:
            engine.dispose()
            raise
        return store

    def _migrate(
        self, migrations: tuple[Callable[[Connection], None], ...], *, create: bool
    ) -> None:
        target = len(migrations)
        with self._writer.begin() as conn:
            names = set(sa.inspect(conn).get_table_names())
            if "schema_version" not in names:
                ours = names & {"scans", "observations"}
                if ours:
                    raise StoreError(
                        f"database {self._url} has table(s) {', '.join(sorted(ours))} "
                        "but no schema_version: not a vedette database"
                    )
                if not create:
                    raise StoreError(f"no vedette database at {self._url}")
                current = 0
            else:
                rows = conn.execute(sa.select(_schema_version.c.version).with_for_update()).all()
                if len(rows) != 1:
                    raise StoreError(
                        f"database {self._url} is damaged: schema_version has {len(rows)} rows"
                    )
                current = int(rows[0][0])
            if current > target:
                raise StoreError(
                    f"database schema version {current} is newer than this vedette "
                    f"({target}); upgrade vedette"
                )
            for version in range(current, target):
                migrations[version](conn)
            if current == 0:
                conn.execute(sa.insert(_schema_version).values(version=target))
            elif current != target:
                conn.execute(sa.update(_schema_version).values(version=target))

    def schema_version(self) -> int:
        """The schema version recorded in the database."""
        with mapped(f"cannot read {self._url}"), self._engine.connect() as conn:
            return int(conn.execute(sa.select(_schema_version.c.version)).scalar_one())

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- writing -----------------------------------------------------------------------------

    def begin_scan(
        self, targets: Sequence[str], options: Mapping[str, Any], started_at: datetime
    ) -> int:
        """Record a new scan and return its id. ``options`` must be JSON-serialisable."""
        return self._insert_scan(targets, options, started_at, {})

    def add_observations(self, scan_id: int, observations: Sequence[Observation]) -> None:
        """Append ``observations`` to a scan that is not finished, in one transaction.

        Sequence numbers continue after the scan's last stored observation, so repeated calls
        (one per completed batch of a long scan) keep insertion order.
        """
        if not observations:
            return
        with mapped(f"cannot store observations in {self._url}"), self._writer.begin() as conn:
            finished = self._scan_row(conn, scan_id).finished_at
            if finished is not None:
                raise StoreError(f"scan {scan_id} is finished; it takes no more observations")
            last = conn.execute(
                sa.select(sa.func.max(_observations.c.seq)).where(
                    _observations.c.scan_id == scan_id
                )
            ).scalar_one()
            start = 0 if last is None else int(last) + 1
            rows = [observation_row(scan_id, start + i, obs) for i, obs in enumerate(observations)]
            conn.execute(sa.insert(_observations), rows)

    def finish_scan(self, scan_id: int, finished_at: datetime) -> None:
        """Mark a scan finished at ``finished_at``."""
        with mapped(f"cannot finish scan {scan_id} in {self._url}"), self._writer.begin() as conn:
            self._scan_row(conn, scan_id)
            conn.execute(
                sa.update(_scans).where(_scans.c.id == scan_id).values(finished_at=finished_at)
            )

    # --- reading -----------------------------------------------------------------------------

    def load_scan(self, scan_id: int) -> StoredScan:
        """The scan ``scan_id`` with all its observations; ``StoreError`` if absent or corrupt."""
        with mapped(f"cannot read scan {scan_id} from {self._url}"), self._engine.begin() as conn:
            row = self._scan_row(conn, scan_id)
            obs_rows = conn.execute(
                sa.select(_observations.c.seq, _observations.c.observation_json)
                .where(_observations.c.scan_id == scan_id)
                .order_by(_observations.c.seq)
            ).all()
        observations = [
            decode_observation(text, f"scan {scan_id}, observation {seq}") for seq, text in obs_rows
        ]
        return StoredScan(
            scan_id=scan_id,
            targets=json_strings(row.targets_json, f"scan {scan_id} targets"),
            options=MappingProxyType(json_object(row.options_json, f"scan {scan_id} options")),
            started_at=row.started_at,
            finished_at=row.finished_at,
            observations=tuple(observations),
            vedette_version=row.vedette_version,
        )

    def last_scan_id(self) -> int | None:
        """The id of the most recently begun scan (finished or not), or ``None`` if none."""
        with mapped(f"cannot read {self._url}"), self._engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(_scans.c.id))).scalar_one()
        return None if value is None else int(value)

    def list_scans(self, limit: int = 20) -> tuple[ScanSummary, ...]:
        """The ``limit`` most recent scans, newest first."""
        failed = sa.func.sum(sa.case((_observations.c.status != "ok", 1), else_=0))
        counts = (
            sa.select(
                _observations.c.scan_id,
                sa.func.count().label("endpoints"),
                failed.label("failed"),
            )
            .group_by(_observations.c.scan_id)
            .subquery()
        )
        query = (
            sa.select(_scans, counts.c.endpoints, counts.c.failed)
            .select_from(_scans.outerjoin(counts, counts.c.scan_id == _scans.c.id))
            .order_by(_scans.c.id.desc())
            .limit(max(0, limit))
        )
        with mapped(f"cannot list scans in {self._url}"), self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return tuple(
            ScanSummary(
                scan_id=int(r.id),
                targets=json_strings(r.targets_json, f"scan {r.id} targets"),
                started_at=r.started_at,
                finished_at=r.finished_at,
                endpoints=int(r.endpoints or 0),
                failed=int(r.failed or 0),
                vedette_version=r.vedette_version,
            )
            for r in rows
        )

    def delete_scan(self, scan_id: int) -> None:
        """Remove a scan and everything stored for it (a fleet scan whose targets were bad)."""
        with mapped(f"cannot delete scan {scan_id} in {self._url}"), self._writer.begin() as conn:
            for table in (_observations, _targets, _shards, _plans, _domains):
                conn.execute(sa.delete(table).where(table.c.scan_id == scan_id))
            conn.execute(sa.delete(_scans).where(_scans.c.id == scan_id))

    def iter_rows(self, scan_id: int, *, batch: int = 1000) -> Iterator[StoredRow]:
        """Every observation of a scan in insertion order, read ``batch`` rows at a time so a
        report over millions of endpoints runs in flat memory."""
        with (
            mapped(f"cannot read scan {scan_id} from {self._url}"),
            self._engine.connect() as conn,
        ):
            self._scan_row(conn, scan_id)
        after = -1
        while True:
            query = (
                sa.select(
                    _observations.c.seq,
                    _observations.c.observation_json,
                    _observations.c.ptr,
                    _observations.c.endpoint_key,
                    _observations.c.target_id,
                )
                .where(_observations.c.scan_id == scan_id, _observations.c.seq > after)
                .order_by(_observations.c.seq)
                .limit(batch)
            )
            with (
                mapped(f"cannot read scan {scan_id} from {self._url}"),
                self._engine.connect() as conn,
            ):
                rows = conn.execute(query).all()
            if not rows:
                return
            for row in rows:
                depth = None if row.endpoint_key is None else row.endpoint_key.split("|", 1)[0]
                yield StoredRow(
                    seq=int(row.seq),
                    observation=decode_observation(
                        row.observation_json, f"scan {scan_id}, observation {row.seq}"
                    ),
                    ptr=row.ptr,
                    depth=depth,
                    target_id=None if row.target_id is None else int(row.target_id),
                )
            after = int(rows[-1].seq)

    def iter_rows_by_endpoint(
        self, scan_id: int, *, batch: int = 1000
    ) -> Iterator[tuple[EndpointColumns, StoredRow]]:
        """Every observation of a scan ordered for merging with another scan's, streamed.

        The order is that of ``(host or "", ip or "", port, service)`` — Python's order of the
        yielded ``EndpointColumns`` — except that inside one *unit* (the rows of one host
        name, or of one bare address) rows come ordered by port, service, address, so that
        every ``name:port`` group a group check needs is contiguous; a caller re-sorts within
        a unit. Text is compared by code point on both backends (SQLite's binary collation,
        PostgreSQL's ``"C"``), as Python compares strings. One query, read through a
        streaming cursor ``batch`` rows at a time: memory stays flat however large the scan.
        """
        o = _observations

        def text(expr: Any) -> Any:
            return expr if self.backend != "postgresql" else sa.collate(expr, "C")

        host = text(sa.func.coalesce(o.c.host, ""))
        unit = text(sa.case((o.c.host.is_(None), sa.func.coalesce(o.c.ip, "")), else_=""))
        ip = text(sa.func.coalesce(o.c.ip, ""))
        query = (
            sa.select(
                o.c.seq,
                o.c.observation_json,
                o.c.ptr,
                o.c.endpoint_key,
                o.c.target_id,
                o.c.host,
                o.c.ip,
                o.c.port,
                o.c.service,
            )
            .where(o.c.scan_id == scan_id)
            .order_by(host, unit, o.c.port, text(o.c.service), ip, o.c.seq)
        )
        where = f"cannot read scan {scan_id} from {self._url}"
        with mapped(where), self._engine.connect() as conn:
            self._scan_row(conn, scan_id)
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
            for row in result:
                depth = None if row.endpoint_key is None else row.endpoint_key.split("|", 1)[0]
                stored = StoredRow(
                    seq=int(row.seq),
                    observation=decode_observation(
                        row.observation_json, f"scan {scan_id}, observation {row.seq}"
                    ),
                    ptr=row.ptr,
                    depth=depth,
                    target_id=None if row.target_id is None else int(row.target_id),
                )
                yield (row.host or "", row.ip or "", int(row.port), str(row.service)), stored

    def scan_options(self, scan_id: int) -> Mapping[str, Any]:
        """The options recorded with a scan."""
        with (
            mapped(f"cannot read scan {scan_id} from {self._url}"),
            self._engine.connect() as conn,
        ):
            row = self._scan_row(conn, scan_id)
        return MappingProxyType(json_object(row.options_json, f"scan {scan_id} options"))

    def scan_summary(self, scan_id: int) -> ScanSummary:
        """One scan's ``list_scans`` line."""
        failed = sa.func.sum(sa.case((_observations.c.status != "ok", 1), else_=0))
        with (
            mapped(f"cannot read scan {scan_id} from {self._url}"),
            self._engine.connect() as conn,
        ):
            row = self._scan_row(conn, scan_id)
            endpoints, failures = conn.execute(
                sa.select(sa.func.count(), failed).where(_observations.c.scan_id == scan_id)
            ).one()
        return ScanSummary(
            scan_id=scan_id,
            targets=json_strings(row.targets_json, f"scan {scan_id} targets"),
            started_at=row.started_at,
            finished_at=row.finished_at,
            endpoints=int(endpoints or 0),
            failed=int(failures or 0),
            vedette_version=row.vedette_version,
        )

    def endpoint_keys(self, scan_id: int) -> list[str]:
        """Every endpoint key stored for a scan (tests and diagnostics)."""
        with (
            mapped(f"cannot read scan {scan_id} from {self._url}"),
            self._engine.connect() as conn,
        ):
            return [
                str(k)
                for (k,) in conn.execute(
                    sa.select(_observations.c.endpoint_key).where(
                        _observations.c.scan_id == scan_id
                    )
                )
            ]
