"""``vedette domain check`` end to end, against real peers on loopback only.

* DNS: the lab (Knot authoritative, signed zones, and a validating Unbound), every name of the
  test domains pinned to 127.0.0.x addresses; ``--resolver`` points at the lab, never the
  system resolver.
* MX: two real Postfix instances on port 25, MX1 (127.0.0.61) with a certificate that names it,
  MX2 (127.0.0.62) with one that names another host; both from a test CA given with ``--ca``.
* MTA-STS: Python's ``http.server`` over ``ssl`` serves the policy on 127.0.0.63:443 (a
  certificate for ``mta-sts.mail14.test``) and on 127.0.0.64:443 (a certificate for the wrong
  name), so both the good and the refused policy host are seen; the first also serves a BIMI
  logo.
* The records (``rec14.test``): SPF, DKIM (a key made here), DMARC, TLS-RPT, BIMI and CAA,
  each with a problem the report must tie to the real MX, their addresses and certificates.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import json
import ssl
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.integration.dns_lab import DnsLab, Zone, dns_lab
from tests.integration.realservers import (
    WORK_ROOT,
    PostfixSpec,
    RunningServer,
    ServerUnavailable,
    start_postfix,
)
from tests.tools import unavailable
from vedette.domain.check import check_one
from vedette.domain.stored import Recorder, settings_from_stored, settings_to_stored
from vedette.mailauth.mtasts import PolicyFetch, check_mta_sts
from vedette.mailauth.recording import ReplayLookup, answers_from_json
from vedette.pki import CertificateAuthority
from vedette.store.db import Store
from vedette.trust import mozilla_roots_der

DER = Encoding.DER

MX1, MX2, STS_GOOD, STS_BAD = "127.0.0.61", "127.0.0.62", "127.0.0.63", "127.0.0.64"
POLICY = b"version: STSv1\nmode: enforce\nmx: mx1.mail14.test\nmx: *.mail14.test\nmax_age: 604800\n"

#: Policy domains whose policy host misbehaves, by what it does.
BEHAVIOURS = {
    "redirect14.test": "redirect",
    "big14.test": "big",
    "gone14.test": "404",
    "html14.test": "html",
    "testing14.test": "testing",
}
TESTING_POLICY = b"version: STSv1\r\nmode: testing\r\nmx: *.mail14.test\r\nmax_age: 300\r\n"
#: A DKIM key of 1024 bits: accepted by verifiers, but under the 2048 RFC 8301 recommends.
DKIM_1024 = base64.b64encode(
    rsa.generate_private_key(public_exponent=65537, key_size=1024)
    .public_key()
    .public_bytes(DER, PublicFormat.SubjectPublicKeyInfo)
).decode("ascii")
#: A logo in SVG with a script: not the SVG Tiny PS profile BIMI requires.
LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps">'
    b"<title>Rec</title><script>alert(1)</script></svg>"
)

ZONES = [
    Zone(
        "mail14.test.",
        [
            "@ 300 MX 10 mx1",
            "@ 300 MX 20 mx2",
            f"mx1 300 A {MX1}",
            f"mx2 300 A {MX2}",
            '_mta-sts 300 TXT "v=STSv1; id=20261207"',
            f"mta-sts 300 A {STS_GOOD}",
            "_submission._tcp 300 SRV 0 1 587 mx1",
            "_imaps._tcp 300 SRV 0 0 0 .",
            '@ 300 CAA 0 issue "letsencrypt.org"',
        ],
        signed=True,
    ),
    # MX2's certificate names other14.test, whose CAA allows another CA than the one seen.
    Zone("other14.test.", ['@ 300 CAA 0 issue "digicert.com"']),
    # Every record, each with a problem, for the MX of mail14.test.
    Zone(
        "rec14.test.",
        [
            "@ 300 MX 10 mx1.mail14.test.",
            "@ 300 MX 20 mx2.mail14.test.",
            f'@ 300 TXT "v=spf1 ip4:{MX1} include:missing.rec14.test -all"',
            f'sel1._domainkey 300 TXT "v=DKIM1; k=rsa; p={DKIM_1024}"',
            '_dmarc 300 TXT "v=DMARC1; p=reject; pct=50; rua=mailto:d@reports14.test"',
            '_smtp._tls 300 TXT "v=TLSRPTv1; rua=mailto:tls@rec14.test"',
            'default._bimi 300 TXT "v=BIMI1; l=https://bimi.rec14.test/logo.svg"',
            f"bimi 300 A {STS_GOOD}",
        ],
    ),
    # MX1 alone, no MTA-STS at all.
    Zone("plain14.test.", ["@ 300 MX 10 mx1.mail14.test."]),
    # A policy host whose certificate names another host: senders ignore the policy.
    Zone(
        "badsts14.test.",
        [
            "@ 300 MX 10 mx1.mail14.test.",
            '_mta-sts 300 TXT "v=STSv1; id=1"',
            f"mta-sts 300 A {STS_BAD}",
        ],
    ),
    Zone("nomail14.test.", ["@ 300 MX 0 ."]),
    # Policies served wrong, one way each (the HTTPS server answers by Host header).
    *(
        Zone(
            f"{name}.",
            [
                "@ 300 MX 10 mx1.mail14.test.",
                "@ 300 MX 20 mx2.mail14.test.",
                '_mta-sts 300 TXT "v=STSv1; id=7"',
                f"mta-sts 300 A {STS_GOOD}",
            ],
        )
        for name in BEHAVIOURS
    ),
    # An MX that is an alias, one that does not exist; and a zone that fails validation.
    Zone(
        "weird14.test.",
        ["@ 300 MX 10 alias", "@ 300 MX 20 gone", "alias 300 CNAME mx1.mail14.test."],
    ),
    Zone("bogus14.test.", ["@ 300 MX 10 mx1.mail14.test."], bogus=True),
]


class _Policy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("Host") == "bimi.rec14.test" and self.path == "/logo.svg":
            self.send_response(200)
            self.send_header("Content-Type", "image/svg+xml")
            self.send_header("Content-Length", str(len(LOGO)))
            self.end_headers()
            self.wfile.write(LOGO)
            return
        domain = (self.headers.get("Host") or "").removeprefix("mta-sts.")
        behaviour = BEHAVIOURS.get(domain, "good")
        if self.path != "/.well-known/mta-sts.txt" or behaviour == "404":
            self.send_error(404)
            return
        if behaviour == "redirect":
            self.send_response(301)
            self.send_header("Location", f"https://www.{domain}/mta-sts.txt")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = {"big": POLICY + b"#" * 70_000, "testing": TESTING_POLICY}.get(behaviour, POLICY)
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if behaviour == "html" else "text/plain")
        if behaviour != "big":  # no length: the bound must hold while the body streams
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _fixed(policy: bytes) -> type[BaseHTTPRequestHandler]:
    class Fixed(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/.well-known/mta-sts.txt":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(policy)))
            self.end_headers()
            self.wfile.write(policy)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Fixed


def https_server(
    address: str, cert: Path, key: Path, policy: bytes | None = None
) -> ThreadingHTTPServer:
    """An HTTPS server on ``address``:443 serving ``policy`` as the MTA-STS policy of any
    host, or (``None``) this module's policies by Host header."""
    server = ThreadingHTTPServer((address, 443), _Policy if policy is None else _fixed(policy))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def issue_files(
    directory: Path, issuing: CertificateAuthority, name: str, names: list[str]
) -> tuple[Path, Path, bytes]:
    """A server certificate for ``names`` from ``issuing``: the chain file (leaf first), the
    key file, and the leaf's SubjectPublicKeyInfo (DER: what a '3 1 x' TLSA record pins)."""
    leaf = issuing.issue_server(names)
    chain = directory / f"{name}-chain.pem"
    key = directory / f"{name}-key.pem"
    chain.write_bytes(leaf.cert_pem() + issuing.chain_pem())
    key.write_bytes(leaf.key_pem())
    key.chmod(0o600)
    spki = leaf.cert.public_key().public_bytes(DER, PublicFormat.SubjectPublicKeyInfo)
    return chain, key, spki


def postfix_mx(name: str, address: str, chain: Path, key: Path) -> RunningServer:
    """A real Postfix on ``address``:25 serving ``chain`` (fails the test when it cannot)."""
    spec = PostfixSpec(
        name=name,
        address=address,
        chain_pem=chain,
        key_pem=key,
        sasl_socket="unused",
        extra_config="smtpd_sasl_auth_enable = no\n",
    )
    try:
        return start_postfix(spec)
    except ServerUnavailable as exc:
        unavailable(str(exc))
        raise


@pytest.fixture(scope="module")
def world(realservers_lock: None) -> Iterator[tuple[DnsLab, Path]]:
    directory = WORK_ROOT / "domain14"
    directory.mkdir(parents=True, exist_ok=True)
    # The organisation is the one CAA identifiers are known for (letsencrypt.org), so that the
    # CAA rule judges the issuer of the certificates the MX serve.
    root = CertificateAuthority.create_root(
        "Vedette Domain Test Root", organization="Let's Encrypt"
    )
    issuing = root.issue_intermediate("Vedette Domain Test Issuing CA")
    root_pem = directory / "root.pem"
    root_pem.write_bytes(root.issued.cert_pem())
    servers: list[RunningServer] = []
    https: list[ThreadingHTTPServer] = []
    try:
        for name, address, names in (
            ("mx1", MX1, ["mx1.mail14.test"]),
            ("mx2", MX2, ["other14.test"]),
        ):
            chain, key, _ = issue_files(directory, issuing, name, names)
            servers.append(postfix_mx(f"d14-{name}", address, chain, key))
        sts_names = [
            "mta-sts.mail14.test",
            *(f"mta-sts.{d}" for d in BEHAVIOURS),
            "bimi.rec14.test",
        ]
        sts = issue_files(directory, issuing, "sts", sts_names)
        https.append(https_server(STS_GOOD, *sts[:2]))
        bad = issue_files(directory, issuing, "sts-bad", ["elsewhere14.test"])
        https.append(https_server(STS_BAD, *bad[:2]))
        with dns_lab(ZONES) as lab:
            yield lab, root_pem
    finally:
        for h in https:
            h.shutdown()
            h.server_close()
        for s in servers:
            s.stop()


def _check(
    lab: DnsLab, root: Path, *domains: str, extra: tuple[str, ...] = ("--no-store",)
) -> tuple[int, dict[str, Any], str]:
    argv = [
        sys.executable, "-m", "vedette", "domain", "check", *domains,
        "--resolver", lab.resolver_arg, "--trust-ad", "--ca", str(root),
        "--format", "json", "--timeout", "5", *extra,
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    try:
        document = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON: exit {result.returncode}\n{result.stderr}\n{result.stdout}")
    assert document["schema"] == "vedette.domain/1"
    return result.returncode, document, result.stderr


def _ids(domain: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["id"], f["subject"]) for f in domain["findings"]}


def test_enforced_policy_against_the_real_mx(world: tuple[DnsLab, Path]) -> None:
    lab, root = world
    code, doc, err = _check(lab, root, "mail14.test")
    (d,) = doc["domains"]
    assert code == 1, err
    assert [h["name"] for h in d["mx"]["hosts"]] == ["mx1.mail14.test", "mx2.mail14.test"]
    assert d["mx"]["dnssec"] == "secure" and d["dnssec_source"] == "trust-ad"
    sts = d["rules"]["mta_sts"]
    assert sts["fetched"] and sts["policy_host_certificate_valid"] is True
    assert sts["mode_applied"] == "enforce"
    assert sts["policy"]["mx"] == ["mx1.mail14.test", "*.mail14.test"]
    by_host = {m["name"]: m for m in sts["mx"]}
    # The names are those Postfix really served on port 25.
    assert by_host["mx1.mail14.test"]["certificate_names"] == ["mx1.mail14.test"]
    assert by_host["mx2.mail14.test"]["certificate_names"] == ["other14.test"]
    assert by_host["mx2.mail14.test"]["pattern"] == "*.mail14.test"
    # One problem, said once: the scan's name mismatch, weighed by the policy, stands for the
    # MTA-STS rule's own finding on the same MX.
    assert ("domain.mta-sts-mx-certificate-name", "mx2.mail14.test") not in _ids(d)
    assert not any(
        s.startswith("mx") for i, s in _ids(d) if i.startswith(("domain.mta-sts", "domain.mx"))
    )
    views = {v["host"]: v for v in d["mx_view"]}
    sts_sender = [s for s in views["mx2.mail14.test"]["senders"] if "MTA-STS" in s["profile"]]
    assert sts_sender[0]["delivers"] is False
    assert "lacks mx2.mail14.test" in sts_sender[0]["reason"]
    assert views["mx1.mail14.test"]["mta_sts"] == "enforce-ok"
    # The port-25 name mismatch is resolved by the enforced policy: it now stops delivery.
    mismatch = [f for f in d["endpoint_findings"] if f["id"] == "cert.name-mismatch"]
    assert [(f["host"], f["severity"]) for f in mismatch] == [("mx2.mail14.test", "high")]
    assert mismatch[0]["scan_severity"] != "high" and "MTA-STS" in mismatch[0]["note"]
    # What was observed (the DNS answers, the policy fetch) is enough to run the rule again
    # without a packet, and it says the same.
    replayed = asyncio.run(
        check_mta_sts(
            ReplayLookup(answers_from_json(d["observation"]["dns"])),
            "mail14.test",
            [h["name"] for h in d["mx"]["hosts"]],
            {m["name"]: m["certificate_names"] for m in sts["mx"]},
            _replay(PolicyFetch.from_json(sts["fetch"])),
            roots_der=[x509.load_pem_x509_certificate(root.read_bytes()).public_bytes(DER)],
            now=datetime.fromisoformat(d["finished_at"]),
        )
    )
    assert replayed.to_json() == sts


def _replay(stored: PolicyFetch) -> Callable[[str], Awaitable[PolicyFetch]]:
    async def fetch(url: str) -> PolicyFetch:
        return stored

    return fetch


def test_missing_bad_host_and_null_mx(world: tuple[DnsLab, Path]) -> None:
    lab, root = world
    code, doc, err = _check(lab, root, "plain14.test", "badsts14.test", "nomail14.test")
    plain, bad, nomail = doc["domains"]
    assert ("domain.mta-sts-missing", "plain14.test") in _ids(plain)
    assert plain["rules"]["mta_sts"]["record_status"] == "absent"
    view = plain["mx_view"][0]
    assert view["tls"] == "tls" and view["mta_sts"] == "none"
    assert bad["rules"]["mta_sts"]["policy_host_certificate_valid"] is False
    assert bad["rules"]["mta_sts"]["mode_applied"] is None
    refused = [f for f in bad["findings"] if f["id"] == "domain.mta-sts-policy-certificate"]
    assert refused and "mta-sts.badsts14.test" in refused[0]["detail"]
    assert nomail["mx"]["status"] == "null" and nomail["endpoints"] == []
    assert code == 1, err


def test_terminal_output_in_plain_words(world: tuple[DnsLab, Path]) -> None:
    lab, root = world
    argv = [
        sys.executable, "-m", "vedette", "domain", "check", "mail14.test",
        "--resolver", lab.resolver_arg, "--ca", str(root), "--timeout", "5", "--no-store",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stderr
    out = " ".join(result.stdout.split())  # the terminal wraps at 80 columns in a pipe
    assert "MX 10 mx1.mail14.test (127.0.0.61)" in out
    assert "Exchange Online will not deliver: MTA-STS enforce and the certificate lacks" in out
    assert "cert.name-mismatch" in out and "domain.mta-sts-mx-certificate-name" not in out
    assert "senders honouring it will not deliver to this MX" in out


def test_a_bad_argument_is_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vedette", "domain", "check", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not a mail domain" in result.stderr


def test_policies_senders_ignore_or_do_not_enforce(world: tuple[DnsLab, Path]) -> None:
    lab, root = world
    _, doc, _ = _check(lab, root, *BEHAVIOURS)
    got = {d["domain"]: d for d in doc["domains"]}
    for name in ("redirect14.test", "big14.test", "gone14.test"):
        sts = got[name]["rules"]["mta_sts"]
        assert not sts["fetched"] and sts["mode_applied"] is None, sts
        assert ("domain.mta-sts-policy-unreachable", f"mta-sts.{name}") in _ids(got[name])
        # The chain was seen and judged even though the answer was refused.
        assert sts["policy_host_certificate_valid"] is True
    assert "redirects are not followed" in got["redirect14.test"]["rules"]["mta_sts"]["fetch_error"]
    assert "larger than 64 KiB" in got["big14.test"]["rules"]["mta_sts"]["fetch_error"]
    assert "404" in got["gone14.test"]["rules"]["mta_sts"]["fetch_error"]
    assert ("domain.mta-sts-content-type", "mta-sts.html14.test") in _ids(got["html14.test"])
    testing = got["testing14.test"]
    assert testing["rules"]["mta_sts"]["mode_applied"] == "testing"
    assert {"domain.mta-sts-testing", "domain.mta-sts-short-max-age"} <= {
        i for i, _ in _ids(testing)
    }
    # Under testing, the port-25 name mismatch of MX2 keeps the scan's weight.
    (mismatch,) = [f for f in testing["endpoint_findings"] if f["id"] == "cert.name-mismatch"]
    assert mismatch["severity"] == mismatch["scan_severity"]


def test_mx_alias_missing_host_and_failed_validation(world: tuple[DnsLab, Path]) -> None:
    lab, root = world
    code, doc, _ = _check(lab, root, "weird14.test", "bogus14.test")
    weird, bogus = doc["domains"]
    assert ("domain.mx-cname", "alias.weird14.test") in _ids(weird)
    assert ("domain.mx-no-address", "gone.weird14.test") in _ids(weird)
    # The alias is still scanned, at the address it leads to.
    assert [(e["host"], e["ip"], e["port"]) for e in weird["endpoints"]] == [
        ("alias.weird14.test", MX1, 25)
    ]
    assert bogus["mx"]["status"] == "failed"
    assert ("domain.mx-lookup-failed", "bogus14.test") in _ids(bogus)
    assert code == 1


def test_all_ports_scans_the_srv_named_servers(world: tuple[DnsLab, Path]) -> None:
    lab, root = world
    _, doc, _ = _check(lab, root, "mail14.test", extra=("--all-ports", "--no-store"))
    (d,) = doc["domains"]
    endpoints = {(e["host"], e["port"], e["service"]) for e in d["endpoints"]}
    assert ("mx1.mail14.test", 587, "submission") in endpoints
    assert ("mx1.mail14.test", 25, "smtp") in endpoints
    submission = next(e for e in d["endpoints"] if e["port"] == 587)
    assert submission["scanned"] and submission["tls_version"], submission


def _verdicts(domain: dict[str, Any]) -> list[tuple[str, str, str]]:
    found = [(f["id"], f["subject"], f["severity"]) for f in domain["findings"]]
    found += [(f["id"], f["host"], f["severity"]) for f in domain["endpoint_findings"]]
    return sorted(found)


def test_stored_checks_resume_and_are_judged_again_from_the_store(
    world: tuple[DnsLab, Path], tmp_path: Path
) -> None:
    lab, root = world
    db = f"sqlite:///{tmp_path}/domains.db"
    targets = tmp_path / "domains.txt"
    targets.write_text("# three domains\nmail14.test\nplain14.test  # no MTA-STS\n\n")
    code, live, err = _check(
        lab,
        root,
        "nomail14.test",
        extra=("--targets", str(targets), "--db", db, "--concurrency", "2"),
    )
    assert "stored as scan 1" in err
    assert [d["domain"] for d in live["domains"]] == [
        "nomail14.test",
        "mail14.test",
        "plain14.test",
    ]
    # A stopped check: scan 2 has three targets and only one domain stored.
    settings = settings_from_stored({**_stored_options(db, 1)})
    with Store.open(db) as store:
        scan_id = store.begin_scan(
            ["mail14.test", "plain14.test", "badsts14.test"],
            settings_to_stored(settings),
            datetime.now(UTC),
        )
        recorder = Recorder(store, scan_id)
        roots = mozilla_roots_der() + settings.extra_roots
        recorder.put(asyncio.run(check_one("mail14.test", settings, roots)))
        recorder.flush()
    argv = [sys.executable, "-m", "vedette", "domain", "check", "--resume", str(scan_id),
            "--db", db, "--format", "json"]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert "1 domain(s) from the store, 2 checked now" in result.stderr, result.stderr
    resumed = json.loads(result.stdout)
    got = {d["domain"]: d for d in resumed["domains"]}
    assert list(got) == ["mail14.test", "plain14.test", "badsts14.test"]
    # Judged again from the store, without a packet, mail14.test says what the live check said.
    assert _verdicts(got["mail14.test"]) == _verdicts(live["domains"][1])
    assert _verdicts(got["plain14.test"]) == _verdicts(live["domains"][2])
    with Store.open(db, create=False) as store:
        assert store.domain_check_count(scan_id) == 3
        assert store.scan_summary(scan_id).finished_at is not None
        # mx1 serves the three domains: its port-25 observation is stored once.
        stored = store.load_scan(scan_id).observations
        mx1 = [o for o in stored if o.endpoint.host == "mx1.mail14.test"]
        assert [(o.endpoint.ip, o.endpoint.port) for o in mx1] == [(MX1, 25)]


def _stored_options(db: str, scan_id: int) -> dict[str, Any]:
    with Store.open(db, create=False) as store:
        return dict(store.scan_options(scan_id))


def test_csv_and_html_reports(world: tuple[DnsLab, Path], tmp_path: Path) -> None:
    lab, root = world
    base = [sys.executable, "-m", "vedette", "domain", "check", "mail14.test",
            "--resolver", lab.resolver_arg, "--ca", str(root), "--no-store"]  # fmt: skip
    csv_file, html_file = tmp_path / "d.csv", tmp_path / "d.html"
    for fmt, path in (("csv", csv_file), ("html", html_file)):
        run = subprocess.run(
            [*base, "--format", fmt, "-o", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 1 and run.stdout == "", run.stderr
    with csv_file.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    mismatch = [r for r in rows if r["id"] == "cert.name-mismatch"]
    assert [(r["kind"], r["subject"], r["port"], r["severity"]) for r in mismatch] == [
        ("server", "mx2.mail14.test", "25", "high")
    ]
    assert "MTA-STS" in mismatch[0]["note"]
    page = html_file.read_text()
    assert page.startswith("<!doctype html>") and "mx2.mail14.test" in page
    assert "Exchange Online will not deliver" in page
    assert "<td>mta_sts</td><td>mode applied by senders: enforce" in page


def test_mail_records_tied_to_the_real_mx(world: tuple[DnsLab, Path], tmp_path: Path) -> None:
    lab, root = world
    db = f"sqlite:///{tmp_path}/records.db"
    extra = ("--dkim-selector", "sel1", "--dkim-selector", "gone", "--sending-ip", "192.0.2.9")
    code, doc, err = _check(lab, root, "rec14.test", extra=(*extra, "--db", db))
    (d,) = doc["domains"]
    assert code == 1, err
    assert {"spf", "dkim", "dmarc", "tlsrpt", "bimi", "caa", "dnssec", "dane"} <= set(d["rules"])
    ids = _ids(d)
    rules = d["rules"]
    # SPF: check_host() for each real MX address and the sending address given. MX1 matches
    # ip4 before the include is reached; the others reach an include with no SPF record,
    # which is a permerror (RFC 7208 5.2).
    verdicts = {(v["host"], v["address"]): v["result"] for v in rules["spf"]["verdicts"]}
    assert verdicts == {
        ("mx1.mail14.test", MX1): "pass",
        ("mx2.mail14.test", MX2): "permerror",
        ("", "192.0.2.9"): "permerror",
    }
    assert "domain.spf-include-unresolved" in {i for i, _ in ids}
    assert rules["spf"]["lookup_count"] == 1 and rules["spf"]["all"] == "-"
    # DKIM: the selectors given, not the common list; the key's real size.
    keys = {k["selector"]: k for k in rules["dkim"]["keys"]}
    assert rules["dkim"]["selectors_from"] == "given" and set(keys) == {"sel1", "gone"}
    assert (keys["sel1"]["key_type"], keys["sel1"]["bits"]) == ("rsa", 1024)
    assert keys["gone"]["status"] == "absent"
    assert {"domain.dkim-rsa-short", "domain.dkim-selector-missing"} <= {i for i, _ in ids}
    # DMARC: reject, pct obsolete under RFC 9989, an external destination not authorised,
    # and what reject does to forwarded mail.
    assert rules["dmarc"]["applied_policy"] == "reject"
    assert {
        "domain.dmarc-obsolete-tag",
        "domain.dmarc-external-destination-unauthorised",
        "domain.dmarc-forwarding",
    } <= {i for i, _ in ids}
    assert rules["tlsrpt"]["destinations"] == ["mailto:tls@rec14.test"]
    assert not [i for i, _ in ids if i.startswith("domain.tlsrpt")]
    # BIMI: the logo was fetched over HTTPS from the lab and refused by the SVG Tiny PS check.
    assert rules["bimi"]["logo"] == {"status": "fetched", "error": ""}
    # pct=50 still stops a logo: BIMI receivers read it as RFC 7489 did.
    assert rules["bimi"]["dmarc_enforcing"] is False
    (gap,) = [f for f in d["findings"] if f["id"] == "domain.bimi-dmarc-not-enforcing"]
    assert "pct=50" in gap["detail"]
    assert ("domain.bimi-svg-not-tiny-ps", "https://bimi.rec14.test/logo.svg") in ids
    assert "domain.bimi-no-mark-certificate" in {i for i, _ in ids}
    # CAA, against the certificates the two MX really served: MX1's name is under
    # mail14.test (issue letsencrypt.org: allowed), MX2's is other14.test (digicert.com only).
    allowed = {name: ok for c in rules["caa"]["certificates"] for name, ok in c["allowed"].items()}
    assert allowed == {"mx1.mail14.test": True, "other14.test": False}
    assert ("domain.caa-issuer-not-authorised", "other14.test") in ids
    # Judged again from the store (pyspf over the recorded answers, the recorded logo), the
    # same rules say the same, without a packet.
    argv = [sys.executable, "-m", "vedette", "domain", "check", "--resume", "1", "--db", db,
            "--format", "json"]  # fmt: skip
    again = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    (stored,) = json.loads(again.stdout)["domains"]
    assert stored["rules"] == rules and _verdicts(stored) == _verdicts(d)
    # The terminal says the same in plain words.
    argv = [sys.executable, "-m", "vedette", "domain", "check", "rec14.test", "--no-store",
            "--resolver", lab.resolver_arg, "--ca", str(root), *extra]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    out = " ".join(result.stdout.split())
    assert "spf: DNS lookups 1 of 10, void 1 of 2; ends -all;" in out, out
    assert f"mx1.mail14.test {MX1} pass" in out and f"mx2.mail14.test {MX2} permerror" in out
    assert "keys at sel1 (rsa 1024)" in out
    assert "policy applied: reject" in out
    assert "other14.test (Let's Encrypt) NOT allowed" in out
