"""One date for the whole analysis (issue 10 §2): ``scan --as-of DATE`` judges the certificate
checks (cert.expired and friends) at DATE, as it does the client matrix, against a real TLS
server of the lab whose certificate expired 310 days ago."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from vedette.lab import LabThread


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with LabThread(workdir=tmp_path_factory.mktemp("lab")) as lt:
        yield lt.lab


def scan(lab, *extra: str) -> dict:
    expired = lab.server("smtps-expired")
    proc = subprocess.run(
        [sys.executable, "-m", "vedette", "scan", "--json", "--no-store", "--mode", "quick",
         "--ca", str(lab.root_ca_path), "--ip", "127.0.0.1", expired.target, *extra],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def test_scan_as_of_a_date_inside_the_validity_has_no_cert_expired(lab):
    today = scan(lab)
    assert "cert.expired" in {f["id"] for f in today["findings"]}
    leaf = today["endpoints"][0]["tls"]["chain"][0]
    inside = datetime.fromisoformat(leaf["not_before"]) + timedelta(days=30)
    assert inside < datetime.fromisoformat(leaf["not_after"])

    then = scan(lab, "--as-of", inside.date().isoformat())
    ids = {f["id"] for f in then["findings"]}
    assert "cert.expired" not in ids  # (the lab's CA, made today, is not yet valid then)
    assert then["analysed_at"].startswith(inside.date().isoformat())
    assert {m["as_of"][:10] for m in then["clients"]} == {inside.date().isoformat()}


def test_fleet_scan_keeps_its_as_of_for_report(lab, tmp_path):
    # A fleet scan (--targets) took --as-of and dropped it: neither stored nor used, so its
    # report (and its --fail-on count) judged the dates at today's.
    expired = lab.server("smtps-expired")
    targets = tmp_path / "targets.txt"
    targets.write_text(f"{expired.target} 127.0.0.1\n")
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    today = scan(lab)
    leaf = today["endpoints"][0]["tls"]["chain"][0]
    inside = (datetime.fromisoformat(leaf["not_before"]) + timedelta(days=30)).date().isoformat()

    def fleet(*extra: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "vedette", "scan", "--db", db, "--targets", str(targets),
             "--quiet", "--ca", str(lab.root_ca_path), "--fail-on", "high", *extra],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    assert fleet().returncode == 1  # today: cert.expired (high) reaches --fail-on
    fleet("--as-of", inside)  # (the lab's CA, made today, is not yet valid then: still high)
    report = subprocess.run(
        [sys.executable, "-m", "vedette", "report", "last", "--db", db, "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    doc = json.loads(report.stdout)
    assert doc["analysed_at"].startswith(inside)
    assert "cert.expired" not in {f["id"] for f in doc["findings"]}
