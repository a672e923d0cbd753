"""vedette against Dovecot's real ManageSieve (Pigeonhole managesieve-login) on loopback.

As in test_real_dovecot.py, the ``test_server_*`` tests first check with a minimal client
written here (raw socket, the standard library's ssl) that each server behaves as its
configuration claims: that a password really is accepted in clear on S1 and refused on S2.
Then vedette runs as a user runs it: ``vedette scan sieve://...`` (quick and full), a bare host,
and a fleet scan from a target file; its answers are compared with ``openssl s_client
-starttls sieve`` on the same servers.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_vedette
from tests.integration.managesieve_server import (  # noqa: F401 (the fixtures)
    S1,
    S2,
    S3,
    SIEVE_PORT,
    sieve_s1,
    sieve_s2,
    sieve_s3,
)
from tests.integration.realservers import MAIL_HOST, PASSWORD, USER, Pki
from tests.integration.tls_truth import Truth, openssl

# --- a minimal ManageSieve client, independent of vedette ------------------------------------


class Session:
    """Line-at-a-time ManageSieve over a socket (Dovecot sends no literals to these commands)."""

    def __init__(self, address: str) -> None:
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection(
            (address, SIEVE_PORT), timeout=5
        )
        self.file = self.sock.makefile("rb")

    def response(self) -> list[str]:
        """Lines up to and including the status line (OK, NO or BYE)."""
        lines: list[str] = []
        while True:
            raw = self.file.readline(8192)
            assert raw, f"server closed after {lines}"
            line = raw.decode("utf-8").rstrip("\r\n")
            lines.append(line)
            if re.match(r"(OK|NO|BYE)\b", line):
                return lines

    def command(self, text: str) -> list[str]:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.response()

    def starttls(self, pki: Pki) -> list[str]:
        assert self.command("STARTTLS")[-1].startswith("OK")
        ctx = ssl.create_default_context(cafile=str(pki.root_pem))
        self.sock = ctx.wrap_socket(self.sock, server_hostname=MAIL_HOST)
        self.file = self.sock.makefile("rb")
        return self.response()  # RFC 5804 2.2: the capabilities again, unasked

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _login(session: Session) -> list[str]:
    token = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    return session.command(f'AUTHENTICATE "PLAIN" "{token}"')


# --- the servers are what they claim ------------------------------------------------------------


@pytest.mark.usefixtures("sieve_s1")
def test_server_s1_takes_a_password_in_clear() -> None:
    session = Session(S1)
    try:
        greeting = session.response()
        assert '"SASL" "PLAIN LOGIN"' in greeting and '"STARTTLS"' in greeting
        assert _login(session)[-1].startswith("OK")  # the password really crossed in clear
    finally:
        session.close()


@pytest.mark.usefixtures("sieve_s2")
def test_server_s2_refuses_it_until_tls(realtest_pki: Pki) -> None:
    session = Session(S2)
    try:
        greeting = session.response()
        assert '"SASL" ""' in greeting and '"STARTTLS"' in greeting
        assert _login(session)[-1].startswith("NO")
        again = session.starttls(realtest_pki)
        assert '"SASL" "PLAIN LOGIN"' in again and '"STARTTLS"' not in again
        assert _login(session)[-1].startswith("OK")
    finally:
        session.close()


@pytest.mark.usefixtures("sieve_s3")
def test_server_s3_has_no_tls() -> None:
    session = Session(S3)
    try:
        assert '"STARTTLS"' not in session.response()
        assert session.command("STARTTLS")[-1].startswith("NO")
    finally:
        session.close()


# --- vedette scan -------------------------------------------------------------------------------


def _scan(address: str, *args: str, pki: Pki, mode: str = "quick") -> tuple[int, dict[str, Any]]:
    proc = run_vedette(
        "scan",
        f"sieve://{MAIL_HOST}",
        "--resolve",
        f"{MAIL_HOST}:{SIEVE_PORT}:{address}",
        "--ca",
        str(pki.root_pem),
        "--mode",
        mode,
        "--json",
        "--no-store",
        *args,
    )
    return proc.returncode, json.loads(proc.stdout)


def _endpoint(document: dict[str, Any]) -> dict[str, Any]:
    (endpoint,) = document["endpoints"]
    assert isinstance(endpoint, dict)
    return endpoint


def _finding(document: dict[str, Any], finding_id: str) -> dict[str, Any]:
    (found,) = [f for f in document["findings"] if f["id"] == finding_id]
    assert isinstance(found, dict)
    return found


@pytest.mark.usefixtures("sieve_s1")
def test_scan_s1_reports_passwords_before_tls(realtest_pki: Pki) -> None:
    code, doc = _scan(S1, pki=realtest_pki)
    assert code == 1  # high: a user's password may cross in clear
    ep = _endpoint(doc)
    assert (ep["service"], ep["protocol"], ep["port"], ep["status"]) == (
        "sieve",
        "managesieve",
        SIEVE_PORT,
        "ok",
    )
    assert ep["findings"] == ["tls.plaintext-auth"]  # certificate fine: --ca trusts the root
    finding = _finding(doc, "tls.plaintext-auth")
    assert finding["severity"] == "high"
    assert finding["detail"].startswith("offered before TLS: LOGIN, PLAIN")
    assert "disable_plaintext_auth = yes" in finding["remediation"]
    assert finding["evidence"] == ['"SASL" "PLAIN LOGIN"']
    # What the server said, verbatim, before and after TLS.
    assert ep["greeting"][0].startswith("OK ")
    before, after = ep["capabilities_before_tls"], ep["capabilities_after_tls"]
    assert before[-1] == ep["greeting"][0]
    assert '"STARTTLS"' in before and '"STARTTLS"' not in after
    assert any(line.startswith('"IMPLEMENTATION" "Dovecot') for line in before)
    assert after[-1].startswith("OK ")
    assert ep["starttls_reply"][0].startswith("OK ")
    assert ep["tls"]["sni"] == MAIL_HOST and ep["tls"]["version"] == "TLSv1.3"


@pytest.mark.usefixtures("sieve_s2")
def test_scan_s2_finds_nothing_when_dovecot_refuses_cleartext(realtest_pki: Pki) -> None:
    code, doc = _scan(S2, pki=realtest_pki)
    assert code == 0, doc["findings"]
    ep = _endpoint(doc)
    assert ep["status"] == "ok" and ep["findings"] == []
    assert '"SASL" ""' in ep["capabilities_before_tls"]
    assert '"SASL" "PLAIN LOGIN"' in ep["capabilities_after_tls"]


@pytest.mark.usefixtures("sieve_s3")
def test_scan_s3_without_tls_is_critical(realtest_pki: Pki) -> None:
    code, doc = _scan(S3, pki=realtest_pki)
    assert code == 1
    ep = _endpoint(doc)
    assert ep["status"] == "ok" and ep["tls"] is None
    assert ep["starttls_reply"][0].startswith("NO ")
    assert set(ep["findings"]) == {"tls.none", "tls.plaintext-auth"}
    assert _finding(doc, "tls.plaintext-auth")["severity"] == "critical"
    assert "STARTTLS is not advertised" in _finding(doc, "tls.none")["detail"]


@pytest.mark.usefixtures("sieve_s1")
def test_terminal_report_names_the_service(realtest_pki: Pki) -> None:
    proc = run_vedette(
        "scan",
        f"sieve://{MAIL_HOST}",
        "--resolve",
        f"{MAIL_HOST}:{SIEVE_PORT}:{S1}",
        "--ca",
        str(realtest_pki.root_pem),
        "--mode",
        "quick",
        "--no-store",
        "-v",  # the login and STARTTLS lines are details
    )
    assert proc.returncode == 1
    out = " ".join(proc.stdout.split())  # the report wraps long lines
    assert f"sieve://{MAIL_HOST}:{SIEVE_PORT} ({S1})" in out
    assert "TLS before login: no: a password can be sent in clear (LOGIN, PLAIN" in out
    assert "STARTTLS offered: yes" in out


# --- against openssl s_client -starttls sieve ---------------------------------------------------


def _s_client(address: str, pki: Pki) -> str:
    proc = subprocess.run(
        [
            openssl(),
            "s_client",
            "-starttls",
            "sieve",
            "-connect",
            f"{address}:{SIEVE_PORT}",
            "-servername",
            MAIL_HOST,
            "-verify_hostname",
            MAIL_HOST,
            "-CAfile",
            str(pki.root_pem),
            "-showcerts",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.usefixtures("sieve_s1")
def test_full_scan_after_starttls_agrees_with_s_client(realtest_pki: Pki) -> None:
    code, doc = _scan(S1, pki=realtest_pki, mode="full")
    ep = _endpoint(doc)
    assert code == 1 and ep["status"] == "ok", ep
    # The chain, its verdict and the session one s_client handshake sees.
    shown = _s_client(S1, realtest_pki)
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", shown, re.S)
    assert [c["pem"] for c in ep["tls"]["chain"]] == pems
    assert "Verify return code: 0 (ok)" in shown  # and vedette has no cert.* finding
    assert not [f for f in ep["findings"] if f.startswith("cert.")]
    session = re.search(r"^New, (\S+), Cipher is (\S+)$", shown, re.M)
    assert session is not None, shown
    assert (ep["tls"]["version"], ep["tls"]["cipher"]) == session.groups()
    # The enumeration, re-dialling the ManageSieve dialogue to STARTTLS for every hello, finds
    # exactly the versions and suites s_client gets through one at a time.
    scan = ep["tls_scan"]
    assert scan is not None and not scan["incomplete"], scan
    truth = Truth(SIEVE_PORT, ip=S1, starttls="sieve")
    codes = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
    assert {codes[v] for v in scan["versions"]} == truth.versions() == {0x0303, 0x0304}
    for entry in scan["suites"]:
        version = codes[entry["version"]]
        assert {s["code"] for s in entry["suites"]} == truth.suites(version), entry["version"]
    # Resumption after STARTTLS: the server speaks first inside TLS, tickets come before it.
    resumption = (scan["resumption"], scan["resumption_tls13"])
    assert resumption == (True, True), scan


# --- a bare host, and a fleet --------------------------------------------------------------------


@pytest.mark.usefixtures("sieve_s1")
def test_a_bare_host_includes_managesieve(realtest_pki: Pki) -> None:
    proc = run_vedette(
        "scan",
        MAIL_HOST,
        "--resolve",
        f"{MAIL_HOST}:*:{S1}",
        "--ca",
        str(realtest_pki.root_pem),
        "--mode",
        "quick",
        "--json",
        "--no-store",
    )
    doc = json.loads(proc.stdout)
    by_port = {e["port"]: e for e in doc["endpoints"]}
    assert SIEVE_PORT in by_port
    assert by_port[SIEVE_PORT]["service"] == "sieve"
    assert by_port[SIEVE_PORT]["status"] == "ok"
    assert "tls.plaintext-auth" in by_port[SIEVE_PORT]["findings"]
    # Nothing else listens on that address.
    assert all(e["status"] == "refused" for p, e in by_port.items() if p != SIEVE_PORT)


@pytest.mark.usefixtures("sieve_s1", "sieve_s2")
def test_fleet_scan_stores_managesieve_endpoints(realtest_pki: Pki, tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text(
        f"sieve://{MAIL_HOST} {S1}\n# the same name on the node that refuses cleartext\n"
        f"sieve://{MAIL_HOST}:{SIEVE_PORT} {S2}\n"
    )
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    scan = run_vedette(
        "scan", "--targets", targets, "--ca", realtest_pki.root_pem, "--db", url, "--quiet"
    )
    assert scan.returncode == 0, scan.stderr  # fleet scans exit 0 without --fail-on
    report = run_vedette("report", "last", "--db", url, "--json")
    assert report.returncode == 1, report.stderr  # report's default --fail-on high
    doc = json.loads(report.stdout)
    by_ip = {e["ip"]: e for e in doc["endpoints"]}
    assert set(by_ip) == {S1, S2}
    assert all(e["service"] == "sieve" and e["status"] == "ok" for e in by_ip.values())
    assert "tls.plaintext-auth" in by_ip[S1]["findings"]
    assert "tls.plaintext-auth" not in by_ip[S2]["findings"]
    # The two nodes behind one name differ: vedette compares their stored capabilities.
    (inconsistent,) = [f for f in doc["findings"] if f["id"] == "endpoint.inconsistent"]
    assert sorted(inconsistent["evidence"]) == [
        f"{S1}: passwords before TLS = LOGIN, PLAIN",
        f"{S2}: passwords before TLS = none",
    ]
    assert '"SASL" ""' in by_ip[S2]["capabilities_before_tls"]
    # The CSV report reads the stored capabilities through the same parser.
    csv_out = run_vedette("report", "last", "--db", url, "--format", "csv")
    rows = {r["ip"]: r for r in csv.DictReader(io.StringIO(csv_out.stdout))}
    assert (rows[S1]["protocol"], rows[S1]["tls_offered"]) == ("sieve", "yes")
    assert (rows[S1]["tls_required_before_auth"], rows[S1]["auth_before_tls"]) == (
        "no",
        "LOGIN PLAIN",
    )
    assert rows[S2]["tls_required_before_auth"] == "yes"
