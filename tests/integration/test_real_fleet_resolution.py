"""Fleet scans and DNS (dnsmasq on loopback, through --resolver): the exclusion list applies to
the addresses a name resolves to, and bare-IP targets get their PTR name in the reports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.fleet_support import Listener
from tests.integration.realservers import MAIL_HOST, NODES_HOST, RunningServer
from vedette.cli import main
from vedette.plan import Resolution, ScanMode, ScanPlan
from vedette.resolve import parse_resolver
from vedette.store.db import Store

N1, N2 = "127.0.0.31", "127.0.0.32"


def _resolver(server: RunningServer) -> str:
    return f"{server.address}:{server.ports[0]}"


def test_exclusion_applies_after_resolution_and_ptr_is_reported(
    dns_server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    # One port free on both node addresses (a Dovecot of another test may hold 993 there).
    second = Listener(ip=N2, port=0, greeting=b"+OK n2\r\n").start()
    first = Listener(ip=N1, port=second.port, greeting=b"+OK n1\r\n").start()
    try:
        port = second.port
        targets = tmp_path / "targets"
        targets.write_text(f"pop3://{NODES_HOST}:{port}\npop3://{N1}:{port}\n")
        exclude = tmp_path / "exclude"
        exclude.write_text(f"{N2}/32\n")
        code = main(
            [
                "scan",
                "--targets",
                str(targets),
                "--exclude",
                str(exclude),
                "--resolver",
                _resolver(dns_server),
                "--db",
                url,
                "--quiet",
            ]
        )
        assert code == 0, capsys.readouterr().err
        # The name resolved to both nodes; only the one not excluded was contacted (twice:
        # once under the name, once as a bare address).
        assert second.accepted == []
        assert len(first.accepted) == 2
    finally:
        first.stop()
        second.stop()
    capsys.readouterr()
    assert main(["report", "--db", url, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    shown = sorted((r["hostname"], r["ip"], r["ptr"]) for r in rows)
    assert shown == [("", N1, NODES_HOST), (NODES_HOST, N1, "")]


def test_resume_honours_an_exclusion_added_later(
    dns_server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scan stopped before its end and resumed with a new --exclude: the new list holds for
    what is left (the check at probe time, not only when the targets were spooled)."""
    url = f"sqlite:///{tmp_path / 'v.db'}"
    mail = "127.0.0.13"
    listener = Listener(ip=mail, port=0, greeting=b"+OK\r\n").start()
    try:
        targets = tmp_path / "targets"
        targets.write_text(f"pop3://{MAIL_HOST}:{listener.port}\n")
        # Spool without probing: a scan whose run was stopped before its first target.
        with Store.open(url) as store:
            resolution = Resolution(resolver=parse_resolver(_resolver(dns_server)))
            scan_id = store.begin_fleet_scan(
                ["--targets x"],
                {},
                datetime.now(UTC),
                ScanMode.QUICK,
                ScanPlan(mode=ScanMode.QUICK, resolution=resolution),
            )
            store.spool_targets(scan_id, [(f"pop3://{MAIL_HOST}:{listener.port}", "", 1)])
        exclude = tmp_path / "exclude"
        exclude.write_text(f"{mail}\n")
        code = main(
            ["scan", "--resume", str(scan_id), "--exclude", str(exclude), "--db", url, "--quiet"]
        )
        assert code == 0, capsys.readouterr().err
        assert listener.accepted == []
        with Store.open(url) as store:
            assert store.endpoint_keys(scan_id) == []
            assert store.fleet_scan(scan_id).status == "finished"
    finally:
        listener.stop()
