"""A hostile or broken server gets a clear status, within its timeouts, and the scan goes on.

Each test runs the real CLI against one misbehaving server (tests/integration/scripted.py) and
asserts the status a user sees, the absence of a traceback, and a wall-time bound.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time

import pytest

from tests.cli import run_vedette
from tests.integration.scripted import ScriptedServers

FAST = ["--connect-timeout", "1", "--read-timeout", "1.5", "--endpoint-timeout", "6"]


@pytest.fixture(scope="module")
def servers():
    with ScriptedServers(dns_records={"known.vedette.test": "127.0.0.1"}) as s:
        yield s


def vedette(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    proc = run_vedette(*args, timeout=timeout)
    return proc, time.monotonic() - t0


def scan_json(*args: str) -> tuple[dict, int, float]:
    proc, elapsed = vedette("scan", "--json", "--no-store", *FAST, *args)
    return json.loads(proc.stdout), proc.returncode, elapsed


def only_endpoint(doc: dict) -> dict:
    assert len(doc["endpoints"]) == 1
    return doc["endpoints"][0]


def test_endless_line_is_cut_at_the_line_bound(servers):
    doc, rc, elapsed = scan_json(f"smtp://127.0.0.1:{servers.ports['endless_line']}")
    ep = only_endpoint(doc)
    assert ep["status"] == "too-large"
    assert rc == 2  # nothing could be scanned
    assert elapsed < 10


def test_binary_garbage_is_not_the_protocol(servers):
    doc, rc, elapsed = scan_json(f"imap://127.0.0.1:{servers.ports['garbage']}")
    assert only_endpoint(doc)["status"] == "not-protocol"
    assert "endpoint.not-protocol" in only_endpoint(doc)["findings"]
    assert elapsed < 10


def test_close_mid_dialogue_keeps_the_greeting(servers):
    doc, rc, elapsed = scan_json(f"smtp://127.0.0.1:{servers.ports['close_mid_dialogue']}")
    ep = only_endpoint(doc)
    assert ep["status"] == "closed"
    assert ep["greeting"] == ["220 mx.example.test ESMTP"]
    assert "endpoint.protocol-error" in ep["findings"]
    assert elapsed < 10


def test_plaintext_answer_to_client_hello(servers):
    doc, rc, elapsed = scan_json(f"imaps://127.0.0.1:{servers.ports['plaintext_to_hello']}")
    ep = only_endpoint(doc)
    assert ep["status"] == "tls-error"
    assert ep["failure"]["stage"] == "tls-handshake"
    assert "not TLS" in ep["failure"]["detail"]
    assert "tls.handshake-failed" in ep["findings"]
    assert elapsed < 10


def test_byte_by_byte_tarpit_hits_the_reply_deadline(servers):
    doc, rc, elapsed = scan_json(f"smtp://127.0.0.1:{servers.ports['byte_by_byte']}")
    ep = only_endpoint(doc)
    assert ep["status"] == "timeout"
    assert ep["failure"]["stage"] == "greeting"
    (defence,) = ep["defences"]
    assert defence["kind"] == "tarpit"
    assert re.fullmatch(r"\d+ byte\(s\) of the greeting trickled, then no end", defence["evidence"])
    assert elapsed < 8  # 1.5 s reply deadline, not 0.3 s per byte forever


def test_silent_server_times_out(servers):
    doc, rc, elapsed = scan_json(f"pop3://127.0.0.1:{servers.ports['silent']}")
    assert only_endpoint(doc)["status"] == "timeout"
    assert only_endpoint(doc)["defences"] == []  # one silent connection: no proof of a tarpit
    assert elapsed < 8


def test_refused_connection():
    with socket.socket() as s:  # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    doc, rc, elapsed = scan_json(f"imaps://127.0.0.1:{port}")
    ep = only_endpoint(doc)
    assert ep["status"] == "refused"
    assert "endpoint.unreachable" in ep["findings"]
    assert rc == 2
    assert elapsed < 8


def test_421_too_many_connections_is_a_rate_limit_not_a_refusal(servers):
    doc, rc, elapsed = scan_json(f"smtp://127.0.0.1:{servers.ports['busy_421']}")
    ep = only_endpoint(doc)
    assert ep["status"] == "unavailable"
    (defence,) = ep["defences"]
    assert defence["kind"] == "rate-limited"
    assert defence["evidence"] == (
        "421 4.7.0 mx.example.test Error: too many connections from 127.0.0.1"
    )
    assert "endpoint.defended" in ep["findings"]
    assert "endpoint.unavailable" not in ep["findings"]
    assert elapsed < 8


def test_554_greeting_is_unavailable_and_no_defence(servers):
    doc, rc, elapsed = scan_json(f"smtp://127.0.0.1:{servers.ports['blocked_554']}")
    ep = only_endpoint(doc)
    assert ep["status"] == "unavailable"
    assert ep["defences"] == []
    assert "endpoint.unavailable" in ep["findings"]
    assert elapsed < 8


def test_http_on_an_imap_port(servers):
    doc, rc, elapsed = scan_json(f"imap://127.0.0.1:{servers.ports['http_on_imap']}")
    assert only_endpoint(doc)["status"] == "not-protocol"
    assert elapsed < 8


def test_unknown_host_through_the_loopback_resolver(servers):
    doc, rc, elapsed = scan_json(
        "--resolver", f"127.0.0.1:{servers.dns_port}", "imaps://nowhere.vedette.test"
    )
    ep = only_endpoint(doc)
    assert ep["status"] == "resolve"
    assert "NXDOMAIN" in ep["failure"]["detail"]
    assert "endpoint.resolve-failed" in ep["findings"]
    assert rc == 2
    assert elapsed < 8


def test_one_bad_endpoint_does_not_stop_the_others(servers):
    doc, rc, elapsed = scan_json(
        f"smtp://127.0.0.1:{servers.ports['endless_line']}",
        f"imap://127.0.0.1:{servers.ports['garbage']}",
        f"smtp://127.0.0.1:{servers.ports['byte_by_byte']}",
        "--resolver",
        f"127.0.0.1:{servers.dns_port}",
        f"smtp://known.vedette.test:{servers.ports['close_mid_dialogue']}",
    )
    statuses = sorted(ep["status"] for ep in doc["endpoints"])
    assert statuses == ["closed", "not-protocol", "timeout", "too-large"]
    named = [ep for ep in doc["endpoints"] if ep["host"] == "known.vedette.test"]
    assert named and named[0]["ip"] == "127.0.0.1"
    assert elapsed < 10  # concurrent: the slowest, not the sum


@pytest.mark.parametrize(
    "argv",
    [
        ["scan"],
        ["scan", "ftp://example.com"],
        ["scan", "--ports", "99999", "example.com"],
        ["scan", "--resolve", "nonsense", "example.com"],
        ["scan", "--ip", "not-an-ip", "example.com"],
        ["scan", "--fail-on", "severe", "example.com"],
        ["scan", "--connect-timeout", "-1", "example.com"],
        ["scan", "--ehlo", "two words", "example.com"],
        ["scan", "--ca", "/nonexistent/root.pem", "--ip", "127.0.0.1", "example.com"],
        ["report", "not-a-number", "--db", "sqlite://"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(argv):
    proc, elapsed = vedette(*argv)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("vedette: ")
    assert elapsed < 10
