"""The TLS enumeration against OpenSSL's s_server, compared with s_client item by item."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.integration.tls_truth import GROUPS, Truth, openssl_ciphers, start_s_server
from vedette.model import Endpoint, Service
from vedette.pki.ca import CertificateAuthority
from vedette.probe.enumerate import RetryPolicy, enumerate_endpoint
from vedette.tls.result import TlsScan

TLS10, TLS11, TLS12, TLS13 = 0x0301, 0x0302, 0x0303, 0x0304


def enumerate_port(port: int) -> tuple[TlsScan, float]:
    ep = Endpoint(host="tls.vedette.test", ip="127.0.0.1", port=port, service=Service.HTTPS)
    t0 = time.monotonic()
    scan = asyncio.run(enumerate_endpoint(ep, policy=RetryPolicy(hello_timeout=3)))
    return scan, time.monotonic() - t0


def test_wide_legacy_server_matches_s_client(tmp_path):
    # Debian's OpenSSL 3 at security level 0: TLS 1.0 to 1.3, NULL, anonymous and static-RSA
    # suites, DH auto-sized per suite; no server order.
    server = start_s_server(
        tmp_path, "-cipher", "ALL:COMPLEMENTOFALL:@SECLEVEL=0", "-min_protocol", "TLSv1"
    )
    try:
        scan, elapsed = enumerate_port(server.port)
        truth = Truth(server.port)
        assert not scan.incomplete, scan.incomplete_reason
        assert set(scan.versions) == truth.versions() == {TLS10, TLS11, TLS12, TLS13}
        for version in (TLS10, TLS11, TLS12, TLS13):
            expected = truth.suites(version)
            assert set(scan.suites_for(version)) == expected, hex(version)
            assert len(scan.suites_for(version)) == len(expected)  # no suite twice
        assert set(scan.groups) == truth.groups13()
        assert set(scan.dh_bits) == truth.dh_bits(TLS12, set(scan.suites_for(TLS12)))
        assert set(scan.sigalgs) == truth.sigalgs12()
        assert len(scan.sigalgs) == len(set(scan.sigalgs)) >= 4  # PKCS#1 and PSS, 3 hashes+
        assert all(vs.server_order is False for vs in scan.suites)
        assert scan.secure_renegotiation is True
        assert scan.fallback_scsv is True
        assert scan.compression is False
        # About one connection per accepted suite and version, not one per registry entry.
        accepted = sum(len(vs.suites) for vs in scan.suites)
        # TLS 1.3 adds one decrypted flight per signature scheme plus the refusal, and two
        # connections for resumption.
        tls13 = len(scan.sigalgs_tls13) + 1 + 2
        assert scan.sigalgs_tls13
        assert scan.connections <= accepted + tls13 + 40
        assert elapsed < 10
    finally:
        server.stop()


def test_server_order_groups_and_dual_certificates(tmp_path):
    cipher = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE+AESGCM:DHE+AES256:AES128-SHA:@SECLEVEL=0"
    tls13 = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
    server = start_s_server(
        tmp_path,
        "-cipher",
        cipher,
        "-ciphersuites",
        tls13,
        "-serverpref",
        "-groups",
        "X448:P-256:ffdhe3072",
        "-min_protocol",
        "TLSv1.2",
        ecdsa=True,
    )
    try:
        scan, _ = enumerate_port(server.port)
        truth = Truth(server.port)
        assert not scan.incomplete, scan.incomplete_reason
        assert set(scan.versions) == truth.versions() == {TLS12, TLS13}
        expected12 = truth.suites(TLS12)
        assert set(scan.suites_for(TLS12)) == expected12
        # The server's order is its cipher string's order (openssl ciphers says which).
        configured = [c for c, _ in openssl_ciphers(cipher, "-tls1_2") if c in expected12]
        assert list(scan.suites_for(TLS12)) == configured
        assert list(scan.suites_for(TLS13)) == [0x1303, 0x1302]
        assert all(vs.server_order is True for vs in scan.suites)
        assert set(scan.groups) == truth.groups13() == {GROUPS["X448"], 23, 257}
        assert scan.groups_tls12 == (GROUPS["X448"], 23)  # in the server's order
        assert set(scan.dh_bits) == truth.dh_bits(TLS12, expected12)
        assert len(scan.leaf_certificates) == 2  # an RSA and an ECDSA certificate
        assert set(scan.sigalgs) == truth.sigalgs12()  # RSA and ECDSA schemes
    finally:
        server.stop()


def test_cli_full_scan_reports_the_enumeration(tmp_path):
    server = start_s_server(
        tmp_path, "-cipher", "ALL:COMPLEMENTOFALL:@SECLEVEL=0", "-min_protocol", "TLSv1"
    )
    db = f"sqlite:///{tmp_path / 'scans.db'}"
    try:
        r = subprocess.run(
            [sys.executable, "-m", "vedette", "scan", "--json", "--db", db,
             "--ip", "127.0.0.1", f"https://tls.vedette.test:{server.port}"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        server.stop()
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout)
    # The stored observation keeps the exact sets: re-analysed offline, the same section.
    again = subprocess.run(
        [sys.executable, "-m", "vedette", "report", "last", "--json", "--db", db],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    stored = json.loads(again.stdout)
    assert stored["endpoints"][0]["tls_scan"] == doc["endpoints"][0]["tls_scan"]
    ep = doc["endpoints"][0]
    assert ep["tls_scan"]["versions"] == ["TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
    assert {"tls.tls10", "tls.tls11", "tls.anon-suites", "tls.null-suites"} <= set(ep["findings"])
    assert "tls.weak-dh" in ep["findings"]  # 1024-bit DH for anonymous 128-bit suites


@pytest.mark.parametrize("flag", ["-no_tls1_3", "-tls1_3"])
def test_fallback_and_single_version(tmp_path, flag):
    server = start_s_server(tmp_path, "-cipher", "ALL:@SECLEVEL=0", flag)
    try:
        scan, _ = enumerate_port(server.port)
        assert set(scan.versions) == Truth(server.port).versions()
    finally:
        server.stop()
    if flag == "-tls1_3":
        assert scan.versions == (TLS13,) and scan.fallback_scsv is None
    else:
        assert TLS13 not in scan.versions and scan.fallback_scsv is True


def test_certificate_without_sni_is_the_default_one(tmp_path):
    # s_server serves -cert2 to clients naming -servername, and -cert to everyone else.
    other = CertificateAuthority.create_root("sni test").issue_server(["tls.vedette.test"])
    (tmp_path / "sni.pem").write_bytes(other.cert_pem())
    (tmp_path / "sni.key").write_bytes(other.key_pem())
    (tmp_path / "sni.key").chmod(0o600)
    server = start_s_server(
        tmp_path,
        "-servername",
        "tls.vedette.test",
        "-cert2",
        str(tmp_path / "sni.pem"),
        "-key2",
        str(tmp_path / "sni.key"),
    )
    try:
        scan, _ = enumerate_port(server.port)
    finally:
        server.stop()
    sni_leaf = x509.load_pem_x509_certificate(other.cert_pem()).public_bytes(Encoding.DER)
    assert scan.leaf_certificates == (sni_leaf,)
    assert scan.leaf_without_sni is not None and scan.leaf_without_sni != sni_leaf
