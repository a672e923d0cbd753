"""``--for PRESET`` on ``cert convert`` and ``cert csr``, and ``cert csr --inf``, as a user runs
them; the PFX a preset writes is read by ``openssl pkcs12 -info``."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cert_inspect_cli import _one_line_error, openssl
from tests.integration.test_pkcs12_windows import SCHANNEL, _info, vedette, work

__all__ = ["work"]  # the fixture


def test_convert_for_skype_server_writes_the_attributes_and_legacy_encryption(work: Path):
    out = work / "skype.pfx"
    proc = vedette("cert", "convert", work / "leaf.pem", out, "--key", work / "key.pem",
                   "--chain", work / "chain.pem", "--for", "skype-server", "--passout",
                   "env:P12PW")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "SHA1-3DES (legacy)" in text
    assert "CRL DP: required" in text and "serverAuth, clientAuth" in text
    assert "unverified:" in text and "source:" in text
    info = _info(out)
    assert f"    Microsoft CSP Name: {SCHANNEL}" in info
    assert "    X509v3 Key Usage: 10" in info
    assert "    Microsoft Local Key set: <No Values>" in info
    assert any(line.startswith("MAC: sha1") for line in info)
    # An explicit flag wins over the preset.
    out2 = work / "sig.pfx"
    proc = vedette("cert", "convert", work / "leaf.pem", out2, "--key", work / "key.pem",
                   "--for", "skype-server", "--keyspec", "signature", "--passout",
                   "env:P12PW")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "    X509v3 Key Usage: 80" in _info(out2)


def test_convert_for_iis_names_no_provider(work: Path):
    out = work / "iis.pfx"
    proc = vedette("cert", "convert", work / "leaf.pem", out, "--key", work / "key.pem",
                   "--for", "iis", "--passout", "env:P12PW")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    info = _info(out)
    assert not any("Microsoft CSP Name" in line or "Key Usage" in line for line in info)
    assert "    Microsoft Local Key set: <No Values>" in info


def test_csr_inf_for_skype_server(work: Path):
    out = work / "skype.inf"
    proc = vedette("cert", "csr", "--inf", "--for", "skype-server", "--cn", "pool.example.test",
                   "--san", "sip.example.test", "--out", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    inf = out.read_bytes().decode()
    assert inf.count("\r\n") == inf.count("\n")
    for line in (
        'ProviderName = "Microsoft RSA SChannel Cryptographic Provider"',
        "ProviderType = 12",
        "KeySpec = 1",
        "KeyLength = 2048",
        "Exportable = TRUE",
        "OID = 1.3.6.1.5.5.7.3.2",
        '_continue_ = "dns=sip.example.test&"',
    ):
        assert line in inf
    assert "Run: certreq -new skype.inf request.csr" in " ".join(proc.stdout.split())


def test_csr_for_lync_server_makes_an_rsa_2048_key(work: Path):
    proc = vedette("cert", "csr", "--for", "lync-server", "--cn", "pool.example.test",
                   "--new-key", work / "new.key", "--out", work / "new.csr")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = openssl("req", "-in", work / "new.csr", "-noout", "-text", cwd=work).stdout
    assert "Public-Key: (2048 bit)" in text and "rsaEncryption" in text


def test_preset_errors_are_one_line(work: Path):
    inf, pfx = work / "x.inf", work / "x.pfx"
    _one_line_error(vedette("cert", "csr", "--inf", "--cn", "x.test", "--out", inf), "--for")
    with_key = ["--new-key", work / "k", "--out", inf]
    proc = vedette("cert", "csr", "--inf", "--for", "iis", "--cn", "x.test", *with_key)
    _one_line_error(proc, "drop --key")
    bad = ["--for", "lotus-notes", "--passout", "env:P12PW"]
    proc = vedette("cert", "convert", work / "leaf.pem", pfx, "--key", work / "key.pem", *bad)
    _one_line_error(proc, "no preset 'lotus-notes'", "skype-server")
    assert not inf.exists() and not pfx.exists()
