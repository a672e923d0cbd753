"""``cert.sha512-legacy-schannel``: the words admins search for, and the commands that fix it."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes

from tests.builders import endpoint_for, observed_tls
from vedette.checks import CheckContext, analyse, registry
from vedette.model import Service
from vedette.pki import CertificateAuthority

from .trust_helpers import HOST, der, leaf


def _finding(chain: tuple[bytes, ...], root: CertificateAuthority):
    now = datetime.now(UTC)
    obs = observed_tls(
        chain,
        endpoint=endpoint_for(Service.IMAPS, host=HOST, ip="127.0.0.1"),
        version="TLSv1.2",
        cipher="ECDHE-RSA-AES128-GCM-SHA256",
        at=now,
    )
    ctx = CheckContext(now=now, extra_roots_der=(der(root),), trust_roots_der=(der(root),))
    found = [f for f in analyse([obs], ctx) if f.id == "cert.sha512-legacy-schannel"]
    assert len(found) == 1
    return found[0]


def test_sha512_leaf_finding_names_the_error_code_and_the_reissue_commands():
    root = CertificateAuthority.create_root("SHA-512 Test Root", key_spec="rsa:2048")
    cert = leaf(root, hash_alg=hashes.SHA512())
    f = _finding((der(cert),), root)
    check = registry.get_check("cert.sha512-legacy-schannel")
    text = " ".join((f.detail, check.explanation, check.remediation))
    for word in ("SEC_E_ALGORITHM_MISMATCH", "0x80090331", "KB2973337"):
        assert word in f.detail, f.detail
        assert word in check.explanation
    assert "vedette ca sign" in text and "--hash sha256" in text
    commands = [shlex.split(c) for c in f.fix_commands]
    assert commands[0][:4] == ["vedette", "cert", "csr", "--like"]
    csr = commands[0][commands[0].index("--out") + 1]
    assert commands[-1][:4] == ["vedette", "ca", "sign", csr]
    assert commands[-1][commands[-1].index("--hash") + 1] == "sha256"


def test_sha512_intermediate_only_gets_no_leaf_reissue_command():
    root = CertificateAuthority.create_root("SHA-512 Test Root 2", key_spec="rsa:2048")
    inter = root.issue_intermediate("SHA-512 Issuing", key_spec="rsa:2048", hash_alg="sha512")
    f = _finding((der(leaf(inter)), der(inter)), root)
    assert "certificate #2" in f.detail
    assert f.fix_commands == ()
