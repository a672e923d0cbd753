"""The AIA and OCSP fetches against hostile HTTP servers, through the CLI (issue 10, §3.3-3.4).

``vedette cert bundle --fetch`` downloads a missing issuer from the leaf's caIssuers URL and
``vedette cert clients --check-revocation`` posts to its OCSP URL; both go through one HTTP
client (vedette.http_fetch). Each behaviour below listens on 127.0.0.1 (port 0); the URLs in
the certificates name ``pki.vedette.test``, which only the test's own DNS server answers
(``--resolver``), so the system resolver is never asked.

The good responder's OCSP answers are made by ``openssl ocsp`` (an independent implementation)
from the request vedette sent, and the bundle written from a fetched issuer is checked with
``openssl verify``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.builders import SERVER_AUTH, certificate, signer
from tests.integration.fleet_support import run_vedette
from tests.integration.scripted import Handler, ScriptedServers
from tests.tools import require_program
from vedette.pki import CertificateAuthority

PKI_HOST = "pki.vedette.test"
HOST = "mail.vedette.test"
DEADLINE = 10  # vedette.http_fetch.DEADLINE: the whole fetch, documented in docs/pki.md
HANG = 3 * DEADLINE + 30  # a hang detector: the deadline three times over, plus start-up
ESC = "\x1b"
EVIL_STATUS = b"HTTP/1.1 \x1b]0;pwned\x07\x1b[2J 200 OK\r\n\r\n"

Reply = Callable[[asyncio.StreamWriter, bytes], Awaitable[None]]


# --- the PKI: root -> issuing CA -> leaf naming http://pki.vedette.test:PORT/ -----------------


@dataclass
class Pki:
    tmp: Path
    root: CertificateAuthority
    inter: CertificateAuthority

    def leaf(self, port: int, name: str, first_url: str | None = None) -> Path:
        """A leaf whose caIssuers and OCSP URLs point at ``port``; returns its directory, with
        leaf.pem (the leaf alone) and chain.pem (leaf + issuing CA)."""
        base = f"http://{PKI_HOST}:{port}"
        first = () if first_url is None else (first_url,)
        leaf = certificate(
            HOST,
            issuer=signer(self.inter),
            names=(HOST,),
            eku=(SERVER_AUTH,),
            ca_issuers=(*first, f"{base}/issuing.cer"),
            ocsp=(f"{base}/",),
            serial=secrets.randbits(120) | 1 << 119,
        ).cert
        directory = self.tmp / name
        directory.mkdir()
        pem = leaf.public_bytes(Encoding.PEM)
        (directory / "leaf.pem").write_bytes(pem)
        (directory / "chain.pem").write_bytes(pem + self.inter.issued.cert_pem())
        return directory


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    root = CertificateAuthority.create_root("Fetch Test Root", key_spec="ec:p256")
    inter = root.issue_intermediate("Fetch Test Issuing CA", key_spec="ec:p256")
    (tmp_path / "root.pem").write_bytes(root.issued.cert_pem())
    (tmp_path / "ca.pem").write_bytes(inter.issued.cert_pem())
    (tmp_path / "ca.key").write_bytes(inter.issued.key_pem())
    (tmp_path / "ca.key").chmod(0o600)
    return Pki(tmp=tmp_path, root=root, inter=inter)


# --- the servers --------------------------------------------------------------------------------


async def _trickle(writer: asyncio.StreamWriter, data: bytes) -> None:
    for i in range(len(data)):  # one byte a second, for longer than any test runs
        writer.write(data[i : i + 1])
        await writer.drain()
        await asyncio.sleep(1)


def fixed(data: bytes) -> Reply:
    async def reply(writer: asyncio.StreamWriter, request: bytes) -> None:
        writer.write(data)
        await writer.drain()

    return reply


def trickled(data: bytes) -> Reply:
    async def reply(writer: asyncio.StreamWriter, request: bytes) -> None:
        await _trickle(writer, data)

    return reply


def _ok(body: bytes, content_type: str, extra: bytes = b"") -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + extra + b"Connection: close\r\n\r\n" + body


def _ocsp_by_openssl(tmp: Path, request: bytes) -> bytes:
    """The answer of ``openssl ocsp`` (the responder, offline) to vedette's request."""
    (tmp / "req.der").write_bytes(request)
    subprocess.run(
        [
            require_program("openssl"), "ocsp", "-index", str(tmp / "index.txt"),
            "-CA", str(tmp / "ca.pem"), "-rsigner", str(tmp / "ca.pem"),
            "-rkey", str(tmp / "ca.key"), "-reqin", str(tmp / "req.der"),
            "-respout", str(tmp / "resp.der"), "-ndays", "1",
        ],
        capture_output=True,
        timeout=30,
        check=True,
    )  # fmt: skip
    return (tmp / "resp.der").read_bytes()


def good(pki: Pki, extra_headers: bytes = b"") -> Reply:
    """Serves the issuing CA (GET, DER) and answers OCSP (POST) through ``openssl ocsp``."""

    async def reply(writer: asyncio.StreamWriter, request: bytes) -> None:
        if request.startswith(b"POST "):
            body = request.partition(b"\r\n\r\n")[2]
            der = await asyncio.to_thread(_ocsp_by_openssl, pki.tmp, body)
            writer.write(_ok(der, "application/ocsp-response", extra_headers))
        else:
            der = pki.inter.cert.public_bytes(Encoding.DER)
            writer.write(_ok(der, "application/pkix-cert", extra_headers))
        await writer.drain()

    return reply


class Servers(ScriptedServers):
    """tests/integration/scripted.py's servers (an asyncio loop in a thread, a DNS server that
    answers ``pki.vedette.test`` with 127.0.0.1 and NXDOMAIN otherwise), plus one HTTP
    listener on 127.0.0.1 per reply, which records the requests it reads."""

    def __init__(self, replies: dict[str, Reply]) -> None:
        super().__init__({PKI_HOST: "127.0.0.1"})
        self.replies = replies
        self.requests: dict[str, list[bytes]] = {name: [] for name in replies}

    @property
    def resolver(self) -> str:
        return f"127.0.0.1:{self.dns_port}"

    def _http(self, name: str) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            request = head + await reader.readexactly(length)
            self.requests[name].append(request)
            await self.replies[name](writer, request)

        return handle

    async def _start(self) -> None:
        await super()._start()
        for name in self.replies:
            server = await asyncio.start_server(self._wrap(self._http(name)), "127.0.0.1", 0)
            self._servers.append(server)
            self.ports[name] = server.sockets[0].getsockname()[1]


@contextlib.contextmanager
def serving(pki: Pki, reply: Reply) -> Iterator[tuple[Servers, Path]]:
    """One server with ``reply``, and a leaf whose URLs point at it."""
    with Servers({"it": reply}) as servers:
        yield servers, pki.leaf(servers.ports["it"], "leaf")


# --- driving the CLI ------------------------------------------------------------------------------


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    seconds: float


def _run(*args: str) -> Run:
    start = time.monotonic()
    try:
        proc = run_vedette(*args, timeout=HANG)
    except subprocess.TimeoutExpired:
        pytest.fail(f"vedette {' '.join(args[:2])} still running after {HANG} s (a hang)")
    run = Run(proc, time.monotonic() - start)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert ESC not in proc.stderr and ESC not in proc.stdout, (proc.stdout, proc.stderr)
    return run


def bundle(servers: Servers, leaf_dir: Path) -> Run:
    return _run(
        "cert", "bundle", str(leaf_dir / "leaf.pem"), "--fetch", "--no-known",
        "--ca", str(leaf_dir.parent / "root.pem"), "--resolver", servers.resolver,
        "--out", str(leaf_dir / "fullchain.pem"),
    )  # fmt: skip


def clients(servers: Servers, leaf_dir: Path) -> Run:
    return _run(
        "cert", "clients", str(leaf_dir / "chain.pem"), "--host", HOST,
        "--ca", str(leaf_dir.parent / "root.pem"), "--clients", "ios",
        "--check-revocation", "--resolver", servers.resolver, "--json",
    )  # fmt: skip


def bundle_error(run: Run) -> str:
    """The one line ``cert bundle`` printed for a failed fetch (exit 2, nothing written)."""
    proc = run.proc
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("vedette: error:")]
    assert len(errors) == 1, proc.stderr
    assert proc.stderr.splitlines()[-1] == errors[0], proc.stderr
    assert f"http://{PKI_HOST}:" in errors[0], errors[0]
    return errors[0]


def revocation_note(run: Run) -> str:
    """The revocation line of ``cert clients``: a failed fetch is a note, the matrix stands."""
    proc = run.proc
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    (note,) = [n for n in json.loads(proc.stdout)["notes"] if n.startswith("Revocation:")]
    assert "\n" not in note and "\r" not in note, note
    return note


# --- the tests -----------------------------------------------------------------------------------


def test_good_server_aia_fetch_builds_a_chain_openssl_verifies(pki: Pki):
    with serving(pki, good(pki)) as (servers, leaf_dir):
        run = bundle(servers, leaf_dir)
    assert run.proc.returncode == 0, run.proc.stderr
    (request,) = servers.requests["it"]
    assert request.startswith(b"GET /issuing.cer HTTP/1.1\r\n")
    assert f"\r\nhost: {PKI_HOST}:{servers.ports['it']}\r\n".encode() in request.lower()
    full = x509.load_pem_x509_certificates((leaf_dir / "fullchain.pem").read_bytes())
    assert full[1] == pki.inter.cert
    verify = subprocess.run(
        [
            require_program("openssl"), "verify", "-CAfile", str(pki.tmp / "root.pem"),
            "-untrusted", str(leaf_dir / "fullchain.pem"), str(leaf_dir / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )  # fmt: skip
    assert verify.returncode == 0 and verify.stdout.strip().endswith(": OK"), verify


def _index(pki: Pki, leaf_dir: Path, revoked: bool) -> None:
    """openssl ca's index.txt, which ``openssl ocsp`` answers from."""
    leaf = x509.load_pem_x509_certificate((leaf_dir / "leaf.pem").read_bytes())
    serial = format(leaf.serial_number, "X")
    serial = serial if len(serial) % 2 == 0 else "0" + serial
    expiry = leaf.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
    when = (datetime.now(UTC) - timedelta(hours=1)).strftime("%y%m%d%H%M%SZ")
    state, revocation = ("R", f"{when},keyCompromise") if revoked else ("V", "")
    line = f"{state}\t{expiry}\t{revocation}\t{serial}\tunknown\t/CN={HOST}\n"
    (pki.tmp / "index.txt").write_text(line)


@pytest.mark.parametrize("revoked", [False, True], ids=["good", "revoked"])
def test_good_server_ocsp_answer_from_openssl(pki: Pki, revoked: bool):
    with serving(pki, good(pki)) as (servers, leaf_dir):
        _index(pki, leaf_dir, revoked)
        run = clients(servers, leaf_dir)
    (request,) = servers.requests["it"]
    assert request.startswith(b"POST / HTTP/1.1\r\n")
    assert b"\r\ncontent-type: application/ocsp-request\r\n" in request.lower()
    (note,) = [n for n in json.loads(run.proc.stdout)["notes"] if n.startswith("Revocation:")]
    if revoked:
        assert note.startswith("Revocation: REVOKED on ") and "(keyCompromise)" in note, note
        assert run.proc.returncode == 1
    else:
        assert note.startswith("Revocation: good: not revoked (OCSP)"), note
        assert run.proc.returncode == 0


def _head_then_trickle(head: bytes, body: bytes) -> Reply:
    async def reply(writer: asyncio.StreamWriter, request: bytes) -> None:
        writer.write(head)
        await writer.drain()
        await _trickle(writer, body)

    return reply


_BIG_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"

#: name -> (the server's reply, what the one line says)
HOSTILE: dict[str, tuple[Reply, str]] = {
    # http.client's 10 s bounded each read: both fetches ran for minutes.
    "trickled-head": (
        trickled(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"s" * 600),
        f"no complete answer within {DEADLINE} s",
    ),
    "trickled-body": (
        _head_then_trickle(_BIG_HEAD, b"0" * 1000),
        f"no complete answer within {DEADLINE} s",
    ),
    # The AIA fetch crashed with a traceback that echoed the server's escape bytes.
    "bad-status-line": (fixed(EVIL_STATUS), "not a valid HTTP/1.1 answer"),
    "endless-header": (
        fixed(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (1024 * 1024) + b"\r\n\r\n"),
        "the response headers are larger than 100 KiB",
    ),
    "body-over-the-bound": (
        fixed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"0" * (1024 * 1024)),
        "the answer is larger than 256 KiB",
    ),
    "declared-over-the-bound": (
        fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n" + b"0" * 1024),
        "the answer is 10485760 bytes, more than 256 KiB",
    ),
    "redirect": (
        fixed(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/\r\nContent-Length: 0\r\n\r\n"),
        "HTTP 302 (Found); redirects are not followed",
    ),
}


@pytest.mark.parametrize("command", ["bundle --fetch", "clients --check-revocation"])
@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_server_gives_one_line(pki: Pki, case: str, command: str):
    reply, says = HOSTILE[case]
    with serving(pki, reply) as (servers, leaf_dir):
        run = (bundle if command.startswith("bundle") else clients)(servers, leaf_dir)
    if command.startswith("bundle"):  # vedette: error: ..., exit 2, nothing written
        line = bundle_error(run)
        assert "cannot fetch the issuer" in line, line
        assert not (leaf_dir / "fullchain.pem").exists()
    else:  # a note in the matrix, which stands
        line = revocation_note(run)
        assert line.startswith(f"Revocation: error: no answer from http://{PKI_HOST}:"), line
    assert says in line, line
    if case == "bad-status-line":
        assert "\\x1b]0;pwned" in line, line  # the server's bytes are shown, inert


# http.client refused these with a traceback (LineTooLong, "got more than 100 headers"); the
# head is bounded as a whole (100 KiB), so such a server is simply answered.
ODD_BUT_FINE = {
    "header-over-64-KiB": b"X-Big: " + b"a" * (80 * 1024) + b"\r\n",
    "1000-headers": b"".join(b"X-H%d: v\r\n" % i for i in range(1000)),
}


@pytest.mark.parametrize("case", list(ODD_BUT_FINE))
def test_large_heads_within_the_bound_are_read(pki: Pki, case: str):
    with serving(pki, good(pki, ODD_BUT_FINE[case])) as (servers, leaf_dir):
        _index(pki, leaf_dir, revoked=False)
        built = bundle(servers, leaf_dir)
        checked = clients(servers, leaf_dir)
    assert built.proc.returncode == 0, built.proc.stderr
    assert len(x509.load_pem_x509_certificates((leaf_dir / "fullchain.pem").read_bytes())) == 2
    assert revocation_note(checked).startswith("Revocation: good: not revoked (OCSP)")


def test_ldap_ca_issuers_is_skipped_with_a_note(pki: Pki):
    """AD CS lists ldap:// before http://: the ldap one is said and skipped, not fatal."""
    with serving(pki, good(pki)) as (servers, leaf_dir):
        ldap = "ldap:///CN=Fetch%20Test%20Issuing%20CA,CN=AIA,DC=vedette,DC=test?cACertificate"
        pki.leaf(servers.ports["it"], "ad-cs", first_url=ldap)
        run = bundle(servers, pki.tmp / "ad-cs")
    assert run.proc.returncode == 0, run.proc.stderr
    assert f"not fetched (only http:// caIssuers URLs are): {ldap}" in run.proc.stderr
    assert len(servers.requests["it"]) == 1
