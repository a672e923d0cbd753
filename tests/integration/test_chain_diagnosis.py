"""Where a served chain ends, diagnosed from the command line (issue 10, §2 and §3.1).

A real TLS server (``openssl s_server``) serves chains built with cryptography alone
(:mod:`tests.chains`); ``vedette scan`` must say:

* leaf + intermediate under a private root it was not given: an **unknown root**
  (``cert.unknown-root``), not a missing intermediate; ``openssl verify`` agrees that the chain
  sent is whole and the lookup fails above the intermediate (depth 1);
* the leaf alone: an intermediate is **probably missing**; ``openssl verify`` fails at depth 0;
  with ``--intermediates DIR`` or ``--fetch`` (the caIssuers URL, served here on loopback) the
  missing intermediate is **named**; nothing is downloaded without ``--fetch``;
* 150 certificates: a chain **too long** for clients, as ``openssl verify`` says too;
* 7 levels of 8 look-alike CA certificates: an **abusive** list, diagnosed in about a second by
  the scan and by ``report`` on the stored scan (it took forever before).
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chains import abusive_chain, der, linear_chain, pem, private_pki
from tests.integration.test_pki_cli import ADDRESS, HOST, SServer, openssl, vedette


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def sserver(work: Path) -> Iterator[SServer]:
    server = SServer(work)
    try:
        yield server
    finally:
        server.stop()


class Aia:
    """An HTTP server on loopback publishing CA certificates, and the paths it was asked for."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.asked: list[str] = []
        aia = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                aia.asked.append(self.path)
                body = aia.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/pkix-cert")
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((ADDRESS, 0), Handler)
        self.base = f"http://{ADDRESS}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def aia() -> Iterator[Aia]:
    server = Aia()
    try:
        yield server
    finally:
        server.close()


def _write(work: Path, name: str, data: bytes) -> Path:
    (work / name).write_bytes(data)
    return work / name


def _cert_findings(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    findings = doc["findings"]
    assert isinstance(findings, list)
    return {str(f["id"]): f for f in findings if str(f["id"]).startswith("cert.")}


def _reasons(doc: dict[str, object]) -> list[dict[str, str]]:
    clients = doc["clients"]
    assert isinstance(clients, list)
    return [r for m in clients for v in m["verdicts"] for r in v["reasons"]]


def test_private_root_not_given_is_an_unknown_root(work: Path, sserver: SServer):
    p = private_pki(host=HOST)
    leaf, key = _write(work, "leaf.pem", pem(p.leaf)), _write(work, "k.pem", p.leaf_key_pem())
    inter, root = _write(work, "inter.pem", pem(p.inter)), _write(work, "root.pem", pem(p.root))
    sserver.serve(leaf, key, inter)  # leaf + intermediate: a correct chain, root not sent
    found = _cert_findings(doc := sserver.scan())
    assert set(found) == {"cert.unknown-root"}
    detail = str(found["cert.unknown-root"]["detail"])
    assert "CN=Private Root Issuing CA (certificate #2)" in detail
    assert "issued by CN=Private Root" in detail and "an unknown root" in detail
    assert "give it to vedette with --ca; sending it does not help" in detail
    reasons = [r for r in _reasons(doc) if r["code"] == "cert.unknown-root"]
    assert reasons and not any("not sent" in r["text"] for r in _reasons(doc))
    # What a user reads in the terminal.
    text = vedette(
        "scan", sserver.target, "--resolve", f"{HOST}:{sserver.port}:{ADDRESS}",
        "--mode", "quick", "--no-store", cwd=work, ok=False,
    )  # fmt: skip
    assert text.returncode == 1
    assert "cert.unknown-root" in text.stdout and "an unknown root" in text.stdout
    assert "chain-incomplete" not in text.stdout and "not sent" not in text.stdout
    # OpenSSL: the chain sent is whole; the lookup fails above the intermediate (depth 1).
    out = openssl("verify", "-no-CApath", "-no-CAstore", "-untrusted", inter, leaf,
                  cwd=work, ok=False)  # fmt: skip
    assert "error 20 at 1 depth lookup" in out.stdout + out.stderr
    openssl("verify", "-CAfile", root, "-untrusted", inter, leaf, cwd=work)
    # Given the root, vedette agrees the chain is good.
    assert _cert_findings(sserver.scan("--ca", root)) == {}


def test_leaf_alone_named_with_intermediates_and_fetch(work: Path, sserver: SServer, aia: Aia):
    p = private_pki(host=HOST, aia_base=aia.base)
    aia.files["/inter.cer"] = der(p.inter)
    aia.files["/root.cer"] = der(p.root)
    leaf, key = _write(work, "leaf.pem", pem(p.leaf)), _write(work, "k.pem", p.leaf_key_pem())
    root = _write(work, "root.pem", pem(p.root))
    sserver.serve(leaf, key)  # the intermediate is not sent
    # Without --fetch: probably missing, the download address said, nothing downloaded.
    found = _cert_findings(sserver.scan("--ca", root))
    assert set(found) == {"cert.chain-incomplete"}
    detail = str(found["cert.chain-incomplete"]["detail"])
    assert "an intermediate is probably missing" in detail
    assert f"{aia.base}/inter.cer" in detail
    assert aia.asked == []
    out = openssl("verify", "-CAfile", root, leaf, cwd=work, ok=False)
    assert "error 20 at 0 depth lookup" in out.stdout + out.stderr
    # --intermediates DIR (with a file that is not a certificate in it): named.
    (work / "cas").mkdir()
    _write(work / "cas", "issuing.pem", pem(p.inter))
    _write(work / "cas", "README.txt", b"not a certificate\n")
    found = _cert_findings(sserver.scan("--ca", root, "--intermediates", work / "cas"))
    detail = str(found["cert.chain-incomplete"]["detail"])
    assert detail.startswith("The intermediate CN=Private Root Issuing CA, which issued ")
    assert "is missing: the server does not send it" in detail
    assert aia.asked == []
    # --fetch: downloaded from the caIssuers URL, named; said on stderr.
    scan = vedette(
        "scan", sserver.target, "--resolve", f"{HOST}:{sserver.port}:{ADDRESS}",
        "--mode", "quick", "--db", f"sqlite:///{work / 'v.db'}", "--json", "--ca", root,
        "--fetch", cwd=work, ok=False,
    )  # fmt: skip
    assert aia.asked == ["/inter.cer"]
    assert f"fetching the issuer of CN={HOST} from {aia.base}/inter.cer" in scan.stderr
    found = _cert_findings(json.loads(scan.stdout))
    assert set(found) == {"cert.chain-incomplete"}
    assert str(found["cert.chain-incomplete"]["detail"]).startswith(
        "The intermediate CN=Private Root Issuing CA, which issued "
    )
    # The report of the stored scan, offline, says the same (the download is stored).
    report = vedette("report", "last", "--db", f"sqlite:///{work / 'v.db'}", "--json",
                     cwd=work, ok=False)  # fmt: skip
    assert _cert_findings(json.loads(report.stdout)) == found
    assert aia.asked == ["/inter.cer"]
    jsonl = vedette("report", "last", "--db", f"sqlite:///{work / 'v.db'}", "--format", "jsonl",
                    cwd=work, ok=False)  # fmt: skip
    assert "The intermediate CN=Private Root Issuing CA" in jsonl.stdout  # streamed formats too


def test_fetch_tells_an_unknown_root_from_a_missing_intermediate(
    work: Path, sserver: SServer, aia: Aia
):
    p = private_pki(host=HOST, aia_base=aia.base)
    aia.files["/root.cer"] = der(p.root)
    leaf, key = _write(work, "leaf.pem", pem(p.leaf)), _write(work, "k.pem", p.leaf_key_pem())
    sserver.serve(leaf, key, _write(work, "inter.pem", pem(p.inter)))
    found = _cert_findings(sserver.scan())
    detail = str(found["cert.unknown-root"]["detail"])
    assert f"downloaded from {aia.base}/root.cer, and vedette scan --fetch tells" in detail
    found = _cert_findings(sserver.scan("--fetch"))
    assert set(found) == {"cert.unknown-root"}
    assert "its issuer is the root CN=Private Root, which is not among Mozilla's roots" in str(
        found["cert.unknown-root"]["detail"]
    )
    assert aia.asked == ["/root.cer"]
    # A caIssuers URL that fails: one line on stderr, the diagnosis falls back on the guess.
    aia.files.clear()
    scan = vedette(
        "scan", sserver.target, "--resolve", f"{HOST}:{sserver.port}:{ADDRESS}",
        "--mode", "quick", "--no-store", "--json", "--fetch", cwd=work, ok=False,
    )  # fmt: skip
    assert scan.returncode == 1 and "Traceback" not in scan.stderr
    assert "404" in scan.stderr and "warning" in scan.stderr
    assert set(_cert_findings(json.loads(scan.stdout))) == {"cert.unknown-root"}


def test_fleet_scans_refuse_intermediates_and_fetch(work: Path):
    proc = vedette("scan", "--targets", "-", "--fetch", cwd=work, ok=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "vedette: error: --intermediates and --fetch are for scans of named targets"
    ]


def test_long_and_abusive_chains_are_diagnosed_fast(work: Path, sserver: SServer):
    db = f"sqlite:///{work / 'v.db'}"
    long = linear_chain(150, host=HOST)
    root = _write(work, "root.pem", pem(long.root))
    leaf = _write(work, "leaf.pem", pem(long.sent[0]))
    rest = _write(work, "rest.pem", pem(*long.sent[1:]))
    sserver.serve(leaf, _write(work, "k.pem", long.leaf_key_pem()), rest)
    found = _cert_findings(sserver.scan("--ca", root))
    assert set(found) == {"cert.chain-too-long"}
    assert "The server sent 151 certificates" in str(found["cert.chain-too-long"]["detail"])
    out = openssl("verify", "-CAfile", root, "-untrusted", rest, leaf, cwd=work, ok=False)
    assert "certificate chain too long" in out.stdout + out.stderr

    # Issue 10 §3.1: k=6 took 83.6 s on one quick endpoint, k=8 never finished.
    abusive = abusive_chain(7, 8, host=HOST)
    root = _write(work, "root.pem", pem(abusive.root))
    leaf = _write(work, "leaf.pem", pem(abusive.sent[0]))
    rest = _write(work, "rest.pem", pem(*abusive.sent[1:]))
    sserver.serve(leaf, _write(work, "k.pem", abusive.leaf_key_pem()), rest)
    started = time.monotonic()
    scan = vedette(
        "scan", sserver.target, "--resolve", f"{HOST}:{sserver.port}:{ADDRESS}",
        "--mode", "quick", "--db", db, "--json", "--ca", root, cwd=work, ok=False,
    )  # fmt: skip
    scanned = time.monotonic() - started
    found = _cert_findings(json.loads(scan.stdout))
    assert "cert.chain-abusive" in found
    assert "cert.chain-incomplete" not in found and "cert.chain-too-long" not in found
    assert "8 different certificates sent could each have issued" in str(
        found["cert.chain-abusive"]["detail"]
    )
    assert any(r["code"] == "chain.abusive" for r in _reasons(json.loads(scan.stdout)))
    started = time.monotonic()
    report = vedette("report", "last", "--db", db, cwd=work, ok=False)
    csv = vedette("report", "last", "--db", db, "--format", "csv", cwd=work, ok=False)
    reported = time.monotonic() - started
    assert "cert.chain-abusive" in report.stdout and "cert.chain-abusive" in csv.stdout
    # Hang detectors only (quiet: about 1 s to scan, 0.5 s to report); the bug never ended.
    assert scanned < 40, scanned
    assert reported < 30, reported
