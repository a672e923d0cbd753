"""The versioned result store: SQLite by default, PostgreSQL by URL, through SQLAlchemy Core.

Layout (schema version 3, :data:`SCHEMA_VERSION`)::

    schema_version(version)                       exactly one row
    scans(id, started_at, finished_at, targets_json, options_json, vedette_version,
          mode, status)                           mode/status: fleet scans only (v2)
    observations(id, scan_id -> scans.id, seq, host, ip, port, service, status,
                 observation_json, target_id, endpoint_key, ptr)
                                                  index on scan_id, unique (scan_id, seq),
                                                  unique (scan_id, endpoint_key) (v2)
    scan_targets(id, scan_id -> scans.id, target, pin, order_key, done)        v2: the spool
    scan_shards(scan_id, shard, lo, hi, owner, lease_until, attempts, done,
                run, concurrency, rate_milli)     v2: shard leases; v3: the run and budgets

An observation is stored whole as JSON (``vedette.store.codec``, which carries its own format
number), so the relational columns are only an index for cheap queries: which endpoints of a
scan failed and how (``status`` is ``"ok"`` or a ``FailureKind`` value), on which host or port.
Findings are not stored: re-analysing stored observations is the point of keeping them.

Portability: only portable column types (Integer, Text, Float, timezone-aware DateTime) and
SQLAlchemy Core constructs, so the same code runs on SQLite and on ``postgresql+psycopg://``.
Two SQLite quirks are handled here, not in the queries:

* pysqlite opens transactions lazily and never around DDL, so a migration could be half
  applied. The connection hooks below switch the driver to autocommit mode and emit ``BEGIN``
  ourselves, making each ``engine.begin()`` block one real SQLite transaction, DDL included
  (the recipe from SQLAlchemy's SQLite dialect documentation). They also turn on foreign keys,
  which SQLite leaves off per connection.
* SQLite has no timezone-aware timestamp type: ``_UtcDateTime`` stores naive UTC there and
  hands back aware UTC datetimes on every backend.

Migrations: ``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``; a database with
no ``schema_version`` table is version 0 (empty). ``Store.open`` reads the version (locking the
row where the backend can, so two processes do not migrate at once) and applies the missing
steps in one transaction: either all of them land, or the database is left as it was.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import sqlalchemy as sa
from sqlalchemy import event, exc

from vedette import __version__
from vedette.errors import StoreError
from vedette.store.codec import observation_from_dict, observation_to_dict
from vedette.store.records import PendingTarget as PendingTarget
from vedette.store.records import TargetResult as TargetResult

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from sqlalchemy.engine import Connection, Dialect, Engine

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


# --- schema ----------------------------------------------------------------------------------


class _UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} (vedette stores UTC only)")
        value = value.astimezone(UTC)
        # SQLite's DATETIME storage has no offset; store the UTC wall time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _v1_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """The layout of schema version 1. A later version defines its own function; this one
    stays as it is, because migration 1 must keep creating exactly this."""
    version = sa.Table(
        "schema_version",
        metadata,
        sa.Column("version", sa.Integer, nullable=False),
    )
    scans = sa.Table(
        "scans",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", _UtcDateTime, nullable=False),
        sa.Column("finished_at", _UtcDateTime, nullable=True),
        sa.Column("targets_json", sa.Text, nullable=False),
        sa.Column("options_json", sa.Text, nullable=False),
        sa.Column("vedette_version", sa.Text, nullable=False),
    )
    observations = sa.Table(
        "observations",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "scan_id", sa.Integer, sa.ForeignKey("scans.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("host", sa.Text, nullable=True),
        sa.Column("ip", sa.Text, nullable=True),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("observation_json", sa.Text, nullable=False),
        sa.Index("ix_observations_scan_id", "scan_id"),
        # A resumed scan must never store the same slot twice.
        sa.UniqueConstraint("scan_id", "seq", name="uq_observations_scan_seq"),
    )
    return version, scans, observations


#: Columns schema version 2 adds to the tables of version 1, as (table, column, SQL type).
#: ``ALTER TABLE ... ADD COLUMN`` of a nullable column is the one form SQLite and PostgreSQL
#: share, so every added column is nullable; ``NULL`` means "a scan stored by version 1".
_V2_ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("scans", "mode", "TEXT"),  # quick | full for a fleet scan; NULL for a plain scan
    ("scans", "status", "TEXT"),  # spooling | running | finished for a fleet scan
    ("observations", "target_id", "INTEGER"),  # the spooled target the endpoint came from
    ("observations", "endpoint_key", "TEXT"),  # pass|host|ip|port|service, unique in a scan
    ("observations", "ptr", "TEXT"),  # reverse name of a bare-IP target
)


def _v2_new_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """The tables schema version 2 adds (fleet scans). Frozen like ``_v1_tables``."""
    targets = sa.Table(
        "scan_targets",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "scan_id", sa.Integer, sa.ForeignKey("scans.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("target", sa.Text, nullable=False),
        # '' rather than NULL for "not pinned": NULLs are all distinct in a unique constraint,
        # which would let the same unpinned line in twice.
        sa.Column("pin", sa.Text, nullable=False),
        # The permutation: targets are probed in order_key order (see vedette.scale.spool).
        sa.Column("order_key", sa.BigInteger, nullable=False),
        sa.Column("done", sa.Integer, nullable=False),
        # Deduplication happens here, in the database, not in a Python set that would grow
        # with the input.
        sa.UniqueConstraint("scan_id", "target", "pin", name="uq_scan_targets_line"),
        sa.Index("ix_scan_targets_pending", "scan_id", "done", "order_key"),
    )
    shards = sa.Table(
        "scan_shards",
        metadata,
        sa.Column(
            "scan_id", sa.Integer, sa.ForeignKey("scans.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("shard", sa.Integer, nullable=False),
        sa.Column("lo", sa.BigInteger, nullable=False),  # order_key range [lo, hi)
        sa.Column("hi", sa.BigInteger, nullable=False),
        sa.Column("owner", sa.Text, nullable=True),  # the worker holding the lease
        sa.Column("lease_until", _UtcDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("done", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("scan_id", "shard", name="pk_scan_shards"),
    )
    return targets, shards


#: Columns schema version 3 adds to ``scan_shards`` (the Dask runner's budgets), as above.
_V3_SHARD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run", "TEXT"),  # the client run allowed to work the shard; NULL: stopped
    ("concurrency", "INTEGER"),  # endpoints at once granted to the lease holder
    ("rate_milli", "INTEGER"),  # its connections per 1000 s; NULL: no rate limit
)


def _v2_endpoint_index(observations: sa.Table) -> sa.Index:
    # The database itself refuses a second row for one endpoint of a scan, whatever a resumed
    # or retried worker does. Rows of version 1 have a NULL key, and NULLs never collide.
    return sa.Index(
        "uq_observations_scan_endpoint",
        observations.c.scan_id,
        observations.c.endpoint_key,
        unique=True,
    )


def _current_tables(
    metadata: sa.MetaData,
) -> tuple[sa.Table, sa.Table, sa.Table, sa.Table, sa.Table]:
    version, scans, observations = _v1_tables(metadata)
    types: dict[str, Any] = {"TEXT": sa.Text, "INTEGER": sa.Integer}
    for table_name, column, sql_type in _V2_ADDED_COLUMNS:
        table = scans if table_name == "scans" else observations
        table.append_column(sa.Column(column, types[sql_type], nullable=True))
    targets, shards = _v2_new_tables(metadata)
    for column, sql_type in _V3_SHARD_COLUMNS:
        shards.append_column(sa.Column(column, types[sql_type], nullable=True))
    return version, scans, observations, targets, shards


_METADATA = sa.MetaData()
_schema_version, _scans, _observations, _targets, _shards = _current_tables(_METADATA)


def _migrate_0_to_1(conn: Connection) -> None:
    metadata = sa.MetaData()
    _v1_tables(metadata)
    metadata.create_all(conn)


def _migrate_1_to_2(conn: Connection) -> None:
    for table, column, sql_type in _V2_ADDED_COLUMNS:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
    metadata = sa.MetaData()
    _, _, observations = _v1_tables(metadata)
    observations.append_column(sa.Column("endpoint_key", sa.Text, nullable=True))
    targets, shards = _v2_new_tables(metadata)
    metadata.create_all(conn, tables=[targets, shards])
    _v2_endpoint_index(observations).create(conn)


def _migrate_2_to_3(conn: Connection) -> None:
    for column, sql_type in _V3_SHARD_COLUMNS:
        conn.exec_driver_sql(f"ALTER TABLE scan_shards ADD COLUMN {column} {sql_type}")


#: ``MIGRATIONS[i]`` upgrades a database from schema version ``i`` to ``i + 1``.
MIGRATIONS: tuple[Callable[[Connection], None], ...] = (
    _migrate_0_to_1,
    _migrate_1_to_2,
    _migrate_2_to_3,
)
#: The schema version this vedette writes.
SCHEMA_VERSION = len(MIGRATIONS)


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
class FleetScan:
    """The state of a fleet scan (``vedette scan --targets/CIDR``) as the store knows it.

    Attributes:
        mode: ``quick`` or ``full``.
        status: ``spooling`` (targets being read; a scan killed then has none and cannot be
            resumed), ``running`` (targets spooled; resumable) or ``finished``.
        total: distinct targets spooled. done: of those, how many have their results stored.
    """

    scan_id: int
    mode: str
    status: str
    targets: tuple[str, ...]
    options: Mapping[str, Any]
    started_at: datetime
    finished_at: datetime | None
    total: int
    done: int


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


def endpoint_key(obs: Observation, depth: str) -> str:
    """The identity of an endpoint within a scan: no two observations of a scan share it.

    ``depth`` is the pass (``quick`` or ``full``) that produced the observation."""
    ep = obs.endpoint
    return f"{depth}|{ep.host or ''}|{ep.ip or ''}|{ep.port}|{ep.service.value}"


# --- errors ----------------------------------------------------------------------------------


def _one_line(err: BaseException) -> str:
    # SQLAlchemy's messages carry the SQL, parameters and a "Background on this error" link
    # over several lines; the driver's own message (``orig``) is what a user can act on.
    inner = getattr(err, "orig", None) or err
    text = " ".join(str(inner).split())
    return text or type(inner).__name__


@contextmanager
def _mapped(action: str) -> Iterator[None]:
    """Turn database-layer exceptions into one-line ``StoreError``s at the store's edge."""
    try:
        yield
    except StoreError:
        raise
    except exc.SQLAlchemyError as err:
        raise StoreError(f"{action}: {_one_line(err)}") from err
    except sqlite3.Error as err:  # raised bare by the connect hooks
        raise StoreError(f"{action}: {_one_line(err)}") from err
    except OverflowError as err:  # a number past the driver's 64-bit integers
        raise StoreError(f"{action}: a number is out of the database's range") from err


# --- the store -------------------------------------------------------------------------------


#: Scan ids are 64-bit signed integers on every backend: 1 .. 2**63 - 1.
MAX_SCAN_ID = (1 << 63) - 1


def _missing_sqlite_file(url: sa.URL) -> str | None:
    """The path of a SQLite database file that does not exist (opening it would create it),
    or ``None``: another backend, an in-memory database, or a file that is there."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None  # in memory, or a SQLite URI whose mode= the user chose
    return None if os.path.lexists(database) else database


#: Execution option marking the store's write transactions (see ``_sqlite_hooks``).
_WRITE_OPTION = "vedette_write"


def _sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Autocommit at the driver level: we issue BEGIN ourselves (see the module docstring).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers start with BEGIN IMMEDIATE (the write lock at once): two processes that
        # both begin deferred, read, then write would deadlock, and SQLite breaks that by
        # failing one at once ("database is locked") instead of letting it wait its turn.
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Store:
    """A connection to the result store. Use ``Store.open(url)``, ideally as a context manager.

    Every method runs in its own transaction and raises ``StoreError`` (one line) when the
    database cannot be used.
    """

    def __init__(self, engine: Engine, shown_url: str) -> None:
        self._engine = engine
        # Same pool and hooks; its transactions are writes (BEGIN IMMEDIATE on SQLite).
        self._writer = engine.execution_options(**{_WRITE_OPTION: True})
        self._url = shown_url

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
            raise StoreError(f"invalid database URL {url!r}: {_one_line(err)}") from None
        shown = parsed.render_as_string(hide_password=True)
        if not create:
            missing = _missing_sqlite_file(parsed)
            if missing is not None:
                raise StoreError(f"no vedette database at {missing}")
        try:
            engine = sa.create_engine(parsed)
        except (exc.NoSuchModuleError, ImportError) as err:
            raise StoreError(f"cannot use database {shown}: {_one_line(err)}") from err
        except (exc.ArgumentError, TypeError, ValueError) as err:
            raise StoreError(f"invalid database URL {shown}: {_one_line(err)}") from err
        if engine.dialect.name == "sqlite":
            _sqlite_hooks(engine)
        store = cls(engine, shown)
        try:
            with _mapped(f"cannot open database {shown}"):
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
        with _mapped(f"cannot read {self._url}"), self._engine.connect() as conn:
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

    def _insert_scan(
        self,
        targets: Sequence[str],
        options: Mapping[str, Any],
        started_at: datetime,
        extra: Mapping[str, Any],
    ) -> int:
        # One INSERT, one transaction: a reader never sees half a scan (a fleet scan without
        # its mode), and an interruption leaves either the whole row or none.
        try:
            options_json = json.dumps(dict(options), sort_keys=True)
        except (TypeError, ValueError) as err:
            raise StoreError(f"scan options cannot be stored as JSON: {err}") from err
        with _mapped(f"cannot record a scan in {self._url}"), self._writer.begin() as conn:
            result = conn.execute(
                sa.insert(_scans).values(
                    started_at=started_at,
                    finished_at=None,
                    targets_json=json.dumps(list(targets)),
                    options_json=options_json,
                    vedette_version=__version__,
                    **extra,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def add_observations(self, scan_id: int, observations: Sequence[Observation]) -> None:
        """Append ``observations`` to a scan that is not finished, in one transaction.

        Sequence numbers continue after the scan's last stored observation, so repeated calls
        (one per completed batch of a long scan) keep insertion order.
        """
        if not observations:
            return
        with _mapped(f"cannot store observations in {self._url}"), self._writer.begin() as conn:
            finished = self._scan_row(conn, scan_id).finished_at
            if finished is not None:
                raise StoreError(f"scan {scan_id} is finished; it takes no more observations")
            last = conn.execute(
                sa.select(sa.func.max(_observations.c.seq)).where(
                    _observations.c.scan_id == scan_id
                )
            ).scalar_one()
            start = 0 if last is None else int(last) + 1
            rows = [_observation_row(scan_id, start + i, obs) for i, obs in enumerate(observations)]
            conn.execute(sa.insert(_observations), rows)

    def finish_scan(self, scan_id: int, finished_at: datetime) -> None:
        """Mark a scan finished at ``finished_at``."""
        with _mapped(f"cannot finish scan {scan_id} in {self._url}"), self._writer.begin() as conn:
            self._scan_row(conn, scan_id)
            conn.execute(
                sa.update(_scans).where(_scans.c.id == scan_id).values(finished_at=finished_at)
            )

    # --- reading -----------------------------------------------------------------------------

    def load_scan(self, scan_id: int) -> StoredScan:
        """The scan ``scan_id`` with all its observations; ``StoreError`` if absent or corrupt."""
        with _mapped(f"cannot read scan {scan_id} from {self._url}"), self._engine.begin() as conn:
            row = self._scan_row(conn, scan_id)
            obs_rows = conn.execute(
                sa.select(_observations.c.seq, _observations.c.observation_json)
                .where(_observations.c.scan_id == scan_id)
                .order_by(_observations.c.seq)
            ).all()
        observations = [
            _decode(text, f"scan {scan_id}, observation {seq}") for seq, text in obs_rows
        ]
        return StoredScan(
            scan_id=scan_id,
            targets=_json_strings(row.targets_json, f"scan {scan_id} targets"),
            options=MappingProxyType(_json_object(row.options_json, f"scan {scan_id} options")),
            started_at=row.started_at,
            finished_at=row.finished_at,
            observations=tuple(observations),
            vedette_version=row.vedette_version,
        )

    def last_scan_id(self) -> int | None:
        """The id of the most recently begun scan (finished or not), or ``None`` if none."""
        with _mapped(f"cannot read {self._url}"), self._engine.connect() as conn:
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
        with _mapped(f"cannot list scans in {self._url}"), self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return tuple(
            ScanSummary(
                scan_id=int(r.id),
                targets=_json_strings(r.targets_json, f"scan {r.id} targets"),
                started_at=r.started_at,
                finished_at=r.finished_at,
                endpoints=int(r.endpoints or 0),
                failed=int(r.failed or 0),
                vedette_version=r.vedette_version,
            )
            for r in rows
        )

    # --- fleet scans ---------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return str(self._engine.dialect.name)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._url

    def begin_fleet_scan(
        self, targets: Sequence[str], options: Mapping[str, Any], started_at: datetime, mode: str
    ) -> int:
        """Record a fleet scan in state ``spooling``; ``spool_targets`` fills it."""
        return self._insert_scan(targets, options, started_at, {"mode": mode, "status": "spooling"})

    def spool_targets(
        self, scan_id: int, rows: Iterable[tuple[str, str, int]], *, batch: int = 5000
    ) -> int:
        """Store ``(target, pin, order_key)`` rows, dropping repeats, and open the scan.

        One transaction: a scan killed while its targets are read has none (status stays
        ``spooling``), so a resumed scan never works from half a list. ``rows`` is consumed
        lazily in batches, so memory does not grow with the input. Returns the number of
        distinct targets.
        """
        with _mapped(f"cannot store targets in {self._url}"), self._writer.begin() as conn:
            insert = _insert_ignoring_conflicts(conn, _targets)
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
            _mapped(f"cannot read scan {scan_id} from {self._url}"),
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
            mode=str(row.mode),
            status=str(row.status),
            targets=_json_strings(row.targets_json, f"scan {scan_id} targets"),
            options=MappingProxyType(_json_object(row.options_json, f"scan {scan_id} options")),
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
        with _mapped(f"cannot read targets from {self._url}"), self._engine.connect() as conn:
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
        with _mapped(f"cannot store observations in {self._url}"), self._writer.begin() as conn:
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
            fresh = {
                int(i)
                for (i,) in conn.execute(
                    sa.select(_targets.c.id)
                    .where(
                        _targets.c.scan_id == scan_id,
                        _targets.c.id.in_(ids),
                        _targets.c.done == 0,
                    )
                    .with_for_update()
                )
            }
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
                    row = _observation_row(scan_id, seq, obs)
                    row["target_id"] = result.target_id
                    row["endpoint_key"] = _column_text(endpoint_key(obs, result.depth))
                    row["ptr"] = _column_text(result.ptr)
                    rows.append(row)
                    seq += 1
            if rows:
                conn.execute(_insert_ignoring_conflicts(conn, _observations), rows)
        return len(fresh)

    def delete_scan(self, scan_id: int) -> None:
        """Remove a scan and everything stored for it (a fleet scan whose targets were bad)."""
        with _mapped(f"cannot delete scan {scan_id} in {self._url}"), self._writer.begin() as conn:
            for table in (_observations, _targets, _shards):
                conn.execute(sa.delete(table).where(table.c.scan_id == scan_id))
            conn.execute(sa.delete(_scans).where(_scans.c.id == scan_id))

    def finish_fleet_scan(self, scan_id: int, finished_at: datetime) -> None:
        with _mapped(f"cannot finish scan {scan_id} in {self._url}"), self._writer.begin() as conn:
            self._scan_row(conn, scan_id)
            conn.execute(
                sa.update(_scans)
                .where(_scans.c.id == scan_id)
                .values(finished_at=finished_at, status="finished")
            )

    def iter_rows(self, scan_id: int, *, batch: int = 1000) -> Iterator[StoredRow]:
        """Every observation of a scan in insertion order, read ``batch`` rows at a time so a
        report over millions of endpoints runs in flat memory."""
        with (
            _mapped(f"cannot read scan {scan_id} from {self._url}"),
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
                _mapped(f"cannot read scan {scan_id} from {self._url}"),
                self._engine.connect() as conn,
            ):
                rows = conn.execute(query).all()
            if not rows:
                return
            for row in rows:
                depth = None if row.endpoint_key is None else row.endpoint_key.split("|", 1)[0]
                yield StoredRow(
                    seq=int(row.seq),
                    observation=_decode(
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
        with _mapped(where), self._engine.connect() as conn:
            self._scan_row(conn, scan_id)
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
            for row in result:
                depth = None if row.endpoint_key is None else row.endpoint_key.split("|", 1)[0]
                stored = StoredRow(
                    seq=int(row.seq),
                    observation=_decode(
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
            _mapped(f"cannot read scan {scan_id} from {self._url}"),
            self._engine.connect() as conn,
        ):
            row = self._scan_row(conn, scan_id)
        return MappingProxyType(_json_object(row.options_json, f"scan {scan_id} options"))

    def scan_summary(self, scan_id: int) -> ScanSummary:
        """One scan's ``list_scans`` line."""
        failed = sa.func.sum(sa.case((_observations.c.status != "ok", 1), else_=0))
        with (
            _mapped(f"cannot read scan {scan_id} from {self._url}"),
            self._engine.connect() as conn,
        ):
            row = self._scan_row(conn, scan_id)
            endpoints, failures = conn.execute(
                sa.select(sa.func.count(), failed).where(_observations.c.scan_id == scan_id)
            ).one()
        return ScanSummary(
            scan_id=scan_id,
            targets=_json_strings(row.targets_json, f"scan {scan_id} targets"),
            started_at=row.started_at,
            finished_at=row.finished_at,
            endpoints=int(endpoints or 0),
            failed=int(failures or 0),
            vedette_version=row.vedette_version,
        )

    def endpoint_keys(self, scan_id: int) -> list[str]:
        """Every endpoint key stored for a scan (tests and diagnostics)."""
        with (
            _mapped(f"cannot read scan {scan_id} from {self._url}"),
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

    # --- shards (the Dask runner) --------------------------------------------------------------

    def create_shards(self, scan_id: int, bounds: Sequence[tuple[int, int]]) -> None:
        """Record the shards ``[lo, hi)`` of a scan once; a resumed scan keeps its own."""
        with _mapped(f"cannot record shards in {self._url}"), self._writer.begin() as conn:
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
        with _mapped(f"cannot read shards from {self._url}"), self._engine.connect() as conn:
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
        with _mapped(f"cannot record shards in {self._url}"), self._writer.begin() as conn:
            conn.execute(
                sa.update(_shards)
                .where(_shards.c.scan_id == scan_id, _shards.c.done == 0)
                .values(run=run)
            )

    def stop_shard_run(self, scan_id: int, run: str) -> None:
        """Ctrl-C on the client: the tasks of ``run`` stop (unless another run took over)."""
        with _mapped(f"cannot record shards in {self._url}"), self._writer.begin() as conn:
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
        with _mapped(f"cannot record shards in {self._url}"), self._writer.begin() as conn:
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
        with _mapped(f"cannot claim shard {shard} in {self._url}"), self._writer.begin() as conn:
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
        with _mapped(f"cannot renew shard {shard} in {self._url}"), self._writer.begin() as conn:
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
        with _mapped(f"cannot finish shard {shard} in {self._url}"), self._writer.begin() as conn:
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
        with _mapped(f"cannot store targets in {self._url}"), self._writer.begin() as conn:
            fresh = {
                int(i)
                for (i,) in conn.execute(
                    sa.select(_targets.c.id)
                    .where(
                        _targets.c.scan_id == scan_id,
                        _targets.c.id.in_([target_id for target_id, _ in pins]),
                        _targets.c.done == 0,
                    )
                    .with_for_update()
                )
            }
            rows = [
                {"scan_id": scan_id, "target": target, "pin": pin, "order_key": key, "done": 0}
                for target_id, new in pins
                if target_id in fresh
                for target, pin, key in new
            ]
            if rows:
                conn.execute(_insert_ignoring_conflicts(conn, _targets), rows)
            if fresh:
                conn.execute(sa.delete(_targets).where(_targets.c.id.in_(sorted(fresh))))
        return len(fresh)

    def shard_states(self, scan_id: int) -> list[ShardState]:
        """Every shard of a scan as stored (tests and diagnostics)."""
        with _mapped(f"cannot read shards from {self._url}"), self._engine.connect() as conn:
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
        with _mapped(f"cannot read shards from {self._url}"), self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(_shards.c.shard, _shards.c.attempts).where(_shards.c.scan_id == scan_id)
            ).all()
        return {int(r.shard): int(r.attempts) for r in rows}

    def _scan_row(self, conn: Connection, scan_id: int) -> sa.Row[Any]:
        if not 0 < scan_id <= MAX_SCAN_ID:  # beyond any backend's integer: never stored
            raise StoreError(f"no scan with id {scan_id} in {self._url}")
        row = conn.execute(sa.select(_scans).where(_scans.c.id == scan_id)).first()
        if row is None:
            raise StoreError(f"no scan with id {scan_id} in {self._url}")
        return row


def _observation_row(scan_id: int, seq: int, obs: Observation) -> dict[str, Any]:
    return {
        "scan_id": scan_id,
        "seq": seq,
        "host": _column_text(obs.endpoint.host),
        "ip": _column_text(obs.endpoint.ip),
        "port": obs.endpoint.port,
        "service": obs.endpoint.service.value,
        "status": "ok" if obs.failure is None else obs.failure.kind.value,
        # ensure_ascii: the stored text is plain ASCII whatever the server sent
        # (NUL and lone surrogates included, which PostgreSQL text would refuse).
        "observation_json": json.dumps(observation_to_dict(obs), ensure_ascii=True),
    }


def _decode(text: str, where: str) -> Observation:
    try:
        data = json.loads(text)
    except ValueError:
        raise StoreError(f"{where}: stored JSON is corrupt") from None
    try:
        return observation_from_dict(data)
    except StoreError as err:
        raise StoreError(f"{where}: {err}") from None


def _insert_ignoring_conflicts(conn: Connection, table: sa.Table) -> Any:
    """``INSERT`` that skips rows a unique constraint refuses (both backends' ON CONFLICT)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    raise StoreError(f"fleet scans need SQLite or PostgreSQL, not {conn.dialect.name}")


def _column_text(value: str | None) -> str | None:
    # The index columns are for queries only (the JSON is the record): keep them storable on
    # every backend by dropping what PostgreSQL text cannot hold (NUL, lone surrogates).
    if value is None:
        return None
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _json_strings(text: str, where: str) -> tuple[str, ...]:
    try:
        value = json.loads(text)
    except ValueError:
        raise StoreError(f"{where}: stored JSON is corrupt") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StoreError(f"{where}: expected a list of strings")
    return tuple(value)


def _json_object(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise StoreError(f"{where}: stored JSON is corrupt") from None
    if not isinstance(value, dict):
        raise StoreError(f"{where}: expected an object")
    return value
