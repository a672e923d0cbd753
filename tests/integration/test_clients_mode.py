"""``vedette scan --mode clients`` against real servers (issue 13): at most three connections an
endpoint, and the verdicts of full mode, which real clients confirm (Python's ssl here)."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime

import pytest

from tests.integration.test_tls_enum_driver import CountingRelay
from tests.integration.tls_truth import start_s_server
from vedette.checks import CheckContext
from vedette.checks.matrix import endpoint_matrix
from vedette.model import ClientOutcome, Observation
from vedette.plan import ScanMode
from vedette.scan import ScanOptions, scan
from vedette.tls.registry import TLS10, TLS12, TLS13

PROFILES = ("python-verifying", "android-4.4", "android-11", "java-17", "thunderbird-current")


async def _scan(port: int, mode: ScanMode) -> tuple[Observation, CountingRelay]:
    relay = CountingRelay(port)
    server = await asyncio.start_server(relay.handle, "127.0.0.1", 0)
    relayed = server.sockets[0].getsockname()[1]
    async with server:
        target = f"https://tls.vedette.test:{relayed}"
        (obs,) = await scan([target], ScanOptions(mode=mode, pinned=("127.0.0.1",)))
    return obs, relay


def _handshake(obs: Observation) -> dict[str, ClientOutcome]:
    """Each profile's outcome from the hello side alone (trust is not the question here)."""
    matrix = endpoint_matrix(CheckContext(now=datetime.now(UTC)), obs)
    assert matrix is not None
    out = {}
    for v in matrix.verdicts:
        if v.profile in PROFILES:
            tls = [r.outcome for r in v.reasons if r.code.startswith("tls.")]
            out[v.profile] = min(tls, key=_rank) if tls else ClientOutcome.WORKS
    return out


def _rank(o: ClientOutcome) -> int:
    return {ClientOutcome.FAILS: 0, ClientOutcome.UNKNOWN: 1}.get(o, 2)


def _python_connects(port: int) -> bool:
    """Real CPython (ssl.create_default_context(), as python-verifying), names unchecked."""
    import socket

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
            ctx.wrap_socket(sock, server_hostname="tls.vedette.test"),
        ):
            return True
    except (ssl.SSLError, OSError):
        return False


@pytest.mark.parametrize(
    ("flags", "accepted", "python_works"),
    [
        (("-tls1", "-cipher", "ALL:@SECLEVEL=0"), (TLS10,), False),
        (("-no_tls1_3", "-no_tls1", "-no_tls1_1"), (TLS12,), True),
        (("-no_tls1", "-no_tls1_1"), (TLS12, TLS13), True),
    ],
    ids=["tls1.0-only", "tls1.2-only", "tls1.2+1.3"],
)
def test_clients_mode_decides_like_full_mode_in_three_connections(
    tmp_path, flags, accepted, python_works
):
    server = start_s_server(tmp_path, *flags)
    try:
        clients, relay = asyncio.run(_scan(server.port, ScanMode.CLIENTS))
        full, _ = asyncio.run(_scan(server.port, ScanMode.FULL))
        real = _python_connects(server.port)
    finally:
        server.stop()
    assert relay.total <= 3
    scan_ = clients.tls_scan
    assert scan_ is not None and scan_.incomplete
    assert scan_.connections + 1 == relay.total  # the quick probe's, then the hellos'
    assert scan_.versions == accepted
    verdicts = _handshake(clients)
    assert verdicts == _handshake(full)
    assert set(verdicts) == set(PROFILES)
    assert ClientOutcome.UNKNOWN not in verdicts.values()
    assert real is python_works
    assert (verdicts["python-verifying"] is ClientOutcome.WORKS) is python_works
