"""The lab as a whole: it starts fast, every scenario serves the certificate it was built with
(judged by OpenSSL through Python's ``ssl``, not by vedette), and it cleans up after itself."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from tests.integration.test_lab_support import IP, Raw, insecure, trusting, within
from vedette.lab import LAB_HOST, SCENARIOS, Lab, LabThread
from vedette.model import Service


@pytest.fixture(scope="module")
def lt():
    with within(60), LabThread() as running:
        yield running


def _cn(name: x509.Name) -> str:
    return str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _handshake(lab, name: str, ctx: ssl.SSLContext) -> bytes:
    """The leaf (DER) after a TLS handshake, implicit or after the protocol's STARTTLS."""
    srv = lab.server(name)
    r = Raw(srv.port)
    try:
        if srv.service.tls_mode.value == "implicit":
            r.starttls(ctx)
        else:
            greeting = r.line()
            if srv.service in (Service.SMTP, Service.SUBMISSION):
                r.send(b"EHLO c.vedette.test\r\n")
                r.until(b"250 ")
                r.send(b"STARTTLS\r\n")
            elif srv.service is Service.IMAP:
                r.send(b"a STARTTLS\r\n")
            else:
                r.send(b"STLS\r\n")
            assert greeting and r.line()[:4] in (b"220 ", b"a OK", b"+OK ")
            r.starttls(ctx)
        der = r.sock.getpeercert(binary_form=True)
        assert der is not None
        return der
    finally:
        r.close()


def test_all_scenarios_run_on_loopback_with_distinct_ports(lt):
    lab = lt.lab
    assert [s.name for s in lab.servers] == [sc.name for sc in SCENARIOS]
    assert len(lab.servers) == len(SCENARIOS) == 13
    assert len({s.port for s in lab.servers}) == 13
    for s in lab.servers:
        assert s.ip == IP
        assert s.host == LAB_HOST
        assert s.target == f"{s.service.value}://{LAB_HOST}:{s.port}"
        assert s.endpoint.port == s.port
    assert lab.server("pop3-no-tls").expected_findings == {"tls.none", "tls.plaintext-auth"}
    assert lab.server("imaps-good").expected_findings == frozenset()
    assert lab.root_ca_path.read_bytes() == lab.root_ca_pem
    root = x509.load_pem_x509_certificate(lab.root_ca_pem)
    assert _cn(root.subject) == "vedette lab root"


@pytest.mark.parametrize(
    "name", ["imaps-good", "imap-starttls-good", "smtp-relay-good", "imap-plaintext-login"]
)
def test_good_chains_verify_against_the_lab_root_alone(lt, name):
    with within(15):
        der = _handshake(lt.lab, name, trusting(lt.lab))
    leaf = x509.load_der_x509_certificate(der)
    assert _cn(leaf.issuer) == "vedette lab intermediate"
    assert _cn(leaf.subject) == LAB_HOST


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("pop3s-self-signed", "self-signed certificate"),
        ("smtps-expired", "certificate has expired"),
        ("imaps-no-intermediate", "unable to get local issuer certificate"),
        ("pop3s-wrong-name", "Hostname mismatch"),
    ],
)
def test_broken_certificates_fail_verification_for_their_reason(lt, name, reason):
    with within(15), pytest.raises(ssl.SSLCertVerificationError, match=reason):
        _handshake(lt.lab, name, trusting(lt.lab))


def test_no_intermediate_leaf_is_fine_once_the_intermediate_is_known(lt):
    # The only thing wrong is the missing intermediate: the leaf itself comes from the same
    # intermediate as the good servers' leaves, for the right name.
    lab = lt.lab
    der = _handshake(lab, "imaps-good", insecure())
    good = x509.load_der_x509_certificate(der)
    bare = x509.load_der_x509_certificate(_handshake(lab, "imaps-no-intermediate", insecure()))
    assert bare.issuer == good.issuer
    assert bare.subject == good.subject


def test_sha1_and_expired_and_wrong_name_leaves(lt):
    lab = lt.lab
    sha1 = x509.load_der_x509_certificate(_handshake(lab, "imaps-sha1", insecure()))
    assert sha1.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.5"  # sha1WithRSA
    assert sha1.public_key().key_size == 2048
    expired = x509.load_der_x509_certificate(_handshake(lab, "smtps-expired", insecure()))
    now = datetime.now(UTC)
    assert expired.not_valid_after_utc < now
    assert 300 <= (now - expired.not_valid_after_utc).days <= 320
    wrong = x509.load_der_x509_certificate(_handshake(lab, "pop3s-wrong-name", insecure()))
    san = wrong.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["other.vedette.test"]
    assert isinstance(sha1.signature_hash_algorithm, hashes.SHA1)


def test_sha512_leaf_is_signed_with_sha512_and_otherwise_good(lt):
    # Judged by OpenSSL: the chain verifies against the lab root for the lab's name; the only
    # thing special about it is the signature hash.
    with within(15):
        der = _handshake(lt.lab, "imaps-sha512", trusting(lt.lab))
    leaf = x509.load_der_x509_certificate(der)
    assert leaf.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.13"  # sha512WithRSA
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA512)
    assert _cn(leaf.subject) == LAB_HOST


def _tls10_client(*, maximum: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # Python deprecates TLS 1.0: the point of this client
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = maximum
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def test_tls10_only_server_speaks_tls_1_0_and_nothing_newer(lt):
    port = lt.lab.server("pop3s-tls10-only").port
    # A client that still offers TLS 1.0 (as old Outlook, Android and Java did) gets in ...
    with within(15):
        r = Raw(port, tls=_tls10_client(maximum=ssl.TLSVersion.TLSv1_3))
        try:
            assert r.sock.version() == "TLSv1"  # type: ignore[attr-defined]
            assert r.line().startswith(b"+OK")
        finally:
            r.close()
    # ... one that starts at TLS 1.2, as current clients do, does not.
    modern = insecure()
    modern.minimum_version = ssl.TLSVersion.TLSv1_2
    with within(15), pytest.raises(ssl.SSLError):
        Raw(port, tls=modern).close()


def test_no_tls_scenario_has_no_tls(lt):
    r = Raw(lt.lab.server("pop3-no-tls").port)
    try:
        r.line()
        r.send(b"STLS\r\n")
        assert r.line().startswith(b"-ERR")
    finally:
        r.close()


def test_lab_cleans_up_its_private_files_and_ports(tmp_path):
    async def run() -> tuple[Path, Path, list[int]]:
        async with Lab() as lab:
            tmp_root = lab.root_ca_path
            ports = [s.port for s in lab.servers]
            private = tmp_root.parent
            assert (private.stat().st_mode & 0o777) == 0o700
            # Key files were deleted as soon as OpenSSL read them.
            assert sorted(p.name for p in private.iterdir()) == ["vedette-lab-root.pem"]
        async with Lab(workdir=tmp_path) as lab2:
            kept = lab2.root_ca_path
        return tmp_root, kept, ports

    with within(30):
        tmp_root, kept, ports = asyncio.run(run())
    assert not tmp_root.exists()
    assert not tmp_root.parent.exists()
    assert kept == tmp_path / "vedette-lab-root.pem"
    assert kept.exists()  # the user asked for it there
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((IP, port), 2).close()


def test_python_m_vedette_lab_serves_until_interrupted():
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    env["PYTHONFAULTHANDLER"] = "1"  # SIGABRT below dumps every thread's stack to stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "vedette.lab"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        with within(30):
            out = []
            assert proc.stdout is not None
            for line in proc.stdout:
                out.append(line)
                if line.startswith("Serving until Ctrl-C"):
                    break
            text = "".join(out)
            m = re.search(r"imaps-good\s+imaps://lab\.vedette\.test:(\d+)", text)
            assert m, text
            ca = re.search(r"lab root CA \(pass it with --ca\): (\S+)", text)
            assert ca, text
            assert Path(ca.group(1)).exists()
            r = Raw(int(m.group(1)), tls=ssl.create_default_context(cafile=ca.group(1)))
            try:
                assert r.line().startswith(b"* OK [CAPABILITY IMAP4rev1")
            finally:
                r.close()
            proc.send_signal(signal.SIGINT)
            try:
                assert proc.wait(timeout=10) == 0
            except subprocess.TimeoutExpired:
                # Once seen under load (CI-like run): say where it hangs, not just that it does.
                proc.send_signal(signal.SIGABRT)
                _, err = proc.communicate(timeout=10)
                pytest.fail(f"the lab did not stop within 10 s of Ctrl-C; its stacks:\n{err}")
            assert not Path(ca.group(1)).exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_vedette_scan_finds_exactly_what_each_server_was_built_with(lt):
    """The contract ``vedette demo`` relies on: each server's findings are its expected ones."""
    lab = lt.lab
    cmd = [
        sys.executable,
        "-m",
        "vedette",
        "scan",
        "--no-store",
        "--json",
        "--ip",
        IP,
        "--ca",
        str(lab.root_ca_path),
        *(s.target for s in lab.servers),
    ]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    with within(60):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, check=False)
    doc = json.loads(r.stdout)
    got = {ep["port"]: set(ep["findings"]) for ep in doc["endpoints"]}
    assert {s.name: got.get(s.port) for s in lab.servers} == {
        s.name: set(s.expected_findings) for s in lab.servers
    }
