"""Issue 10 on the PKI commands: name constraints both sides, an index that detects hand edits,
escaped file data, lint profiles chosen from the chain, keys for Lync/Skype.

Every certificate a constrained CA (or another tool holding its key) can mint is judged by an
independent verifier, ``openssl verify``, not only by vedette.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.integration.test_pki_cli import _bad, openssl, vedette


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


# --- keys for Lync / Skype for Business -------------------------------------------------------


@pytest.mark.parametrize("family", ["lync", "skype"])
def test_lync_and_skype_get_rsa_2048_and_the_reason(work: Path, family: str):
    out = vedette("key", "new", "--clients", family, "--out", "k.pem", cwd=work).stdout
    assert "RSA 2048" in out
    assert "CryptoAPI" in out and "wizard" in out
    text = openssl("pkey", "-in", "k.pem", "-noout", "-text", cwd=work).stdout
    assert "Private-Key: (2048 bit" in text
    out = vedette(
        "cert", "csr", "--cn", "sip.uc.test", "--clients", family, "--new-key", "s.key",
        "--out", "s.csr", cwd=work,
    ).stdout  # fmt: skip
    assert "RSA 2048" in out and "CryptoAPI" in out
    req = openssl("req", "-in", "s.csr", "-noout", "-text", cwd=work).stdout
    assert "Public-Key: (2048 bit)" in req
    # Clients without that constraint keep the ECDSA default, and say nothing.
    out = vedette("key", "new", "--clients", "ios", "--out", "e.pem", cwd=work).stdout
    assert "EC P-256" in out and "why" not in out
