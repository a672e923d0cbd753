"""``vedette ca sign --profile server-client`` (issue 18): both EKUs, as OpenSSL reads them.

A request made by ``openssl req`` is signed by a CA made with ``vedette ca init``; ``openssl
x509 -text`` and ``openssl verify -purpose`` read the certificate, and ``ca list`` records the
profile.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli import run_vedette
from tests.integration.test_cert_inspect_cli import openssl

RUN_TIMEOUT = 60  # hang detector for one CLI run (about 1 s here)


def vedette(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = run_vedette(*args, timeout=RUN_TIMEOUT, cwd=cwd)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return proc


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("profiles")
    vedette("ca", "init", "ca", "--name", "Profiles Root", "--intermediate", cwd=work)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "pool.key", "-out", "pool.csr",
            "-subj", "/CN=pool.example.test", "-addext",
            "subjectAltName=DNS:pool.example.test,DNS:sip.example.test", cwd=work)  # fmt: skip
    return work


def _eku_line(text: str) -> str:
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if "X509v3 Extended Key Usage" in line)
    return lines[i + 1].strip()


@pytest.mark.parametrize(
    ("profile", "eku", "purposes"),
    [
        ("server-client", "TLS Web Server Authentication, TLS Web Client Authentication",
         ("sslserver", "sslclient")),
        ("server", "TLS Web Server Authentication", ("sslserver",)),
    ],
)  # fmt: skip
def test_profile_ekus_read_by_openssl(
    ca: Path, profile: str, eku: str, purposes: tuple[str, ...]
) -> None:
    out = f"{profile}.pem"
    vedette("ca", "sign", "pool.csr", "--ca-dir", "ca", "--profile", profile, "--out", out,
            cwd=ca)  # fmt: skip
    text = openssl("x509", "-in", out, "-noout", "-text", cwd=ca).stdout
    assert _eku_line(text) == eku
    assert "DNS:pool.example.test, DNS:sip.example.test" in text
    for purpose in ("sslserver", "sslclient"):
        proc = subprocess.run(
            ["openssl", "verify", "-CAfile", "ca/root.pem", "-untrusted", out,
             "-purpose", purpose, out],
            cwd=ca, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert (proc.returncode == 0) == (purpose in purposes), (purpose, proc.stdout, proc.stderr)
    listed = json.loads(vedette("ca", "list", "--ca-dir", "ca", "--json", cwd=ca).stdout)
    assert profile in {c["profile"] for c in listed["certificates"]}


def test_skype_preset_request_asks_for_both_ekus_and_is_signed_with_both(ca: Path) -> None:
    """The request of ``cert csr --for skype-server`` carries its EKUs (``openssl req -text``
    shows them under Requested Extensions), and ``ca sign --profile server-client`` issues
    them."""
    vedette("cert", "csr", "--for", "skype-server", "--cn", "skype.example.test", "--san",
            "sip.example.test", "--new-key", "skype.key", "--out", "skype.csr", cwd=ca)  # fmt: skip
    text = openssl("req", "-in", "skype.csr", "-noout", "-text", "-verify", cwd=ca)
    assert "verify OK" in text.stdout + text.stderr
    requested = text.stdout.split("Requested Extensions:", 1)[1]
    assert _eku_line(requested) == "TLS Web Server Authentication, TLS Web Client Authentication"
    assert "Public-Key: (2048 bit)" in text.stdout
    plain = openssl("req", "-in", "pool.csr", "-noout", "-text", cwd=ca).stdout
    assert "Extended Key Usage" not in plain
    vedette("ca", "sign", "skype.csr", "--ca-dir", "ca", "--profile", "server-client",
            "--out", "skype.pem", "--leaf-only", cwd=ca)  # fmt: skip
    cert = openssl("x509", "-in", "skype.pem", "-noout", "-text", cwd=ca).stdout
    assert _eku_line(cert) == "TLS Web Server Authentication, TLS Web Client Authentication"


#: The issuing CA and root of the CA directory, and nothing else (not the user's stored scans).
FROM_CA = ("--intermediates", "ca/chain.pem", "--ca", "ca/root.pem", "--no-known")


def test_bundle_to_p12_for_skype_carries_the_windows_attributes(ca: Path) -> None:
    """``cert bundle --to p12 --for skype-server`` writes the chain into a PFX with the
    provider, KeySpec and key set a Skype for Business server needs, as ``openssl pkcs12
    -info`` reads them; ``--csp``/``--keyspec`` given alone do the same."""
    vedette("cert", "csr", "--for", "skype-server", "--cn", "chat.example.test",
            "--new-key", "chat.key", "--out", "chat.csr", cwd=ca)  # fmt: skip
    vedette("ca", "sign", "chat.csr", "--ca-dir", "ca", "--profile", "server-client",
            "--out", "chat.pem", "--leaf-only", cwd=ca)  # fmt: skip
    runs = {
        "preset.pfx": ["--for", "skype-server"],
        "flags.pfx": ["--csp", "Microsoft RSA SChannel Cryptographic Provider",
                      "--keyspec", "exchange", "--machine-keyset"],
    }  # fmt: skip
    for name, flags in runs.items():
        proc = run_vedette("cert", "bundle", "chat.pem", *FROM_CA,
                           "--to", "p12", "--key", "chat.key", "--passout", "env:P12PW",
                           "--out", name, *flags, timeout=RUN_TIMEOUT, cwd=ca,
                           env={"P12PW": "pw"})  # fmt: skip
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        assert "KeySpec exchange" in proc.stdout, proc.stdout
        info = openssl("pkcs12", "-info", "-in", name, "-passin", "pass:pw", "-nodes",
                       *(["-legacy"] if name == "preset.pfx" else []), cwd=ca)  # fmt: skip
        text = info.stdout + info.stderr
        assert "Microsoft CSP Name: Microsoft RSA SChannel Cryptographic Provider" in text
        assert "X509v3 Key Usage: 10" in text
        assert "Microsoft Local Key set" in text
        # The leaf and its issuing CA, leaf first (what the server sends).
        assert text.count("-----BEGIN CERTIFICATE-----") == 2
    # The preset asks for a legacy (3DES) file, which Windows Server 2016 imports.
    legacy = openssl("pkcs12", "-info", "-in", "preset.pfx", "-passin", "pass:pw", "-noout",
                     "-legacy", cwd=ca)  # fmt: skip
    assert "pbeWithSHA1And3-KeyTripleDES-CBC" in legacy.stdout + legacy.stderr
    # Windows attributes without a PKCS#12 output: one error line, exit 2.
    proc = run_vedette("cert", "bundle", "chat.pem", *FROM_CA,
                       "--out", "chat-full.pem", "--keyspec", "exchange", timeout=RUN_TIMEOUT,
                       cwd=ca)  # fmt: skip
    assert proc.returncode == 2 and "--to p12" in proc.stderr
