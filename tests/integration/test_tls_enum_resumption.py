"""Session resumption against openssl s_server, with and without tickets and a session cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.tls_truth import start_s_server
from vedette.model import Endpoint, Service
from vedette.probe.enumerate import RetryPolicy, enumerate_endpoint


@pytest.mark.parametrize(
    ("flags", "resumed"),
    [
        ((), True),  # tickets and a session-id cache
        (("-no_ticket",), True),  # session ids only
        (("-no_ticket", "-no_cache"), False),  # nothing to resume with
    ],
)
def test_resumption_as_s_server_allows(
    tmp_path: Path, flags: tuple[str, ...], resumed: bool
) -> None:
    server = start_s_server(tmp_path, "-max_protocol", "TLSv1.2", *flags)
    try:
        ep = Endpoint(
            host="tls.vedette.test", ip="127.0.0.1", port=server.port, service=Service.HTTPS
        )
        scan = asyncio.run(enumerate_endpoint(ep, policy=RetryPolicy(hello_timeout=3)))
        assert scan.resumption is resumed
        assert scan.session_ticket is (not flags)
    finally:
        server.stop()
