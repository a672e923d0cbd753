"""Export suites, DEFLATE and missing renegotiation_info, from scripted 0.9.8/1.0.1 flights.

The peer (tests/integration/legacy_tls_peer.py) writes its ServerHellos by hand, in front of a
real ``openssl s_server`` that serves the quick probe and every TLS 1.3 hello.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.legacy_tls_peer import (
    TLS_RSA_EXPORT_WITH_DES40_CBC_SHA,
    TLS_RSA_EXPORT_WITH_RC4_40_MD5,
    TLS_RSA_WITH_AES_128_CBC_SHA,
    TLS_RSA_WITH_AES_256_CBC_SHA,
    Behaviour,
    running_peer,
)
from tests.integration.tls_truth import start_s_server

OURS = {"tls.export-suites", "tls.compression", "tls.insecure-renegotiation"}


def full_scan(port: int) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable, "-m", "vedette", "scan", "--mode", "full", "--json", "--no-store",
            "--ip", "127.0.0.1", f"https://tls.vedette.test:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def found(doc: dict[str, Any]) -> set[str]:
    return {f["id"] for f in doc["findings"]} & OURS


def tls12_suites(doc: dict[str, Any]) -> list[int]:
    (ep,) = doc["endpoints"]
    (row,) = [r for r in ep["tls_scan"]["suites"] if r["version"] == "TLSv1.2"]
    return [s["code"] for s in row["suites"]]


CASES = {
    # An 0.9.8 server with the default "ALL" list and its FREAK-era export preference.
    "export": (
        Behaviour(
            prefer=(
                TLS_RSA_EXPORT_WITH_RC4_40_MD5,
                TLS_RSA_EXPORT_WITH_DES40_CBC_SHA,
                TLS_RSA_WITH_AES_256_CBC_SHA,
            )
        ),
        {"tls.export-suites"},
    ),
    # A 1.0.1 server built with zlib: takes DEFLATE whenever the client offers it (CRIME).
    "deflate": (
        Behaviour(prefer=(TLS_RSA_WITH_AES_256_CBC_SHA,), deflate=True),
        {"tls.compression"},
    ),
    # An 0.9.8k server (before 0.9.8m): no extensions in its ServerHello at all.
    "no-reneg": (
        Behaviour(prefer=(TLS_RSA_WITH_AES_128_CBC_SHA,), reneg=False),
        {"tls.insecure-renegotiation"},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_scripted_legacy_server_findings(tmp_path: Path, case: str) -> None:
    behaviour, expected = CASES[case]
    server = start_s_server(tmp_path)
    try:
        with running_peer(server.port, behaviour) as peer:
            doc = full_scan(peer.port)
        assert peer.scripted > 0  # the scripted flights were what vedette read
        assert found(doc) == expected, json.dumps(doc["findings"], indent=1)
        # Exactly the scripted suites, in the scripted order, for TLS 1.2.
        assert tls12_suites(doc) == list(behaviour.prefer)
    finally:
        server.stop()


def test_modern_s_server_has_none_of_these(tmp_path: Path) -> None:
    server = start_s_server(tmp_path)
    try:
        doc = full_scan(server.port)
        assert found(doc) == set()
        assert doc["endpoints"][0]["tls_scan"] is not None
    finally:
        server.stop()
