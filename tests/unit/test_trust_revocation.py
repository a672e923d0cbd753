"""OCSP judging, pure: status, wrong certificate, forged signature, stale answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from vedette.pki import CertificateAuthority
from vedette.trust.revocation import judge_ocsp, ocsp_request, ocsp_url

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def pki():
    root = CertificateAuthority.create_root("Rev Root")
    inter = root.issue_intermediate("Rev CA", key_spec="rsa:2048")
    leaf = inter.issue_server(["mail.example.test"]).cert
    other = inter.issue_server(["other.example.test"]).cert
    return root, inter, leaf, other


def response(inter, leaf, *, status, signer=None, next_update=None) -> bytes:
    b = ocsp.OCSPResponseBuilder().add_response(
        cert=leaf,
        issuer=inter.cert,
        algorithm=hashes.SHA1(),
        cert_status=status,
        this_update=NOW - timedelta(hours=1),
        next_update=next_update or NOW + timedelta(days=1),
        revocation_time=NOW - timedelta(days=2) if status is ocsp.OCSPCertStatus.REVOKED else None,
        revocation_reason=None,
    )
    signer = signer or inter
    b = b.responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
    return b.sign(signer.issued.key, hashes.SHA256()).public_bytes(Encoding.DER)


def test_good_and_revoked(pki):
    _, inter, leaf, _ = pki
    good = judge_ocsp(response(inter, leaf, status=ocsp.OCSPCertStatus.GOOD), leaf, inter.cert, NOW)
    assert good.status == "good"
    rev = judge_ocsp(
        response(inter, leaf, status=ocsp.OCSPCertStatus.REVOKED), leaf, inter.cert, NOW
    )
    assert rev.status == "revoked" and rev.detail.startswith("REVOKED on ")


def test_untrustworthy_answers_are_errors(pki):
    root, inter, leaf, other = pki
    about_other = response(inter, other, status=ocsp.OCSPCertStatus.GOOD)
    assert judge_ocsp(about_other, leaf, inter.cert, NOW).status == "error"
    forged = response(inter, leaf, status=ocsp.OCSPCertStatus.GOOD, signer=root)
    assert "does not verify" in judge_ocsp(forged, leaf, inter.cert, NOW).detail
    stale = response(
        inter, leaf, status=ocsp.OCSPCertStatus.GOOD, next_update=NOW - timedelta(minutes=1)
    )
    assert "stale" in judge_ocsp(stale, leaf, inter.cert, NOW).detail
    assert judge_ocsp(b"garbage", leaf, inter.cert, NOW).status == "error"


def test_request_and_url(pki):
    _, inter, leaf, _ = pki
    req = ocsp.load_der_ocsp_request(ocsp_request(leaf, inter.cert))
    assert req.serial_number == leaf.serial_number
    assert ocsp_url(leaf) is None  # the lab CA puts no AIA in its certificates
    assert isinstance(leaf, x509.Certificate)
