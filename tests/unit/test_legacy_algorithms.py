"""The one module for deprecated algorithms: DSA keys, SHA-1 signatures, weak keys.

The suite turns warnings into errors (pyproject), so each test here fails on a cryptography
release that warns where vedette touches such an algorithm (cryptography 51 warns on every read
of ``dsa.DSAPublicKey``): the break issue 10 found on a fresh machine.
"""

from __future__ import annotations

import ast
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning

from tests.builders import certificate, endpoint_for, observed_tls
from vedette.checks import CheckContext, analyse
from vedette.model import Service
from vedette.report._certinfo import describe_certificate
from vedette.x509.chain import signed_by
from vedette.x509.legacy_algorithms import (
    key_kind,
    public_key_of,
    resign_sha1,
    verify_legacy_signature,
    weak_key,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "vedette"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _dsa_key(bits: int):  # type: ignore[no-untyped-def]
    # Making a DSA key is the test's business, not vedette's: the warning is expected here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        from cryptography.hazmat.primitives.asymmetric import dsa

        return dsa.generate_private_key(key_size=bits)


def _self_signed(key, hash_alg=None) -> x509.Certificate:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return certificate(
            "dsa.example.test",
            key=key,
            not_before=NOW - timedelta(days=1),
            not_after=NOW + timedelta(days=90),
            names=("dsa.example.test",),
            hash_alg=hash_alg,
            serial=7,
        ).cert


def test_dsa_key_is_classified_without_a_warning():
    cert = _self_signed(_dsa_key(1024))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kind = key_kind(public_key_of(cert))
        assert (kind.algorithm, kind.bits, kind.text) == ("dsa", 1024, "DSA 1024")
        assert weak_key(public_key_of(cert)) == "DSA 1024 bits"
        assert signed_by(cert, cert)
        assert describe_certificate(cert.public_bytes(Encoding.DER)).key == "DSA 1024"


def test_dsa_weak_key_is_a_finding_not_a_check_error():
    cert = _self_signed(_dsa_key(1024))
    obs = observed_tls(
        (cert.public_bytes(Encoding.DER),),
        endpoint=endpoint_for(Service.IMAPS, host="dsa.example.test", ip="127.0.0.1"),
        version="TLSv1.2",
        cipher="ECDHE-RSA-AES128-GCM-SHA256",
        at=NOW,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ids = {f.id for f in analyse([obs], CheckContext(now=NOW))}
    assert "cert.weak-rsa-key" in ids
    assert "vedette.check-error" not in ids


def test_weak_keys_and_strong_keys():
    assert weak_key(rsa.generate_private_key(65537, 1024).public_key()) == "RSA 1024 bits"
    assert weak_key(rsa.generate_private_key(65537, 2048).public_key()) is None
    assert weak_key(ec.generate_private_key(ec.SECP256R1()).public_key()) is None
    assert weak_key(ec.generate_private_key(ec.SECP224R1()).public_key()) == (
        "EC secp224r1 (224 bits)"
    )
    assert key_kind(object()).algorithm == "unknown"


def test_sha1_resigned_certificate_verifies_only_through_the_legacy_path():
    key = ec.generate_private_key(ec.SECP256R1())
    cert = resign_sha1(_self_signed(key), key)
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.10045.4.1"
    assert verify_legacy_signature(cert, cert)
    other = ec.generate_private_key(ec.SECP256R1())
    forged = resign_sha1(_self_signed(key), other)
    assert not verify_legacy_signature(forged, forged)


def test_no_other_module_touches_the_dsa_module():
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "legacy_algorithms.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            imports_dsa = (
                isinstance(node, ast.ImportFrom)
                and "asymmetric" in (node.module or "")
                and any(alias.name == "dsa" for alias in node.names)
            )
            if imports_dsa:
                offenders.append(str(path.relative_to(SRC)))
            if isinstance(node, ast.Import) and any(a.name.endswith(".dsa") for a in node.names):
                offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


def _negative_serial_pem(tmp_path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    der = bytearray(_self_signed(key).public_bytes(Encoding.DER))
    # serialNumber follows the explicit version [0] INTEGER 2: set its sign bit.
    at = der.index(bytes([0xA0, 0x03, 0x02, 0x01, 0x02, 0x02])) + 6
    der[at + 1] |= 0x80
    path = tmp_path / "negative.der"
    path.write_bytes(bytes(der))
    return path


def test_a_negative_serial_is_reported_by_vedette_not_warned_by_the_library(tmp_path, capsys):
    from vedette.cli import main

    path = _negative_serial_pem(tmp_path)
    # The suite turns warnings into errors: before the filter, inspect died on the library's
    # "Parsed a serial number which wasn't positive" (and printed it twice in a real run).
    assert main(["cert", "inspect", str(path)]) == 0
    out = capsys.readouterr()
    assert "wasn't positive" not in out.err
    assert main(["cert", "lint", str(path), "--profile", "internal"]) != 0
    assert "serial" in capsys.readouterr().out
