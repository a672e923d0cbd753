"""The README's main command, and re-analysis of stored scans without the network."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

from tests.cli import run_vedette


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_vedette(*args, timeout=timeout)


def test_demo_finds_every_planted_problem_and_is_stored(tmp_path):
    db = f"sqlite:///{tmp_path / 'v.db'}"
    t0 = time.monotonic()
    demo = run("demo", "--db", db, "--json")
    elapsed = time.monotonic() - t0
    assert demo.returncode == 0, demo.stderr
    assert elapsed < 30
    assert "all as expected" in demo.stderr
    doc = json.loads(demo.stdout)
    found = {f["id"] for f in doc["findings"]}
    assert {
        "cert.self-signed",
        "cert.expired",
        "cert.sha1-signature",
        "cert.chain-incomplete",
        "cert.name-mismatch",
        "tls.none",
        "tls.plaintext-auth",
    } <= found
    assert doc["scan_id"] == 1

    # The stored scan analysed again, offline, gives the same findings.
    again = run("report", "last", "--db", db, "--json")
    assert again.returncode == 1  # high findings, default --fail-on high
    redo = json.loads(again.stdout)
    assert [(f["id"], f["endpoint"]) for f in redo["findings"]] == [
        (f["id"], f["endpoint"]) for f in doc["findings"]
    ]
    assert redo["scan_id"] == 1

    listing = run("report", "--list", "--db", db)
    assert listing.returncode == 0
    assert listing.stdout.startswith("1\t")

    # Terminal form of the stored report, plain words and the fix lines.
    text = run("report", "1", "--db", db)
    assert "Passwords are accepted before TLS" in text.stdout
    assert "Fix:" in text.stdout


def test_a_check_added_after_the_scan_applies_to_it(tmp_path):
    db = f"sqlite:///{tmp_path / 'v.db'}"
    assert run("demo", "--db", db, "--no-store").returncode == 0
    assert run("report", "last", "--db", db).returncode == 2  # nothing stored
    assert run("demo", "--db", db).returncode == 0
    # A new check registered in a later vedette: it must see the stored observations.
    script = textwrap.dedent(
        f"""
        import sys
        from vedette.checks import registry, load_checks
        from vedette.model import Severity
        load_checks()

        @registry.endpoint_check(
            "test.greets-as-lab", title="Greets as the lab", explanation="x",
            remediation="y", severity=Severity.LOW)
        def greets(ctx, obs):
            d = obs.dialogue
            if d is not None and any("vedette lab" in line for line in d.greeting):
                yield registry.Hit(detail="greeting mentions the lab")

        from vedette.cli import main
        sys.exit(main(["report", "last", "--db", {db!r}, "--json", "--fail-on", "critical"]))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 1, proc.stderr  # pop3-no-tls: critical plaintext-auth
    ids = [f["id"] for f in json.loads(proc.stdout)["findings"]]
    assert ids.count("test.greets-as-lab") >= 3


def test_report_at_a_later_date_sees_certificates_expire(tmp_path):
    db = f"sqlite:///{tmp_path / 'v.db'}"
    assert run("demo", "--db", db).returncode == 0
    now = json.loads(run("report", "last", "--db", db, "--json").stdout)
    later = json.loads(run("report", "last", "--db", db, "--json", "--at", "2040-01-01").stdout)
    expired_now = {f["endpoint"] for f in now["findings"] if f["id"] == "cert.expired"}
    expired_later = {f["endpoint"] for f in later["findings"] if f["id"] == "cert.expired"}
    assert len(expired_now) == 1
    assert expired_now < expired_later
    bad = run("report", "last", "--db", db, "--at", "someday")
    assert bad.returncode == 2
