"""``vedette scan --format FORMAT -o FILE``: every report format straight from a scan, as
``vedette report`` gives it, for named targets (stored or not) and for a fleet scan."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import run_vedette
from vedette.lab import LabThread
from vedette.lab.scenarios import Lab, LabServer


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with LabThread(workdir=tmp_path_factory.mktemp("lab")) as lt:
        yield lt.lab


@pytest.fixture
def sha1(lab: Lab) -> LabServer:
    return lab.server("imaps-sha1")


def scan(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    ca = str(lab.root_ca_path)
    return run_vedette("scan", "--ca", ca, "--ip", "127.0.0.1", *args, timeout=120)


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_of_a_named_target_without_a_store(lab: Lab, sha1: LabServer, tmp_path: Path) -> None:
    out = tmp_path / "scan.csv"
    result = scan(lab, sha1.target, "--no-store", "--format", "csv", "-o", str(out))
    # The exit rule of named targets holds whatever the format: a SHA-1 leaf is high.
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""  # the report went to the file
    (row,) = _csv(out.read_text())
    assert row["hostname"] == sha1.target.split("://")[1].split(":")[0]
    assert "cert.sha1-signature" in row["findings"].split()
    assert row["depth"] == "full" and row["severity"] == "high"
    assert "TLSv1.2" in row["tls_versions_accepted"].split()


def test_json_and_text_to_a_file_equal_what_report_prints(
    lab: Lab, sha1: LabServer, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'v.db'}"
    doc_file = tmp_path / "scan.json"
    result = scan(lab, sha1.target, "--db", db, "--format", "json", "-o", str(doc_file))
    assert result.returncode == 1 and result.stdout == "", result.stderr
    doc = json.loads(doc_file.read_text())
    assert {f["id"] for f in doc["findings"]} >= {"cert.sha1-signature"}
    text_file = tmp_path / "scan.txt"
    assert scan(lab, sha1.target, "--no-store", "-o", str(text_file)).returncode == 1
    text = text_file.read_text()
    assert "cert.sha1-signature" in text and "\x1b[" not in text  # a file gets no colours


def test_a_fleet_scan_writes_its_report_when_done(
    lab: Lab, sha1: LabServer, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'v.db'}"
    targets = tmp_path / "targets.txt"
    targets.write_text(f"{sha1.target} 127.0.0.1\n")
    result = run_vedette(
        "scan", "--targets", str(targets), "--db", db, "--ca", str(lab.root_ca_path),
        "--format", "csv", timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr  # a fleet source: exit 0 without --fail-on
    (row,) = _csv(result.stdout)  # standard output is the CSV alone
    assert row["depth"] == "quick" and "cert.sha1-signature" in row["findings"].split()
    assert "targets" in result.stderr  # the run's summary moved to standard error
    again = run_vedette("report", "last", "--db", db, "--format", "csv", timeout=60)
    assert again.stdout == result.stdout


def test_a_wrong_format_is_a_usage_error(lab: Lab, sha1: LabServer) -> None:
    result = scan(lab, sha1.target, "--no-store", "--format", "pdf")
    assert result.returncode == 2
    assert "invalid choice: 'pdf'" in result.stderr and "Traceback" not in result.stderr
