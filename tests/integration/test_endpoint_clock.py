"""``--endpoint-timeout`` is one clock per endpoint: in full mode the TLS enumeration (and
the resumption probes, a ``--deep`` re-scan) get what the quick probe left of it, not a fresh
allowance each.

A scripted IMAP server answers every command correctly but waits ``DELAY`` seconds before
each reply (the greeting included), with real TLS after STARTTLS (Python's ``ssl``). The
quick probe takes about four replies; every enumeration connection costs three more before
its ClientHello is on the wire, so the enumeration cannot finish within the endpoint's
clock: it must stop when the clock runs out and be marked incomplete, while what the quick
probe saw is kept.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.cli import run_vedette
from tests.integration.scripted import ThreadedServer, server_tls_context
from vedette.checks import load_checks

DELAY = 1.0
ENDPOINT_TIMEOUT = 5.0
#: What the scan may take beyond --endpoint-timeout: closing connections, analysis, the store,
#: a loaded machine (quiet: 0.05 s). This bound is the behaviour under test, not a hang
#: detector: the enumeration used to get a fresh --endpoint-timeout, and the scan took 9 s.
SLACK = 2.5


class SlowImap:
    """IMAP with STARTTLS, every reply (greeting included) ``delay`` seconds late."""

    def __init__(self, tls: ssl.SSLContext, delay: float) -> None:
        self.tls = tls
        self.delay = delay
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await asyncio.sleep(self.delay)
        writer.write(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] slow but sure\r\n")
        await writer.drain()
        in_tls = False
        while line := await reader.readline():
            tag, _, rest = line.strip().partition(b" ")
            verb = rest.split(b" ", 1)[0].upper()
            if verb == b"LOGOUT":
                writer.write(b"* BYE see you\r\n" + tag + b" OK LOGOUT completed\r\n")
                await writer.drain()
                return
            await asyncio.sleep(self.delay)
            if verb == b"CAPABILITY":
                caps = b"IMAP4rev1 LOGINDISABLED" + (b"" if in_tls else b" STARTTLS")
                writer.write(b"* CAPABILITY " + caps + b"\r\n" + tag + b" OK done\r\n")
            elif verb == b"STARTTLS" and not in_tls:
                writer.write(tag + b" OK begin TLS now\r\n")
                await writer.drain()
                await writer.start_tls(self.tls)
                in_tls = True
                continue
            elif verb == b"NOOP":
                writer.write(tag + b" OK NOOP completed\r\n")
            else:
                writer.write(tag + b" BAD unknown command\r\n")
            await writer.drain()


def vedette(*args: str) -> subprocess.CompletedProcess[str]:
    return run_vedette(*args)  # a hang detector: the scans below take about 5 s


LIMITS = ("--read-timeout", "3", "--endpoint-timeout", f"{ENDPOINT_TIMEOUT:g}")


def _took(doc: dict[str, Any]) -> float:
    """How long the scan took, by its own record (the CLI's start-up not counted)."""
    started = datetime.fromisoformat(doc["started_at"])
    finished = datetime.fromisoformat(doc["finished_at"])
    return (finished - started).total_seconds()


def _check(doc: dict[str, Any]) -> None:
    endpoints = doc["endpoints"]
    assert len(endpoints) == 1
    ep = endpoints[0]
    # What the quick probe saw is kept: the STARTTLS dialogue and the certificate.
    assert ep["failure"] is None, ep["failure"]
    assert ep["tls"] is not None
    assert ep["capabilities_after_tls"], ep
    # One clock: the quick probe (about 4 s) and the enumeration together, not 4 s + 5 s.
    took = _took(doc)
    assert took <= ENDPOINT_TIMEOUT + SLACK, took
    # The enumeration stopped when the endpoint's clock ran out, and says so.
    scan = ep["tls_scan"]
    assert scan is not None and scan["incomplete"], scan
    assert f"longer than {ENDPOINT_TIMEOUT:g} s in all" in scan["incomplete_reason"], scan


def test_a_full_scan_of_a_slow_server_keeps_to_one_endpoint_timeout(tmp_path: Path) -> None:
    server = SlowImap(server_tls_context(tmp_path), DELAY)
    with ThreadedServer(server.serve) as listener:
        target = f"imap://127.0.0.1:{listener.port}"
        proc = vedette("scan", target, "--mode", "full", *LIMITS, "--json", "--no-store")
    assert proc.returncode in (0, 1), proc.stderr
    _check(json.loads(proc.stdout))


def _fleet_scan(tmp_path: Path, *args: str) -> dict[str, Any]:
    """A fleet scan of the slow server with ``args``; its stored report as JSON."""
    server = SlowImap(server_tls_context(tmp_path), DELAY)
    db = f"sqlite:///{tmp_path / 'v.db'}"
    targets = tmp_path / "targets.txt"
    with ThreadedServer(server.serve) as listener:
        targets.write_text(f"imap://127.0.0.1:{listener.port}\n")
        proc = vedette("scan", "--targets", str(targets), *args, *LIMITS, "--db", db, "--quiet")
    assert proc.returncode == 0, proc.stderr
    report = vedette("report", "last", "--json", "--db", db)
    assert report.returncode in (0, 1), report.stderr
    doc: dict[str, Any] = json.loads(report.stdout)
    return doc


def test_a_full_fleet_scan_of_a_slow_server_keeps_to_one_endpoint_timeout(
    tmp_path: Path,
) -> None:
    _check(_fleet_scan(tmp_path, "--mode", "full"))


def test_a_deep_rescan_shares_the_clock_of_the_quick_pass(tmp_path: Path) -> None:
    # --deep with every check: whatever the quick pass finds, the endpoint is re-scanned in
    # full, within what the quick pass (about 4 s) left of its 5 s.
    every = ",".join(sorted(check.id for check in load_checks()))
    doc = _fleet_scan(tmp_path, "--deep", every)
    # One clock: the quick pass (about 4 s) and the deep one together, not 4 s + 4 s + 5 s.
    took = _took(doc)
    assert took <= ENDPOINT_TIMEOUT + SLACK, took
    quick, full = doc["endpoints"]
    assert quick["status"] == "ok" and quick["tls"] is not None, quick
    # The deep pass had about 1 s: it ran out in the dialogue, and is stored saying so.
    assert full["status"] == "timeout", full
    assert f"longer than {ENDPOINT_TIMEOUT:g} s in all" in full["failure"]["detail"], full
