"""`vedette scan` options a user relies on, end to end against the lab and scripted servers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading

import pytest

from tests.cli import run_vedette
from vedette.lab import LabThread


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with LabThread(workdir=tmp_path_factory.mktemp("lab")) as lt:
        yield lt.lab


def vedette(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_vedette(*args, timeout=60, env=env)


def test_resolve_pins_the_address_and_keeps_the_name(lab):
    good = lab.server("imaps-good")
    wrong = lab.server("pop3s-wrong-name")
    proc = vedette(
        "scan",
        "--json",
        "--no-store",
        "--ca",
        str(lab.root_ca_path),
        "--resolve",
        f"lab.vedette.test:{good.port}:127.0.0.1",
        "--resolve",
        "lab.vedette.test:*:127.0.0.1",
        good.target,
        wrong.target,
    )
    doc = json.loads(proc.stdout)
    by_port = {ep["port"]: ep for ep in doc["endpoints"]}
    assert by_port[good.port]["ip"] == "127.0.0.1"
    assert by_port[good.port]["tls"]["sni"] == "lab.vedette.test"
    assert by_port[good.port]["findings"] == []
    assert by_port[wrong.port]["findings"] == ["cert.name-mismatch"]
    assert proc.returncode == 1  # name mismatch is high


def test_bare_host_with_ports_and_service(lab):
    good = lab.server("imaps-good")
    sha1 = lab.server("imaps-sha1")
    proc = vedette(
        "scan",
        "--json",
        "--no-store",
        "--ca",
        str(lab.root_ca_path),
        "--ip",
        "127.0.0.1",
        "--ports",
        f"{good.port},{sha1.port}",
        "--service",
        "imaps",
        "lab.vedette.test",
    )
    doc = json.loads(proc.stdout)
    assert sorted((ep["port"], ep["service"]) for ep in doc["endpoints"]) == sorted(
        [(good.port, "imaps"), (sha1.port, "imaps")]
    )
    assert {f["id"] for f in doc["findings"]} == {"cert.sha1-signature"}


def test_fail_on_threshold(lab):
    soon = lab.server("imaps-sha1")
    base = ["scan", "--no-store", "--ca", str(lab.root_ca_path), "--ip", "127.0.0.1", soon.target]
    assert vedette(*base).returncode == 1  # sha1 is high
    assert vedette(*base, "--fail-on", "critical").returncode == 0


def test_bare_ip_target_has_no_name_checks(lab):
    wrong = lab.server("pop3s-wrong-name")
    proc = vedette(
        "scan",
        "--json",
        "--no-store",
        "--ca",
        str(lab.root_ca_path),
        f"pop3s://127.0.0.1:{wrong.port}",
    )
    doc = json.loads(proc.stdout)
    ep = doc["endpoints"][0]
    assert ep["host"] is None and ep["tls"]["sni"] is None
    assert "cert.name-mismatch" not in ep["findings"]


class _Recorder:
    """A one-shot SMTP server that records the EHLO line and greets with hostile text."""

    GREETING = b"220 evil.test \x1b[2J\x1b]0;pwned\x07 [bold red]markup[/] ESMTP\r\n"

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(self.GREETING)
            while line := await reader.readline():
                self.lines.append(line)
                if line.upper().startswith(b"EHLO"):
                    writer.write(b"250-evil.test\r\n250 8BITMIME\r\n")
                elif line.upper().startswith(b"QUIT"):
                    writer.write(b"221 bye\r\n")
                    break
                else:
                    writer.write(b"502 no\r\n")
                await writer.drain()
            writer.close()

        async def main() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            self.stop = asyncio.Event()
            self.ready.set()
            await self.stop.wait()
            server.close()

        self.loop.run_until_complete(main())
        self.loop.close()

    def __enter__(self) -> _Recorder:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)


def test_ehlo_name_and_terminal_escaping():
    with _Recorder() as rec:
        proc = vedette(
            "scan",
            "--no-store",
            "--ehlo",
            "scanner.example.net",
            f"smtp://127.0.0.1:{rec.port}",
            "-v",  # the greeting is shown with -v
            env={"FORCE_COLOR": "1", "COLUMNS": "200"},
        )
    assert rec.lines[0] == b"EHLO scanner.example.net\r\n"
    out = proc.stdout
    # The server's escape sequences arrive as visible text, never as control bytes.
    assert "\x1b[2J" not in out and "\x1b]0;" not in out and "\x07" not in out
    assert "\\x1b[2J" in out
    assert "[bold red]markup[/]" in out  # rich markup shown literally, not interpreted
    assert "No TLS" in out  # the plain-words finding


def test_a_root_that_only_looks_like_a_certificate_stops_the_scan_with_one_line(lab, tmp_path):
    # --ca is read for shape before the first connection and parsed in full while the probes
    # start: a DER SEQUENCE that is no certificate still ends the scan with a one-line error.
    fake = tmp_path / "fake.der"
    fake.write_bytes(bytes.fromhex("30053003020100"))
    good = lab.server("imaps-good")
    proc = vedette("scan", "--no-store", "--ip", "127.0.0.1", "--ca", str(fake), good.target)
    assert proc.returncode == 2, proc
    assert proc.stderr == f"vedette: error: {fake}: not a PEM or DER certificate\n"
    assert proc.stdout == ""
