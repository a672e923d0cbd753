"""Against a real, independent TLS server: OpenSSL's s_server with one protocol version."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time

import pytest

from tests.tools import require_program
from vedette.pki.ca import CertificateAuthority


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def s_server(tmp_path, *flags: str):
    openssl = require_program("openssl")
    root = CertificateAuthority.create_root("s_server test root")
    leaf = root.issue_server(["tls.vedette.test"], key_spec="rsa:2048")
    (tmp_path / "root.pem").write_bytes(root.issued.cert_pem())
    (tmp_path / "cert.pem").write_bytes(leaf.cert_pem())
    (tmp_path / "key.pem").write_bytes(leaf.key_pem())
    port = _free_port()
    proc = subprocess.Popen(
        [
            openssl,
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-www",
            "-quiet",
            "-cert",
            str(tmp_path / "cert.pem"),
            "-key",
            str(tmp_path / "key.pem"),
            "-cipher",
            "ALL:@SECLEVEL=0",
            *flags,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("openssl s_server did not start")
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


def scan(port: int, tmp_path) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vedette",
            "scan",
            "--mode",
            "quick",  # one handshake: these tests pin the quick probe's rules
            "--json",
            "--no-store",
            "--ca",
            str(tmp_path / "root.pem"),
            "--ip",
            "127.0.0.1",
            f"https://tls.vedette.test:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize(("flag", "version"), [("-tls1", "TLSv1"), ("-tls1_1", "TLSv1.1")])
def test_legacy_only_server_is_reported(tmp_path, flag, version):
    with s_server(tmp_path, flag) as port:
        doc = scan(port, tmp_path)
    ep = doc["endpoints"][0]
    assert ep["tls"]["version"] == version
    old = [f for f in doc["findings"] if f["id"] == "tls.old-version"]
    assert len(old) == 1 and old[0]["severity"] == "high"
    assert version in old[0]["detail"]


def test_modern_server_is_clean(tmp_path):
    with s_server(tmp_path, "-tls1_2") as port:
        doc = scan(port, tmp_path)
    ep = doc["endpoints"][0]
    assert ep["tls"]["version"] == "TLSv1.2"
    assert ep["findings"] == []
