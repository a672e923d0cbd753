"""The store's schema: its tables, the migrations between versions, the SQLite hooks.

Layout (schema version 5, :data:`SCHEMA_VERSION`)::

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
    scan_plans(scan_id -> scans.id, plan_json)    v4: a fleet scan's ScanPlan (primary key
                                                  scan_id); v3 options of unfinished fleet
                                                  scans converted by the migration
    domain_checks(id, scan_id -> scans.id, seq, domain, status, observation_json)
                                                  v5: what a mail-domain check observed (its
                                                  DNS answers, fetched policies); unique
                                                  (scan_id, domain); its MX scans are rows of
                                                  observations in the same scan

Portability: only portable column types (Integer, Text, Float, timezone-aware DateTime) and
SQLAlchemy Core constructs, so the same code runs on SQLite and on ``postgresql+psycopg://``.
Two SQLite quirks are handled here, not in the queries:

* pysqlite opens transactions lazily and never around DDL, so a migration could be half
  applied. The connection hooks (:func:`sqlite_hooks`) switch the driver to autocommit mode
  and emit ``BEGIN`` ourselves, making each ``engine.begin()`` block one real SQLite
  transaction, DDL included (the recipe from SQLAlchemy's SQLite dialect documentation). They
  also turn on foreign keys, which SQLite leaves off per connection.
* SQLite has no timezone-aware timestamp type: ``UtcDateTime`` stores naive UTC there and
  hands back aware UTC datetimes on every backend.

Migrations: ``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``; a database with
no ``schema_version`` table is version 0 (empty). ``Store.open`` applies the missing steps in
one transaction. A version's tables are defined by a function of that version, frozen: a
migration must keep creating exactly what that version had.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event

from vedette.errors import StoreError

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Connection, Dialect, Engine

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "WRITE_OPTION",
    "domain_checks",
    "observations",
    "plans",
    "scans",
    "schema_version",
    "shards",
    "sqlite_hooks",
    "targets",
]

# --- schema ----------------------------------------------------------------------------------


class UtcDateTime(sa.types.TypeDecorator[datetime]):
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


def _scan_id_column() -> sa.Column[int]:
    """``scan_id``: the scan a row belongs to, removed with it."""
    return sa.Column(
        "scan_id", sa.Integer, sa.ForeignKey("scans.id", ondelete="CASCADE"), nullable=False
    )


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
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime, nullable=True),
        sa.Column("targets_json", sa.Text, nullable=False),
        sa.Column("options_json", sa.Text, nullable=False),
        sa.Column("vedette_version", sa.Text, nullable=False),
    )
    observations = sa.Table(
        "observations",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _scan_id_column(),
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
        _scan_id_column(),
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
        _scan_id_column(),
        sa.Column("shard", sa.Integer, nullable=False),
        sa.Column("lo", sa.BigInteger, nullable=False),  # order_key range [lo, hi)
        sa.Column("hi", sa.BigInteger, nullable=False),
        sa.Column("owner", sa.Text, nullable=True),  # the worker holding the lease
        sa.Column("lease_until", UtcDateTime, nullable=True),
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


def _v4_new_tables(metadata: sa.MetaData) -> sa.Table:
    """The table schema version 4 adds: the plan of a fleet scan. Frozen like ``_v1_tables``."""
    return sa.Table(
        "scan_plans",
        metadata,
        _scan_id_column(),
        # vedette.store.codec.plan_to_dict as JSON: what --resume probes with.
        sa.Column("plan_json", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("scan_id", name="pk_scan_plans"),
    )


def _v5_new_tables(metadata: sa.MetaData) -> sa.Table:
    """The table schema version 5 adds: mail-domain checks. Frozen like ``_v1_tables``."""
    return sa.Table(
        "domain_checks",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _scan_id_column(),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("domain", sa.Text, nullable=False),
        # "ok", or why the check could not run at all ("error").
        sa.Column("status", sa.Text, nullable=False),
        # What the check observed, as JSON (vedette.domain's observation document).
        sa.Column("observation_json", sa.Text, nullable=False),
        sa.UniqueConstraint("scan_id", "domain", name="uq_domain_checks_scan_domain"),
        sa.Index("ix_domain_checks_scan_seq", "scan_id", "seq"),
    )


def _current_tables(
    metadata: sa.MetaData,
) -> tuple[sa.Table, sa.Table, sa.Table, sa.Table, sa.Table, sa.Table, sa.Table]:
    version, scans, observations = _v1_tables(metadata)
    types: dict[str, Any] = {"TEXT": sa.Text, "INTEGER": sa.Integer}
    for table_name, column, sql_type in _V2_ADDED_COLUMNS:
        table = scans if table_name == "scans" else observations
        table.append_column(sa.Column(column, types[sql_type], nullable=True))
    targets, shards = _v2_new_tables(metadata)
    for column, sql_type in _V3_SHARD_COLUMNS:
        shards.append_column(sa.Column(column, types[sql_type], nullable=True))
    plans = _v4_new_tables(metadata)
    domains = _v5_new_tables(metadata)
    return version, scans, observations, targets, shards, plans, domains


_METADATA = sa.MetaData()
#: The tables as this vedette reads and writes them.
schema_version, scans, observations, targets, shards, plans, domain_checks = _current_tables(
    _METADATA
)


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


def _migrate_3_to_4(conn: Connection) -> None:
    """The plans table; the stored options of every unfinished fleet scan become its plan.

    A scan whose options cannot be understood (damaged by hand) gets no plan: ``--resume``
    then says so in one line, and the rest of the database migrates."""
    from vedette.store.codec import plan_from_dict, plan_to_dict
    from vedette.store.legacy import plan_from_v3_options

    metadata = sa.MetaData()
    _v1_tables(metadata)  # the scans table its foreign key names
    plans = _v4_new_tables(metadata)
    metadata.create_all(conn, tables=[plans])
    old = conn.execute(
        sa.text(
            "SELECT id, mode, targets_json, options_json FROM scans "
            "WHERE mode IS NOT NULL AND (status IS NULL OR status <> 'finished')"
        )
    ).all()
    rows = []
    for scan_id, mode, targets_json, options_json in old:
        try:
            options = json.loads(options_json)
            targets = json.loads(targets_json)
            if not isinstance(options, dict) or not isinstance(targets, list):
                raise StoreError("not an object")
            plan = plan_from_v3_options(options, mode=str(mode), targets=[str(t) for t in targets])
            data = plan_to_dict(plan)
            plan_from_dict(data)  # what resume will read: checked now
        except (StoreError, ValueError, RecursionError):
            continue
        rows.append({"scan_id": scan_id, "plan_json": json.dumps(data, ensure_ascii=True)})
    if rows:
        conn.execute(sa.insert(plans), rows)


def _migrate_4_to_5(conn: Connection) -> None:
    metadata = sa.MetaData()
    _v1_tables(metadata)  # the scans table its foreign key names
    domains = _v5_new_tables(metadata)
    metadata.create_all(conn, tables=[domains])


#: ``MIGRATIONS[i]`` upgrades a database from schema version ``i`` to ``i + 1``.
MIGRATIONS: tuple[Callable[[Connection], None], ...] = (
    _migrate_0_to_1,
    _migrate_1_to_2,
    _migrate_2_to_3,
    _migrate_3_to_4,
    _migrate_4_to_5,
)
#: The schema version this vedette writes.
SCHEMA_VERSION = len(MIGRATIONS)


# --- SQLite connection hooks -----------------------------------------------------------------


#: Execution option marking the store's write transactions (see ``sqlite_hooks``).
WRITE_OPTION = "vedette_write"


def sqlite_hooks(engine: Engine) -> None:
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
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
