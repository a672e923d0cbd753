"""The README's main command, and re-analysis of stored scans without the network."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time

from tests.cli import run_vedette


def run(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_vedette(*args, timeout=timeout, env=env)


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
        "cert.sha512-legacy-schannel",
        "tls.tls10",
        "tls.no-tls12",
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


def _report_part(stdout: str) -> list[str]:
    """The report the demo prints, without its own tables (which start with this line)."""
    lines = stdout.splitlines()
    end = lines.index("Did the scan find what each lab server was built with?")
    return lines[:end]


def test_demo_default_is_a_full_scan_whose_report_opens_with_the_answer(tmp_path):
    db = f"sqlite:///{tmp_path / 'v.db'}"
    t0 = time.monotonic()
    demo = run("demo", "--db", db, env={"COLUMNS": "80"})
    elapsed = time.monotonic() - t0
    assert demo.returncode == 0, demo.stderr
    assert elapsed < 30
    out = demo.stdout
    lines = out.splitlines()
    # Every client verdict decided (the full enumeration), and said so.
    assert re.search(r"all as expected; [1-9]\d* client verdicts, 0 unknown$", lines[-2]), lines
    assert "unknown" not in "\n".join(lines[:-2]).lower()
    # Output to a pipe: no trailing spaces, and the report fits 165 lines of 80 columns (41
    # client profiles apply to the lab's services; a client that only warns where others fail,
    # such as a script that checks no certificate, has its own line).
    assert [ln for ln in lines if ln != ln.rstrip()] == []
    report = _report_part(out)
    assert len(report) <= 165, len(report)
    # The report opens with the table: one line per endpoint, none wider than 80 columns.
    doc = json.loads(run("report", "last", "--db", db, "--json").stdout)
    endpoints = doc["endpoints"]
    assert report[2].split()[:3] == ["endpoint", "login", "TLS"]
    table = report[3 : 3 + len(endpoints)]
    assert [row.split()[0] for row in table] == [
        f"{ep['service']}:{ep['port']}" for ep in endpoints
    ]
    assert all(len(row) <= 80 for row in table)
    # Every finding keeps its id, its one-line fix and its Run: commands.
    body = "\n".join(report)
    for f in doc["findings"]:
        assert f" {f['id']} " in body, f["id"]
        for command in f["fix_commands"]:
            assert f"      Run: {command}" in report
    assert body.count("      Fix: ") == len(doc["findings"])
    # The scenario table checks every server, the new ones included.
    for name in ("imaps-sha512", "pop3s-tls10-only", "imaps-good", "pop3-no-tls"):
        assert re.search(rf"^  ok +{name} ", out, re.M), name


def test_who_breaks_where_is_what_the_client_matrix_computes(tmp_path):
    db = f"sqlite:///{tmp_path / 'v.db'}"
    demo = run("demo", "--db", db, env={"COLUMNS": "200"})
    assert demo.returncode == 0, demo.stderr
    doc = json.loads(run("report", "last", "--db", db, "--json").stdout)
    by_port = {m["endpoint"].rsplit(":", 1)[1].split()[0]: m for m in doc["clients"]}
    ports = {ep["port"]: ep for ep in doc["endpoints"]}
    sha512 = next(ep for ep in ports.values() if "cert.sha512-legacy-schannel" in ep["findings"])
    verdicts = by_port[str(sha512["port"])]["verdicts"]
    refused = {
        v["profile"]
        for v in verdicts
        if any(r["code"] == "cert.sha512-legacy-schannel" for r in v["reasons"])
    }
    # The field notes' clients: Lync 2013, Skype for Business 2015 and Outlook 2013 on Windows
    # 7/8.1/2012 without KB2973337, for SEC_E_ALGORITHM_MISMATCH; every other client works
    # unless it cannot speak TLS 1.2 at all.
    assert refused == {
        "lync-2013-win7",
        "lync-2013-win81",
        "lync-2013-server2012",
        "sfb-2015-win7",
        "outlook-2013-win7",
    }
    for v in verdicts:
        if v["profile"] not in refused and v["outcome"] != "works":
            assert {r["code"] for r in v["reasons"]} == {"tls.version"}, v
    reason = next(r for v in verdicts for r in v["reasons"] if v["profile"] in refused)
    assert "SEC_E_ALGORITHM_MISMATCH" in reason["text"] and "KB2973337" in reason["text"]
    # The TLS 1.0-only server: the clients that fail are those that no longer offer TLS 1.0.
    legacy = next(ep for ep in ports.values() if "tls.no-tls12" in ep["findings"])
    failing = {
        v["profile"] for v in by_port[str(legacy["port"])]["verdicts"] if v["outcome"] == "fails"
    }
    from vedette.trust import trust_data

    no_tls10 = {p.id for p in trust_data().profiles if "TLSv1" not in p.hello.versions}
    judged = {v["profile"] for v in by_port[str(legacy["port"])]["verdicts"]}
    assert failing == no_tls10 & judged and failing
    # "Who breaks where" says it in one line each, from the same matrix.
    where = demo.stdout.split("Who breaks where", 1)[1]
    (line,) = [ln for ln in where.splitlines() if "imaps-sha512" in ln]
    assert line.strip().startswith("outlook 1, lync 3, skype 1 fail on imaps-sha512")
    assert "(cert.sha512-legacy-schannel)" in line
    assert re.search(r"fail on pop3s-tls10-only \(tls\.version\)", where)


def test_demo_quick_mode_stays_available():
    demo = run("demo", "--mode", "quick", "--no-store", env={"COLUMNS": "100"})
    assert demo.returncode == 0, demo.stderr
    # A quick scan does not test the versions each server accepts: verdicts stay open.
    assert re.search(r"all as expected; \d+ client verdicts, [1-9]\d* unknown", demo.stdout)
    assert "--mode full" in demo.stdout
