"""What TLS 1.3 encrypts, against OpenSSL's s_server: key schedule, signature schemes, OCSP
staples, resumption.

* The key schedule: for the same connection, vedette's server handshake traffic secret must
  equal the ``SERVER_HANDSHAKE_TRAFFIC_SECRET`` line s_server writes with ``-keylogfile``.
* TLS 1.3 signature schemes: equal to ``openssl s_client -tls1_3 -sigalgs X`` asked one at a
  time (``tls_truth.Truth.sigalgs13``).
* OCSP stapling: the response is made by ``openssl ocsp`` from an index file (an independent
  producer) and served with ``-status_file``, in TLS 1.2 and TLS 1.3.
* TLS 1.3 resumption: s_server's default tickets resume; ``-num_tickets 0`` issues none.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_tls_enum_openssl import enumerate_port
from tests.integration.tls_truth import Truth, free_port, openssl, start_s_server
from vedette.model import Endpoint, Service
from vedette.probe.enumerate import RetryPolicy, enumerate_endpoint
from vedette.probe.limits import Limits
from vedette.probe.resumption import probe_resumption_tls13
from vedette.tls.hello import ClientHelloSpec
from vedette.tls.registry import all_sigalgs
from vedette.tls.result import TlsScan, staple_info
from vedette.tls.tls13 import Tls13Client


def handshake(port: int, suite: int, group: int) -> Tls13Client:
    spec = ClientHelloSpec(
        version=0x0304,
        suites=(suite,),
        groups=(group,),
        sigalgs=all_sigalgs(),
        sni="tls.vedette.test",
        random=os.urandom(32),
    )
    client = Tls13Client(spec)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(client.hello_bytes())
        while not client.done:
            data = s.recv(65536)
            if not data:
                break
            client.receive_data(data)
    assert client.done
    return client


CCM = ("-ciphersuites", "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256")


@pytest.mark.parametrize(
    ("suite", "group", "flags"),
    [
        (0x1301, 0x001D, ()),  # AES-128-GCM, X25519
        (0x1302, 0x0017, ()),  # AES-256-GCM, P-256
        (0x1303, 0x001D, ()),  # ChaCha20-Poly1305
        (0x1301, 0x0018, ()),  # P-384
        (0x1301, 0x001E, ()),  # X448
        (0x1304, 0x0019, CCM),  # AES-128-CCM, P-521
        (0x1305, 0x001D, CCM),  # AES-128-CCM-8
    ],
)
def test_server_handshake_secret_equals_openssl_keylog(tmp_path, suite, group, flags):
    keylog = tmp_path / "keys.log"
    server = start_s_server(tmp_path, "-keylogfile", str(keylog), *flags)
    try:
        client = handshake(server.port, suite, group)
        spec_random = client.client_random.hex()
    finally:
        server.stop()
    lines = {
        tuple(line.split()[1:3])
        for line in keylog.read_text().splitlines()
        if line.startswith("SERVER_HANDSHAKE_TRAFFIC_SECRET ")
    }
    assert (spec_random, client.server_handshake_traffic_secret.hex()) in lines
    answer = client.answer()
    assert answer.hello is not None and (answer.hello.suite, answer.hello.group) == (suite, group)
    flight = answer.tls13
    assert flight is not None and flight.finished  # the Finished MAC verified
    assert flight.sigalg in (0x0804, 0x0805, 0x0806)  # an RSA key: RSA-PSS in TLS 1.3
    assert len(flight.certificates) == 1 and flight.ocsp_response is None


@pytest.mark.parametrize(
    ("sigalgs", "ecdsa", "expected"),
    [
        ("rsa_pss_rsae_sha256:rsa_pss_rsae_sha384", False, {0x0804, 0x0805}),
        ("ecdsa_secp256r1_sha256:rsa_pss_rsae_sha512", True, {0x0403, 0x0806}),
    ],
)
def test_tls13_signature_schemes_match_s_client(tmp_path, sigalgs, ecdsa, expected):
    server = start_s_server(tmp_path, "-sigalgs", sigalgs, ecdsa=ecdsa)
    try:
        scan, _ = enumerate_port(server.port)
        truth = Truth(server.port).sigalgs13()
    finally:
        server.stop()
    assert not scan.incomplete, scan.incomplete_reason
    assert truth == expected
    assert set(scan.sigalgs_tls13) == truth
    assert len(scan.sigalgs_tls13) == len(truth)  # each learnt once, in pick order
    if ecdsa:  # the server picks its certificate by the schemes offered: both leaves seen
        assert len(scan.leaf_certificates) == 2
    # No -status_file: nothing stapled, in either version.
    assert scan.ocsp_staple_tls13 is False and scan.ocsp_staple_tls12 is False
    assert scan.ocsp_response is None
    assert scan.resumption_tls13 is True  # s_server issues tickets by default


def test_tls13_signature_schemes_after_a_hello_retry_for_p384(tmp_path):
    # The server takes neither default share (X25519, P-256): it asks for P-384 by
    # HelloRetryRequest, and the schemes are learnt on connections offering P-384 alone.
    server = start_s_server(tmp_path, "-groups", "P-384", "-sigalgs", "rsa_pss_rsae_sha384")
    try:
        scan, _ = enumerate_port(server.port)
    finally:
        server.stop()
    assert not scan.incomplete, scan.incomplete_reason
    assert scan.groups == (0x0018,)
    assert scan.sigalgs_tls13 == (0x0805,)


def test_a_server_whose_only_group_is_not_computed_is_marked_incomplete(tmp_path):
    server = start_s_server(tmp_path, "-groups", "ffdhe2048")
    try:
        scan, _ = enumerate_port(server.port)
    finally:
        server.stop()
    assert scan.sigalgs_tls13 == ()
    assert scan.incomplete
    assert "TLS 1.3 signature schemes: the server's groups (0x0100) are not computed here" in (
        scan.incomplete_reason or ""
    )


def run(*args: str, cwd: Path) -> None:
    subprocess.run([openssl(), *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def ocsp_pki(tmp: Path, *, revoked: bool = False) -> Path:
    """A CA, a leaf it issued and a stapled OCSP response, all by the openssl command line."""
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-subj", "/CN=OCSP test CA", "-days", "30",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", cwd=tmp)  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
        "-subj", "/CN=tls.vedette.test", cwd=tmp)  # fmt: skip
    run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-set_serial", "4660", "-days", "7", "-out", "leaf.pem", cwd=tmp)  # fmt: skip
    (tmp / "leaf.key").chmod(0o600)
    expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).strftime("%y%m%d%H%M%SZ")
    when = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%y%m%d%H%M%SZ")
    row = ["R", expiry, when] if revoked else ["V", expiry, ""]
    (tmp / "index.txt").write_text(
        "\t".join([*row, "1234", "unknown", "/CN=tls.vedette.test"]) + "\n"
    )
    run("ocsp", "-issuer", "ca.pem", "-cert", "leaf.pem", "-no_nonce", "-reqout", "req.der",
        cwd=tmp)  # fmt: skip
    run("ocsp", "-index", "index.txt", "-rsigner", "ca.pem", "-rkey", "ca.key", "-CA", "ca.pem",
        "-reqin", "req.der", "-respout", "resp.der", "-ndays", "7", cwd=tmp)  # fmt: skip
    return tmp / "resp.der"


def start_stapling_server(
    tmp: Path, *flags: str, revoked: bool = False
) -> tuple[int, subprocess.Popen[bytes]]:
    resp = ocsp_pki(tmp, revoked=revoked)
    port = free_port()
    proc = subprocess.Popen(
        [openssl(), "s_server", "-accept", f"127.0.0.1:{port}", "-www", "-quiet",
         "-cert", str(tmp / "leaf.pem"), "-key", str(tmp / "leaf.key"),
         "-cert_chain", str(tmp / "ca.pem"), "-status_file", str(resp), *flags],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("s_server -status_file did not start")
            time.sleep(0.05)
    return port, proc


def test_ocsp_staple_in_tls12_and_tls13_and_no_tls13_resumption_without_tickets(tmp_path):
    port, proc = start_stapling_server(tmp_path, "-num_tickets", "0", revoked=True)
    try:
        scan, _ = enumerate_port(port)
    finally:
        proc.terminate()
        proc.wait(5)
    assert scan.ocsp_staple_tls12 is True and scan.ocsp_staple_tls13 is True
    assert scan.ocsp_response == (tmp_path / "resp.der").read_bytes()  # the DER served
    info = staple_info(scan.ocsp_response)
    assert info is not None and info.cert_status == "revoked"
    assert scan.resumption_tls13 is False  # -num_tickets 0: no ticket, nothing to resume
    assert scan.resumption is True  # TLS 1.2 session tickets are unaffected


def test_cli_json_and_terminal_show_tls13_facts(tmp_path):
    port, proc = start_stapling_server(tmp_path)
    db = f"sqlite:///{tmp_path / 'scans.db'}"
    target = f"https://tls.vedette.test:{port}"
    try:
        r = subprocess.run(
            [sys.executable, "-m", "vedette", "scan", "--json", "--db", db,
             "--ip", "127.0.0.1", target],
            capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
        text = subprocess.run(
            # -v: the enumeration's details (sigalgs, stapling, features) are verbose-only.
            [sys.executable, "-m", "vedette", "report", "last", "--db", db, "-v"],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "COLUMNS": "200"},
        ).stdout  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(5)
    assert "Traceback" not in r.stderr
    tls = json.loads(r.stdout)["endpoints"][0]["tls_scan"]
    names = {s["name"] for s in tls["sigalgs_tls13"]}
    assert names and all(n.startswith("RSA_PSS_RSAE_") for n in names), names
    assert tls["ocsp_staple_tls12"] is True and tls["ocsp_staple_tls13"] is True
    staple = tls["ocsp_staple"]
    assert staple["response_status"] == "successful" and staple["cert_status"] == "good"
    next_update = dt.datetime.fromisoformat(staple["next_update"])
    assert dt.timedelta(days=6) < next_update - dt.datetime.now(dt.UTC) <= dt.timedelta(days=7)
    assert tls["resumption"] is True and tls["resumption_tls13"] is True
    assert f"TLS 1.3 good, next update {next_update:%Y-%m-%d}" in text
    assert (
        "Sigalgs (1.3):    RSA_PSS_RSAE_SHA256" in text
        and "session resumption (TLS 1.3) yes" in text
    )


def test_tls13_resumption_probe_counts_its_connections(tmp_path):
    server = start_s_server(tmp_path)
    ep = Endpoint(host="tls.vedette.test", ip="127.0.0.1", port=server.port, service=Service.HTTPS)
    try:
        resumed, used = asyncio.run(probe_resumption_tls13(ep, Limits(), "vedette.invalid"))
    finally:
        server.stop()
    assert (resumed, used) == (True, 2)


# --- a hostile TLS 1.3 server: a good ServerHello, then garbage or silence ------------------


def _fake_tls13(after_hello: str):
    from vedette.tls.hello import parse_client_hello

    hrr_random = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

    def server_hello(random: bytes, suite: int, key_share: bytes) -> bytes:
        exts = b"\x00\x2b\x00\x02\x03\x04" + b"\x00\x33" + len(key_share).to_bytes(2, "big")
        exts += key_share
        body = b"\x03\x03" + random + b"\x00" + suite.to_bytes(2, "big") + b"\x00"
        body += len(exts).to_bytes(2, "big") + exts
        msg = b"\x02" + len(body).to_bytes(3, "big") + body
        return b"\x16\x03\x03" + len(msg).to_bytes(2, "big") + msg

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            head = await r.readexactly(5)
            record = await r.readexactly(int.from_bytes(head[3:5], "big"))
            hello = parse_client_hello(record)
            versions = hello.extension(43) or b""
            suites = [s for s in hello.suites if s in (0x1301, 0x1302, 0x1303)]
            if b"\x03\x04" not in versions or not suites:
                w.write(b"\x15\x03\x03\x00\x02\x02\x28")  # handshake_failure
                return
            shares = hello.extension(51) or b"\x00\x00"
            if b"\x00\x1d\x00\x20" not in shares[2:6]:
                w.write(server_hello(hrr_random, suites[0], b"\x00\x1d"))
                return
            w.write(server_hello(os.urandom(32), suites[0], b"\x00\x1d\x00\x20" + bytes([9] * 32)))
            if after_hello == "garbage":
                w.write(b"\x17\x03\x03\x00\x40" + os.urandom(64))
            await w.drain()
            await asyncio.sleep(30)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            w.close()

    return handle


@pytest.mark.parametrize("after_hello", ["garbage", "silence"])
def test_a_tls13_server_whose_encrypted_flight_is_bad_leaves_the_scan_incomplete(after_hello):
    async def scan_it() -> tuple[TlsScan, float]:
        server = await asyncio.start_server(_fake_tls13(after_hello), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            ep = Endpoint(host="tls.vedette.test", ip="127.0.0.1", port=port, service=Service.HTTPS)
            t0 = time.monotonic()
            policy = RetryPolicy(hello_timeout=0.5)
            result = await enumerate_endpoint(ep, limits=Limits(endpoint_timeout=20), policy=policy)
            return result, time.monotonic() - t0

    scan, elapsed = asyncio.run(scan_it())
    assert scan.versions == (0x0304,)
    assert scan.sigalgs_tls13 == ()
    assert scan.incomplete
    reason = scan.incomplete_reason or ""
    assert "TLS 1.3 signature schemes: its encrypted flight could not be read" in reason
    assert elapsed < 10
