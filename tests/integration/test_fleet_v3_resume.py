"""A fleet scan stopped by a vedette of schema version 3 resumes after the upgrade.

Schema 3 stored a fleet scan's settings as its command-line strings; migration 3 -> 4 turns
them into the scan's plan once. The database here is made as that vedette left it (its tables
by the schema-3 migrations, its rows as it wrote them); ``vedette scan --resume`` then probes
the pending targets with the stored pins, exclusions and limits, against scripted servers on
loopback, and nothing parses the old command line.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.integration.fleet_support import listeners, run_vedette
from vedette.store.db import MIGRATIONS, Store


def test_an_unfinished_v3_fleet_scan_resumes_from_its_migrated_plan(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    url = f"sqlite:///{path}"
    with Store.open(url, migrations=MIGRATIONS[:3]) as old:
        assert old.schema_version() == 3
    with listeners(
        [
            ("127.0.8.1", b"+OK pinned\r\n"),  # reached through the stored --resolve pin
            ("127.0.8.2", b"+OK done\r\n"),  # its target was done before the stop
            ("127.0.9.1", b"+OK forbidden\r\n"),  # in the stored exclusion list
        ]
    ) as (pinned, done, forbidden):
        options = {
            "ports": None,
            "service": None,
            "ip": [],
            "resolve": [f"pinned.fleet.test:{pinned.port}:127.0.8.1"],
            "resolver": None,
            "ehlo": "vedette.invalid",
            "connect_timeout": 2.0,
            "read_timeout": 2.0,
            "endpoint_timeout": 10.0,
            "concurrency": 8,
            "per_host": 2,
            "rate": None,
            "mode": "quick",
            "deep": [],
            "exclude": ["127.0.9.0/24"],
            "ca_roots_der_hex": [],
            "fleet": True,
            "seed": "00" * 16,
        }
        targets = [
            (f"pop3://pinned.fleet.test:{pinned.port}", 0),
            (f"pop3://127.0.8.2:{done.port}", 1),
            (f"pop3://127.0.9.1:{forbidden.port}", 0),
        ]
        con = sqlite3.connect(path)
        con.execute(
            "INSERT INTO scans (id, started_at, finished_at, targets_json, options_json, "
            "vedette_version, mode, status) VALUES (1, '2026-01-01 00:00:00.000000', NULL, "
            "?, ?, '0.3.0', 'quick', 'running')",
            (json.dumps(["--targets fleet.txt"]), json.dumps(options, sort_keys=True)),
        )
        con.executemany(
            "INSERT INTO scan_targets (scan_id, target, pin, order_key, done) "
            "VALUES (1, ?, '', ?, ?)",
            [(target, key, is_done) for key, (target, is_done) in enumerate(targets)],
        )
        con.commit()
        con.close()

        result = run_vedette("scan", "--resume", "1", "--db", url, "--quiet")
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr

        with Store.open(url) as store:
            assert store.schema_version() == len(MIGRATIONS)
            assert store.endpoint_keys(1) == [
                f"quick|pinned.fleet.test|127.0.8.1|{pinned.port}|pop3"
            ]
            state = store.fleet_scan(1)
            assert (state.status, state.total, state.done) == ("finished", 3, 3)
        assert pinned.accepted
        assert done.accepted == [] and forbidden.accepted == []


def test_a_finished_v3_fleet_scan_has_no_plan_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    url = f"sqlite:///{path}"
    with Store.open(url, migrations=MIGRATIONS[:3]):
        pass
    con = sqlite3.connect(path)
    con.execute(
        "INSERT INTO scans (id, started_at, finished_at, targets_json, options_json, "
        "vedette_version, mode, status) VALUES (1, '2026-01-01 00:00:00.000000', "
        "'2026-01-01 01:00:00.000000', '[\"192.0.2.0/30\"]', '{\"mode\": \"quick\"}', "
        "'0.3.0', 'quick', 'finished')"
    )
    con.commit()
    con.close()
    result = run_vedette("scan", "--resume", "1", "--db", url, "--quiet")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "vedette: error: scan 1 has no stored plan to resume from "
        "(a finished scan of an older vedette)"
    ]


def test_a_garbage_stored_plan_is_one_line_and_exit_2(tmp_path: Path) -> None:
    # A plan damaged in the database (by hand, or a disk) never becomes a traceback.
    path = tmp_path / "fleet.db"
    url = f"sqlite:///{path}"
    with listeners([("127.0.8.3", b"+OK\r\n")]) as (server,):
        first = run_vedette(
            "scan", "--db", url, "--quiet", f"pop3://127.0.8.3/32:{server.port}",
            "--allow-reserved",
        )  # fmt: skip
        assert first.returncode == 0, first.stderr
    con = sqlite3.connect(path)
    con.execute("UPDATE scans SET status = 'running', finished_at = NULL")
    con.execute('UPDATE scan_plans SET plan_json = \'{"format": 1, "mode": 7}\'')
    con.commit()
    con.close()
    result = run_vedette("scan", "--resume", "1", "--db", url, "--quiet")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vedette: error: scan 1 plan: plan: "), lines
