"""Mail-domain checks in the store (schema version 5): stored, read back, migrated to."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vedette.errors import StoreError
from vedette.store.db import MIGRATIONS, Store

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'v.db'}"


def _doc(domain: str) -> dict[str, object]:
    return {
        "schema": "test",
        "domain": domain,
        "dns": [{"name": domain, "records": ["\x00\u2028"]}],
    }


def test_domain_checks_round_trip_in_order_across_pages(url: str) -> None:
    domains = [f"d{i:03}.example.com" for i in range(25)]
    with Store.open(url) as store:
        scan_id = store.begin_scan(domains, {"command": "domain check"}, T0)
        assert store.add_domain_checks(scan_id, [(d, "ok", _doc(d)) for d in domains[:10]]) == 10
        assert store.add_domain_checks(scan_id, [(d, "ok", _doc(d)) for d in domains[10:]]) == 15
        got = list(store.iter_domain_checks(scan_id, batch=7))
        assert [c.domain for c in got] == domains
        assert got[3].observation == _doc(domains[3])
        assert store.domain_check_count(scan_id) == 25


def test_a_domain_stored_again_in_a_resumed_check_keeps_the_first_record(url: str) -> None:
    with Store.open(url) as store:
        scan_id = store.begin_scan(["example.com"], {}, T0)
        store.add_domain_checks(scan_id, [("example.com", "ok", {"n": 1})])
        added = store.add_domain_checks(
            scan_id, [("example.com", "error", {"n": 2}), ("example.net", "ok", {"n": 3})]
        )
        assert added == 1
        got = {c.domain: (c.status, dict(c.observation)) for c in store.iter_domain_checks(scan_id)}
        assert got == {"example.com": ("ok", {"n": 1}), "example.net": ("ok", {"n": 3})}


def test_finished_and_unknown_scans_take_no_domain_checks(url: str) -> None:
    with Store.open(url) as store:
        scan_id = store.begin_scan([], {}, T0)
        store.finish_scan(scan_id, T0)
        with pytest.raises(StoreError, match="is finished"):
            store.add_domain_checks(scan_id, [("example.com", "ok", {})])
        with pytest.raises(StoreError, match="no scan with id 99"):
            list(store.iter_domain_checks(99))
        with pytest.raises(StoreError, match="cannot be stored"):
            store.add_domain_checks(scan_id, [("example.com", "ok", {"x": object()})])


def test_deleting_a_scan_removes_its_domain_checks(url: str) -> None:
    with Store.open(url) as store:
        scan_id = store.begin_scan([], {}, T0)
        store.add_domain_checks(scan_id, [("example.com", "ok", {})])
        store.delete_scan(scan_id)
        other = store.begin_scan([], {}, T0)
        assert list(store.iter_domain_checks(other)) == []


def test_a_corrupt_row_names_the_scan_and_domain(url: str) -> None:
    with Store.open(url) as store:
        scan_id = store.begin_scan([], {}, T0)
        store.add_domain_checks(scan_id, [("example.com", "ok", {})])
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    con.execute("UPDATE domain_checks SET observation_json = '[1'")
    con.commit()
    con.close()
    with Store.open(url) as store, pytest.raises(StoreError, match=r"example\.com\).*corrupt"):
        list(store.iter_domain_checks(scan_id))


def test_a_version_4_database_gains_the_table_and_keeps_its_scans(url: str) -> None:
    with Store.open(url, migrations=MIGRATIONS[:4]) as store:
        assert store.schema_version() == 4
        old = store.begin_scan(["mail.example.com"], {"k": 1}, T0)
    with Store.open(url) as store:
        assert store.schema_version() == 5
        assert store.load_scan(old).targets == ("mail.example.com",)
        store.add_domain_checks(old, [("example.com", "ok", {"k": 2})])
        assert [c.domain for c in store.iter_domain_checks(old)] == ["example.com"]
