"""``vedette cert clients`` and the matrix options of scan/report, as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli import run_vedette
from tests.integration.test_clients_scan import HOST, _build, s_server

STARTCOM = Path(__file__).parents[1] / "data" / "startcom-chain.pem"


def vedette(*args: str) -> subprocess.CompletedProcess[str]:
    return run_vedette(*args)


def test_cert_clients_replays_2011_for_the_real_startcom_chain():
    proc = vedette(
        "cert", "clients", str(STARTCOM), "--host", "www.dnssec-exp.org", "--as-of", "2011-03-01",
        "--clients", "android,outlook,java", "--json",
    )  # fmt: skip
    assert proc.returncode == 1  # Java never trusted StartCom
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "vedette.clients/1"
    vs = {v["profile"]: v for v in doc["verdicts"]}
    assert vs["android-2.3"]["outcome"] == "works"
    assert vs["outlook-2010-win7"]["outcome"] == "works"
    assert vs["java-6"]["outcome"] == "fails"
    assert vs["android-current"]["outcome"] == "not-released"
    assert doc["summary"]["works"] == 2


def test_cert_clients_today_terminal_lists_reasons_and_fixes():
    proc = vedette(
        "cert", "clients", str(STARTCOM), "--host", "www.dnssec-exp.org", "--clients", "ios"
    )
    assert proc.returncode == 1
    out = proc.stdout
    assert "FAILS" in out and "fix:" in out
    assert "distrusted by Apple since 2022-01-28" in " ".join(out.split())


def test_cert_clients_list_and_inventory(tmp_path):
    proc = vedette("cert", "clients", "--list")
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) >= 30 and "lync-2013-win7" in proc.stdout
    listed = json.loads(vedette("cert", "clients", "--list", "--json").stdout)
    assert set(listed) == {"profiles", "unverified_facts"}
    assert isinstance(listed["unverified_facts"], int) and listed["unverified_facts"] > 0
    by_id = {p["id"]: p for p in listed["profiles"]}
    assert by_id["python-verifying"]["aliases"] == ["python-certifi"]
    assert {"lync-2013-win7-kb2973337", "python-stdlib-mail"} <= set(by_id)
    assert any(by_id[p]["unverified"] for p in by_id)
    inv = tmp_path / "inventory.csv"
    inv.write_text("client,version,count\nios,10.3,380\nlync,2013,32\n")
    proc = vedette(
        "cert", "clients", str(STARTCOM), "--host", "www.dnssec-exp.org", "--as-of", "2017-01-15",
        "--inventory", str(inv), "--json",
    )  # fmt: skip
    doc = json.loads(proc.stdout)
    assert any(line.startswith("412 devices will fail") for line in doc["inventory"]), doc[
        "inventory"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("cert", "clients", "/nonexistent.pem"), "cannot read /nonexistent.pem"),
        (("cert", "clients", str(STARTCOM), "--as-of", "May"), "--as-of: 'May' is not a date"),
        (("cert", "clients", str(STARTCOM), "--clients", "nokia"), "unknown client nokia"),
        (("cert", "clients", str(STARTCOM), "--pin", "md5:abc"), "--pin: expected sha256:HASH"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(args, message):
    proc = vedette(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_report_recomputes_the_matrix_with_the_stored_options(tmp_path):
    _build(tmp_path, "sha512")
    db = f"sqlite:///{tmp_path / 'v.db'}"
    with s_server(tmp_path, "-tls1_2") as port:
        scan = vedette(
            "scan", "--mode", "quick", "--json", "--db", db, "--ca", str(tmp_path / "root.pem"),
            "--ip", "127.0.0.1", f"https://{HOST}:{port}", "--clients", "lync,outlook",
        )  # fmt: skip
    first = json.loads(scan.stdout)
    again = json.loads(vedette("report", "last", "--db", db, "--json").stdout)
    # Re-analysed offline (judged now rather than at scan time): the same clients, same verdicts.
    assert [m["verdicts"] for m in again["clients"]] == [m["verdicts"] for m in first["clients"]]
    outcomes = {v["profile"]: v["outcome"] for v in first["clients"][0]["verdicts"]}
    assert outcomes["lync-2013-win7"] == "fails"
    fams = {v["family"] for v in again["clients"][0]["verdicts"]}
    assert fams == {"lync", "outlook"}
    # Given now, an option replaces the stored one: Lync 2013 had not shipped in 2012-06.
    old = json.loads(
        vedette("report", "last", "--db", db, "--json", "--as-of", "2012-06-01").stdout
    )
    vs = {v["profile"]: v["outcome"] for v in old["clients"][0]["verdicts"]}
    assert vs["lync-2013-win7"] == "not-released"
    assert vs["outlook-2010-win7"] != "not-released"
