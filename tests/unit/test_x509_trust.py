"""Trust anchor loading: certifi's Mozilla roots and --ca files."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from vedette.errors import UsageError
from vedette.pki import CertificateAuthority
from vedette.trust import load_extra_roots, mozilla_roots_der
from vedette.x509.chain import load_der

if TYPE_CHECKING:
    from pathlib import Path


def test_mozilla_roots_parse_and_are_cached():
    roots = mozilla_roots_der()
    assert len(roots) > 100
    assert mozilla_roots_der() is roots
    subjects = {load_der(d).subject.rfc4514_string() for d in roots[:200]}
    assert any("ISRG Root X1" in s for s in subjects)


@pytest.fixture(scope="module")
def roots() -> tuple[CertificateAuthority, CertificateAuthority]:
    return CertificateAuthority.create_root("Extra A"), CertificateAuthority.create_root("Extra B")


def test_pem_bundle_der_file_and_directory(tmp_path: Path, roots):
    a, b = roots
    a_der = a.cert.public_bytes(Encoding.DER)
    b_der = b.cert.public_bytes(Encoding.DER)
    bundle = b"# comment\n" + a.issued.cert_pem() + b.issued.cert_pem()
    (tmp_path / "bundle.pem").write_bytes(bundle)
    (tmp_path / "a.der").write_bytes(a_der)
    assert load_extra_roots([tmp_path / "bundle.pem"]) == (a_der, b_der)
    assert load_extra_roots([tmp_path / "a.der"]) == (a_der,)
    # Directory: certificates found, a README skipped, duplicates removed.
    d = tmp_path / "dir"
    d.mkdir()
    (d / "1.pem").write_bytes(b.issued.cert_pem())
    (d / "2.der").write_bytes(a_der)
    (d / "README").write_text("not a certificate")
    assert set(load_extra_roots([d])) == {a_der, b_der}
    assert load_extra_roots([tmp_path / "bundle.pem", d]) == (a_der, b_der)


def test_errors_are_one_line_usage_errors(tmp_path: Path):
    (tmp_path / "garbage.pem").write_bytes(b"hello")
    (tmp_path / "bad.pem").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    (tmp_path / "empty").mkdir()
    for path, text in [
        (tmp_path / "missing.pem", "cannot read"),
        (tmp_path / "garbage.pem", "not a PEM or DER certificate"),
        (tmp_path / "bad.pem", "does not parse"),
        (tmp_path / "empty", "no certificate found"),
    ]:
        with pytest.raises(UsageError, match=text) as info:
            load_extra_roots([path])
        assert "\n" not in str(info.value)
        assert str(path) in str(info.value)


def test_a_shape_check_first_then_the_full_parse_gives_the_same_roots_or_error(
    tmp_path: Path, roots
):
    # A scan reads --ca before its first connection without cryptography (parse=False) and
    # parses in full meanwhile: the full parse confirms the roots, or raises the error.
    good = roots[0].cert.public_bytes(Encoding.DER)
    shaped_only = bytes.fromhex("3005300302 0100".replace(" ", ""))  # a SEQUENCE in a SEQUENCE
    (tmp_path / "good.der").write_bytes(good)
    (tmp_path / "shaped.der").write_bytes(shaped_only)
    d = tmp_path / "dir"
    d.mkdir()
    (d / "good.der").write_bytes(good)
    (d / "shaped.der").write_bytes(shaped_only)
    assert load_extra_roots([tmp_path / "good.der"], parse=False) == (good,)
    assert load_extra_roots([tmp_path / "shaped.der"], parse=False) == (shaped_only,)
    with pytest.raises(UsageError, match="not a PEM or DER certificate"):
        load_extra_roots([tmp_path / "shaped.der"])
    # In a directory the full parse leaves out what only looked like a certificate.
    assert load_extra_roots([d], parse=False) == (good, shaped_only)
    assert load_extra_roots([d]) == (good,)
    for garbage in (b"hello", b"\x30\x80", b"\x30\x85\x00\x00\x00\x00\x01", b"\x30\x02\x02\x00"):
        (tmp_path / "g.der").write_bytes(garbage)
        with pytest.raises(UsageError, match="not a PEM or DER certificate"):
            load_extra_roots([tmp_path / "g.der"], parse=False)
