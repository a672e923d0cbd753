"""The PostgreSQL store under the faults of issue 10 §3.11 and §3.14: scan ids past 64 bits,
and read-only commands pointed at a database that holds no vedette store (or none at all)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.builders import endpoint_for, observed_failure
from vedette.cli import main
from vedette.errors import StoreError
from vedette.model import FailureKind, Service
from vedette.store.db import Store

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HUGE = 99999999999999999999999


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def stored(postgresql) -> str:
    url = postgresql.database()
    obs = observed_failure(
        FailureKind.REFUSED,
        endpoint=endpoint_for(Service.SMTP, host="mail.example.test", ip="192.0.2.1"),
        detail="refused",
        at=T0,
    )
    with Store.open(url) as store:
        scan = store.begin_scan(["mail.example.test"], {}, T0)
        store.add_observations(scan, [obs])
        store.finish_scan(scan, T0 + timedelta(seconds=1))
    return url


@pytest.mark.parametrize(
    "argv",
    [
        ["report", str(HUGE)],
        ["report", "diff", "1", str(HUGE)],
        ["report", str(1 << 63)],
    ],
)
def test_huge_scan_ids_on_postgresql_are_one_line(stored, capsys, argv):
    assert main([*argv, "--db", stored]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2**63-1" in err, err


def test_the_postgresql_store_refuses_huge_ids_cleanly(stored):
    with Store.open(stored, create=False) as store:
        for read in (store.load_scan, store.scan_summary, store.fleet_scan, store.scan_options):
            with pytest.raises(StoreError, match="no scan with id"):
                read(HUGE)
        with pytest.raises(StoreError, match="no scan with id"):
            list(store.iter_rows_by_endpoint(1 << 63))
    assert main(["report", str((1 << 63) - 1), "--db", stored]) == 2


@pytest.mark.parametrize(
    "argv", [["report", "last"], ["report", "--list"], ["scan", "--resume", "1"]]
)
def test_reading_an_empty_postgresql_database_adds_no_tables(postgresql, capsys, argv):
    url = postgresql.database()
    assert main([*argv, "--db", url]) == 2
    assert capsys.readouterr().err.startswith("vedette: error: no vedette database at ")
    assert _tables(url) == set()


def test_a_missing_postgresql_database_is_one_line(postgresql, capsys):
    url = postgresql.url("vedette_no_such_database")
    assert main(["report", "last", "--db", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "vedette_no_such_database" in err
