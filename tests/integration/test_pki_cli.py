"""The PKI toolkit from the command line, every artefact checked by OpenSSL.

vedette writes keys, requests, certificates, PKCS#12/PKCS#7 files and CRLs; a second,
independent implementation (the ``openssl`` binary) must parse and verify each of them, and
what OpenSSL writes (RC2-encrypted PKCS#12, PKCS#7 via crl2pkcs7) must be read by vedette.
Then the end-to-end proof: a certificate issued by ``vedette ca`` serves TLS in
``openssl s_server`` and ``vedette scan --ca root.pem`` finds no certificate problem, and the
fix commands printed by a scan, run as printed, make the finding go away on a rescan.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests.builders import certificate, signer
from tests.tools import require_program, unavailable
from vedette import cli
from vedette.pki import CertificateAuthority, self_signed_server

OPENSSL = shutil.which("openssl")
ADDRESS = "127.0.0.61"
HOST = "mail.pkitest.test"


def _require_openssl() -> str:
    return require_program("openssl")


def vedette(*args: str | Path, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the CLI in this process (as ``python -m vedette`` would, minus the start-up cost)."""
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    old_cwd = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(old_cwd)
    proc = subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
    if ok:
        assert proc.returncode == 0, f"vedette {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def openssl(*args: str | Path, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [_require_openssl(), *map(str, args)],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if ok:
        assert proc.returncode == 0, f"openssl {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _bad(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    """A clean refusal: exit 2, one line on stderr, no traceback."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("vedette: error: ")
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    _require_openssl()
    (tmp_path / "pw").write_text("correct horse\n")
    (tmp_path / "pw2").write_text("battery staple\n")
    return tmp_path


@pytest.fixture
def ca(work: Path) -> Path:
    vedette(
        "ca",
        "init",
        "ca",
        "--name",
        "PKI Test Root",
        "--org",
        "Vedette",
        "--intermediate",
        "--key-type",
        "ec:p256",
        "--crl-url",
        "http://pki.pkitest.test/ca.crl",
        cwd=work,
    )
    return work / "ca"


# --- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_type", "openssl_says"),
    [
        ("rsa:3072", "3072 bit"),
        ("ec:p256", "P-256"),
        ("ec:p384", "P-384"),
        ("ed25519", "ED25519"),
    ],
)
def test_key_new_is_0600_pkcs8_and_openssl_reads_it(work: Path, key_type: str, openssl_says: str):
    vedette("key", "new", "--type", key_type, "--out", "k.pem", cwd=work)
    assert (work / "k.pem").stat().st_mode & 0o777 == 0o600
    assert (work / "k.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    text = openssl("pkey", "-in", "k.pem", "-noout", "-text", cwd=work).stdout
    assert openssl_says in text


def test_key_new_encrypted_with_passphrase_file(work: Path):
    vedette("key", "new", "--type", "ec:p256", "--out", "k.pem", "--passout", "file:pw", cwd=work)
    data = (work / "k.pem").read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    openssl("pkey", "-in", "k.pem", "-passin", "file:pw", "-noout", cwd=work)
    assert (
        openssl(
            "pkey", "-in", "k.pem", "-passin", "pass:wrong", "-noout", cwd=work, ok=False
        ).returncode
        != 0
    )
    # The key file as OpenSSL sees it: PBES2 with AES-256.
    asn1 = openssl("asn1parse", "-in", "k.pem", cwd=work).stdout
    assert "PBES2" in asn1 and "aes-256-cbc" in asn1


def test_passphrase_on_the_command_line_is_refused(work: Path):
    proc = vedette("key", "new", "--out", "k.pem", "--passout", "pass:secret", cwd=work, ok=False)
    assert proc.returncode == 2
    assert "visible in ps" in proc.stderr
    assert not (work / "k.pem").exists()


def test_existing_key_is_not_overwritten(work: Path):
    vedette("key", "new", "--out", "k.pem", cwd=work)
    before = (work / "k.pem").read_bytes()
    _bad(vedette("key", "new", "--out", "k.pem", cwd=work, ok=False), "already exists")
    assert (work / "k.pem").read_bytes() == before


# --- requests, CA, signing ------------------------------------------------------------------


def test_csr_signed_by_vedette_ca_verifies_with_openssl(work: Path, ca: Path):
    vedette(
        "cert",
        "csr",
        "--cn",
        HOST,
        "--san",
        "autodiscover.pkitest.test",
        "--san",
        "192.0.2.7",
        "--new-key",
        "m.key",
        "--out",
        "m.csr",
        cwd=work,
    )
    assert (work / "m.key").stat().st_mode & 0o777 == 0o600
    req = openssl("req", "-in", "m.csr", "-verify", "-noout", "-text", cwd=work)
    assert "verify OK" in req.stdout + req.stderr
    assert f"DNS:{HOST}, DNS:autodiscover.pkitest.test, IP Address:192.0.2.7" in req.stdout
    vedette("ca", "sign", "m.csr", "--ca-dir", ca, "--out", "fullchain.pem", cwd=work)
    chain = x509.load_pem_x509_certificates((work / "fullchain.pem").read_bytes())
    assert len(chain) == 2  # leaf + intermediate: what a server sends
    (work / "leaf.pem").write_bytes(chain[0].public_bytes(serialization.Encoding.PEM))
    out = openssl(
        "verify",
        "-CAfile",
        ca / "root.pem",
        "-untrusted",
        ca / "chain.pem",
        "-purpose",
        "sslserver",
        "leaf.pem",
        cwd=work,
    )
    assert "leaf.pem: OK" in out.stdout
    text = openssl("x509", "-in", "leaf.pem", "-noout", "-text", cwd=work).stdout
    assert "TLS Web Server Authentication" in text
    assert "CA:FALSE" in text
    assert "http://pki.pkitest.test/ca.crl" in text
    assert "ecdsa-with-SHA256" in text
    # By default one day under the CA/B Forum limit in force, inclusive: notAfter - notBefore
    # + 1 s (so that vedette's own cert.validity-too-long stays quiet on it).
    leaf = chain[0]
    from vedette.x509.validity import max_validity_days

    limit = max_validity_days(leaf.not_valid_before_utc)
    expected = 398 if limit is None else limit - 1
    period = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() + 1
    assert period == expected * 86400
    # The index knows it; the issued copy is the same certificate.
    index = json.loads((ca / "index.json").read_text())
    assert [e["serial"] for e in index["certificates"]] == [format(leaf.serial_number, "x")]
    assert (ca / "issued" / f"{leaf.serial_number:x}.pem").read_bytes() == leaf.public_bytes(
        serialization.Encoding.PEM
    )


def test_public_lifetime_follows_the_cab_forum_limit(work: Path, ca: Path):
    vedette("cert", "csr", "--cn", HOST, "--new-key", "m.key", "--out", "m.csr", cwd=work)
    vedette("ca", "sign", "m.csr", "--ca-dir", ca, "--public", "--out", "m.pem", cwd=work)
    leaf = x509.load_pem_x509_certificates((work / "m.pem").read_bytes())[0]
    from vedette.x509.validity import max_validity_days

    limit = max_validity_days(leaf.not_valid_before_utc)
    assert limit is not None
    # One day under the MUST NOT: SC-081v3's SHOULD NOT (e.g. 199 for the 200-day limit).
    period = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() + 1
    assert period == (limit - 1) * 86400
    _bad(
        vedette(
            "ca",
            "sign",
            "m.csr",
            "--ca-dir",
            ca,
            "--public",
            "--days",
            "398",
            "--out",
            "x.pem",
            cwd=work,
            ok=False,
        ),
        "CA/Browser Forum",
    )
    assert not (work / "x.pem").exists()


def test_sha512_refused_for_legacy_schannel_clients(work: Path, ca: Path):
    vedette("cert", "csr", "--cn", HOST, "--new-key", "m.key", "--out", "m.csr", cwd=work)
    _bad(
        vedette(
            "ca",
            "sign",
            "m.csr",
            "--ca-dir",
            ca,
            "--hash",
            "sha512",
            "--clients",
            "lync,ios",
            "--out",
            "x.pem",
            cwd=work,
            ok=False,
        ),
        "SEC_E_ALGORITHM_MISMATCH",
    )
    assert not (work / "x.pem").exists()
    vedette("ca", "sign", "m.csr", "--ca-dir", ca, "--hash", "sha384", "--out", "y.pem", cwd=work)
    text = openssl("x509", "-in", "y.pem", "-noout", "-text", cwd=work).stdout
    assert "ecdsa-with-SHA384" in text


def test_name_constraints_enforced_before_signing(work: Path):
    vedette("ca", "init", "nc", "--name", "Constrained", "--permit", "pkitest.test", cwd=work)
    text = openssl("x509", "-in", "nc/root.pem", "-noout", "-text", cwd=work).stdout
    assert "Permitted" in text and "DNS:pkitest.test" in text
    # No --key-type, every client in play (Java 6, Android 2.3: no ECDSA): an RSA 3072 CA.
    assert "Public-Key: (3072 bit)" in text and "sha256WithRSAEncryption" in text
    _bad(
        vedette(
            "ca", "init", "nc2", "--name", "X", "--permit", "*.pkitest.test", cwd=work, ok=False
        ),
        "--permit",
    )
    vedette(
        "cert", "csr", "--cn", "www.bank.example", "--new-key", "b.key", "--out", "b.csr", cwd=work
    )
    _bad(
        vedette("ca", "sign", "b.csr", "--ca-dir", "nc", "--out", "b.pem", cwd=work, ok=False),
        "outside the CA's name constraints",
    )
    assert not (work / "b.pem").exists()
    assert json.loads((work / "nc" / "index.json").read_text())["certificates"] == []


def test_smime_and_client_profiles(work: Path, ca: Path):
    vedette(
        "cert",
        "csr",
        "--cn",
        "Alice",
        "--san",
        "alice@pkitest.test",
        "--new-key",
        "a.key",
        "--out",
        "a.csr",
        cwd=work,
    )
    vedette(
        "ca",
        "sign",
        "a.csr",
        "--ca-dir",
        ca,
        "--profile",
        "smime",
        "--out",
        "a.pem",
        "--leaf-only",
        cwd=work,
    )
    out = openssl(
        "verify",
        "-CAfile",
        ca / "root.pem",
        "-untrusted",
        ca / "chain.pem",
        "-purpose",
        "smimesign",
        "a.pem",
        cwd=work,
    )
    assert "a.pem: OK" in out.stdout
    # Without an e-mail address the smime profile refuses.
    vedette("cert", "csr", "--cn", HOST, "--new-key", "s.key", "--out", "s.csr", cwd=work)
    _bad(
        vedette(
            "ca",
            "sign",
            "s.csr",
            "--ca-dir",
            ca,
            "--profile",
            "smime",
            "--out",
            "s.pem",
            cwd=work,
            ok=False,
        ),
        "e-mail address",
    )


def test_revoke_and_crl_checked_by_openssl(work: Path, ca: Path):
    vedette("cert", "csr", "--cn", HOST, "--new-key", "m.key", "--out", "m.csr", cwd=work)
    vedette("ca", "sign", "m.csr", "--ca-dir", ca, "--out", "m.pem", "--leaf-only", cwd=work)
    vedette("ca", "revoke", "m.pem", "--ca-dir", ca, "--reason", "keyCompromise", cwd=work)
    crl = openssl(
        "crl",
        "-in",
        ca / "crl.pem",
        "-CAfile",
        ca / "intermediate.pem",
        "-noout",
        "-text",
        cwd=work,
    )
    assert "verify OK" in crl.stdout + crl.stderr
    serial = x509.load_pem_x509_certificate((work / "m.pem").read_bytes()).serial_number
    assert f"{serial:X}" in crl.stdout.replace(":", "")
    assert "Key Compromise" in crl.stdout
    (work / "cas.pem").write_bytes((ca / "root.pem").read_bytes() + (ca / "chain.pem").read_bytes())
    out = openssl(
        "verify",
        "-crl_check",
        "-CRLfile",
        ca / "crl.pem",
        "-CAfile",
        "cas.pem",
        "m.pem",
        cwd=work,
        ok=False,
    )
    assert out.returncode != 0 and "certificate revoked" in out.stdout + out.stderr
    _bad(vedette("ca", "revoke", "m.pem", "--ca-dir", ca, cwd=work, ok=False), "already revoked")
    vedette("ca", "crl", "--ca-dir", ca, cwd=work)
    crl2 = openssl("crl", "-in", ca / "crl.pem", "-noout", "-crlnumber", cwd=work).stdout
    assert crl2.strip() == "crlNumber=0x02"


# --- formats --------------------------------------------------------------------------------


def _issue(work: Path, ca: Path) -> None:
    vedette(
        "cert",
        "csr",
        "--cn",
        HOST,
        "--key",
        "k.pem",
        "--passin",
        "file:pw",
        "--out",
        "m.csr",
        cwd=work,
    ) if (work / "k.pem").exists() else vedette(
        "cert",
        "csr",
        "--cn",
        HOST,
        "--new-key",
        "k.pem",
        "--passout",
        "file:pw",
        "--out",
        "m.csr",
        cwd=work,
    )
    vedette("ca", "sign", "m.csr", "--ca-dir", ca, "--out", "m.pem", cwd=work)


@pytest.mark.parametrize("legacy", [False, True])
def test_pkcs12_round_trips_through_openssl(work: Path, ca: Path, legacy: bool):
    _issue(work, ca)
    args = [
        "cert",
        "convert",
        "m.pem",
        "m.pfx",
        "--key",
        "k.pem",
        "--passin",
        "file:pw",
        "--passout",
        "file:pw2",
        "--friendly-name",
        "mail 2026",
    ]
    vedette(*args, *(["--legacy"] if legacy else []), cwd=work)
    assert (work / "m.pfx").stat().st_mode & 0o777 == 0o600
    extra = ["-legacy"] if legacy else []
    info = openssl(
        "pkcs12", "-in", "m.pfx", "-info", "-noout", "-passin", "file:pw2", *extra, cwd=work
    )
    algos = info.stdout + info.stderr
    if legacy:
        assert "pbeWithSHA1And3-KeyTripleDES-CBC" in algos and "MAC: sha1" in algos
    else:
        assert "AES-256-CBC" in algos and "MAC: sha256" in algos
    dump = openssl("pkcs12", "-in", "m.pfx", "-nodes", "-passin", "file:pw2", *extra, cwd=work)
    assert "friendlyName: mail 2026" in dump.stdout
    assert dump.stdout.count("BEGIN CERTIFICATE") == 2
    # The key OpenSSL extracted is the key vedette put in.
    (work / "dump.pem").write_text(dump.stdout)
    a = openssl("pkey", "-in", "dump.pem", "-pubout", cwd=work).stdout
    b = openssl("pkey", "-in", "k.pem", "-passin", "file:pw", "-pubout", cwd=work).stdout
    assert a == b
    # vedette reads it back; a wrong password is a clean error.
    vedette("cert", "inspect", "m.pfx", "--passin", "file:pw2", cwd=work)
    _bad(
        vedette("cert", "inspect", "m.pfx", "--passin", "file:pw", cwd=work, ok=False),
        "wrong password",
    )


def test_reads_openssl_rc2_pkcs12_and_p7b(work: Path, ca: Path):
    _issue(work, ca)
    openssl("pkey", "-in", "k.pem", "-passin", "file:pw", "-out", "plain.key", cwd=work)
    openssl(
        "pkcs12",
        "-export",
        "-legacy",
        "-certpbe",
        "PBE-SHA1-RC2-40",
        "-keypbe",
        "PBE-SHA1-3DES",
        "-in",
        "m.pem",
        "-inkey",
        "plain.key",
        "-out",
        "rc2.pfx",
        "-passout",
        "file:pw2",
        cwd=work,
    )
    doc = json.loads(
        vedette("cert", "inspect", "rc2.pfx", "--passin", "file:pw2", "--json", cwd=work).stdout
    )
    assert doc["format"] == "pkcs12"
    assert doc["certificates"][0]["subject"] == f"CN={HOST}"
    assert doc["keys"][0]["matches_certificate"] == 0
    openssl(
        "crl2pkcs7", "-nocrl", "-certfile", "m.pem", "-outform", "DER", "-out", "m.p7b", cwd=work
    )
    doc = json.loads(vedette("cert", "inspect", "m.p7b", "--json", cwd=work).stdout)
    assert doc["format"] == "pkcs7"
    # A SET OF certificates has no order; vedette puts the leaf first.
    assert [c["subject"] for c in doc["certificates"]] == [
        f"CN={HOST}",
        "CN=PKI Test Root Issuing CA 1,O=Vedette",
    ]
    # p7b -> PEM bundle -> openssl verify
    vedette("cert", "convert", "m.p7b", "back.pem", cwd=work)
    openssl("verify", "-CAfile", ca / "root.pem", "-untrusted", "back.pem", "back.pem", cwd=work)


def test_convert_outputs_parse_in_openssl(work: Path, ca: Path):
    _issue(work, ca)
    vedette("cert", "convert", "m.pem", "m.p7b", cwd=work)
    p7 = openssl("pkcs7", "-inform", "DER", "-in", "m.p7b", "-print_certs", "-noout", cwd=work)
    assert p7.stdout.count("subject=") == 2
    vedette("cert", "convert", "m.pem", "m.der", "--to", "der", cwd=work)
    der = openssl("x509", "-inform", "DER", "-in", "m.der", "-noout", "-subject", cwd=work)
    assert HOST in der.stdout
    # .cer is ambiguous without --to
    _bad(vedette("cert", "convert", "m.pem", "m.cer", cwd=work, ok=False), "--to")
    vedette("cert", "convert", "m.csr", "m.csr.der", "--to", "der", cwd=work)
    openssl("req", "-inform", "DER", "-in", "m.csr.der", "-verify", "-noout", cwd=work)


def test_windows_inputs(work: Path, ca: Path):
    _issue(work, ca)
    pem = (work / "m.csr").read_text()
    # certreq / IIS label, UTF-16 with BOM as PowerShell writes it, and headerless base64.
    windows = pem.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST").replace("\n", "\r\n")
    (work / "iis.req").write_bytes(windows.encode("utf-16"))
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    (work / "bare.txt").write_text(body + "\n")
    for name, fmt in (("iis.req", "pem+utf16"), ("bare.txt", "base64")):
        doc = json.loads(vedette("cert", "inspect", name, "--json", cwd=work).stdout)
        assert doc["format"] == fmt
        assert doc["requests"][0]["subject"] == f"CN={HOST}"
        assert doc["requests"][0]["signature_valid"] is True
    # And such a request can be signed directly.
    vedette("ca", "sign", "iis.req", "--ca-dir", ca, "--out", "iis.pem", cwd=work)


# --- bad input ------------------------------------------------------------------------------


def test_bad_inputs_are_one_line_errors_and_write_nothing(work: Path, ca: Path):
    _issue(work, ca)
    data = (work / "m.pem").read_bytes()
    (work / "trunc.pem").write_bytes(data[: len(data) // 2])
    (work / "garbage.bin").write_bytes(b"\x30\x82\x05\x00" + os.urandom(200))
    (work / "text.txt").write_text("hello, this is not a certificate\n")
    (work / "empty.pem").write_bytes(b"")
    for name, words in (
        ("trunc.pem", ("END",)),
        ("garbage.bin", ("truncated",)),
        ("text.txt", ("not a certificate",)),
        ("empty.pem", ("empty",)),
        ("missing.pem", ("cannot read",)),
    ):
        _bad(vedette("cert", "inspect", name, cwd=work, ok=False), *words)
        _bad(vedette("cert", "convert", name, "out.p7b", cwd=work, ok=False))
        assert not (work / "out.p7b").exists()
    # Wrong passphrase for the key.
    _bad(
        vedette(
            "cert",
            "csr",
            "--cn",
            HOST,
            "--key",
            "k.pem",
            "--passin",
            "file:pw2",
            "--out",
            "x.csr",
            cwd=work,
            ok=False,
        ),
        "wrong passphrase",
    )
    # A key that does not match the certificate.
    vedette("key", "new", "--out", "other.key", cwd=work)
    _bad(
        vedette(
            "cert",
            "convert",
            "m.pem",
            "x.pfx",
            "--key",
            "other.key",
            "--passout",
            "file:pw",
            cwd=work,
            ok=False,
        ),
        "does not match",
    )
    # A request whose signature no longer verifies (a name changed after signing).
    csr = x509.load_pem_x509_csr((work / "m.csr").read_bytes())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    at = der.find(HOST.encode())
    der[at] ^= 0x01  # "mail" -> "lail"
    (work / "tampered.csr").write_bytes(bytes(der))
    _bad(
        vedette("ca", "sign", "tampered.csr", "--ca-dir", ca, "--out", "t.pem", cwd=work, ok=False),
        "does not verify",
    )
    for out in ("x.csr", "x.pfx", "t.pem"):
        assert not (work / out).exists()
    leftovers = [p.name for p in work.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_hand_edited_ca_directory_is_refused(work: Path, ca: Path):
    vedette("cert", "csr", "--cn", HOST, "--new-key", "m.key", "--out", "m.csr", cwd=work)
    vedette("ca", "sign", "m.csr", "--ca-dir", ca, "--out", "m.pem", cwd=work)
    index = ca / "index.json"
    original = index.read_text()
    index.write_text(original[:-20])
    _bad(
        vedette("ca", "sign", "m.csr", "--ca-dir", ca, "--out", "n.pem", cwd=work, ok=False),
        "index.json",
    )
    index.write_text(original)
    (ca / "intermediate-key.pem").write_bytes((work / "m.key").read_bytes())
    _bad(
        vedette("ca", "sign", "m.csr", "--ca-dir", ca, "--out", "n.pem", cwd=work, ok=False),
        "does not match the CA certificate",
    )
    assert not (work / "n.pem").exists()
    _bad(vedette("ca", "list", "--ca-dir", work, cwd=work, ok=False), "not a vedette CA")


def test_sign_to_a_missing_directory_issues_nothing(work: Path, ca: Path):
    vedette("cert", "csr", "--cn", HOST, "--new-key", "m.key", "--out", "m.csr", cwd=work)
    _bad(
        vedette(
            "ca", "sign", "m.csr", "--ca-dir", ca, "--out", "no/such/dir/m.pem", cwd=work, ok=False
        ),
        "does not exist",
    )
    assert json.loads((ca / "index.json").read_text())["certificates"] == []
    assert list((ca / "issued").iterdir()) == []


def test_interrupted_issue_is_recovered_not_lost(work: Path, ca: Path):
    vedette("cert", "csr", "--cn", HOST, "--new-key", "m.key", "--out", "m.csr", cwd=work)
    vedette("ca", "sign", "m.csr", "--ca-dir", ca, "--out", "a.pem", cwd=work)
    # Simulate a crash after issued/SERIAL.pem was written but before index.json was: put
    # back the index as it was before the second issue.
    before = (ca / "index.json").read_text()
    vedette("ca", "sign", "m.csr", "--ca-dir", ca, "--out", "b.pem", cwd=work)
    (ca / "index.json").write_text(before)
    proc = vedette("ca", "list", "--ca-dir", ca, cwd=work)
    assert "recovered" in proc.stderr
    serials = {
        json.dumps(e["serial"]) for e in json.loads((ca / "index.json").read_text())["certificates"]
    }
    assert len(serials) == 2
    b = x509.load_pem_x509_certificates((work / "b.pem").read_bytes())[0]
    assert json.dumps(format(b.serial_number, "x")) in serials


# --- real TLS: openssl s_server --------------------------------------------------------------


class SServer:
    """``openssl s_server`` on ADDRESS:port serving a given certificate, key and chain."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def serve(self, cert: Path, key: Path, chain: Path | None = None) -> None:
        self.stop()
        args = [
            _require_openssl(),
            "s_server",
            "-accept",
            f"{ADDRESS}:{self.port}",
            "-cert",
            str(cert),
            "-key",
            str(key),
            "-quiet",
            "-naccept",
            "1000",
        ]
        if chain is not None:
            args += ["-cert_chain", str(chain)]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((ADDRESS, self.port), timeout=0.5):
                    return
            except OSError:
                assert self.proc.poll() is None, "s_server exited"
                time.sleep(0.05)
        raise AssertionError("s_server did not listen")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None

    @property
    def target(self) -> str:
        return f"https://{HOST}:{self.port}"

    def scan(self, *extra: str | Path) -> dict[str, object]:
        proc = vedette(
            "scan",
            self.target,
            "--resolve",
            f"{HOST}:{self.port}:{ADDRESS}",
            "--mode",
            "quick",
            "--no-store",
            "--json",
            *extra,
            cwd=self.work,
            ok=False,
        )
        assert proc.returncode in (0, 1), proc.stderr
        doc: dict[str, object] = json.loads(proc.stdout)
        return doc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((ADDRESS, 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def sserver(work: Path) -> Iterator[SServer]:
    server = SServer(work)
    try:
        yield server
    finally:
        server.stop()


def _cert_findings(doc: dict[str, object]) -> list[dict[str, object]]:
    findings = doc["findings"]
    assert isinstance(findings, list)
    return [f for f in findings if str(f["id"]).startswith("cert.")]


def test_vedette_ca_certificate_serves_tls_and_scans_clean(work: Path, ca: Path, sserver: SServer):
    vedette("cert", "csr", "--cn", HOST, "--new-key", "m.key", "--out", "m.csr", cwd=work)
    vedette(
        "ca", "sign", "m.csr", "--ca-dir", ca, "--public", "--out", "m.pem", "--leaf-only", cwd=work
    )
    sserver.serve(work / "m.pem", work / "m.key", ca / "chain.pem")
    assert _cert_findings(sserver.scan("--ca", ca / "root.pem")) == []
    # Without --ca the private root (not sent, as it should not be) is unknown: the path
    # stops at the intermediate, a whole chain under an unknown root (not a missing one).
    ids = {f["id"] for f in _cert_findings(sserver.scan())}
    assert ids == {"cert.unknown-root"}
    # cert inspect over the network sees the chain in order.
    doc = json.loads(
        vedette("cert", "inspect", sserver.target, "--ip", ADDRESS, "--json", cwd=work).stdout
    )
    assert [c["subject"] for c in doc["certificates"]] == [
        f"CN={HOST}",
        "CN=PKI Test Root Issuing CA 1,O=Vedette",
    ]
    assert doc["chain"]["order_problems"] == []
    # --out keeps the chain as served, in PEM, for bundle or convert.
    vedette("cert", "inspect", sserver.target, "--ip", ADDRESS, "--out", "served.pem", cwd=work)
    served = x509.load_pem_x509_certificates((work / "served.pem").read_bytes())
    assert [c.subject.rfc4514_string() for c in served] == [
        c["subject"] for c in doc["certificates"]
    ]


def test_csr_like_a_served_certificate_carries_exactly_its_names(work: Path, sserver: SServer):
    root = CertificateAuthority.create_root("Like Root")
    names = [HOST, "autodiscover.pkitest.test", "imap.pkitest.test", "192.0.2.25"]
    old = root.issue_intermediate("Like CA").issue_server(names, common_name=HOST)
    (work / "old.pem").write_bytes(old.cert_pem())
    (work / "old.key").write_bytes(old.key_pem())
    sserver.serve(work / "old.pem", work / "old.key")
    vedette(
        "cert",
        "csr",
        "--like",
        sserver.target,
        "--ip",
        ADDRESS,
        "--new-key",
        "new.key",
        "--out",
        "new.csr",
        cwd=work,
    )
    csr = x509.load_pem_x509_csr((work / "new.csr").read_bytes())
    assert csr.is_signature_valid
    assert csr.subject == old.cert.subject
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    old_san = old.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == list(old_san)
    # A fresh key, not the old one.
    assert csr.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != old.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _broken(kind: str, work: Path, ca: Path) -> tuple[Path, Path, Path | None]:
    """Certificate, key and chain for a server with problem ``kind``."""
    if kind == "self-signed":
        issued = self_signed_server([HOST])
        chain = None
    elif kind == "expired":
        # Signed by the test CA's own intermediate key, dated a year ago, valid 30 days.
        from vedette.pki.issue import issue_from_csr
        from vedette.pki.keys import generate_key, key_to_pem, load_private_key

        key = generate_key("ec:p256")
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name.from_rfc4514_string(f"CN={HOST}"))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        inter_key = load_private_key(
            (ca / "intermediate-key.pem").read_bytes(), None, source="test"
        )
        old = issue_from_csr(
            csr=csr,
            issuer=x509.load_pem_x509_certificate((ca / "intermediate.pem").read_bytes()),
            issuer_key=inter_key,
            profile="server",
            now=datetime.now(UTC) - timedelta(days=365),
            days=30,
        )
        (work / "b.pem").write_bytes(old.public_bytes(serialization.Encoding.PEM))
        (work / "b.key").write_bytes(key_to_pem(key))
        return work / "b.pem", work / "b.key", ca / "chain.pem"
    else:
        # Issued by the test's own CA, through vedette's CLI, broken in one way.
        cn = "other.pkitest.test" if kind == "name-mismatch" else HOST
        vedette("cert", "csr", "--cn", cn, "--new-key", "b.key", "--out", "b.csr", cwd=work)
        vedette(
            "ca",
            "sign",
            "b.csr",
            "--ca-dir",
            ca,
            "--public",
            "--out",
            "b.pem",
            "--leaf-only",
            cwd=work,
        )
        if kind == "chain-incomplete":
            return work / "b.pem", work / "b.key", None
        if kind == "chain-order":  # root, then the intermediate: out of order (and root sent)
            (work / "bad-chain.pem").write_bytes(
                (ca / "root.pem").read_bytes() + (ca / "chain.pem").read_bytes()
            )
            return work / "b.pem", work / "b.key", work / "bad-chain.pem"
        if kind == "chain-root-sent":
            (work / "bad-chain.pem").write_bytes(
                (ca / "chain.pem").read_bytes() + (ca / "root.pem").read_bytes()
            )
            return work / "b.pem", work / "b.key", work / "bad-chain.pem"
        return work / "b.pem", work / "b.key", ca / "chain.pem"
    (work / "b.pem").write_bytes(issued.cert_pem())
    (work / "b.key").write_bytes(issued.key_pem())
    return work / "b.pem", work / "b.key", chain


@pytest.mark.parametrize(
    "kind",
    [
        "expired",
        "self-signed",
        "name-mismatch",
        "chain-incomplete",
        "chain-order",
        "chain-root-sent",
    ],
)
def test_printed_fix_command_fixes_the_finding(work: Path, ca: Path, sserver: SServer, kind: str):
    cert, key, chain = _broken(kind, work, ca)
    sserver.serve(cert, key, chain)
    finding_id = f"cert.{kind}"
    findings = {f["id"]: f for f in _cert_findings(sserver.scan("--ca", ca / "root.pem"))}
    assert finding_id in findings, findings
    commands = findings[finding_id]["fix_commands"]
    assert isinstance(commands, list) and commands
    # The terminal report prints the same commands under "Run:".
    text = vedette(
        "scan",
        sserver.target,
        "--resolve",
        f"{HOST}:{sserver.port}:{ADDRESS}",
        "--mode",
        "quick",
        "--no-store",
        "--ca",
        ca / "root.pem",
        cwd=work,
        ok=False,
    ).stdout
    assert f"      Run: {commands[0]}\n" in text  # one line, ready to copy
    for command in commands:
        words = shlex.split(command)
        assert words[0] == "vedette"
        if "/path/to/ca-certificates" in words:
            # The one argument vedette cannot know: where the admin keeps the CA's files.
            words[words.index("/path/to/ca-certificates")] = str(ca)
        vedette(*words[1:], cwd=work)
    if kind.startswith("chain-"):
        if kind == "chain-incomplete":
            assert "--intermediates" in commands[0]
        else:
            assert "--intermediates" not in commands[0] and "--fetch" not in commands[0]
        full = x509.load_pem_x509_certificates((work / f"{HOST}-fullchain.pem").read_bytes())
        assert full[0] == x509.load_pem_x509_certificate(cert.read_bytes())
        assert [c.subject.rfc4514_string() for c in full[1:]] == [
            "CN=PKI Test Root Issuing CA 1,O=Vedette"
        ]
        # s_server takes the leaf with -cert and what follows it with -cert_chain.
        (work / "rest.pem").write_bytes(
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in full[1:])
        )
        sserver.serve(cert, key, work / "rest.pem")
    else:
        assert f"--like {sserver.target} --ip {ADDRESS}" in commands[0]
        vedette(
            "ca",
            "sign",
            f"{HOST}.csr",
            "--ca-dir",
            ca,
            "--public",
            "--out",
            "fixed.pem",
            "--leaf-only",
            cwd=work,
        )
        sserver.serve(work / "fixed.pem", work / f"{HOST}.key", ca / "chain.pem")
    assert _cert_findings(sserver.scan("--ca", ca / "root.pem")) == []


# --- real Dovecot: STARTTLS --like, and a vedette-issued certificate in service ----------------

DOVE_HOST = "mail.pkidove.test"
DOVE_ADDRESS = "127.0.0.41"


@pytest.fixture(scope="module")
def dovecot_vedette_ca(realservers_lock: None) -> Iterator[tuple[Path, object]]:
    """Dovecot (imap 143 STARTTLS + imaps 993) serving a chain made with vedette's CLI."""
    from tests.integration import realservers as rs

    directory = rs.WORK_ROOT / "pkitoolkit"
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(mode=0o755, parents=True)
    vedette("ca", "init", "ca", "--name", "Dovecot PKI Root", "--intermediate", cwd=directory)
    vedette(
        "cert",
        "csr",
        "--cn",
        DOVE_HOST,
        "--san",
        "imap.pkidove.test",
        "--new-key",
        "mail.key",
        "--out",
        "mail.csr",
        cwd=directory,
    )
    vedette(
        "ca",
        "sign",
        "mail.csr",
        "--ca-dir",
        "ca",
        "--public",
        "--out",
        "fullchain.pem",
        cwd=directory,
    )
    spec = rs.DovecotSpec(
        name="pkitoolkit-dovecot",
        address=DOVE_ADDRESS,
        imap=True,
        imaps=True,
        ssl="yes",
        chain_pem=directory / "fullchain.pem",
        key_pem=directory / "mail.key",
    )
    try:
        server = rs.start_dovecot(spec)
    except rs.ServerUnavailable as exc:
        unavailable(str(exc))
    try:
        yield directory, server
    finally:
        server.stop()


@pytest.mark.realserver
def test_real_dovecot_serves_vedette_ca_certificate_and_scans_clean(
    dovecot_vedette_ca: tuple[Path, object],
) -> None:
    directory, _server = dovecot_vedette_ca
    from tests.integration.realservers import run_scan

    pin = f"{DOVE_HOST}:*:{DOVE_ADDRESS}"
    targets = (f"imap://{DOVE_HOST}", f"imaps://{DOVE_HOST}")
    run = run_scan("--mode", "quick", "--resolve", pin, *targets, ca=directory / "ca" / "root.pem")
    for port in (143, 993):
        endpoint = run.endpoint(DOVE_ADDRESS, port)
        assert endpoint["tls"] is not None, endpoint
        assert len(endpoint["tls"]["chain"]) == 2  # leaf + vedette's intermediate
        assert {i for i in run.finding_ids(DOVE_ADDRESS, port) if i.startswith("cert.")} == set()
    # Independent check of the same server: openssl s_client over STARTTLS verifies the chain.
    proc = openssl(
        "s_client",
        "-connect",
        f"{DOVE_ADDRESS}:143",
        "-starttls",
        "imap",
        "-servername",
        DOVE_HOST,
        "-verify_hostname",
        DOVE_HOST,
        "-CAfile",
        directory / "ca" / "root.pem",
        "-verify_return_error",
        cwd=directory,
    )
    assert "Verify return code: 0 (ok)" in proc.stdout


@pytest.mark.realserver
def test_csr_like_real_dovecot_over_starttls_carries_exactly_its_names(
    dovecot_vedette_ca: tuple[Path, object], work: Path
) -> None:
    directory, _server = dovecot_vedette_ca
    served = x509.load_pem_x509_certificates((directory / "fullchain.pem").read_bytes())[0]
    vedette(
        "cert",
        "csr",
        "--like",
        f"imap://{DOVE_HOST}",
        "--ip",
        DOVE_ADDRESS,
        "--new-key",
        "renew.key",
        "--out",
        "renew.csr",
        cwd=work,
    )
    csr = x509.load_pem_x509_csr((work / "renew.csr").read_bytes())
    assert csr.subject == served.subject
    got = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    want = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(got) == list(want)
    assert [n.value for n in got] == [DOVE_HOST, "imap.pkidove.test"]


@pytest.mark.parametrize(
    ("clients", "expected"),
    [((), "RSA 2048"), (("--clients", "ios,outlook-win11"), "EC P-256")],
)
def test_default_key_type_suits_every_client_in_play(work: Path, clients, expected):
    out = vedette("key", "new", "--out", "k.pem", *clients, cwd=work).stdout
    assert expected in out
    _bad(
        vedette("key", "new", "--out", "x.pem", "--clients", "nokia", cwd=work, ok=False),
        "unknown client",
    )


@pytest.fixture
def aia_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    """An HTTP server on loopback publishing CA certificates (the caIssuers URL's target)."""
    import http.server
    import threading

    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/pkix-cert")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((ADDRESS, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{ADDRESS}:{server.server_address[1]}", files
    finally:
        server.shutdown()
        server.server_close()


def test_incomplete_chain_fixed_by_fetching_the_issuer(work: Path, sserver: SServer, aia_server):
    base, files = aia_server
    vedette(
        "ca",
        "init",
        "aia",
        "--name",
        "AIA Root",
        "--intermediate",
        "--key-type",
        "ec:p256",
        "--aia-url",
        f"{base}/issuing.cer",
        cwd=work,
    )
    inter = x509.load_pem_x509_certificate((work / "aia" / "intermediate.pem").read_bytes())
    files["/issuing.cer"] = inter.public_bytes(serialization.Encoding.DER)
    vedette("cert", "csr", "--cn", HOST, "--new-key", "m.key", "--out", "m.csr", cwd=work)
    vedette(
        "ca",
        "sign",
        "m.csr",
        "--ca-dir",
        "aia",
        "--public",
        "--leaf-only",
        "--out",
        "m.pem",
        cwd=work,
    )
    sserver.serve(work / "m.pem", work / "m.key")  # the intermediate is not sent
    findings = {f["id"]: f for f in _cert_findings(sserver.scan("--ca", work / "aia" / "root.pem"))}
    assert set(findings) == {"cert.chain-incomplete"}
    (command,) = findings["cert.chain-incomplete"]["fix_commands"]
    assert "--fetch" in command
    words = shlex.split(command)
    proc = vedette(*words[1:], cwd=work)  # exactly as printed
    # The private root is in no trust store: the bundle says where it stops, and why.
    assert "its issuer CN=AIA Root is in no file given nor the trust store" in proc.stderr
    full = x509.load_pem_x509_certificates((work / f"{HOST}-fullchain.pem").read_bytes())
    assert full[1] == inter
    openssl(
        "verify",
        "-CAfile",
        work / "aia" / "root.pem",
        "-untrusted",
        f"{HOST}-fullchain.pem",
        f"{HOST}-fullchain.pem",
        cwd=work,
    )
    (work / "rest.pem").write_bytes(inter.public_bytes(serialization.Encoding.PEM))
    sserver.serve(work / "m.pem", work / "m.key", work / "rest.pem")
    assert _cert_findings(sserver.scan("--ca", work / "aia" / "root.pem")) == []
    # Without --fetch the error names what is missing and where to get it.
    _bad(
        vedette("cert", "bundle", "m.pem", "--out", "x.pem", cwd=work, ok=False),
        "incomplete chain",
        f"{base}/issuing.cer",
    )
    assert not (work / "x.pem").exists()


def test_lint_with_pkilint_as_a_second_linter(work: Path, ca: Path):
    from vedette.pki import pkilint_adapter

    assert pkilint_adapter.available(), "pkilint is a test dependency (pyproject [test] extra)"
    vedette(
        "cert",
        "csr",
        "--cn",
        "mail.example.com",
        "--san",
        "under_score.example.com",
        "--new-key",
        "m.key",
        "--out",
        "m.csr",
        cwd=work,
    )
    vedette(
        "ca", "sign", "m.csr", "--ca-dir", ca, "--public", "--leaf-only", "--out", "m.pem", cwd=work
    )
    proc = vedette("cert", "lint", "m.pem", "--profile", "server", "--json", cwd=work, ok=False)
    assert proc.returncode == 1  # errors found
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "vedette.cert-lint/1" and doc["pkilint"] is True
    rules = {r["rule"]: r for r in doc["results"]}
    assert "dns-underscore" in rules  # vedette's rule
    pk = [r for r in doc["results"] if r["rule"].startswith("pkilint:")]
    assert pk, doc
    # pkilint independently flags the underscore and the missing AIA, and finds the CRL
    # distribution point that `ca init --crl-url` configured.
    assert any("under_score" in r["message"] for r in pk if r["level"] == "error"), pk
    assert any("authority_info_access_extension_absent" in r["rule"] for r in pk), pk
    assert not any("revocation_information_absent" in r["rule"] for r in pk), pk
    # The --public lifetime passes pkilint's validity check, SHOULD NOT included.
    assert not any("validity_period" in r["rule"] for r in pk), pk
    doc = json.loads(
        vedette(
            *("cert", "lint", "m.pem", "--profile", "server", "--json", "--no-pkilint"),
            cwd=work,
            ok=False,
        ).stdout
    )
    assert doc["pkilint"] is False
    assert not any(r["rule"].startswith("pkilint:") for r in doc["results"])
    # The terminal view names both linters and exits 1.
    proc = vedette("cert", "lint", "m.pem", "--profile", "server", cwd=work, ok=False)
    assert proc.returncode == 1 and "vedette + pkilint" in proc.stdout


def test_encrypted_ca_keys_need_the_passphrase(work: Path):
    vedette(
        "ca",
        "init",
        "enc",
        "--name",
        "Encrypted Root",
        "--key-type",
        "ec:p256",
        "--passout",
        "file:pw",
        cwd=work,
    )
    assert (
        (work / "enc" / "root-key.pem")
        .read_bytes()
        .startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    )
    assert (work / "enc" / "root-key.pem").stat().st_mode & 0o777 == 0o600
    openssl("pkey", "-in", work / "enc" / "root-key.pem", "-passin", "file:pw", "-noout", cwd=work)
    vedette("cert", "csr", "--cn", HOST, "--new-key", "m.key", "--out", "m.csr", cwd=work)
    # No terminal in the tests: a missing passphrase is an error, not a hang.
    _bad(
        vedette("ca", "sign", "m.csr", "--ca-dir", "enc", "--out", "m.pem", cwd=work, ok=False),
        "encrypted",
    )
    _bad(
        vedette(
            "ca",
            "sign",
            "m.csr",
            "--ca-dir",
            "enc",
            "--passin",
            "file:pw2",
            "--out",
            "m.pem",
            cwd=work,
            ok=False,
        ),
        "wrong passphrase",
    )
    _bad(
        vedette(
            "ca",
            "sign",
            "m.csr",
            "--ca-dir",
            "enc",
            "--passin",
            "prompt",
            "--out",
            "m.pem",
            cwd=work,
            ok=False,
        ),
        "no terminal",
    )
    assert not (work / "m.pem").exists()
    assert json.loads((work / "enc" / "index.json").read_text())["certificates"] == []
    vedette(
        "ca", "sign", "m.csr", "--ca-dir", "enc", "--passin", "file:pw", "--out", "m.pem", cwd=work
    )
    openssl("verify", "-CAfile", work / "enc" / "root.pem", "m.pem", cwd=work)


def test_pfx_to_pem_and_key_out(work: Path, ca: Path):
    _issue(work, ca)
    vedette(
        "cert",
        "convert",
        "m.pem",
        "m.pfx",
        "--key",
        "k.pem",
        "--passin",
        "file:pw",
        "--passout",
        "file:pw2",
        "--legacy",
        cwd=work,
    )
    proc = vedette("cert", "convert", "m.pfx", "back.pem", "--passin", "file:pw2", cwd=work)
    assert "the private key was not written" in proc.stderr
    vedette(
        "cert",
        "convert",
        "m.pfx",
        "back2.pem",
        "--passin",
        "file:pw2",
        "--key-out",
        "back.key",
        cwd=work,
    )
    assert (work / "back.key").stat().st_mode & 0o777 == 0o600
    a = openssl("pkey", "-in", "back.key", "-pubout", cwd=work).stdout
    b = openssl("x509", "-in", "back2.pem", "-noout", "-pubkey", cwd=work).stdout
    assert a == b
    assert (work / "back.pem").read_bytes() == (work / "back2.pem").read_bytes()
    openssl("verify", "-CAfile", ca / "root.pem", "-untrusted", "back.pem", "back.pem", cwd=work)


def test_client_and_ocsp_profiles_and_san_override(work: Path, ca: Path):
    vedette("cert", "csr", "--cn", "device-17", "--new-key", "d.key", "--out", "d.csr", cwd=work)
    vedette(
        "ca",
        "sign",
        "d.csr",
        "--ca-dir",
        ca,
        "--profile",
        "client",
        "--leaf-only",
        "--out",
        "d.pem",
        cwd=work,
    )
    out = openssl(
        "verify",
        "-CAfile",
        ca / "root.pem",
        "-untrusted",
        ca / "chain.pem",
        "-purpose",
        "sslclient",
        "d.pem",
        cwd=work,
    )
    assert "d.pem: OK" in out.stdout
    vedette(
        "ca",
        "sign",
        "d.csr",
        "--ca-dir",
        ca,
        "--profile",
        "ocsp",
        "--leaf-only",
        "--out",
        "o.pem",
        cwd=work,
    )
    text = openssl("x509", "-in", "o.pem", "-noout", "-text", cwd=work).stdout
    assert "OCSP Signing" in text and "OCSP No Check" in text
    # The signer's --san replaces the request's names.
    vedette(
        "cert",
        "csr",
        "--cn",
        HOST,
        "--san",
        "old.pkitest.test",
        "--new-key",
        "s.key",
        "--out",
        "s.csr",
        cwd=work,
    )
    vedette(
        "ca",
        "sign",
        "s.csr",
        "--ca-dir",
        ca,
        "--san",
        HOST,
        "--san",
        "new.pkitest.test",
        "--leaf-only",
        "--out",
        "s.pem",
        cwd=work,
    )
    text = openssl("x509", "-in", "s.pem", "-noout", "-ext", "subjectAltName", cwd=work).stdout
    assert "DNS:mail.pkitest.test, DNS:new.pkitest.test" in text and "old." not in text


def test_bundle_to_pkcs12_for_iis(work: Path, ca: Path):
    _issue(work, ca)
    leaf = x509.load_pem_x509_certificates((work / "m.pem").read_bytes())[0]
    (work / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    vedette(
        "cert",
        "bundle",
        "leaf.pem",
        "--intermediates",
        ca,
        "--ca",
        ca / "root.pem",
        "--to",
        "p12",
        "--key",
        "k.pem",
        "--passin",
        "file:pw",
        "--passout",
        "file:pw2",
        "--legacy",
        "--out",
        "iis.pfx",
        cwd=work,
    )
    dump = openssl(
        "pkcs12", "-in", "iis.pfx", "-nodes", "-legacy", "-passin", "file:pw2", cwd=work
    ).stdout
    assert dump.count("BEGIN CERTIFICATE") == 2 and "PRIVATE KEY" in dump
    # A key that is not the leaf's is refused, and nothing is written.
    vedette("key", "new", "--out", "other.key", cwd=work)
    _bad(
        vedette(
            "cert",
            "bundle",
            "leaf.pem",
            "--intermediates",
            ca,
            "--key",
            "other.key",
            "--out",
            "x.pem",
            cwd=work,
            ok=False,
        ),
        "does not match",
    )
    assert not (work / "x.pem").exists()


def test_unreachable_target_is_a_clean_error(work: Path):
    port = _free_port()  # nothing listens there
    _bad(
        vedette(
            "cert",
            "inspect",
            f"imaps://{HOST}:{port}",
            "--ip",
            ADDRESS,
            "--connect-timeout",
            "2",
            cwd=work,
            ok=False,
        ),
        "no certificate received",
    )
    _bad(
        vedette(
            "cert",
            "csr",
            "--like",
            f"https://{HOST}:{port}",
            "--ip",
            ADDRESS,
            "--new-key",
            "k.key",
            "--out",
            "r.csr",
            cwd=work,
            ok=False,
        ),
        "no certificate received",
    )
    assert not (work / "k.key").exists() and not (work / "r.csr").exists()


def test_inspect_terminal_view_escapes_and_dates(work: Path):
    root = CertificateAuthority.create_root("Hostile\x1b[2J Root")
    old = root.issue_server([HOST], not_before=datetime.now(UTC) - timedelta(days=100), days=40)
    (work / "old.pem").write_bytes(old.cert_pem() + root.issued.cert_pem())
    out = vedette("cert", "inspect", "old.pem", "-v", cwd=work).stdout
    assert "\x1b" not in out and "\\x1b[2J" in out
    assert "expired 60 days ago" in out
    assert "subjectAltName" in out or "Subject Alternative Name" in out or "DNS:" in out


def test_bundle_uses_intermediates_vedette_knows(work: Path, ca: Path, sserver: SServer):
    _issue(work, ca)
    leaf = x509.load_pem_x509_certificates((work / "m.pem").read_bytes())[0]
    (work / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    # Nothing given, nothing known: a clean error naming the missing issuer.
    _bad(
        vedette(
            "cert",
            "bundle",
            "leaf.pem",
            "--db",
            f"sqlite:///{work}/none.db",
            "--out",
            "x.pem",
            cwd=work,
            ok=False,
        ),
        "CN=PKI Test Root Issuing CA 1",
    )
    assert not (work / "none.db").exists()  # looking did not create a store
    # The CA directory is known: its intermediate and root complete the chain.
    vedette(
        "cert",
        "bundle",
        "leaf.pem",
        "--ca-dir",
        ca,
        "--db",
        f"sqlite:///{work}/none.db",
        "--out",
        "a.pem",
        cwd=work,
    )
    assert len(x509.load_pem_x509_certificates((work / "a.pem").read_bytes())) == 2
    # A stored scan of a server that sends the full chain is known too.
    (work / "k.key").write_bytes(
        openssl("pkey", "-in", "k.pem", "-passin", "file:pw", cwd=work).stdout.encode()
    )
    sserver.serve(work / "leaf.pem", work / "k.key", ca / "chain.pem")
    db = f"sqlite:///{work}/scans.db"
    proc = vedette(
        "scan",
        sserver.target,
        "--resolve",
        f"{HOST}:{sserver.port}:{ADDRESS}",
        "--mode",
        "quick",
        "--db",
        db,
        "--ca",
        ca / "root.pem",
        cwd=work,
        ok=False,
    )
    assert proc.returncode == 0, proc.stderr
    proc = vedette(
        "cert",
        "bundle",
        "leaf.pem",
        "--db",
        db,
        "--ca",
        ca / "root.pem",
        "--out",
        "b.pem",
        cwd=work,
    )
    assert (work / "b.pem").read_bytes() == (work / "a.pem").read_bytes()
    _bad(
        vedette(
            "cert",
            "bundle",
            "leaf.pem",
            "--db",
            db,
            "--no-known",
            "--out",
            "c.pem",
            cwd=work,
            ok=False,
        ),
        "incomplete chain",
    )


def test_malformed_extensions_are_one_line_errors(work: Path, ca: Path):
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtensionOID

    from vedette.pki.keys import generate_key

    key = generate_key("ec:p256")
    broken_san = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x03\x82")
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name.from_rfc4514_string(f"CN={HOST}"))
        .add_extension(broken_san, critical=False)
        .sign(key, hashes.SHA256())
    )
    (work / "bad.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    _bad(
        vedette("ca", "sign", "bad.csr", "--ca-dir", ca, "--out", "x.pem", cwd=work, ok=False),
        "do not parse",
    )
    assert not (work / "x.pem").exists()
    root = CertificateAuthority.create_root("Broken SAN Root")
    cert = certificate(
        HOST,
        issuer=signer(root),
        key=key,
        days=31,
        extensions=[(broken_san, False)],
        serial=12345678901234567890,
    ).cert
    (work / "bad.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out = vedette("cert", "inspect", "bad.pem", "-v", cwd=work).stdout
    assert "unreadable" in out
    proc = vedette("cert", "lint", "bad.pem", "--no-pkilint", cwd=work, ok=False)
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr
    proc = vedette(
        "cert",
        "csr",
        "--like",
        "bad.pem",
        "--new-key",
        "n.key",
        "--out",
        "n.csr",
        cwd=work,
        ok=False,
    )
    _bad(proc, "subjectAltName does not parse")
    assert not (work / "n.key").exists()


def _on_a_terminal(argv: list[str], answers: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``python -m vedette ARGV`` with a pseudo-terminal as its controlling terminal and
    type ``answers`` at each "Passphrase" prompt (getpass reads /dev/tty, not stdin)."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes vedette
        os.chdir(cwd)
        os.execv(sys.executable, [sys.executable, "-m", "vedette", *argv])
    output = b""
    answered = 0
    pending = list(answers)
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break  # the child closed the terminal
            if not chunk:
                break
            output += chunk
            # Answer a prompt only once, and only when it is fully written ("...: "): typing
            # earlier would race getpass turning echo off and flushing the input.
            fresh = output[answered:]
            if pending and b"Passphrase" in fresh and fresh.endswith(b": "):
                os.write(fd, pending.pop(0).encode() + b"\n")
                answered = len(output)
    finally:
        end = time.monotonic() + 10
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > end:  # still running: stop it and say what it printed
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os.close(fd)
                raise AssertionError(f"vedette {argv} did not finish; it printed: {output!r}")
            time.sleep(0.05)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_passphrase_prompt_on_a_terminal(work: Path):
    code, out = _on_a_terminal(
        ["key", "new", "--type", "ec:p256", "--out", "k.pem", "--passout", "prompt"],
        ["tty secret", "tty secret"],
        work,
    )
    assert code == 0, out
    assert "tty secret" not in out  # not echoed
    openssl("pkey", "-in", "k.pem", "-passin", "pass:tty secret", "-noout", cwd=work)
    code, out = _on_a_terminal(
        ["key", "new", "--out", "k2.pem", "--passout", "prompt"], ["one", "two"], work
    )
    assert code == 2 and "the two passphrases differ" in out
    assert not (work / "k2.pem").exists()


def test_no_partial_outputs_when_one_output_cannot_be_written(work: Path):
    _bad(
        vedette(
            "cert",
            "csr",
            "--cn",
            HOST,
            "--new-key",
            "k.key",
            "--out",
            "nodir/r.csr",
            cwd=work,
            ok=False,
        ),
        "does not exist",
    )
    assert not (work / "k.key").exists()
    (work / "r.csr").write_text("keep me")
    _bad(
        vedette(
            "cert", "csr", "--cn", HOST, "--new-key", "k.key", "--out", "r.csr", cwd=work, ok=False
        ),
        "already exists",
    )
    assert not (work / "k.key").exists() and (work / "r.csr").read_text() == "keep me"


def test_ca_list_json_states(work: Path, ca: Path):
    vedette("cert", "csr", "--cn", HOST, "--new-key", "m.key", "--out", "m.csr", cwd=work)
    vedette("ca", "sign", "m.csr", "--ca-dir", ca, "--out", "a.pem", cwd=work)
    vedette("ca", "sign", "m.csr", "--ca-dir", ca, "--out", "b.pem", cwd=work)
    a = x509.load_pem_x509_certificates((work / "a.pem").read_bytes())[0]
    vedette("ca", "revoke", format(a.serial_number, "x"), "--ca-dir", ca, cwd=work)
    doc = json.loads(vedette("ca", "list", "--json", "--ca-dir", ca, cwd=work).stdout)
    assert doc["schema"] == "vedette.ca-list/1"
    states = {e["serial"]: e["state"] for e in doc["certificates"]}
    assert states.pop(format(a.serial_number, "x")) == "revoked"
    assert list(states.values()) == ["valid"]
    entry = doc["certificates"][0]
    assert f"DNS:{HOST}" in entry["names"] and entry["not_after"] > entry["not_before"]
    assert doc["issuer"] and doc["root"]
