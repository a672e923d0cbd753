"""IPv6 end to end: real listeners on ``::1``, scanned as a user writes IPv6 targets.

Against the built-in lab bound to ``::1`` (``Lab(bind="::1")``) and a real Dovecot listening on
``::1``: the bracketed literal with a scheme or with ``--service``, a name pinned to ``::1`` with
``--resolve`` (bare and bracketed) or ``--ip``, a name resolved to an AAAA record through a DNS
server on ``[::1]`` (and the PTR of a bare literal), the TLS enumeration over IPv6, and a fleet
scan of a target file of ``[::1]:PORT`` lines with its CSV and terminal reports. An IP literal
has no name: no SNI is sent and no name check applies; a pinned name keeps both.

A machine without IPv6 on loopback skips these tests; in CI (
``VEDETTE_REQUIRE_REAL_SERVERS``, set by ``scripts/test`` under ``CI``) that fails instead, like
the real-server tests (``tests.tools.unavailable``).
"""

from __future__ import annotations

import csv
import io
import json
import poplib
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.reversename
import dns.rrset
import pytest

from tests.cli import run_vedette
from tests.integration.realservers import (
    MAIL_HOST,
    DovecotSpec,
    Pki,
    RunningServer,
    ServerUnavailable,
    start_dovecot,
)
from tests.tools import unavailable
from vedette.lab import LAB_HOST, Lab, LabThread

V6 = "::1"


def _no_ipv6_loopback() -> str | None:
    """Why ``::1`` cannot be used here, or None when it can."""
    if not socket.has_ipv6:
        return "this Python has no IPv6 support"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind((V6, 0))
    except OSError as exc:
        return f"cannot bind {V6}: {exc.strerror or exc}"
    return None


@pytest.fixture(scope="module", autouse=True)
def ipv6_loopback() -> None:
    reason = _no_ipv6_loopback()
    if reason is not None:
        unavailable(f"IPv6 tests need ::1: {reason}")  # fails in CI, skips elsewhere


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with LabThread(bind=V6, workdir=tmp_path_factory.mktemp("lab6")) as lt:
        yield lt.lab


def vedette(*args: str, db: Path | None = None) -> subprocess.CompletedProcess[str]:
    store = ["--db", f"sqlite:///{db}"] if db is not None else []
    return run_vedette(*args, *store, env={"NO_COLOR": "1", "COLUMNS": "200"})


def scan_json(*args: str) -> dict:
    proc = vedette("scan", "--json", "--no-store", "--read-timeout", "10", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def one(doc: dict) -> dict:
    (ep,) = doc["endpoints"]
    return ep


# ---- the lab on ::1 --------------------------------------------------------------------------


def test_the_lab_listens_on_ipv6_loopback(lab: Lab) -> None:
    for server in lab.servers:
        assert server.ip == V6
        with socket.create_connection((V6, server.port), timeout=5) as sock:
            assert sock.family == socket.AF_INET6


def test_bracketed_literal_with_a_scheme(lab: Lab) -> None:
    good = lab.server("imaps-good")
    target = f"imaps://[::1]:{good.port}"
    ep = one(scan_json("--mode", "quick", "--ca", str(lab.root_ca_path), target))
    assert ep["label"] == target
    assert (ep["ip"], ep["port"], ep["host"], ep["status"]) == (V6, good.port, None, "ok")
    assert ep["tls"]["sni"] is None  # an IP literal: no SNI
    assert ep["capabilities_after_tls"]
    assert ep["findings"] == []  # no name to check, the chain ends at --ca

    terminal = vedette(
        "scan", "--no-store", "--mode", "quick", "--ca", str(lab.root_ca_path), target
    )
    assert terminal.returncode == 0, terminal.stderr
    assert target in terminal.stdout
    assert f"{target}  TLSv1." in terminal.stdout  # reached: the version negotiated follows


def test_bracketed_literal_with_service(lab: Lab) -> None:
    good = lab.server("imaps-good")
    ep = one(scan_json("--service", "imaps", "--mode", "quick", f"[::1]:{good.port}"))
    assert (ep["ip"], ep["port"], ep["service"], ep["status"]) == (V6, good.port, "imaps", "ok")
    assert ep["tls"]["version"].startswith("TLSv1")
    assert ep["tls"]["sni"] is None


def test_bare_literal_with_ports_and_service(lab: Lab) -> None:
    good, sha1 = lab.server("imaps-good"), lab.server("imaps-sha1")
    doc = scan_json(
        "--mode", "quick", "--ports", f"{good.port},{sha1.port}", "--service", "imaps", "::1"
    )
    got = sorted((ep["ip"], ep["port"], ep["status"]) for ep in doc["endpoints"])
    assert got == sorted([(V6, good.port, "ok"), (V6, sha1.port, "ok")])


@pytest.mark.parametrize(
    "pin",
    [
        ["--resolve", "{host}:{port}:::1"],
        ["--resolve", "{host}:{port}:[::1]"],
        ["--resolve", "{host}:*:::1"],
        ["--ip", "::1"],
    ],
    ids=["resolve", "resolve-brackets", "resolve-any-port", "ip"],
)
def test_a_name_pinned_to_ipv6_keeps_sni_and_the_name_check(lab: Lab, pin: list[str]) -> None:
    good, wrong = lab.server("imaps-good"), lab.server("pop3s-wrong-name")
    args: list[str] = []
    for server in (good, wrong):
        args += [a.format(host=LAB_HOST, port=server.port) for a in pin]
    doc = scan_json(
        "--mode", "quick", "--ca", str(lab.root_ca_path), *args, good.target, wrong.target
    )
    by_port = {ep["port"]: ep for ep in doc["endpoints"]}
    assert set(by_port) == {good.port, wrong.port}
    for ep in by_port.values():
        assert (ep["ip"], ep["host"], ep["status"]) == (V6, LAB_HOST, "ok")
        assert ep["tls"]["sni"] == LAB_HOST
        assert ep["label"].endswith("(::1)")
    assert by_port[good.port]["findings"] == []
    assert by_port[wrong.port]["findings"] == ["cert.name-mismatch"]


def test_full_mode_enumerates_tls_over_ipv6(lab: Lab) -> None:
    starttls = lab.server("imap-starttls-good")
    ep = one(
        scan_json("--mode", "full", "--ca", str(lab.root_ca_path), f"imap://[::1]:{starttls.port}")
    )
    assert ep["status"] == "ok", ep["failure"]
    assert ep["starttls_reply"]
    assert ep["tls_scan"] is not None
    assert "TLSv1.2" in ep["tls_scan"]["versions"]


def test_fleet_scan_of_ipv6_lines_and_its_reports(lab: Lab, tmp_path: Path) -> None:
    good, no_tls = lab.server("imaps-good"), lab.server("pop3-no-tls")
    wrong = lab.server("pop3s-wrong-name")
    targets = tmp_path / "targets.txt"
    targets.write_text(
        "# IPv6 lines\n"
        f"[::1]:{good.port}\n"  # the service from --service
        f"pop3://[::1]:{no_tls.port}\n"
        f"pop3s://{LAB_HOST}:{wrong.port}   ::1\n"  # a name with an IPv6 address to pin
    )
    db = tmp_path / "scans.sqlite"
    proc = vedette(
        "scan",
        "--targets",
        str(targets),
        "--service",
        "imaps",
        "--ca",
        str(lab.root_ca_path),
        "--read-timeout",
        "10",
        db=db,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert "3 endpoints of 3 targets, 0 failed" in proc.stdout

    report = vedette("report", "last", "--format", "csv", db=db)
    assert report.returncode in (0, 1), report.stderr
    rows = list(csv.DictReader(io.StringIO(report.stdout)))
    got = {(r["ip"], int(r["port"]), r["protocol"], r["hostname"], r["status"]) for r in rows}
    assert got == {
        (V6, good.port, "imaps", "", "ok"),
        (V6, no_tls.port, "pop3", "", "ok"),
        (V6, wrong.port, "pop3s", LAB_HOST, "ok"),
    }
    by_port = {int(r["port"]): r for r in rows}
    assert by_port[no_tls.port]["findings"].split() == ["tls.none", "tls.plaintext-auth"]
    assert by_port[wrong.port]["findings"].split() == ["cert.name-mismatch"]
    assert by_port[wrong.port]["cert_name_match"] == "no"

    terminal = vedette("report", "last", db=db)
    assert terminal.returncode in (0, 1), terminal.stderr
    assert f"imaps://[::1]:{good.port}" in terminal.stdout
    assert f"pop3://[::1]:{no_tls.port}" in terminal.stdout
    assert f"pop3s://{LAB_HOST}:{wrong.port} (::1)" in terminal.stdout


class Dns6:
    """A DNS server on ``[::1]``, UDP, in a thread: ``names`` get AAAA ::1 (and nothing for A),
    ``::1`` gets a PTR to ``ptr``; everything else is NXDOMAIN. ``asked`` logs the queries."""

    def __init__(self, names: set[str], ptr: str) -> None:
        self.names, self.ptr = names, ptr
        self.asked: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.bind((V6, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _answer(self, data: bytes) -> bytes:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().rstrip(".")
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.asked.append((name, rdtype))
        reverse = dns.reversename.from_address(V6).to_text().rstrip(".")
        if name in self.names:
            if rdtype == "AAAA":
                response.answer.append(dns.rrset.from_text(name + ".", 60, "IN", "AAAA", V6))
        elif name == reverse:
            if rdtype == "PTR":
                response.answer.append(
                    dns.rrset.from_text(name + ".", 60, "IN", "PTR", self.ptr + ".")
                )
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()  # type: ignore[no-any-return]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            self.sock.sendto(self._answer(data), addr)

    def __enter__(self) -> Dns6:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.sock.close()


def test_a_name_resolved_over_ipv6_to_an_aaaa_record(lab: Lab, tmp_path: Path) -> None:
    good = lab.server("imaps-good")
    with Dns6({LAB_HOST}, ptr=LAB_HOST) as dns6:
        resolver = f"[::1]:{dns6.port}"
        ep = one(scan_json("--mode", "quick", "--resolver", resolver, good.target))
        # A fleet scan of a bare IPv6 literal looks its PTR up (ip6.arpa) through the resolver.
        targets = tmp_path / "targets.txt"
        targets.write_text(f"imaps://[::1]:{good.port}\n")
        db = tmp_path / "scans.sqlite"
        fleet = vedette("scan", "--targets", str(targets), "--resolver", resolver, db=db)
        report = vedette("report", "last", "--format", "csv", db=db)
    assert (LAB_HOST, "AAAA") in dns6.asked
    assert (ep["ip"], ep["host"], ep["status"]) == (V6, LAB_HOST, "ok")
    assert ep["tls"]["sni"] == LAB_HOST
    assert fleet.returncode in (0, 1), fleet.stderr
    (row,) = csv.DictReader(io.StringIO(report.stdout))
    assert (row["ip"], row["port"], row["ptr"]) == (V6, str(good.port), LAB_HOST)


# ---- a real Dovecot on ::1 -------------------------------------------------------------------


@pytest.fixture(scope="module")
def dovecot_v6(realtest_pki: Pki) -> Iterator[RunningServer]:
    """Dovecot on ::1: imaps 993 and pop3 110 (STLS), plaintext login allowed before TLS."""
    spec = DovecotSpec(
        name="v6",
        address=V6,
        imaps=True,
        pop3=True,
        ssl="yes",
        disable_plaintext_auth=False,
        chain_pem=realtest_pki.chain_pem,
        key_pem=realtest_pki.key_pem,
    )
    try:
        server = start_dovecot(spec)
    except ServerUnavailable as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()


def test_real_dovecot_on_ipv6(dovecot_v6: RunningServer, realtest_pki: Pki) -> None:
    # The fixture is what it claims, seen by the standard library's own POP3 client. (It
    # sends ::1 as the name to match; the certificate names mail.realtest.test: chain only.)
    ctx = ssl.create_default_context(cafile=str(realtest_pki.root_pem))
    ctx.check_hostname = False
    pop = poplib.POP3(V6, 110, timeout=5)
    try:
        capa = pop.capa()
        assert "STLS" in capa
        assert "USER" in capa
        pop.stls(ctx)  # verifies the chain against the test root
        assert "USER" in pop.capa()
    finally:
        pop.quit()

    doc = scan_json(
        "--mode",
        "quick",
        "--ca",
        str(realtest_pki.root_pem),
        "pop3://[::1]",
        "--resolve",
        f"{MAIL_HOST}:993:::1",
        f"imaps://{MAIL_HOST}",
    )
    by_port = {ep["port"]: ep for ep in doc["endpoints"]}
    pop3, imaps = by_port[110], by_port[993]
    assert (pop3["ip"], pop3["host"], pop3["status"]) == (V6, None, "ok")
    before = " ".join(pop3["capabilities_before_tls"]).upper()
    assert "STLS" in before
    assert "USER" in before
    assert pop3["starttls_reply"][0].startswith("+OK")
    assert pop3["capabilities_after_tls"]
    assert pop3["tls"]["sni"] is None
    assert "tls.plaintext-auth" in pop3["findings"]
    assert (imaps["ip"], imaps["host"], imaps["status"]) == (V6, MAIL_HOST, "ok")
    assert imaps["tls"]["sni"] == MAIL_HOST
    assert len(imaps["tls"]["chain"]) == 2  # leaf + intermediate, as Dovecot sends them
    assert imaps["findings"] == []
