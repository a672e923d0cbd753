"""Fleet scans from the command line on loopback: CIDR sweeps, exclusions on every path, the
rate limit, target-file grammar and errors, and the reports read back from the store."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fleet_support import Listener, listeners
from vedette.cli import main
from vedette.lab import LabThread
from vedette.lab.scenarios import Lab
from vedette.store.db import Store

# A greeting with a spreadsheet formula, markup and a terminal escape: what a hostile POP3
# server might say. It reaches the CSV and HTML reports inert.
HOSTILE = b'+OK =HYPERLINK("http://evil.test","x") <script>alert(1)</script> \x1b[2J\r\n'


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with LabThread() as lt:
        yield lt.lab


def _scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["scan", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _keys(url: str) -> set[str]:
    with Store.open(url) as store:
        scan_id = store.last_scan_id()
        assert scan_id is not None
        keys = store.endpoint_keys(scan_id)
    assert len(keys) == len(set(keys))
    return set(keys)


def test_cidr_sweep_with_exclusions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    ips = [f"127.0.6.{i}" for i in range(1, 7)]
    with listeners([(ip, b"+OK hi\r\n") for ip in ips[:1]]) as (first,):
        port = first.port
        more = [Listener(ip=ip, port=port, greeting=b"+OK hi\r\n").start() for ip in ips[1:]]
        try:
            exclude = tmp_path / "exclude"
            exclude.write_text("127.0.6.2\n127.0.6.4/31  # .4 and .5\n")
            code, out, err = _scan(
                capsys,
                f"pop3://127.0.6.0/29:{port}",
                "--allow-reserved",
                "--exclude",
                str(exclude),
                "--db",
                url,
                "--quiet",
                "--connect-timeout",
                "2",
            )
            accepted = {lst.ip: len(lst.accepted) for lst in [first, *more]}
        finally:
            for lst in more:
                lst.stop()
    assert code == 0, err
    assert out == ""  # --quiet
    assert accepted == {
        "127.0.6.1": 1,
        "127.0.6.2": 0,
        "127.0.6.3": 1,
        "127.0.6.4": 0,
        "127.0.6.5": 0,
        "127.0.6.6": 1,
    }
    # .0 and .7 are probed too (refused): a /29 is eight addresses, minus three excluded.
    expected = {f"quick||127.0.6.{i}|{port}|pop3" for i in (0, 1, 3, 6, 7)}
    assert _keys(url) == expected


def test_cidr_sweep_skips_reserved_ranges_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    with listeners([("127.0.6.9", b"+OK hi\r\n")]) as (lst,):
        code, out, err = _scan(capsys, f"pop3://127.0.6.8/30:{lst.port}", "--db", url)
        assert code == 0, err
        assert lst.accepted == []
        assert out.startswith("scan 1 (quick): 0 targets")
        assert "--allow-reserved" in out
        # An explicit loopback target is allowed, in the same grammar.
        code, out, err = _scan(capsys, f"pop3://127.0.6.9:{lst.port}", "--rate", "5", "--db", url)
        assert code == 0, err
        assert len(lst.accepted) == 1
    assert out.startswith("scan 2 (full): 1 targets")


def test_rate_limit_spaces_new_connections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    with listeners([("127.0.6.20", b"+OK hi\r\n")]) as (lst,):
        targets = tmp_path / "targets"
        # Twelve targets on one listener (distinct names pinned to it): 10 per second.
        targets.write_text(
            "".join(f"pop3://n{i}.fleet.test:{lst.port} 127.0.6.20\n" for i in range(12))
        )
        code, _, err = _scan(
            capsys, "--targets", str(targets), "--rate", "10", "--db", url, "--quiet"
        )
        assert code == 0, err
        times = sorted(lst.accepted)
    assert len(times) == 12
    # A token bucket at 10/s starting with one token: 11 waits of 0.1 s at least.
    assert times[-1] - times[0] >= 1.0
    assert len(_keys(url)) == 12


def test_target_file_grammar_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    bad = tmp_path / "bad"
    bad.write_text("# fine\nimaps://127.0.0.1:1\nimaps://127.0.0.1:1 not-an-address\n")
    code, out, err = _scan(capsys, "--targets", str(bad), "--db", url)
    assert code == 2
    assert err.strip() == (f"vedette: error: {bad}:3: 'not-an-address' is not an IP address to pin")
    # The half-read scan is not left behind.
    with Store.open(url) as store:
        assert store.list_scans() == ()
    code, _, err = _scan(capsys, "2001:db8::/64", "--db", url)
    assert code == 2 and "more than the --max-cidr limit" in err
    code, _, err = _scan(capsys, "--targets", str(tmp_path / "missing"), "--db", url)
    assert code == 2 and "No such file" in err
    code, _, err = _scan(capsys, "--resume", "99", "--db", url)
    assert code == 2 and "no scan with id 99" in err


def test_stdin_targets_deduplicated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    with listeners([("127.0.6.30", b"+OK hi\r\n")]) as (lst,):
        text = (
            f"pop3://127.0.6.30:{lst.port}\nPOP3://127.0.6.30:{lst.port}   # same\n"
            f"pop3://127.0.6.30:{lst.port}\n"
        )
        monkeypatch.setattr("sys.stdin", io.StringIO(text))
        code, out, err = _scan(capsys, "--targets", "-", "--db", url)
        assert code == 0, err
        assert len(lst.accepted) == 1
    assert out.startswith("scan 1 (quick): 1 targets")


def test_reports_from_the_store_escape_server_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lab: Lab
) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    with listeners([("127.0.6.40", HOSTILE)]) as (hostile,):
        targets = tmp_path / "targets"
        lines = [f"pop3://127.0.6.40:{hostile.port}"]
        lines += [f"{s.target} {s.ip}" for s in lab.servers]
        targets.write_text("\n".join(lines) + "\n")
        code, _, err = _scan(
            capsys, "--targets", str(targets), "--db", url, "--ca", str(lab.root_ca_path)
        )
        assert code == 0, err

    assert main(["report", "--db", url, "--format", "csv"]) == 0
    text = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1 + len(lab.servers)
    assert len(text.splitlines()) == len(rows) + 1  # no row spans two lines
    hostile_row = next(r for r in rows if r["ip"] == "127.0.6.40")
    assert hostile_row["banner"].startswith("'+OK =HYPERLINK(")
    assert "\x1b" not in text and "\\x1b[2J" in hostile_row["banner"]
    by_port = {int(r["port"]): r for r in rows}
    for srv in lab.servers:
        row = by_port[srv.port]
        assert row["hostname"] == srv.host
        assert row["protocol"] == srv.service.value
        # A fleet scan is quick: what a quick scan can see (the TLS 1.0-only server's
        # enumeration findings are tls.old-version there).
        assert set(row["findings"].split()) >= set(srv.quick_findings)
    expired = by_port[lab.server("smtps-expired").port]
    assert expired["cert_not_after"] and expired["cert_name_match"] == "yes"
    assert by_port[lab.server("pop3s-wrong-name").port]["cert_name_match"] == "no"
    assert by_port[lab.server("pop3s-self-signed").port]["cert_self_signed"] == "yes"
    plain = by_port[lab.server("imap-plaintext-login").port]
    assert plain["tls_required_before_auth"] == "no"
    assert "LOGIN" in plain["auth_before_tls"].split()
    assert by_port[lab.server("pop3-no-tls").port]["tls_offered"] == "no"

    assert main(["report", "--db", url, "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    docs = [json.loads(line) for line in lines]
    assert len(docs) == len(rows)
    assert all(line.isascii() for line in lines)
    hostile_doc = next(d for d in docs if d["ip"] == "127.0.6.40")
    assert "\x1b[2J" in hostile_doc["observation"]["dialogue"]["greeting"][0]

    assert main(["report", "--db", url, "--format", "summary"]) == 0
    summary = capsys.readouterr().out
    assert summary.startswith(f"endpoints {len(rows)}, stopped short ")
    for finding_id in ("cert.expired", "tls.plaintext-auth"):
        n = sum(1 for r in rows if finding_id in r["findings"].split())
        assert re.search(rf"^ +{n}  {re.escape(finding_id)} \[\w+\]$", summary, re.M)
    tls13 = sum(1 for r in rows if r["tls_version"] == "TLSv1.3")
    assert tls13 >= 9 and re.search(rf"^ +{tls13}  TLSv1\.3$", summary, re.M)

    out_file = tmp_path / "report.html"
    assert main(["report", "--db", url, "--format", "html", "-o", str(out_file)]) == 0
    page = out_file.read_text()
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page
    assert '<table class="bars">' in page  # the charts: HTML bars, no image
    # Self-contained: nothing loaded from anywhere; links only within the page.
    assert "src=" not in page and "<link" not in page
    assert all(href.startswith("#ep-") for href in re.findall(r'href="([^"]*)"', page))
    assert "Endpoints by finding" in page and "cert.expired" in page


def test_report_diff_between_two_scans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lab: Lab
) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    good, bad = lab.server("imaps-good"), lab.server("smtps-expired")
    first = tmp_path / "first"
    first.write_text(f"{good.target} {good.ip}\n")
    second = tmp_path / "second"
    second.write_text(f"{good.target} {good.ip}\n{bad.target} {bad.ip}\n")
    for targets in (first, second):
        code, _, err = _scan(
            capsys, "--targets", str(targets), "--db", url, "--ca", str(lab.root_ca_path)
        )
        assert code == 0, err
    assert main(["report", "diff", "1", "2", "--db", url]) == 1  # a new endpoint with a finding
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "scan 1 -> scan 2"
    assert out[1] == f"+ {bad.endpoint.label}: new endpoint (cert.expired)"
    assert out[-1] == "1 new, 0 gone, 0 changed; 1 regression(s) (a finding added or worse)"
    assert main(["report", "diff", "2", "1", "--db", url, "--json"]) == 0  # only gone
    doc = json.loads(capsys.readouterr().out)
    assert doc["gone"] == [{"endpoint": bad.endpoint.label, "findings": ["cert.expired"]}]
    assert main(["report", "diff", "1", "--db", url]) == 2


def test_deep_rescans_in_full_only_the_endpoints_with_those_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lab: Lab
) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    targets = tmp_path / "targets"
    targets.write_text("".join(f"{s.target} {s.ip}\n" for s in lab.servers))
    code, out, err = _scan(
        capsys,
        "--targets",
        str(targets),
        "--deep",
        "cert.expired,cert.self-signed",
        "--db",
        url,
        "--ca",
        str(lab.root_ca_path),
    )
    assert code == 0, err
    assert ", 2 re-scanned in full" in out
    deep = {lab.server("smtps-expired"), lab.server("pop3s-self-signed")}
    expected = {f"quick|{s.host}|{s.ip}|{s.port}|{s.service.value}" for s in lab.servers}
    expected |= {f"full|{s.host}|{s.ip}|{s.port}|{s.service.value}" for s in deep}
    assert _keys(url) == expected
    assert main(["report", "--db", url, "--format", "jsonl"]) == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    full = [d for d in docs if d["depth"] == "full"]
    assert sorted(d["port"] for d in full) == sorted(s.port for s in deep)
    # The full pass carries the TLS enumeration the quick one does not.
    assert all(d["observation"].get("tls_scan") for d in full)
    assert not any(d["observation"].get("tls_scan") for d in docs if d["depth"] == "quick")
    with pytest.raises(SystemExit) as exit_info:
        main(["scan", "--targets", str(targets), "--deep", "no.such-check", "--db", url])
    assert exit_info.value.code == 2
    assert "unknown finding id(s): no.such-check (see 'vedette checks')" in capsys.readouterr().err


def test_per_host_limit_holds_across_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Twelve targets (names pinned to one address): never more than --per-host connections
    open on that address at once, although --concurrency would allow all of them."""
    url = f"sqlite:///{tmp_path / 'v.db'}"
    active = 0
    peak = 0
    lock = threading.Lock()
    sock = socket.socket()
    sock.bind(("127.0.6.50", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        # Counted from accept (the client holds its slot from connect) until just before the
        # reply to QUIT (the client holds it until that reply): never more than the client's.
        nonlocal active, peak
        counted = True
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            conn.settimeout(5)
            conn.sendall(b"+OK slow\r\n")
            reader = conn.makefile("rb")
            while line := reader.readline(1024):
                command = line.strip().upper()
                if command == b"CAPA":
                    time.sleep(0.3)  # hold the connection: concurrent probes overlap here
                    conn.sendall(b"+OK\r\nUSER\r\n.\r\n")
                elif command == b"QUIT":
                    with lock:
                        active -= 1
                    counted = False
                    conn.sendall(b"+OK bye\r\n")
                    break
                else:
                    conn.sendall(b"-ERR\r\n")
        except OSError:
            pass
        finally:
            if counted:
                with lock:
                    active -= 1
            conn.close()

    def serve() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        targets = tmp_path / "targets"
        targets.write_text(
            "".join(f"pop3://p{i}.fleet.test:{port} 127.0.6.50\n" for i in range(12))
        )
        code, _, err = _scan(
            capsys,
            "--targets",
            str(targets),
            "--per-host",
            "2",
            "--concurrency",
            "50",
            "--db",
            url,
            "--quiet",
        )
    finally:
        stop.set()
        server.join(5)
        sock.close()
    assert code == 0, err
    assert peak == 2
    assert len(_keys(url)) == 12
