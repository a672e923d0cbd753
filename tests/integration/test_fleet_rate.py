"""``--rate`` and ``--per-host`` hold for every connection of a full fleet scan, the TLS
enumeration's included.

A scripted STARTTLS SMTP server (real TLS through Python's ``ssl``) records the time of
every connection it accepts; the fleet scan runs in full mode, where each endpoint costs
dozens of connections (one per accepted suite, version and group, plus resumption). The
server-side count must stay under the rate over every window, and equal the connections the
stored results account for.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli import run_vedette
from tests.integration.scripted import SmtpFront, ThreadedServer, server_tls_context

RATE = 20


def vedette(*args: str) -> subprocess.CompletedProcess[str]:
    return run_vedette(*args, timeout=300)


def test_rate_and_per_host_count_every_connection_of_a_full_scan(tmp_path: Path) -> None:
    front = SmtpFront(server_tls_context(tmp_path))
    db = f"sqlite:///{tmp_path / 'v.db'}"
    with ThreadedServer(front.serve) as server:
        targets = tmp_path / "targets"
        targets.write_text(
            "".join(f"smtp://n{i}.fleet.test:{server.port} 127.0.0.1\n" for i in range(2))
        )
        proc = vedette(
            "scan", "--targets", str(targets), "--mode", "full", "--rate", str(RATE),
            "--per-host", "2", "--db", db, "--quiet", "--read-timeout", "5",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        accepted = sorted(front.accepted)
    # Both endpoints are on one address: --per-host counts their connections together,
    # the enumeration's included (each endpoint alone would open up to --per-host).
    assert front.peak <= 2, front.peak
    doc = json.loads(vedette("report", "1", "--json", "--db", db).stdout)
    endpoints = doc["endpoints"]
    assert len(endpoints) == 2
    scans = [ep["tls_scan"] for ep in endpoints]
    assert all(s is not None and not s["incomplete"] for s in scans), scans
    stored = sum(ep["connections"] + ep["tls_scan"]["connections"] for ep in endpoints)
    # Every connection the server saw is accounted for in the stored results, and the
    # enumeration did open many more than the two quick probes.
    assert stored == len(accepted)
    assert len(accepted) > 4 * RATE
    # A token bucket at RATE/s with a burst of one second's worth: any window of W seconds
    # holds at most RATE * (W + 1) connections. Without the limit the enumeration opens
    # its dozens of connections in well under a second.
    for window in (1.0, 2.0):
        worst = max(sum(1 for t in accepted if start <= t < start + window) for start in accepted)
        assert worst <= RATE * (window + 1), (window, worst)
    span = accepted[-1] - accepted[0]
    assert len(accepted) <= RATE * span + RATE + 1


def test_per_host_counts_connections_across_endpoints_in_full_mode(tmp_path: Path) -> None:
    # A short greeting delay makes the connections of the three endpoints overlap: without
    # connection-level slots each endpoint's enumeration opens up to --per-host on its own.
    front = SmtpFront(server_tls_context(tmp_path), greeting_delay=0.05)
    with ThreadedServer(front.serve) as server:
        targets = tmp_path / "targets"
        targets.write_text(
            "".join(f"smtp://n{i}.fleet.test:{server.port} 127.0.0.1\n" for i in range(3))
        )
        proc = vedette(
            "scan", "--targets", str(targets), "--mode", "full", "--per-host", "2",
            "--db", f"sqlite:///{tmp_path / 'v.db'}", "--quiet",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    assert len(front.accepted) > 60  # three enumerations ran
    assert front.peak <= 2, front.peak
