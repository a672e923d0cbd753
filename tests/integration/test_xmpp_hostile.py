"""Hostile XMPP servers on loopback against the real CLI: one clear failure, quickly, no trace.

Each server answers vedette's stream header with an XML attack (a billion-laughs DTD, an
external entity, nesting without end, an attribute that never ends) or garbage, then keeps the
connection open: vedette must stop at its first forbidden byte or at its size bound, not wait
for the read deadline, and say so in one failure.
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
from typing import TYPE_CHECKING, ClassVar

import pytest

from tests.cli import run_vedette

if TYPE_CHECKING:
    from collections.abc import Iterator

LAUGHS = (
    b"<?xml version='1.0'?><!DOCTYPE s [<!ENTITY a 'aaaaaaaaaa'>"
    + b"".join(b"<!ENTITY a%d '%s'>" % (i, b"&a;" * 10) for i in range(1, 10))
    + b"]><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>&a9;"
)
XXE = (
    b"<?xml version='1.0'?><!DOCTYPE s [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
    b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>&x;"
)
HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
    b"from='chat.example.test' version='1.0' xmlns='jabber:client'>"
)
ATTACKS = {
    "laughs": (LAUGHS, "protocol-error", "DTD"),
    "xxe": (XXE, "protocol-error", "DTD"),
    "deep": (HEADER + b"<stream:features>" + b"<a>" * 5000, "too-large", "nested deeper"),
    "endless": (HEADER + b"<stream:features x='" + b"A" * 200_000, "too-large", "longer than"),
    "smtp": (b"220 mx.example.test ESMTP\r\n", "not-protocol", "not XMPP"),
}


class _Handler(socketserver.BaseRequestHandler):
    payload: ClassVar[bytes] = b""

    def handle(self) -> None:
        self.request.settimeout(5)
        try:
            self.request.recv(4096)  # vedette's stream header
            self.request.sendall(self.payload)
            time.sleep(3)  # keep the connection open: vedette must not wait for more
        except OSError:
            pass


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, int]]:
    started: list[socketserver.ThreadingTCPServer] = []
    ports: dict[str, int] = {}
    try:
        for name, (payload, _, _) in ATTACKS.items():
            handler = type(f"Send{name.title()}", (_Handler,), {"payload": payload})
            server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
            server.daemon_threads = True
            port = int(server.server_address[1])
            threading.Thread(target=server.serve_forever, daemon=True).start()
            started.append(server)
            ports[name] = port
        yield ports
    finally:
        for server in started:
            server.shutdown()
            server.server_close()


@pytest.mark.parametrize("name", list(ATTACKS))
def test_a_hostile_xmpp_server_is_one_clear_failure(servers: dict[str, int], name: str) -> None:
    _, kind, words = ATTACKS[name]
    port = servers[name]
    started = time.monotonic()
    proc = run_vedette(
        "scan",
        f"xmpp://chat.example.test:{port}",
        "--ip",
        "127.0.0.1",
        "--json",
        "--no-store",
        "--mode",
        "quick",
        "--read-timeout",
        "20",
        timeout=120,
    )
    elapsed = time.monotonic() - started
    (endpoint,) = json.loads(proc.stdout)["endpoints"]
    assert endpoint["failure"]["kind"] == kind, endpoint
    assert words in endpoint["failure"]["detail"]
    assert endpoint["capabilities_before_tls"] is None
    # Not the 20 s read deadline: the dialogue stops at the forbidden byte (hang detector).
    assert elapsed < 15, elapsed
