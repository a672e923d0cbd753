"""PFX files for Windows services (issue 18): vedette against OpenSSL, attribute by attribute.

For each combination of KeySpec, encryption and key set, OpenSSL writes a file with
``openssl pkcs12 -export -CSP NAME -keyex|-keysig [-LMK]`` and vedette writes one from the same
key and certificates with ``vedette cert convert --csp NAME --keyspec ... [--machine-keyset]``.
Then:

* ``openssl pkcs12 -info -nodes`` reads both, with the password, and prints the same structure
  (MAC, containers, algorithms, iteration counts) and the same bag and key attributes
  (``Microsoft CSP Name``, ``Microsoft Local Key set``, ``friendlyName``, ``localKeyID``,
  ``X509v3 Key Usage: 10|80``);
* ``vedette cert inspect`` reads both and names the provider, KeySpec and key set;
* cryptography's loader opens vedette's file (``tests/unit/test_pkcs12_write.py`` too).

vedette's legacy files encrypt the certificates with 3DES where ``openssl -legacy`` uses RC2-40
(Windows reads both; RC2-40 is no protection), so OpenSSL's legacy file is made with
``-certpbe PBE-SHA1-3DES`` for the comparison. No network.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.cli import run_vedette
from tests.integration.test_cert_inspect_cli import _one_line_error, openssl
from vedette.pki import CertificateAuthority

PASSWORD = "pw"
SCHANNEL = "Microsoft RSA SChannel Cryptographic Provider"
RUN_TIMEOUT = 60  # hang detector for one CLI run (about 1 s here)

_ROOT = CertificateAuthority.create_root("Windows PFX Root")
_INTER = _ROOT.issue_intermediate("Windows PFX CA")
_LEAF = _INTER.issue_server(["skype-pool.example.test"], key_spec="rsa:2048")


def vedette(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_vedette(*args, timeout=RUN_TIMEOUT, env={"P12PW": PASSWORD})


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "leaf.pem").write_bytes(_LEAF.cert_pem())
    (tmp_path / "key.pem").write_bytes(_LEAF.key_pem())
    (tmp_path / "chain.pem").write_bytes(_INTER.issued.cert_pem() + _ROOT.issued.cert_pem())
    return tmp_path


def _openssl_export(work: Path, name: str, *flags: str) -> Path:
    openssl("pkcs12", "-export", "-in", "leaf.pem", "-inkey", "key.pem", "-certfile",
            "chain.pem", "-name", "mail", "-passout", f"pass:{PASSWORD}", "-out", name,
            *flags, cwd=work)  # fmt: skip
    return work / name


def _vedette_export(work: Path, name: str, *flags: str) -> Path:
    proc = vedette("cert", "convert", work / "leaf.pem", work / name, "--key", work / "key.pem",
                   "--chain", work / "chain.pem", "--friendly-name", "mail", "--passout",
                   "env:P12PW", *flags)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return work / name


def _info(path: Path) -> list[str]:
    """``openssl pkcs12 -info -nodes``, PEM blocks left out: the structure lines, and every
    ``Bag Attributes`` / ``Key Attributes`` block with its lines."""
    proc = openssl("pkcs12", "-info", "-nodes", "-legacy", "-in", path, "-passin",
                   f"pass:{PASSWORD}", cwd=path.parent)  # fmt: skip
    out, in_pem = [], False
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("-----BEGIN"):
            in_pem = True
        elif line.startswith("-----END"):
            in_pem = False
        elif not in_pem and line.strip():
            out.append(line.rstrip())
    return out


def _mac_count(line: str) -> str:
    return line.split(", Iteration")[0] if line.startswith("MAC:") else line


# keyspec, legacy, machine key set
CASES = [
    ("exchange", False, True),
    ("signature", False, False),
    ("exchange", True, False),
    ("signature", True, True),
]


@pytest.mark.parametrize(("keyspec", "legacy", "lmk"), CASES)
def test_vedette_writes_what_openssl_writes(work: Path, keyspec: str, legacy: bool, lmk: bool):
    ossl_flags = ["-CSP", SCHANNEL, "-keyex" if keyspec == "exchange" else "-keysig"]
    ved_flags = ["--csp", SCHANNEL, "--keyspec", keyspec]
    if lmk:
        ossl_flags.append("-LMK")
        ved_flags.append("--machine-keyset")
    if legacy:
        ossl_flags += ["-legacy", "-certpbe", "PBE-SHA1-3DES"]
        ved_flags.append("--legacy")
    else:
        ossl_flags += ["-iter", "200000"]  # vedette's PBKDF2 count
    theirs = _info(_openssl_export(work, "openssl.pfx", *ossl_flags))
    ours_path = _vedette_export(work, "vedette.pfx", *ved_flags)
    ours = _info(ours_path)
    if not legacy:  # OpenSSL's -iter sets the MAC's count too; vedette's MAC keeps 2048
        assert "MAC: sha256, Iteration 2048" in ours
        theirs = [_mac_count(line) for line in theirs]
        ours = [_mac_count(line) for line in ours]
    assert ours == theirs
    # What the comparison covers (so that an empty readout cannot pass).
    assert f"    Microsoft CSP Name: {SCHANNEL}" in ours
    assert ("    Microsoft Local Key set: <No Values>" in ours) is lmk
    assert f"    X509v3 Key Usage: {'10' if keyspec == 'exchange' else '80'}" in ours
    assert "    friendlyName: mail" in ours
    assert any(line.startswith("MAC: sha1" if legacy else "MAC: sha256") for line in ours)
    assert ours.count("Certificate bag") == 3
    # cryptography opens vedette's file, key and chain.
    p12 = pkcs12.load_pkcs12(ours_path.read_bytes(), PASSWORD.encode())
    assert p12.cert is not None and p12.cert.certificate == _LEAF.cert
    assert [c.certificate for c in p12.additional_certs] == [_INTER.cert, _ROOT.cert]
    assert ours_path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("keyspec", "legacy", "lmk"), CASES)
def test_inspect_reads_openssl_and_vedette_files_alike(
    work: Path, keyspec: str, legacy: bool, lmk: bool
):
    flags = ["-CSP", SCHANNEL, "-keyex" if keyspec == "exchange" else "-keysig"]
    flags += (["-LMK"] if lmk else []) + (["-legacy"] if legacy else [])
    ved = ["--csp", SCHANNEL, "--keyspec", keyspec] + (["--machine-keyset"] if lmk else [])
    files = [
        _openssl_export(work, "openssl.pfx", *flags),
        _vedette_export(work, "vedette.pfx", *ved, *(["--legacy"] if legacy else [])),
    ]
    for path in files:
        proc = vedette("cert", "inspect", path, "--passin", "env:P12PW", "--json")
        assert proc.returncode == 0, proc.stderr
        windows = json.loads(proc.stdout)["windows"]
        assert windows["csp_name"] == SCHANNEL
        assert (windows["provider_api"], windows["provider_type"]) == ("capi", 12)
        assert windows["keyspec"] == keyspec and windows["keyspec_read"]
        assert windows["key_usage"] == ("10" if keyspec == "exchange" else "80")
        assert windows["local_machine_keyset"] is lmk
        text = " ".join(vedette("cert", "inspect", path, "--passin", "env:P12PW").stdout.split())
        assert f"provider: {SCHANNEL} (CryptoAPI CSP, provider type 12)" in text
        assert f"KeySpec: {keyspec} (key usage attribute" in text
        if keyspec == "signature":  # not what a Skype server needs: say so, and the fix
            assert "Skype for Business Server 2015 needs a CAPI key with KeySpec exchange" in text
            assert "--keyspec exchange" in text
        else:
            assert "what Skype for Business Server 2015 needs" in text


def test_without_a_csp_name_inspect_gives_the_certutil_import(work: Path):
    path = _openssl_export(work, "plain.pfx")
    text = " ".join(vedette("cert", "inspect", path, "--passin", "env:P12PW").stdout.split())
    assert "provider: none named (the importing tool chooses)" in text
    assert "the MMC and certutil -importpfx put the key in a CNG key storage provider" in text
    assert "Skype for Business Server 2015 needs a CAPI key with KeySpec exchange" in text
    assert "Invalid provider type specified" in text
    assert f'Run: certutil -csp "{SCHANNEL}" -importpfx {path}' in text
    # The rewrite inspect suggests works (with env: instead of prompt) and fixes the file.
    fixed = work / "plain-capi.pfx"
    proc = vedette("cert", "convert", path, fixed, "--passin", "env:P12PW", "--csp", SCHANNEL,
                   "--keyspec", "exchange", "--passout", "env:P12PW")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"Run: vedette cert convert {path} {fixed} --passin prompt" in text
    doc = json.loads(vedette("cert", "inspect", fixed, "--passin", "env:P12PW", "--json").stdout)
    assert (doc["windows"]["csp_name"], doc["windows"]["keyspec"]) == (SCHANNEL, "exchange")
    assert doc["windows"]["commands"] == []


def test_without_passin_the_provider_shows_and_the_keyspec_needs_the_password(work: Path):
    path = _openssl_export(work, "o.pfx", "-CSP", SCHANNEL, "-keyex")
    proc = vedette("cert", "inspect", path, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    windows = doc["windows"]
    assert windows["csp_name"] == SCHANNEL and not windows["keyspec_read"]
    assert windows["keyspec"] is None
    assert doc["certificates"] == []
    text = " ".join(vedette("cert", "inspect", path).stdout.split())
    assert "KeySpec: not read (needs --passin)" in text
    assert "give --passin to read it" in text


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--keyspec", "3"], ["KeySpec '3'", "exchange (AT_KEYEXCHANGE, 1)"]),
        (["--keyspec", "x" * 5000], ["KeySpec", "..."]),
        (["--csp", "Provider\x1b[2J"], ["unprintable character U+001B"]),
        (["--csp", "y" * 300], ["300 characters"]),
    ],
)
def test_absurd_windows_options_are_one_line_errors(work: Path, flags: list[str], words):
    proc = vedette("cert", "convert", work / "leaf.pem", work / "x.pfx", "--key",
                   work / "key.pem", "--passout", "env:P12PW", *flags)  # fmt: skip
    _one_line_error(proc, *words)
    assert not (work / "x.pfx").exists()


def test_windows_options_need_a_pkcs12_with_a_key(work: Path):
    proc = vedette("cert", "convert", work / "leaf.pem", work / "x.pem", "--key",
                   work / "key.pem", "--keyspec", "exchange")  # fmt: skip
    _one_line_error(proc, "PKCS#12")
    proc = vedette("cert", "convert", work / "leaf.pem", work / "x.pfx", "--csp", SCHANNEL,
                   "--passout", "env:P12PW")  # fmt: skip
    _one_line_error(proc, "private key")


@pytest.mark.parametrize("cut", [1, 40, 400, 1500])
def test_truncated_pfx_is_one_line_error(work: Path, cut: int):
    good = _vedette_export(work, "good.pfx", "--csp", SCHANNEL, "--keyspec", "exchange")
    bad = work / "bad.pfx"
    bad.write_bytes(good.read_bytes()[:-cut])
    for passin in ([], ["--passin", "env:P12PW"]):
        _one_line_error(vedette("cert", "inspect", bad, *passin), "bad.pfx")
