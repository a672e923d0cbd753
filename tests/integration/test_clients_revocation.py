"""``vedette cert clients --check-revocation`` against OpenSSL's OCSP responder on loopback."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from tests.builders import SERVER_AUTH, certificate, signer
from vedette.pki import CertificateAuthority

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

HOST = "mail.vedette.test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chain(tmp: Path, port: int) -> x509.Certificate:
    root = CertificateAuthority.create_root("OCSP Test Root", key_spec="rsa:2048")
    inter = root.issue_intermediate("OCSP Test CA", key_spec="rsa:2048")
    leaf = certificate(
        HOST,
        issuer=signer(inter),
        names=(HOST,),
        eku=(SERVER_AUTH,),
        ocsp=(f"http://127.0.0.1:{port}/",),
    ).cert
    (tmp / "chain.pem").write_bytes(
        leaf.public_bytes(Encoding.PEM) + inter.cert.public_bytes(Encoding.PEM)
    )
    (tmp / "root.pem").write_bytes(root.issued.cert_pem())
    (tmp / "ca.pem").write_bytes(inter.issued.cert_pem())
    (tmp / "ca.key").write_bytes(inter.issued.key_pem())
    (tmp / "ca.key").chmod(0o600)
    return leaf


@contextlib.contextmanager
def responder(tmp: Path, port: int, leaf: x509.Certificate, revoked: bool) -> Iterator[list[bytes]]:
    """An OCSP responder on 127.0.0.1 (RFC 6960 over HTTP POST), signing as the issuing CA.

    OpenSSL's ``openssl ocsp`` would bind every interface (its -port takes no address), so the
    responder is written here with cryptography's OCSPResponseBuilder; vedette's side (request,
    HTTP, signature and status checks) is the real code. Yields the requests it received.
    """
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from cryptography.x509 import ocsp

    ca = x509.load_pem_x509_certificate((tmp / "ca.pem").read_bytes())
    key = load_pem_private_key((tmp / "ca.key").read_bytes(), password=None)
    seen: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append(body)
            req = ocsp.load_der_ocsp_request(body)
            now = datetime.now(UTC)
            status = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
            builder = ocsp.OCSPResponseBuilder().add_response(
                cert=leaf,
                issuer=ca,
                algorithm=hashes.SHA1(),
                cert_status=status,
                this_update=now,
                next_update=now + timedelta(days=1),
                revocation_time=now - timedelta(hours=1) if revoked else None,
                revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
            )
            ok = req.serial_number == leaf.serial_number
            builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, ca)
            resp = builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]
            der = resp.public_bytes(Encoding.DER) if ok else b"not for this certificate"
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(der)))
            self.end_headers()
            self.wfile.write(der)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


def clients(tmp: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [
            sys.executable, "-m", "vedette", "cert", "clients", str(tmp / "chain.pem"),
            "--host", HOST, "--ca", str(tmp / "root.pem"), "--clients", "ios",
            "--check-revocation", "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.mark.parametrize("revoked", [False, True])
def test_ocsp_status_from_a_local_responder(tmp_path, revoked):
    port = _free_port()
    leaf = _chain(tmp_path, port)
    with responder(tmp_path, port, leaf, revoked) as seen:
        proc = clients(tmp_path)
    assert len(seen) == 1  # one POST, the leaf's serial
    doc = json.loads(proc.stdout)
    (note,) = [n for n in doc["notes"] if n.startswith("Revocation:")]
    if revoked:
        assert note.startswith("Revocation: REVOKED on ") and "(keyCompromise)" in note, note
        assert proc.returncode == 1
    else:
        assert note.startswith("Revocation: good: not revoked (OCSP)"), note
        assert proc.returncode == 0


def test_no_responder_is_reported_not_fatal(tmp_path):
    port = _free_port()  # nothing listens there
    _chain(tmp_path, port)
    proc = clients(tmp_path)
    doc = json.loads(proc.stdout)
    (note,) = [n for n in doc["notes"] if n.startswith("Revocation:")]
    assert note.startswith("Revocation: error: no answer from http://127.0.0.1:")
    assert proc.returncode == 0
