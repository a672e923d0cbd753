"""Ground truth for the TLS enumeration tests: OpenSSL's own s_server and s_client.

``SServer`` starts ``openssl s_server`` on loopback with a given configuration and certificates
minted per run; ``Truth`` asks ``openssl s_client`` about one item at a time (one version, one
suite, one group) — the slow, obvious way vedette's enumeration must agree with. Nothing here
uses vedette's TLS code.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.tools import require_program
from vedette.pki.ca import CertificateAuthority

VERSION_FLAGS = {0x0301: "-tls1", 0x0302: "-tls1_1", 0x0303: "-tls1_2", 0x0304: "-tls1_3"}
TLS13_SUITES = {
    "TLS_AES_128_GCM_SHA256": 0x1301,
    "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
    "TLS_AES_128_CCM_SHA256": 0x1304,
    "TLS_AES_128_CCM_8_SHA256": 0x1305,
}
# OpenSSL's group names and their IANA codes (RFC 8446 §4.2.7, RFC 7919).
GROUPS = {
    "P-256": 23,
    "P-384": 24,
    "P-521": 25,
    "X25519": 29,
    "X448": 30,
    "ffdhe2048": 256,
    "ffdhe3072": 257,
    "ffdhe4096": 258,
    "ffdhe6144": 259,
    "ffdhe8192": 260,
}

# OpenSSL's signature scheme names (``-sigalgs``) and their IANA codes (RFC 8446 §4.2.3).
SIGALGS = {
    "RSA+SHA1": 0x0201,
    "ECDSA+SHA1": 0x0203,
    "RSA+SHA224": 0x0301,
    "ECDSA+SHA224": 0x0303,
    "rsa_pkcs1_sha256": 0x0401,
    "rsa_pkcs1_sha384": 0x0501,
    "rsa_pkcs1_sha512": 0x0601,
    "ecdsa_secp256r1_sha256": 0x0403,
    "ecdsa_secp384r1_sha384": 0x0503,
    "ecdsa_secp521r1_sha512": 0x0603,
    "rsa_pss_rsae_sha256": 0x0804,
    "rsa_pss_rsae_sha384": 0x0805,
    "rsa_pss_rsae_sha512": 0x0806,
    "ed25519": 0x0807,
    "ed448": 0x0808,
    "rsa_pss_pss_sha256": 0x0809,
    "rsa_pss_pss_sha384": 0x080A,
    "rsa_pss_pss_sha512": 0x080B,
}


def openssl() -> str:
    path = require_program("openssl")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def openssl_ciphers(spec: str, *extra: str) -> list[tuple[int, str]]:
    """``openssl ciphers -V``: (code, OpenSSL name) in the order the string gives."""
    out = subprocess.run(
        [openssl(), "ciphers", "-V", *extra, spec], capture_output=True, text=True, check=True
    ).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*0x([0-9A-F]{2}),0x([0-9A-F]{2}) - (\S+)", line)
        if m:
            rows.append((int(m.group(1) + m.group(2), 16), m.group(3)))
    return rows


@dataclass
class SServer:
    port: int
    proc: subprocess.Popen[bytes]
    dir: Path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_s_server(tmp: Path, *flags: str, ecdsa: bool = False) -> SServer:
    root = CertificateAuthority.create_root("tls enumeration test root")
    rsa = root.issue_server(["tls.vedette.test"], key_spec="rsa:2048")
    (tmp / "rsa.pem").write_bytes(rsa.cert_pem())
    (tmp / "rsa.key").write_bytes(rsa.key_pem())
    (tmp / "rsa.key").chmod(0o600)
    args = ["-cert", str(tmp / "rsa.pem"), "-key", str(tmp / "rsa.key")]
    if ecdsa:
        ec = root.issue_server(["tls.vedette.test"], key_spec="ec:p256")
        (tmp / "ec.pem").write_bytes(ec.cert_pem())
        (tmp / "ec.key").write_bytes(ec.key_pem())
        (tmp / "ec.key").chmod(0o600)
        args += ["-dcert", str(tmp / "ec.pem"), "-dkey", str(tmp / "ec.key")]
    port = free_port()
    proc = subprocess.Popen(
        [openssl(), "s_server", "-accept", f"127.0.0.1:{port}", "-www", "-quiet", *args, *flags],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"openssl s_server {' '.join(flags)} did not start")
            time.sleep(0.05)
    return SServer(port=port, proc=proc, dir=tmp)


class Truth:
    """One s_client per question, many at once."""

    def __init__(self, port: int, *, ip: str = "127.0.0.1", starttls: str | None = None) -> None:
        self.port = port
        self.ip = ip
        # s_client -starttls smtp|imap|pop3 runs the mail dialogue first, as vedette does.
        self.prefix = ("-starttls", starttls) if starttls else ()

    def _client(self, *args: str) -> str | None:
        r = subprocess.run(
            [openssl(), "s_client", "-connect", f"{self.ip}:{self.port}", *self.prefix, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if r.returncode != 0 or "Cipher is (NONE)" in r.stdout:
            return None
        return r.stdout

    def _many(self, jobs: list[tuple[str, ...]]) -> list[str | None]:
        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(lambda a: self._client(*a), jobs))

    def versions(self) -> set[int]:
        jobs = [(f, "-cipher", "ALL:@SECLEVEL=0") for f in VERSION_FLAGS.values()]
        return {v for v, out in zip(VERSION_FLAGS, self._many(jobs), strict=True) if out}

    def suites(self, version: int) -> set[int]:
        flag = VERSION_FLAGS[version]
        if version == 0x0304:
            names = list(TLS13_SUITES)
            outs = self._many([(flag, "-ciphersuites", n) for n in names])
            return {TLS13_SUITES[n] for n, out in zip(names, outs, strict=True) if out}
        # Every suite an OpenSSL client can offer at this version (``-s``: usable ones only);
        # the server, OpenSSL too, can accept no other.
        rows = openssl_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0", "-s", flag)
        rows = [(c, n) for c, n in rows if c not in TLS13_SUITES.values()]
        outs = self._many([(flag, "-cipher", f"{n}:@SECLEVEL=0") for _, n in rows])
        return {c for (c, _), out in zip(rows, outs, strict=True) if out}

    def groups13(self) -> set[int]:
        names = list(GROUPS)
        outs = self._many([("-tls1_3", "-groups", n) for n in names])
        return {GROUPS[n] for n, out in zip(names, outs, strict=True) if out}

    def sigalgs12(self) -> set[int]:
        """Schemes the server signs a TLS 1.2 ECDHE exchange with, one offered at a time."""
        names = list(SIGALGS)
        jobs = [("-tls1_2", "-cipher", "ECDHE:@SECLEVEL=0", "-sigalgs", n) for n in names]
        return {SIGALGS[n] for n, out in zip(names, self._many(jobs), strict=True) if out}

    def sigalgs13(self) -> set[int]:
        """Schemes the server signs a TLS 1.3 CertificateVerify with, one offered at a time."""
        names = list(SIGALGS)
        jobs = [("-tls1_3", "-sigalgs", n) for n in names]
        return {SIGALGS[n] for n, out in zip(names, self._many(jobs), strict=True) if out}

    def dh_bits(self, version: int, suites: set[int]) -> set[int]:
        names = {c: n for c, n in openssl_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")}
        dhe = [
            names[c]
            for c in suites
            if c in names
            and ("DHE-" in names[c] or "ADH" in names[c])
            and "ECDHE" not in names[c]
            and "AECDH" not in names[c]
        ]
        outs = self._many([(VERSION_FLAGS[version], "-cipher", f"{n}:@SECLEVEL=0") for n in dhe])
        bits = set()
        for out in outs:
            m = re.search(r"Server Temp Key: DH, (\d+) bits", out or "")
            if m:
                bits.add(int(m.group(1)))
        return bits
