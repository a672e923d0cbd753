"""``cert csr --for PRESET`` asks for the preset's EKUs in the PKCS#10 (issue 18)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from vedette import cli
from vedette.pki.csr import build_csr, parse_subject
from vedette.pki.windows_presets import EKUS, presets


def _ekus(csr: x509.CertificateSigningRequest) -> list[str] | None:
    try:
        ext = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return None
    assert not ext.critical
    return [o.dotted_string for o in ext.value]


def test_build_csr_requests_ekus_once_in_order() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = parse_subject(cn="pool.example.test")
    names = [x509.DNSName("pool.example.test")]
    csr = build_csr(key, subject, names, ekus=[ExtendedKeyUsageOID.SERVER_AUTH,
                                               ExtendedKeyUsageOID.CLIENT_AUTH,
                                               ExtendedKeyUsageOID.SERVER_AUTH])  # fmt: skip
    assert csr.is_signature_valid
    assert _ekus(csr) == ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]
    assert _ekus(build_csr(key, subject, names)) is None


def _run(*argv: str | Path) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return cli.main([str(a) for a in argv])


@pytest.mark.parametrize("preset_id", sorted(presets()))
def test_cert_csr_for_preset_requests_its_ekus(tmp_path: Path, preset_id: str) -> None:
    out = tmp_path / "req.csr"
    code = _run("cert", "csr", "--for", preset_id, "--cn", "pool.example.test",
                "--type", "ec:p256", "--new-key", tmp_path / "k.pem", "--out", out)  # fmt: skip
    assert code == 0
    csr = x509.load_pem_x509_csr(out.read_bytes())
    assert _ekus(csr) == [EKUS[e] for e in presets()[preset_id].ekus]


def test_cert_csr_without_preset_requests_no_eku(tmp_path: Path) -> None:
    out = tmp_path / "req.csr"
    code = _run("cert", "csr", "--cn", "pool.example.test", "--type", "ec:p256",
                "--new-key", tmp_path / "k.pem", "--out", out)  # fmt: skip
    assert code == 0
    assert _ekus(x509.load_pem_x509_csr(out.read_bytes())) is None
