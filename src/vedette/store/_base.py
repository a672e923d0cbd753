"""What the parts of the store share: the connection, one-line errors, row and JSON helpers.

``Store`` (``vedette.store.db``) is one class made of a part per concern: the scans and their
observations (``db``), the target spool of fleet scans (``spool``) and the shard leases of the
Dask runner (``shards``). Each part derives from :class:`StoreBase`, which holds the engine.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc

from vedette import __version__
from vedette.errors import StoreError
from vedette.store.codec import observation_from_dict, observation_to_dict, plan_to_dict
from vedette.store.schema import WRITE_OPTION
from vedette.store.schema import plans as _plans
from vedette.store.schema import scans as _scans

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from datetime import datetime

    from sqlalchemy.engine import Connection, Engine

    from vedette.model import Observation
    from vedette.plan import ScanPlan

__all__ = [
    "MAX_SCAN_ID",
    "StoreBase",
    "column_text",
    "decode_observation",
    "endpoint_key",
    "insert_ignoring_conflicts",
    "json_object",
    "json_strings",
    "mapped",
    "observation_row",
    "one_line",
]

#: Scan ids are 64-bit signed integers on every backend: 1 .. 2**63 - 1.
MAX_SCAN_ID = (1 << 63) - 1


def endpoint_key(obs: Observation, depth: str) -> str:
    """The identity of an endpoint within a scan: no two observations of a scan share it.

    ``depth`` is the pass (``quick`` or ``full``) that produced the observation."""
    ep = obs.endpoint
    return f"{depth}|{ep.host or ''}|{ep.ip or ''}|{ep.port}|{ep.service.value}"


# --- errors ----------------------------------------------------------------------------------


def one_line(err: BaseException) -> str:
    # SQLAlchemy's messages carry the SQL, parameters and a "Background on this error" link
    # over several lines; the driver's own message (``orig``) is what a user can act on.
    inner = getattr(err, "orig", None) or err
    text = " ".join(str(inner).split())
    return text or type(inner).__name__


@contextmanager
def mapped(action: str) -> Iterator[None]:
    """Turn database-layer exceptions into one-line ``StoreError``s at the store's edge."""
    try:
        yield
    except StoreError:
        raise
    except exc.SQLAlchemyError as err:
        raise StoreError(f"{action}: {one_line(err)}") from err
    except sqlite3.Error as err:  # raised bare by the connect hooks
        raise StoreError(f"{action}: {one_line(err)}") from err
    except OverflowError as err:  # a number past the driver's 64-bit integers
        raise StoreError(f"{action}: a number is out of the database's range") from err


class StoreBase:
    """The engine and the shown URL, with what every part of the store needs."""

    def __init__(self, engine: Engine, shown_url: str) -> None:
        self._engine = engine
        # Same pool and hooks; its transactions are writes (BEGIN IMMEDIATE on SQLite).
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._url = shown_url

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return str(self._engine.dialect.name)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._url

    def _insert_scan(
        self,
        targets: Sequence[str],
        options: Mapping[str, Any],
        started_at: datetime,
        extra: Mapping[str, Any],
        plan: ScanPlan | None = None,
    ) -> int:
        # One transaction: a reader never sees half a scan (a fleet scan without its mode or
        # its plan), and an interruption leaves either the whole scan or none.
        try:
            options_json = json.dumps(dict(options), sort_keys=True)
        except (TypeError, ValueError) as err:
            raise StoreError(f"scan options cannot be stored as JSON: {err}") from err
        plan_json = None if plan is None else json.dumps(plan_to_dict(plan), ensure_ascii=True)
        with mapped(f"cannot record a scan in {self._url}"), self._writer.begin() as conn:
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
            scan_id = int(key[0])
            if plan_json is not None:
                conn.execute(sa.insert(_plans).values(scan_id=scan_id, plan_json=plan_json))
            return scan_id

    def _scan_row(self, conn: Connection, scan_id: int) -> sa.Row[Any]:
        if not 0 < scan_id <= MAX_SCAN_ID:  # beyond any backend's integer: never stored
            raise StoreError(f"no scan with id {scan_id} in {self._url}")
        row = conn.execute(sa.select(_scans).where(_scans.c.id == scan_id)).first()
        if row is None:
            raise StoreError(f"no scan with id {scan_id} in {self._url}")
        return row


def observation_row(scan_id: int, seq: int, obs: Observation) -> dict[str, Any]:
    return {
        "scan_id": scan_id,
        "seq": seq,
        "host": column_text(obs.endpoint.host),
        "ip": column_text(obs.endpoint.ip),
        "port": obs.endpoint.port,
        "service": obs.endpoint.service.value,
        "status": "ok" if obs.failure is None else obs.failure.kind.value,
        # ensure_ascii: the stored text is plain ASCII whatever the server sent
        # (NUL and lone surrogates included, which PostgreSQL text would refuse).
        "observation_json": json.dumps(observation_to_dict(obs), ensure_ascii=True),
    }


def decode_observation(text: str, where: str) -> Observation:
    try:
        data = json.loads(text)
    except ValueError:
        raise StoreError(f"{where}: stored JSON is corrupt") from None
    try:
        return observation_from_dict(data)
    except StoreError as err:
        raise StoreError(f"{where}: {err}") from None


def insert_ignoring_conflicts(conn: Connection, table: sa.Table) -> Any:
    """``INSERT`` that skips rows a unique constraint refuses (both backends' ON CONFLICT)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    raise StoreError(f"fleet scans need SQLite or PostgreSQL, not {conn.dialect.name}")


def column_text(value: str | None) -> str | None:
    # The index columns are for queries only (the JSON is the record): keep them storable on
    # every backend by dropping what PostgreSQL text cannot hold (NUL, lone surrogates).
    if value is None:
        return None
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def json_strings(text: str, where: str) -> tuple[str, ...]:
    try:
        value = json.loads(text)
    except ValueError:
        raise StoreError(f"{where}: stored JSON is corrupt") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StoreError(f"{where}: expected a list of strings")
    return tuple(value)


def json_object(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise StoreError(f"{where}: stored JSON is corrupt") from None
    if not isinstance(value, dict):
        raise StoreError(f"{where}: expected an object")
    return value
