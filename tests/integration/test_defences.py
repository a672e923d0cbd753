"""Mail-server defences met by a scan: classified, shown, and never taken for refusals.

A scripted SMTP server (tests/integration/scripted.py: 421 after N connections, a slow
greeting, 451 4.7.1 greylisting) runs STARTTLS with Python's ``ssl`` (OpenSSL), so the TLS
enumeration meets a real TLS stack behind the defence.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys

import pytest

from tests.integration.scripted import SmtpFront, ThreadedServer, server_tls_context
from vedette.model import DefenceKind, Endpoint, Service
from vedette.probe.enumerate import RetryPolicy, enumerate_defended

FAST = ["--connect-timeout", "2", "--read-timeout", "5", "--endpoint-timeout", "40"]


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return server_tls_context(tmp_path_factory.mktemp("defences"))


def vedette_json(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "vedette", "scan", "--json", "--no-store", *FAST, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def vedette_text(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "vedette", "scan", "--no-store", *FAST, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"},
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


async def _enumerate(front: SmtpFront, policy: RetryPolicy):
    server = await asyncio.start_server(front.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        ep = Endpoint(host="tls.vedette.test", ip="127.0.0.1", port=port, service=Service.SMTP)
        return await enumerate_defended(ep, policy=policy)


def test_421_for_ever_after_n_connections_is_rate_limited_and_incomplete(tls):
    front = SmtpFront(tls, refuse_after=20)
    scan, defences = asyncio.run(_enumerate(front, RetryPolicy(attempts=2, budget=4, backoff=0.05)))
    assert scan.incomplete
    (d,) = defences
    assert d.kind is DefenceKind.RATE_LIMITED
    assert d.evidence.startswith("421 4.7.0 mx.example.test Error: too many connections")
    # Connections run four at once: the first 421 may end before the last served dialogues.
    assert 20 - 4 <= d.after <= 20
    # Every refused hello is counted; the resumption probe's two connections are not classified.
    assert front.refused - 2 <= d.hits <= front.refused


def test_a_passing_rate_limit_is_recorded_and_the_answer_is_still_exact(tls):
    direct, none = asyncio.run(_enumerate(SmtpFront(tls), RetryPolicy()))
    assert not direct.incomplete and none == ()
    front = SmtpFront(tls, refuse_after=15, refuse_for=0.6)
    scan, defences = asyncio.run(_enumerate(front, RetryPolicy(attempts=6, budget=200)))
    assert not scan.incomplete, scan.incomplete_reason
    assert scan.versions == direct.versions
    assert {v: set(scan.suites_for(v)) for v in scan.versions} == {
        v: set(direct.suites_for(v)) for v in direct.versions
    }
    assert [d.kind for d in defences] == [DefenceKind.RATE_LIMITED]
    assert 0 < front.refused - 2 <= defences[0].hits <= front.refused


def test_cli_says_who_stopped_the_enumeration(tls):
    front = SmtpFront(tls, refuse_after=12)
    with ThreadedServer(front.handle) as server:
        doc = vedette_json(f"smtp://127.0.0.1:{server.port}")
    (ep,) = doc["endpoints"]
    assert ep["status"] == "ok"  # the quick probe got through
    assert ep["tls_scan"]["incomplete"] is True
    (d,) = ep["defences"]
    assert d["kind"] == "rate-limited"
    assert d["evidence"].startswith("421 4.7.0")
    assert d["summary"].startswith("the server rate-limited the scanner (421 4.7.0")
    assert "endpoint.defended" in ep["findings"]
    (finding,) = [f for f in doc["findings"] if f["id"] == "endpoint.defended"]
    assert finding["severity"] == "info"
    assert "suites not seen may still be accepted" in finding["detail"]

    front = SmtpFront(tls, refuse_after=12)
    with ThreadedServer(front.handle) as server:
        text = vedette_text(f"smtp://127.0.0.1:{server.port}")
    assert re.search(
        r"INCOMPLETE: the server rate-limited the scanner \(421 4\.7\.0 mx\.example\.test Error: "
        r"too many connections from 127\.0\.0\.1\) after \d+ connections.*; suites not seen may "
        r"still be accepted",
        text,
    ), text
    assert "Defence:" in text


def test_slow_greeting_is_a_tarpit():
    front = SmtpFront(greeting_delay=3.4)
    with ThreadedServer(front.handle) as server:
        doc = vedette_json("--mode", "quick", f"smtp://127.0.0.1:{server.port}")
    (ep,) = doc["endpoints"]
    (d,) = ep["defences"]
    assert d["kind"] == "tarpit"
    took = re.fullmatch(r"the greeting took (\d+\.\d) s", d["evidence"])
    assert took is not None and float(took.group(1)) >= 3.3, d  # a loaded machine adds, never less
    assert "endpoint.defended" in ep["findings"]


def test_451_greylisting_is_greylisted_not_refused():
    front = SmtpFront(greylist_first=10)
    with ThreadedServer(front.handle) as server:
        doc = vedette_json("--mode", "quick", f"smtp://127.0.0.1:{server.port}")
    (ep,) = doc["endpoints"]
    assert ep["status"] == "unavailable"
    (d,) = ep["defences"]
    assert d["kind"] == "greylisted"
    assert d["evidence"] == "451 4.7.1 Greylisting in action, please come back later"
    assert "endpoint.defended" in ep["findings"]
    assert "endpoint.unavailable" not in ep["findings"]
