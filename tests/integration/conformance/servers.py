"""The servers of the conformance harness: scripted ``openssl s_server`` set-ups, each with one
property (a TLS version, a suite list, a certificate problem), plus the real Dovecot and Postfix
of tests/integration/realservers.py.

Every s_server case has its own certificates, made with vedette's own CA code
(:mod:`vedette.pki`), under one of two roots: ``Conformance Root``, which every client is given as
its trust anchor (the way an admin installs a private root), and ``Conformance Stranger Root``,
which no client is given (the ``untrusted-root`` case).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import pytest

from tests.tools import require_program
from vedette.pki import CertificateAuthority

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

HOST = "mail.vedette.test"
OTHER_HOST = "other.vedette.test"

# How a client talks to a server once TLS is up. "raw": s_server -www, which answers an HTTP
# request and never greets (mail clients then time out waiting for a greeting, after the
# handshake: that still tells whether they accepted the server). "imap": Dovecot's imaps (993).
# "smtp": Postfix's smtps (465, wrapper mode). All three are implicit TLS.
Dialect = Literal["raw", "imap", "smtp"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One running server as the clients and vedette see it.

    Attributes:
        case: the server case's name (the accepted-differences file uses it).
        host: the name clients ask for (SNI, name check) and vedette scans.
        ip, port: where it listens.
        dialect: what it speaks after TLS.
        root: the trust anchor clients are given; ``None``: only their own default store.
        scheme: vedette's target scheme (https, imaps, smtps).
    """

    case: str
    host: str
    ip: str
    port: int
    dialect: Dialect
    root: Path | None
    scheme: str
    login: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One scripted s_server set-up.

    Attributes:
        name: short name (the table and accepted.toml use it).
        what: one line for humans.
        flags: s_server options after the common ones (versions, suites).
        leaf_key, leaf_hash, ca_hash: key and signature hashes of the chain.
        names: the leaf's DNS names.
        send_intermediate: whether the server sends the intermediate after its leaf.
        trusted: whether clients are given the root.
        expired: the leaf expired 30 days ago.
    """

    name: str
    what: str
    flags: tuple[str, ...] = ("-min_protocol", "TLSv1.2")
    leaf_key: str = "rsa:2048"
    leaf_hash: str = "sha256"
    ca_hash: str = "sha256"
    names: tuple[str, ...] = (HOST,)
    send_intermediate: bool = True
    trusted: bool = True
    expired: bool = False


CASES: tuple[Case, ...] = (
    Case(name="tls12-only", what="TLS 1.2 only, every suite", flags=("-tls1_2",)),
    Case(name="tls13-only", what="TLS 1.3 only", flags=("-tls1_3",)),
    Case(name="tls10-only", what="TLS 1.0 only", flags=("-tls1",)),
    Case(
        name="legacy-suites",
        what="TLS 1.2, only RSA key exchange with CBC (AES128-SHA, AES256-SHA)",
        flags=("-tls1_2", "-cipher", "AES128-SHA:AES256-SHA:@SECLEVEL=0"),
    ),
    Case(name="sha1-chain", what="leaf and intermediate signed with SHA-1", leaf_hash="sha1",
         ca_hash="sha1"),
    Case(name="sha512-chain", what="leaf and intermediate signed with SHA-512 (RSA)",
         leaf_hash="sha512", ca_hash="sha512"),
    Case(name="rsa1024-leaf", what="1024-bit RSA leaf", leaf_key="rsa:1024"),
    Case(name="ec-leaf", what="ECDSA P-256 leaf", leaf_key="ec:p256"),
    Case(name="wrong-name", what=f"leaf for {OTHER_HOST} only", names=(OTHER_HOST,)),
    Case(name="missing-intermediate", what="leaf only, intermediate not sent (no AIA URL)",
         send_intermediate=False),
    Case(name="untrusted-root", what="a private root the clients were not given",
         trusted=False),
    Case(name="expired", what="leaf expired 30 days ago", expired=True),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Roots:
    """The two roots of the s_server cases (made once per session)."""

    trusted: CertificateAuthority
    stranger: CertificateAuthority


def make_roots() -> Roots:
    return Roots(
        trusted=CertificateAuthority.create_root("Conformance Root", key_spec="rsa:2048"),
        stranger=CertificateAuthority.create_root("Conformance Stranger Root", key_spec="rsa:2048"),
    )


def write_case(case: Case, roots: Roots, directory: Path) -> None:
    """root.pem, leaf.pem, extra.pem (what follows the leaf) and key.pem for ``case``."""
    root = roots.trusted if case.trusted else roots.stranger
    inter = root.issue_intermediate(
        f"Conformance CA {case.name}", key_spec="rsa:2048", hash_alg=case.ca_hash
    )
    start = datetime.now(UTC) - timedelta(days=60 if case.expired else 1)
    leaf = inter.issue_server(
        list(case.names),
        key_spec=case.leaf_key,
        hash_alg=case.leaf_hash,
        not_before=start,
        days=30 if case.expired else 90,
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "root.pem").write_bytes(root.issued.cert_pem())
    (directory / "leaf.pem").write_bytes(leaf.cert_pem())
    (directory / "extra.pem").write_bytes(inter.chain_pem() if case.send_intermediate else b"")
    key = directory / "key.pem"
    key.write_bytes(leaf.key_pem())
    key.chmod(0o600)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def s_servers(case: Case, directory: Path, count: int) -> Iterator[list[Target]]:
    """``count`` ``openssl s_server -www`` for ``case`` on free loopback ports, stopped on exit.

    Several, because s_server serves one connection at a time: a mail client waiting for a
    greeting s_server never sends would hold up every other client until it times out.
    """
    openssl = require_program("openssl")
    extra = directory / "extra.pem"
    chain = ["-cert_chain", str(extra)] if extra.read_bytes() else []
    procs: list[subprocess.Popen[bytes]] = []
    targets = []
    try:
        for _ in range(count):
            port = _free_port()
            # @SECLEVEL=0: the server must be able to serve what the field still runs (SHA-1,
            # RSA-1024, TLS 1.0); whether a client accepts it is the question. A later -cipher
            # in flags wins.
            procs.append(subprocess.Popen(
                [
                    openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-www", "-quiet",
                    "-cert", str(directory / "leaf.pem"), "-key", str(directory / "key.pem"),
                    *chain, "-cipher", "ALL:@SECLEVEL=0", *case.flags,
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ))  # fmt: skip
            targets.append(
                Target(
                    case=case.name,
                    host=HOST,
                    ip="127.0.0.1",
                    port=port,
                    dialect="raw",
                    root=directory / "root.pem" if case.trusted else None,
                    scheme="https",
                )
            )
        for proc, target in zip(procs, targets, strict=True):
            _wait_listening(proc, target, case)
        yield targets
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(5)


def _wait_listening(proc: subprocess.Popen[bytes], target: Target, case: Case) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((target.ip, target.port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"openssl s_server for {case.name} did not start")
            time.sleep(0.05)
