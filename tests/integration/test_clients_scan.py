"""The client matrix end to end: vedette scan against OpenSSL's s_server on loopback.

Each server is given a chain with one problem (SHA-512 intermediate, SHA-1 leaf, 1024-bit key,
missing intermediate, no EKU, long validity) or none, and the test reads the matrix of
``vedette scan --json``: the right clients fail, with the right reason, and a clean server makes
no client fail. Where a real client exists on this machine (Python's ssl, openssl s_client) the
test also checks that the simulated verdict is what the real client does against the same server.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from tests.builders import SERVER_AUTH, certificate, signer
from tests.tools import require_program
from vedette.pki import CertificateAuthority
from vedette.x509.legacy_algorithms import resign_sha1

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

HOST = "mail.vedette.test"


def _openssl() -> str:
    found = require_program("openssl")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pem(cert) -> bytes:
    return cert.public_bytes(Encoding.PEM)


def _build(tmp: Path, problem: str) -> None:
    """Write root.pem, leaf.pem + extra.pem (what the server sends) and key.pem for ``problem``."""
    root = CertificateAuthority.create_root("Clients Test Root", key_spec="rsa:2048")
    inter = root.issue_intermediate(
        "Clients Test CA",
        key_spec="rsa:2048",
        hash_alg="sha512" if problem == "sha512" else "sha256",
    )
    made = certificate(
        HOST,
        issuer=signer(inter),
        key_type="rsa:1024" if problem == "rsa1024" else "rsa:2048",
        days=900 if problem == "validity" else 90,
        ca=False,
        key_ids=True,
        names=(HOST,),
        eku=() if problem == "no-eku" else (SERVER_AUTH,),
    )
    cert, leaf_key = made.cert, made.key
    if problem == "sha1":
        key = inter.issued.key
        assert not isinstance(key, ed25519.Ed25519PrivateKey)
        cert = resign_sha1(cert, key)
    (tmp / "root.pem").write_bytes(_pem(root.cert))
    (tmp / "leaf.pem").write_bytes(_pem(cert))
    # What the server sends after its own certificate (nothing when the intermediate is missing).
    (tmp / "extra.pem").write_bytes(b"" if problem == "missing-intermediate" else _pem(inter.cert))
    key_path = tmp / "key.pem"
    key_path.write_bytes(leaf_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    key_path.chmod(0o600)


@contextlib.contextmanager
def s_server(tmp: Path, *flags: str) -> Iterator[int]:
    openssl = _openssl()
    port = _free_port()
    extra = tmp / "extra.pem"
    chain = ["-cert_chain", str(extra)] if extra.read_bytes() else []
    proc = subprocess.Popen(
        [
            openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-www", "-quiet",
            "-cert", str(tmp / "leaf.pem"), "-key", str(tmp / "key.pem"), *chain,
            "-cipher", "ALL:@SECLEVEL=0", *flags,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("openssl s_server did not start")
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


def scan(port: int, tmp: Path, *extra: str, mode: str = "quick") -> dict:
    proc = subprocess.run(
        [
            sys.executable, "-m", "vedette", "scan", "--mode", mode, "--json", "--no-store",
            "--ca", str(tmp / "root.pem"), "--ip", "127.0.0.1", f"https://{HOST}:{port}", *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def verdicts(doc: dict) -> dict[str, dict]:
    (matrix,) = doc["clients"]
    return {v["profile"]: v for v in matrix["verdicts"]}


def codes(v: dict) -> set[str]:
    return {r["code"] for r in v["reasons"]}


def test_clean_server_makes_no_client_fail(tmp_path):
    _build(tmp_path, "clean")
    with s_server(tmp_path, "-tls1_2") as port:
        doc = scan(port, tmp_path)
    vs = verdicts(doc)
    assert len(vs) >= 30
    assert [p for p, v in vs.items() if v["outcome"] == "fails"] == []
    # Clients whose highest version is TLS 1.2 meet the server's TLS 1.2 for sure.
    assert vs["outlook-2016-win10"]["outcome"] in ("works", "unknown")
    assert vs["ios-13"]["outcome"] in ("works", "unknown")
    works = [p for p, v in vs.items() if v["outcome"] == "works"]
    assert len(works) >= 10, vs
    (matrix,) = doc["clients"]
    assert any("--ca" in n for n in matrix["notes"])


def test_sha512_intermediate_fails_lync_on_windows_7_only(tmp_path):
    _build(tmp_path, "sha512")
    with s_server(tmp_path, "-tls1_2") as port:
        doc = scan(port, tmp_path, "--clients", "lync,skype,outlook")
    vs = verdicts(doc)
    for failing in ("lync-2013-win7", "lync-2013-win81", "lync-2013-server2012", "sfb-2015-win7"):
        assert vs[failing]["outcome"] == "fails", vs[failing]
        (reason,) = [
            r for r in vs[failing]["reasons"] if r["code"] == "cert.sha512-legacy-schannel"
        ]
        assert "SHA-512" in reason["text"] and "SHA-256" in reason["fix"]
    for fine in ("sfb-2016-win10", "outlook-2016-win10"):
        assert vs[fine]["outcome"] != "fails", vs[fine]
    assert {p["family"] for p in verdicts(doc).values()} == {"lync", "skype", "outlook"}
    assert "cert.sha512-legacy-schannel" in [f["id"] for f in doc["findings"]]


_PROBLEMS = [
    (
        "sha1",
        "cert.sha1",
        ["ios-13", "chrome-current", "python-verifying"],
        ["ios-10.2", "outlook-2016-win10"],
    ),
    (
        "rsa1024",
        "cert.weak-key",
        ["ios-13", "python-verifying"],
        # NSS retries a non-EV chain at 1024 bits (CertVerifier.cpp, MIN_RSA_BITS_WEAK); the
        # conformance harness's tstclnt connects.
        ["outlook-2016-win10", "android-7", "thunderbird-current"],
    ),
    ("missing-intermediate", "chain.incomplete", ["android-11", "python-verifying"], []),
    ("no-eku", "cert.no-eku", ["ios-13", "ios-current"], ["ios-12", "outlook-2016-win10"]),
    ("validity", "cert.validity", ["ios-13", "ios-current"], ["outlook-2016-win10", "android-11"]),
]


@pytest.mark.parametrize(("problem", "code", "failing", "fine"), _PROBLEMS)
def test_each_problem_fails_the_right_clients(tmp_path, problem, code, failing, fine):
    _build(tmp_path, problem)
    with s_server(tmp_path, "-tls1_2") as port:
        doc = scan(port, tmp_path)
    vs = verdicts(doc)
    for p in failing:
        assert vs[p]["outcome"] == "fails" and code in codes(vs[p]), (p, vs[p])
    for p in fine:
        assert code not in codes(vs[p]), (p, vs[p])
        assert vs[p]["outcome"] != "fails", (p, vs[p])


# --- the simulated verdict against a real client -------------------------------------------------


def _python_client(port: int, tmp: Path) -> bool:
    """Python's ssl (OpenSSL 3, default security level) with the test root: does it connect?"""
    ctx = ssl.create_default_context(cafile=str(tmp / "root.pem"))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            ctx.wrap_socket(raw, server_hostname=HOST),
        ):
            return True
    except ssl.SSLError:
        return False


@pytest.mark.parametrize("problem", ["clean", "sha1", "rsa1024", "missing-intermediate"])
def test_python_ssl_agrees_with_the_simulation(tmp_path, problem):
    _build(tmp_path, problem)
    with s_server(tmp_path, "-tls1_2") as port:
        doc = scan(port, tmp_path, "--clients", "python-verifying")
        real = _python_client(port, tmp_path)
    simulated = verdicts(doc)["python-verifying"]
    assert simulated["outcome"] in ("works", "fails"), simulated
    assert (simulated["outcome"] == "works") == real, (problem, simulated, real)


def _s_client(port: int, *flags: str) -> bool:
    proc = subprocess.run(
        [_openssl(), "s_client", "-connect", f"127.0.0.1:{port}", "-servername", HOST, *flags],
        input=b"",
        capture_output=True,
        timeout=30,
        check=False,
    )
    return proc.returncode == 0 and b"Cipher is (NONE)" not in proc.stdout


def test_tls_version_verdict_matches_openssl_s_client(tmp_path):
    """A TLS 1.0-only client against a TLS 1.2-only server: the full scan says it fails, and
    s_client restricted to TLS 1.0 indeed cannot connect (while TLS 1.2 can)."""
    _build(tmp_path, "clean")
    with s_server(tmp_path, "-tls1_2") as port:
        doc = scan(
            port, tmp_path, "--clients", "android-4.4,outlook-2010-win7,android-11", mode="full"
        )
        tls10 = _s_client(port, "-tls1", "-cipher", "ALL:@SECLEVEL=0")
        tls12 = _s_client(port, "-tls1_2")
    vs = verdicts(doc)
    assert tls12 and not tls10
    for p in ("android-4.4", "outlook-2010-win7"):
        assert vs[p]["outcome"] == "fails" and "tls.version" in codes(vs[p]), vs[p]
    assert vs["android-11"]["outcome"] == "works", vs["android-11"]


def _openssl_sigalg(name: str) -> str:
    """IANA scheme name -> OpenSSL's -sigalgs spelling (legacy PKCS#1/ECDSA/DSA as ALG+HASH)."""
    m = re.fullmatch(r"(rsa_pkcs1|ecdsa|dsa)(?:_secp\d+r1)?_(sha\d+)", name)
    if m is None:
        return name  # rsa_pss_rsae_sha256, ed25519... are OpenSSL names too
    alg = {"rsa_pkcs1": "RSA", "ecdsa": "ECDSA", "dsa": "DSA"}[m.group(1)]
    return f"{alg}+{m.group(2).upper()}"


def _s_client_as(profile_id: str, port: int, tmp: Path) -> bool:
    """openssl s_client offering what the profile's hello offers: versions, suites, sigalgs."""
    from vedette.trust._data import suite_names, trust_data

    profile = next(p for p in trust_data().profiles if p.id == profile_id)
    names = suite_names()
    hello = profile.hello
    tls12 = ":".join(names[c] for c in hello.suites if not names[c].startswith("TLS_"))
    tls13 = ":".join(names[c] for c in hello.suites if names[c].startswith("TLS_"))
    flags = ["-cipher", f"{tls12}:@SECLEVEL=0", "-CAfile", str(tmp / "root.pem")]
    flags += ["-verify_return_error", "-verify_hostname", HOST]
    if tls13:
        flags += ["-ciphersuites", tls13]
    if hello.sigalgs:
        flags += ["-sigalgs", ":".join(_openssl_sigalg(a) for a in hello.sigalgs)]
    order = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
    offered = [v for v in order if v in hello.versions]
    flags += ["-min_protocol", offered[0], "-max_protocol", offered[-1]]
    return _s_client(port, *flags)


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("outlook-2013-win7", "fails"),  # SChannel on 7 has no ECDHE-RSA with AES-GCM
        ("android-11", "works"),
        ("ios-10.2", "works"),
        ("java-8", "works"),
        ("outlook-2016-win10", "works"),
    ],
)
def test_profile_hello_replayed_with_s_client_agrees(tmp_path, profile, expected):
    """A server offering only ECDHE-RSA-AES128-GCM-SHA256 at TLS 1.2: the full scan's
    simulated handshake for each profile agrees with s_client offering that profile's hello."""
    _build(tmp_path, "clean")
    with s_server(tmp_path, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256") as port:
        doc = scan(port, tmp_path, "--clients", profile, mode="full")
        real = _s_client_as(profile, port, tmp_path)
    simulated = verdicts(doc)[profile]
    assert simulated["outcome"] == expected, simulated
    assert (simulated["outcome"] == "works") == real, (simulated, real)
