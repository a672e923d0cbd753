"""The SQLite store: scans in and out, migrations, and errors a user can read."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.builders import dialogue_of, endpoint_for, observed_failure, observed_tls
from vedette._version import __version__
from vedette.errors import StoreError
from vedette.model import (
    FailureKind,
    Observation,
    Service,
)
from vedette.store.codec import observation_to_dict
from vedette.store.db import MIGRATIONS, SCHEMA_VERSION, Store, default_db_url

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _obs(
    port: int, *, failure: FailureKind | None = None, host: str = "mail.example.test"
) -> Observation:
    ep = endpoint_for(Service.for_port(port) or Service.SMTP, host=host, ip="192.0.2.7", port=port)
    parts = {
        "at": T0 + timedelta(seconds=port),
        "duration_s": 0.5,
        "dialogue": dialogue_of("220 mail.example.test ESMTP \x1b[2J"),
    }
    if failure is not None:
        return observed_failure(failure, endpoint=ep, detail="no answer within 5 s", **parts)
    return observed_tls((b"\x30\x00",), endpoint=ep, cipher="TLS_AES_256_GCM_SHA384", **parts)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'v.db'}"


def test_scan_round_trip(url: str) -> None:
    observations = [_obs(25), _obs(587), _obs(993, failure=FailureKind.TIMEOUT)]
    with Store.open(url) as store:
        scan_id = store.begin_scan(
            ["example.test", "imaps://mail.example.test"], {"timeout": 5.0}, T0
        )
        store.add_observations(scan_id, observations[:2])
        store.add_observations(scan_id, observations[2:])
        store.finish_scan(scan_id, T0 + timedelta(minutes=1))
    # A fresh connection sees exactly what was written.
    with Store.open(url) as store:
        scan = store.load_scan(scan_id)
        assert store.last_scan_id() == scan_id
    assert scan.scan_id == scan_id
    assert scan.targets == ("example.test", "imaps://mail.example.test")
    assert dict(scan.options) == {"timeout": 5.0}
    assert scan.started_at == T0
    assert scan.started_at.tzinfo is not None
    assert scan.finished_at == T0 + timedelta(minutes=1)
    assert scan.observations == tuple(observations)
    assert scan.vedette_version == __version__


def test_unfinished_scan_has_no_finish_time_and_times_come_back_in_utc(url: str) -> None:
    started = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    with Store.open(url) as store:
        scan_id = store.begin_scan(["a.test"], {}, started)
        scan = store.load_scan(scan_id)
    assert scan.finished_at is None
    assert scan.started_at == T0
    assert scan.started_at.utcoffset() == timedelta(0)
    assert scan.observations == ()


def test_status_column_holds_ok_or_failure_kind(url: str) -> None:
    with Store.open(url) as store:
        scan_id = store.begin_scan(["x"], {}, T0)
        store.add_observations(scan_id, [_obs(25), _obs(110, failure=FailureKind.REFUSED)])
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT seq, host, port, service, status FROM observations ORDER BY seq")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        (0, "mail.example.test", 25, "smtp", "ok"),
        (1, "mail.example.test", 110, "pop3", "refused"),
    ]


def test_list_scans_newest_first_with_counts(url: str) -> None:
    with Store.open(url) as store:
        assert store.list_scans() == ()
        assert store.last_scan_id() is None
        first = store.begin_scan(["one.test"], {}, T0)
        store.add_observations(first, [_obs(25), _obs(143, failure=FailureKind.TIMEOUT)])
        store.finish_scan(first, T0 + timedelta(seconds=30))
        second = store.begin_scan(["two.test"], {}, T0 + timedelta(hours=1))
        scans = store.list_scans()
        assert [s.scan_id for s in scans] == [second, first]
        assert (scans[0].targets, scans[0].endpoints, scans[0].failed, scans[0].finished_at) == (
            ("two.test",),
            0,
            0,
            None,
        )
        assert (scans[1].endpoints, scans[1].failed) == (2, 1)
        assert scans[1].finished_at == T0 + timedelta(seconds=30)
        assert [s.scan_id for s in store.list_scans(limit=1)] == [second]


def test_unknown_scan_and_finished_scan_are_refused(url: str) -> None:
    with Store.open(url) as store:
        with pytest.raises(StoreError, match="no scan with id 42"):
            store.load_scan(42)
        with pytest.raises(StoreError, match="no scan with id 42"):
            store.add_observations(42, [_obs(25)])
        with pytest.raises(StoreError, match="no scan with id 42"):
            store.finish_scan(42, T0)
        scan_id = store.begin_scan(["x"], {}, T0)
        store.finish_scan(scan_id, T0)
        with pytest.raises(StoreError, match="is finished"):
            store.add_observations(scan_id, [_obs(25)])
        assert store.load_scan(scan_id).observations == ()


def test_unserialisable_options_are_a_store_error(url: str) -> None:
    with Store.open(url) as store, pytest.raises(StoreError, match="options cannot be stored"):
        store.begin_scan(["x"], {"when": object()}, T0)


def test_corrupt_observation_row_names_the_scan_and_row(url: str) -> None:
    with Store.open(url) as store:
        scan_id = store.begin_scan(["x"], {}, T0)
        store.add_observations(scan_id, [_obs(25), _obs(587)])
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    con.execute("UPDATE observations SET observation_json = '{\"format\": 9}' WHERE seq = 1")
    con.commit()
    con.close()
    with Store.open(url) as store, pytest.raises(StoreError) as info:
        store.load_scan(scan_id)
    assert str(info.value) == (
        f"scan {scan_id}, observation 1: observation: unsupported format 9 "
        "(this vedette reads format 1)"
    )


# --- schema and migrations --------------------------------------------------------------------


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _stored_version(url: str) -> int:
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return int(con.execute("SELECT version FROM schema_version").fetchone()[0])
    finally:
        con.close()


def test_new_database_gets_current_schema(url: str) -> None:
    with Store.open(url) as store:
        assert store.schema_version() == SCHEMA_VERSION == len(MIGRATIONS) == 5
    assert _tables(url) == {
        "schema_version",
        "scans",
        "observations",
        "scan_targets",
        "scan_shards",
        "scan_plans",
        "domain_checks",
    }
    engine = sa.create_engine(url)
    indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("observations")}
    engine.dispose()
    assert "ix_observations_scan_id" in indexes


def test_reopening_a_current_database_changes_nothing(url: str) -> None:
    with Store.open(url) as store:
        scan_id = store.begin_scan(["x"], {}, T0)
        store.add_observations(scan_id, [_obs(25)])
    before = Path(url.removeprefix("sqlite:///")).read_bytes()
    with Store.open(url) as store:
        assert store.schema_version() == SCHEMA_VERSION
    assert Path(url.removeprefix("sqlite:///")).read_bytes() == before


def test_a_later_migration_is_applied_once_in_order(url: str) -> None:
    calls: list[int] = []

    def add_note_column(conn: sa.Connection) -> None:
        calls.append(1)
        conn.execute(sa.text("ALTER TABLE scans ADD COLUMN note TEXT"))

    with Store.open(url) as store:
        scan_id = store.begin_scan(["x"], {}, T0)
    with Store.open(url, migrations=(*MIGRATIONS, add_note_column)) as store:
        assert store.schema_version() == SCHEMA_VERSION + 1
        assert store.load_scan(scan_id).targets == ("x",)
    with Store.open(url, migrations=(*MIGRATIONS, add_note_column)):
        pass
    assert calls == [1]
    engine = sa.create_engine(url)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("scans")}
    engine.dispose()
    assert "note" in columns
    # This vedette now faces a database from its future.
    with pytest.raises(StoreError) as info:
        Store.open(url)
    assert str(info.value).endswith(
        f"database schema version {SCHEMA_VERSION + 1} is newer than this vedette "
        f"({SCHEMA_VERSION}); upgrade vedette"
    )


def test_a_failing_migration_leaves_the_database_untouched(url: str) -> None:
    def half_done(conn: sa.Connection) -> None:
        conn.execute(sa.text("CREATE TABLE leftovers (x INTEGER)"))
        raise sa.exc.OperationalError("ALTER TABLE", {}, sqlite3.OperationalError("disk on fire"))

    with Store.open(url):
        pass
    with pytest.raises(StoreError, match="disk on fire"):
        Store.open(url, migrations=(*MIGRATIONS, half_done))
    assert "leftovers" not in _tables(url)
    assert _stored_version(url) == SCHEMA_VERSION


def test_a_version_1_database_migrates_and_keeps_its_scans(url: str) -> None:
    # A database written by vedette 0.1 (schema 1), rows as that version wrote them.
    with Store.open(url, migrations=MIGRATIONS[:1]):
        pass
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    con.execute(
        "INSERT INTO scans VALUES (1, '2024-05-01 12:00:00.000000', "
        "'2024-05-01 12:01:00.000000', '[\"example.test\"]', '{}', '0.1.0')"
    )
    for seq, obs in enumerate([_obs(25), _obs(993)]):
        con.execute(
            "INSERT INTO observations (scan_id, seq, host, ip, port, service, status, "
            "observation_json) VALUES (1, ?, 'mail.example.test', '192.0.2.7', ?, ?, 'ok', ?)",
            (
                seq,
                obs.endpoint.port,
                obs.endpoint.service.value,
                json.dumps(observation_to_dict(obs)),
            ),
        )
    con.commit()
    con.close()
    scan_id = 1
    assert _stored_version(url) == 1
    assert "scan_targets" not in _tables(url)
    with Store.open(url) as store:
        assert store.schema_version() == SCHEMA_VERSION
        scan = store.load_scan(scan_id)
        # New scans keep working beside the migrated one.
        second = store.begin_scan(["other.test"], {}, T0)
        store.add_observations(second, [_obs(25), _obs(25)])
        assert len(store.load_scan(second).observations) == 2
    assert scan.observations == (_obs(25), _obs(993))
    assert scan.finished_at == T0 + timedelta(minutes=1)
    assert {"scan_targets", "scan_shards"} <= _tables(url)


def test_a_failing_first_migration_leaves_an_empty_file(url: str) -> None:
    def broken(conn: sa.Connection) -> None:
        MIGRATIONS[0](conn)
        raise sa.exc.OperationalError("CREATE", {}, sqlite3.OperationalError("boom"))

    with pytest.raises(StoreError, match="boom"):
        Store.open(url, migrations=(broken,))
    assert _tables(url) == set()


# --- errors -------------------------------------------------------------------------------------


def _one_line_error(url: str) -> str:
    with pytest.raises(StoreError) as info:
        Store.open(url)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not sqlite " * 100)
    assert "file is not a database" in _one_line_error(f"sqlite:///{path}")


def test_unwritable_location(tmp_path: Path) -> None:
    assert "unable to open database file" in _one_line_error(
        f"sqlite:///{tmp_path / 'missing-dir' / 'v.db'}"
    )


def test_path_through_a_regular_file(tmp_path: Path) -> None:
    # Fails for root too (file permissions would not): a file where a directory should be.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    text = _one_line_error(f"sqlite:///{blocker / 'v.db'}")
    assert text.startswith("cannot open database sqlite:///")


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("not a url", "invalid database URL"),
        ("nosuchdb://x/y", "cannot use database"),
    ],
)
def test_bad_urls(bad: str, expected: str) -> None:
    assert expected in _one_line_error(bad)


def test_password_is_not_shown_in_errors() -> None:
    text = _one_line_error("nosuchdb://user:s3cret@db.invalid/vedette")
    assert "s3cret" not in text
    assert "***" in text


def test_foreign_database_is_not_adopted(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE scans (id INTEGER)")
    con.commit()
    con.close()
    assert "not a vedette database" in _one_line_error(f"sqlite:///{path}")


# --- default location ------------------------------------------------------------------------


def test_default_url_prefers_vedette_db(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEDETTE_DB", "postgresql+psycopg://scanner@db.internal/vedette")
    assert default_db_url() == "postgresql+psycopg://scanner@db.internal/vedette"


def test_default_url_under_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("VEDETTE_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = default_db_url()
    assert url == f"sqlite:///{tmp_path / 'data' / 'vedette' / 'vedette.db'}"
    assert (tmp_path / "data" / "vedette").is_dir()
    with Store.open(url) as store:
        assert store.last_scan_id() is None


def test_default_url_falls_back_to_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("VEDETTE_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert (
        default_db_url() == f"sqlite:///{tmp_path / '.local' / 'share' / 'vedette' / 'vedette.db'}"
    )


def test_processes_opening_a_new_database_at_once_all_succeed(url: str) -> None:
    """Several vedette processes (a scan, a report, a progress poll) may open a fresh SQLite
    file at the same moment: each waits its turn to migrate instead of failing "locked"."""
    import threading

    errors: list[BaseException] = []
    go = threading.Barrier(6)

    def open_and_write() -> None:
        try:
            go.wait()
            with Store.open(url) as store:
                scan_id = store.begin_scan(["x"], {}, T0)
                store.add_observations(scan_id, [_obs(25)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_and_write) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert _stored_version(url) == SCHEMA_VERSION
    with Store.open(url) as store:
        assert len(store.list_scans()) == 6


def test_a_fleet_scan_is_recorded_whole_in_one_transaction(tmp_path: Path) -> None:
    # A reader (another `vedette`, or a Ctrl-C between two commits) must never find a fleet
    # scan without its mode: it used to be inserted as a plain scan, then updated.
    commits: list[int] = []

    def count(_conn: object) -> None:
        commits.append(1)

    with Store.open(f"sqlite:///{tmp_path / 'v.db'}") as store:
        sa.event.listen(sa.engine.Engine, "commit", count)
        try:
            scan_id = store.begin_fleet_scan(["f"], {"mode": "x"}, T0, "quick")
        finally:
            sa.event.remove(sa.engine.Engine, "commit", count)
        assert len(commits) == 1
        fleet = store.fleet_scan(scan_id)
        assert (fleet.mode, fleet.status) == ("quick", "spooling")
