"""``vedette cert inspect|convert|clients`` on PKCS#12 files, hostile inputs and expectations.

Run as a user runs them (``python -m vedette`` in a subprocess, with a timeout: a hang is a
failure, not a stuck suite). The PKCS#12 readout is compared with an independent
implementation, ``openssl pkcs12 -info -noout``, on files written by OpenSSL (with and without
``-legacy``), by cryptography's two encryption builders and by vedette itself. No network.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.cli import run_vedette
from tests.tools import require_program
from tests.unit.pkcs12_helpers import outer_ber, p12_encryption, rewrite_pfx
from vedette.pki import CertificateAuthority
from vedette.trust.simulate import spki_sha256

STARTCOM = Path(__file__).parents[1] / "data" / "startcom-chain.pem"
PASSWORD = "pw"
#: Hang detector for one CLI run: start-up and a PKCS#12 take about 1 s here.
RUN_TIMEOUT = 60

_ROOT = CertificateAuthority.create_root("Inspect Test Root")
_INTER = _ROOT.issue_intermediate("Inspect Test CA")
_LEAF = _INTER.issue_server(["inspect.example.test"])
_STRANGER = CertificateAuthority.create_root("Unrelated Root")


def vedette(*args: str | Path, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return run_vedette(*args, timeout=timeout, env={"P12PW": PASSWORD})


def _one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_program("openssl"), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def pems(tmp_path: Path) -> Path:
    (tmp_path / "leaf.pem").write_bytes(_LEAF.cert_pem())
    (tmp_path / "key.pem").write_bytes(_LEAF.key_pem())
    (tmp_path / "chain.pem").write_bytes(_INTER.issued.cert_pem() + _ROOT.issued.cert_pem())
    (tmp_path / "root.pem").write_bytes(_ROOT.issued.cert_pem())
    return tmp_path


def _cryptography_p12(legacy: bool) -> bytes:
    enc = p12_encryption(legacy=legacy, rounds=4096)
    chain = [_INTER.cert, _ROOT.cert]
    return pkcs12.serialize_key_and_certificates(b"mail", _LEAF.key, _LEAF.cert, chain, enc)


def _make(maker: str, work: Path) -> Path:
    out = work / f"{maker}.p12"
    export = ["pkcs12", "-export", "-in", "leaf.pem", "-inkey", "key.pem", "-certfile",
              "chain.pem", "-passout", f"pass:{PASSWORD}", "-name", "mail",
              "-out", out.name]  # fmt: skip
    if maker == "openssl":
        openssl(*export, cwd=work)
    elif maker == "openssl-legacy":
        openssl(*export, "-legacy", cwd=work)
    elif maker == "openssl-legacy-plain-certs":
        openssl(*export, "-legacy", "-certpbe", "NONE", "-iter", "5000", cwd=work)
    elif maker in ("cryptography-3des", "cryptography-aes"):
        out.write_bytes(_cryptography_p12(maker == "cryptography-3des"))
    elif maker == "ber":  # indefinite lengths and a chunked OCTET STRING, as NSS writes
        out.write_bytes(outer_ber(_cryptography_p12(legacy=False)))
    else:
        legacy = ["--legacy"] if maker == "vedette-legacy" else []
        proc = vedette("cert", "convert", work / "leaf.pem", out, "--chain", work / "chain.pem",
                       "--key", work / "key.pem", "--passout", "env:P12PW", *legacy)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    return out


def _openssl_info(path: Path) -> list[str]:
    """``openssl pkcs12 -info -noout``'s structure lines, without the bags of encrypted
    containers (vedette lists the bags readable without the password)."""
    proc = openssl("pkcs12", "-info", "-noout", "-legacy", "-in", path, "-passin",
                   f"pass:{PASSWORD}", cwd=path.parent)  # fmt: skip
    lines, encrypted = [], False
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith(("MAC:", "PKCS7 ")):
            encrypted = line.startswith("PKCS7 Encrypted data")
            lines.append(line)
        elif not encrypted and (
            line in ("Certificate bag", "Key bag") or line.startswith("Shrouded Keybag")
        ):
            lines.append(line)
    return lines


def _as_openssl(enc: dict[str, object]) -> str:
    if enc["scheme"] == "PBES2":
        return (
            f"PBES2, {enc['kdf']}, {enc['cipher']}, Iteration {enc['iterations']}, PRF {enc['prf']}"
        )
    # OpenSSL spells RFC 7292's pbeWithSHAAnd... as pbeWithSHA1And...
    return f"{str(enc['scheme']).replace('SHAAnd', 'SHA1And')}, Iteration {enc['iterations']}"


def _vedette_info(doc: dict[str, object]) -> list[str]:
    p12 = doc["pkcs12"]
    assert isinstance(p12, dict)
    lines = [f"MAC: {p12['mac']['digest']}, Iteration {p12['mac']['iterations']}"]
    bag_lines = {"certificate": "Certificate bag", "key": "Key bag"}
    for container in p12["containers"]:
        if container["encryption"] is not None:
            lines.append(f"PKCS7 Encrypted data: {_as_openssl(container['encryption'])}")
            continue
        lines.append("PKCS7 Data")
        for bag in container["bags"]:
            if bag["kind"] == "shrouded-key":
                lines.append(f"Shrouded Keybag: {_as_openssl(bag['encryption'])}")
            else:
                lines.append(bag_lines[bag["kind"]])
    return lines


@pytest.mark.parametrize(
    ("maker", "profile"),
    [
        ("openssl", "modern"),
        ("openssl-legacy", "legacy"),
        ("openssl-legacy-plain-certs", "legacy"),
        ("cryptography-3des", "legacy"),
        ("cryptography-aes", "modern"),
        ("ber", "modern"),
        ("vedette", "modern"),
        ("vedette-legacy", "legacy"),
    ],
)
def test_pkcs12_readout_matches_openssl_info(pems: Path, maker: str, profile: str):
    path = _make(maker, pems)
    proc = vedette("cert", "inspect", path, "--passin", "env:P12PW", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert _vedette_info(doc) == _openssl_info(path)
    p12 = doc["pkcs12"]
    assert p12["encryption_profile"] == profile
    assert p12["duplicates"] == [] and p12["orphans"] == []
    text = vedette("cert", "inspect", path, "--passin", "env:P12PW").stdout
    assert f"PKCS#12  {profile} encryption" in text
    assert ("HMAC-SHA1" in text) == (profile == "legacy")
    if profile == "legacy":
        assert "(legacy)" in text and "(modern)" not in text
    else:
        assert "AES-256-CBC" in text and "(legacy)" not in text


def test_duplicated_certificates_and_certificates_on_no_chain(tmp_path: Path):
    enc = serialization.BestAvailableEncryption(b"pw")
    extra = [_INTER.cert, _INTER.cert, _ROOT.cert, _STRANGER.cert]
    path = tmp_path / "messy.pfx"
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"m", _LEAF.key, _LEAF.cert, extra, enc))
    doc = json.loads(vedette("cert", "inspect", path, "--passin", "env:P12PW", "--json").stdout)
    p12 = doc["pkcs12"]
    assert [(d["subject"], d["count"], d["certificates"]) for d in p12["duplicates"]] == [
        ("CN=Inspect Test CA", 2, [2, 3])
    ]
    assert [o["subject"] for o in p12["orphans"]] == ["CN=Unrelated Root"]
    text = " ".join(vedette("cert", "inspect", path, "--passin", "env:P12PW").stdout.split())
    assert "duplicated: CN=Inspect Test CA: 2 copies (certificates 2, 3)" in text
    assert "on no chain: CN=Unrelated Root (certificate 5)" in text
    # A clean file has neither.
    clean = tmp_path / "clean.pfx"
    clean.write_bytes(
        pkcs12.serialize_key_and_certificates(b"m", _LEAF.key, _LEAF.cert, extra[1:3], enc)
    )
    doc = json.loads(vedette("cert", "inspect", clean, "--passin", "env:P12PW", "--json").stdout)
    assert doc["pkcs12"]["duplicates"] == [] and doc["pkcs12"]["orphans"] == []


@pytest.mark.parametrize("passin", [True, False])
def test_huge_mac_iteration_count_is_refused_fast(tmp_path: Path, passin: bool):
    path = tmp_path / "hostile.pfx"
    path.write_bytes(rewrite_pfx(_cryptography_p12(legacy=True), mac_iterations=2**31 - 1))
    args = ["--passin", "env:P12PW"] if passin else []
    started = time.monotonic()
    proc = vedette("cert", "inspect", path, *args)  # before the cap: 390 s of CPU
    assert time.monotonic() - started < RUN_TIMEOUT
    _one_line_error(
        proc,
        "MAC iteration count 2147483647 exceeds vedette's limit of 2,000,000",
        "write at most 200,000",
    )
    # Every command reading files goes through the same reader.
    proc = vedette("cert", "convert", path, tmp_path / "out.pem", "--passin", "env:P12PW")
    _one_line_error(proc, "MAC iteration count 2147483647")
    assert not (tmp_path / "out.pem").exists()


def test_huge_key_iteration_count_is_refused(pems: Path):
    out = pems / "slow-key.p12"
    openssl("pkcs12", "-export", "-in", "leaf.pem", "-inkey", "key.pem", "-passout",
            f"pass:{PASSWORD}", "-certpbe", "NONE", "-iter", "2000001", "-nomaciter",
            "-out", out.name, cwd=pems)  # fmt: skip
    proc = vedette("cert", "inspect", out, "--passin", "env:P12PW")
    _one_line_error(proc, "shrouded key #1 iteration count 2000001 exceeds vedette's limit")


@pytest.mark.parametrize(
    "command",
    [
        ("cert", "inspect", "{input}"),
        ("cert", "convert", "{input}", "{tmp}/out.pem"),
        ("cert", "lint", "{input}"),
        ("cert", "clients", "{input}", "--host", "x.example.test"),
        ("cert", "clients", str(STARTCOM), "--inventory", "{input}"),
        ("cert", "csr", "--key", "{input}", "--cn", "x.example.test", "--out", "{tmp}/x.csr"),
        # --ca and --client-profile are read by the trust code, not the PKI toolkit
        ("cert", "clients", str(STARTCOM), "--ca", "{input}"),
        ("cert", "clients", str(STARTCOM), "--client-profile", "{input}"),
        ("cert", "bundle", str(STARTCOM), "--ca", "{input}", "--out", "{tmp}/b.pem"),
        ("scan", "--no-store", "--ca", "{input}", "127.0.0.1:1", "--service", "imaps"),
        ("scan", "--no-store", "--client-profile", "{input}", "127.0.0.1:1", "--service", "imaps"),
    ],
)
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_fifo_and_devices_are_refused_not_waited_on(tmp_path: Path, command, kind: str):
    if kind == "fifo":
        source = tmp_path / "pipe.pem"
        os.mkfifo(source)  # no writer: reading it would block forever
        what = "is a FIFO (named pipe), not a regular file"
    else:
        source = Path("/dev/zero")  # never ends
        what = "is a character device, not a regular file"
    argv = [a.format(input=source, tmp=tmp_path) for a in command]
    proc = vedette(*argv, timeout=RUN_TIMEOUT)  # a hang fails here with TimeoutExpired
    _one_line_error(proc, str(source), what)


def test_oversized_input_is_refused(tmp_path: Path):
    big = tmp_path / "big.pem"
    with big.open("wb") as f:
        f.truncate(16 * 1024 * 1024 + 1)  # sparse: costs no disk
    _one_line_error(vedette("cert", "inspect", big), "larger than 16 MiB")


def test_convert_to_sst_says_it_is_not_supported(pems: Path):
    proc = vedette("cert", "convert", pems / "leaf.pem", pems / "chain.sst")
    _one_line_error(
        proc, ".sst (a Microsoft serialized certificate store) output is not supported yet",
        "pem, der, p7b (.p7b/.p7c) and p12 (.pfx/.p12)",
    )  # fmt: skip
    assert ".cer" not in proc.stderr
    assert not (pems / "chain.sst").exists()
    proc = vedette("cert", "convert", pems / "leaf.pem", pems / "chain.cer")
    _one_line_error(proc, "--to pem|der|p7b|p12", ".cer is ambiguous")


def test_cert_clients_expect_issuer_and_pin(pems: Path):
    chain = pems / "served.pem"
    chain.write_bytes(_LEAF.cert_pem() + _INTER.issued.cert_pem())
    base = ["cert", "clients", chain, "--host", "inspect.example.test", "--ca", pems / "root.pem"]
    pin = f"sha256:{spki_sha256(_LEAF.cert)}"
    good = vedette(*base, "--expect-issuer", "Inspect Test CA", "--pin", pin, "--json")
    assert good.returncode == 0, good.stdout + good.stderr
    assert json.loads(good.stdout)["findings"] == []

    wrong_pin = "sha256:" + "ab" * 32
    bad = vedette(*base, "--expect-issuer", "Let's Encrypt", "--pin", wrong_pin, "--json")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    findings = {f["id"]: f for f in json.loads(bad.stdout)["findings"]}
    assert set(findings) == {"cert.unexpected-issuer", "cert.pin-mismatch"}
    assert "Let's Encrypt" in findings["cert.unexpected-issuer"]["detail"]
    assert spki_sha256(_LEAF.cert) in findings["cert.pin-mismatch"]["detail"]

    text = vedette(*base, "--pin", wrong_pin)
    assert text.returncode == 1
    assert re.search(r"HIGH cert\.pin-mismatch", text.stdout)
    assert "cert.unexpected-issuer" not in text.stdout
