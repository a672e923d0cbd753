"""XMPP against a real Prosody on loopback, through the CLI as a user runs it.

Four Prosody 0.12 instances (``prosody_server.py``), each with c2s STARTTLS, Direct TLS and s2s
on free ports:

    open     c2s_require_encryption = false, allow_unencrypted_plain_auth = true, legacyauth
    scram    c2s_require_encryption = false, allow_unencrypted_plain_auth = false
    strict   c2s_require_encryption = true (and s2s), allow_unencrypted_plain_auth = false
    notls    no mod_tls: no STARTTLS at all (Direct TLS still works)

The independent client is ``openssl s_client -starttls xmpp -xmpphost DOMAIN`` against the
same servers: the certificate, the TLS versions and session resumption must agree.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import ssl
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli import run_vedette
from tests.integration.prosody_server import (
    OTHER_DOMAIN,
    XMPP_DOMAIN,
    ProsodyPki,
    ProsodySpec,
    ProsodyUnavailable,
    RunningProsody,
    make_prosody_pki,
    start_prosody,
)
from tests.tools import require_program, unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SPECS = {
    "open": ProsodySpec(
        name="open",
        address="127.0.0.41",
        require_encryption=False,
        allow_plain=True,
        legacy_auth=True,
    ),
    "scram": ProsodySpec(
        name="scram", address="127.0.0.42", require_encryption=False, allow_plain=False
    ),
    "strict": ProsodySpec(
        name="strict", address="127.0.0.43", require_encryption=True, allow_plain=False
    ),
    "notls": ProsodySpec(
        name="notls",
        address="127.0.0.44",
        require_encryption=False,
        allow_plain=True,
        starttls=False,
    ),
}
CERT_IDS_PREFIX = "cert."
SCAN = ("scan", "--json", "--no-store", "--connect-timeout", "5", "--read-timeout", "10")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ProsodyPki:
    return make_prosody_pki(tmp_path_factory.mktemp("prosody-pki"))


@pytest.fixture(scope="module")
def prosody(
    pki: ProsodyPki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, RunningProsody]]:
    root = tmp_path_factory.mktemp("prosody")
    root.chmod(0o755)
    started: dict[str, RunningProsody] = {}
    try:
        for name, spec in SPECS.items():
            started[name] = start_prosody(spec, pki, root)
    except ProsodyUnavailable as exc:
        unavailable(str(exc))
    try:
        yield started
    finally:
        for server in started.values():
            server.stop()


def _scan(
    server: RunningProsody, scheme: str, port: int, *extra: str, name: str = XMPP_DOMAIN
) -> tuple[int, dict[str, Any], str]:
    proc = run_vedette(
        *SCAN, f"{scheme}://{name}:{port}", *server.resolve(name, port), *extra, timeout=120
    )
    document = json.loads(proc.stdout)
    return proc.returncode, document, proc.stderr


def _endpoint(document: dict[str, Any]) -> dict[str, Any]:
    endpoints: list[dict[str, Any]] = document["endpoints"]
    assert len(endpoints) == 1, endpoints
    return endpoints[0]


def _findings(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in document["findings"]}


# ---- what vedette reports ------------------------------------------------------------------


def test_plain_and_legacy_auth_before_tls_are_reported_with_the_prosody_fix(
    prosody: dict[str, RunningProsody], pki: ProsodyPki
) -> None:
    server = prosody["open"]
    code, doc, _ = _scan(server, "xmpp", server.c2s_port, "--ca", str(pki.root_pem))
    ep = _endpoint(doc)
    assert ep["status"] == "ok" and ep["service"] == "xmpp" and ep["role"] == "user"
    assert "starttls" in ep["capabilities_before_tls"]
    assert "mechanism PLAIN" in ep["capabilities_before_tls"]
    assert ep["starttls_reply"] == ["proceed"]
    findings = _findings(doc)
    auth = findings["tls.plaintext-auth"]
    assert auth["severity"] == "high"
    assert "IQ-AUTH, PLAIN" in auth["detail"]
    assert "c2s_require_encryption = true" in auth["remediation"]  # XMPP's fix, not Dovecot's
    assert "Dovecot" not in auth["remediation"]
    assert not [i for i in findings if i.startswith(CERT_IDS_PREFIX)], findings
    assert code == 1  # a high finding on an explicit target


def test_scram_only_before_tls_is_no_password_in_clear(
    prosody: dict[str, RunningProsody], pki: ProsodyPki
) -> None:
    server = prosody["scram"]
    code, doc, _ = _scan(server, "xmpp", server.c2s_port, "--ca", str(pki.root_pem))
    ep = _endpoint(doc)
    assert [c for c in ep["capabilities_before_tls"] if c.startswith("mechanism")] == [
        "mechanism SCRAM-SHA-1"
    ]
    assert "mechanism PLAIN" in ep["capabilities_after_tls"]
    assert "tls.plaintext-auth" not in _findings(doc)


def test_required_encryption_passes_and_prosody_enforces_it(
    prosody: dict[str, RunningProsody], pki: ProsodyPki
) -> None:
    server = prosody["strict"]
    code, doc, _ = _scan(server, "xmpp", server.c2s_port, "--ca", str(pki.root_pem))
    ep = _endpoint(doc)
    assert ep["capabilities_before_tls"] == ["starttls required"]
    assert "mechanism PLAIN" in ep["capabilities_after_tls"]
    severe = [f for f in doc["findings"] if f["severity"] in ("critical", "high", "medium")]
    assert severe == [] and code == 0
    # The rule vedette applies to <required/> (RFC 6120 5.3.1: TLS before anything else) is
    # what Prosody does: an <auth/> before TLS is refused with <encryption-required/>.
    with socket.create_connection((server.address, server.c2s_port), timeout=5) as sock:
        sock.sendall(
            f"<?xml version='1.0'?><stream:stream to='{XMPP_DOMAIN}' version='1.0' "
            "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>".encode()
        )
        _read_until(sock, b"</stream:features>")
        sock.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>=</auth>")
        assert b"<encryption-required/>" in _read_until(sock, b"</failure>")


def test_no_starttls_at_all_is_tls_none_and_a_critical_password_leak(
    prosody: dict[str, RunningProsody],
) -> None:
    server = prosody["notls"]
    code, doc, _ = _scan(server, "xmpp", server.c2s_port)
    ep = _endpoint(doc)
    assert ep["status"] == "ok" and ep["tls"] is None
    assert ep["starttls_reply"] == ["stream-error unsupported-stanza-type"]
    findings = _findings(doc)
    assert "unsupported-stanza-type" in findings["tls.none"]["detail"]
    assert findings["tls.plaintext-auth"]["severity"] == "critical"
    assert code == 1


def test_direct_tls_on_the_xmpps_port(prosody: dict[str, RunningProsody], pki: ProsodyPki) -> None:
    server = prosody["open"]
    code, doc, _ = _scan(server, "xmpps", server.direct_tls_port, "--ca", str(pki.root_pem))
    ep = _endpoint(doc)
    assert ep["tls_mode"] == "implicit" and ep["status"] == "ok"
    assert ep["capabilities_before_tls"] is None and ep["starttls_reply"] is None
    assert "mechanism PLAIN" in ep["capabilities_after_tls"]
    assert ep["tls"]["chain"][0]["sha256"] == _leaf_sha256(pki)
    assert len(ep["tls"]["chain"]) == 2  # leaf and intermediate, as configured
    findings = _findings(doc)
    assert "tls.plaintext-auth" not in findings
    assert not [i for i in findings if i.startswith(CERT_IDS_PREFIX)], findings
    # The certificate verdict without the tests' root: a correct chain to an unknown root.
    _, untrusted, _ = _scan(server, "xmpps", server.direct_tls_port)
    assert {i for i in _findings(untrusted) if i.startswith(CERT_IDS_PREFIX)} == {
        "cert.unknown-root"
    }


def test_server_to_server_with_required_tls(
    prosody: dict[str, RunningProsody], pki: ProsodyPki
) -> None:
    server = prosody["strict"]
    code, doc, _ = _scan(server, "xmpp-server", server.s2s_port, "--ca", str(pki.root_pem))
    ep = _endpoint(doc)
    assert ep["role"] == "relay" and ep["status"] == "ok"
    # Prosody lists dialback beside the required STARTTLS (RFC 6120 5.3.1 says SHOULD NOT).
    assert sorted(ep["capabilities_before_tls"]) == [
        "dialback urn:xmpp:features:dialback",
        "starttls required",
    ]
    assert ep["starttls_reply"] == ["proceed"]
    assert "dialback urn:xmpp:features:dialback" in ep["capabilities_after_tls"]
    assert "tls.plaintext-auth" not in _findings(doc)
    assert ep["tls"]["chain"][0]["sha256"] == _leaf_sha256(pki)
    # openssl's server-to-server STARTTLS reaches the same certificate on the same port.
    proc = _s_client(
        require_program("openssl"),
        server,
        pki,
        "-showcerts",
        starttls="xmpp-server",
        port=server.s2s_port,
    )
    assert "Verify return code: 0 (ok)" in proc.stdout, proc.stdout
    assert _first_certificate_sha256(proc.stdout) == _leaf_sha256(pki)


def test_a_domain_the_server_does_not_serve_is_named(prosody: dict[str, RunningProsody]) -> None:
    server = prosody["strict"]
    code, doc, stderr = _scan(server, "xmpp", server.c2s_port, name=OTHER_DOMAIN)
    failure = _endpoint(doc)["failure"]
    assert failure["kind"] == "unavailable" and failure["stage"] == "capabilities"
    assert f"does not serve '{OTHER_DOMAIN}'" in failure["detail"]
    assert "host-unknown" in failure["detail"]


def test_full_mode_enumerates_tls_after_starttls_as_openssl_sees_it(
    prosody: dict[str, RunningProsody], pki: ProsodyPki
) -> None:
    openssl = require_program("openssl")
    server = prosody["strict"]
    _, doc, _ = _scan(server, "xmpp", server.c2s_port, "--ca", str(pki.root_pem), "--mode", "full")
    scan = _endpoint(doc)["tls_scan"]
    assert scan is not None and not scan["incomplete"]
    accepted = {
        version
        for version, flag in (
            ("TLSv1", "-tls1"),
            ("TLSv1.1", "-tls1_1"),
            ("TLSv1.2", "-tls1_2"),
            ("TLSv1.3", "-tls1_3"),
        )
        if _s_client(openssl, server, pki, flag, "-cipher", "ALL:@SECLEVEL=0").returncode == 0
    }
    assert set(scan["versions"]) == accepted and "TLSv1.3" in accepted
    assert len(scan["suites"]) > 0


def test_openssl_starttls_xmpp_agrees_on_certificate_and_resumption(
    prosody: dict[str, RunningProsody], pki: ProsodyPki, tmp_path: Path
) -> None:
    openssl = require_program("openssl")
    server = prosody["strict"]
    _, doc, _ = _scan(server, "xmpp", server.c2s_port, "--ca", str(pki.root_pem), "--mode", "full")
    ep = _endpoint(doc)
    proc = _s_client(openssl, server, pki, "-showcerts")
    assert proc.returncode == 0, proc.stdout
    assert "Verify return code: 0 (ok)" in proc.stdout
    assert _first_certificate_sha256(proc.stdout) == ep["tls"]["chain"][0]["sha256"]
    assert f"Protocol  : {ep['tls']['version']}" in proc.stdout
    # Resumption, as openssl sees it: a saved session offered again.
    for flag, key in (("-tls1_2", "resumption"), ("-tls1_3", "resumption_tls13")):
        session = tmp_path / f"session{flag}"
        _s_client(openssl, server, pki, flag, "-sess_out", str(session))
        again = _s_client(openssl, server, pki, flag, "-sess_in", str(session))
        reused = again.stdout.count("\nReused,") > 0
        assert ep["tls_scan"][key] is reused, again.stdout
    # And the domain matters to openssl too: another one gets no STARTTLS.
    other = _s_client(openssl, server, pki, xmpphost=OTHER_DOMAIN)
    assert other.returncode != 0


def test_a_fleet_scan_stores_the_three_services(
    prosody: dict[str, RunningProsody], pki: ProsodyPki, tmp_path: Path
) -> None:
    server = prosody["open"]
    ports = {
        "xmpp": server.c2s_port,
        "xmpps": server.direct_tls_port,
        "xmpp-server": server.s2s_port,
    }
    targets = tmp_path / "targets"
    targets.write_text("".join(f"{s}://{XMPP_DOMAIN}:{p}\n" for s, p in ports.items()))
    url = f"sqlite:///{tmp_path / 'v.db'}"
    resolve = [a for p in ports.values() for a in server.resolve(XMPP_DOMAIN, p)]
    proc = run_vedette(
        "scan",
        "--targets",
        targets,
        "--db",
        url,
        "--quiet",
        "--ca",
        pki.root_pem,
        *resolve,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    report = run_vedette("report", "last", "--json", "--db", url)
    doc = json.loads(report.stdout)
    stored = {(e["service"], e["port"]): e for e in doc["endpoints"]}
    assert set(stored) == {(s, p) for s, p in ports.items()}
    assert all(e["status"] == "ok" for e in stored.values())
    # Re-read from the store: the capability lines still say PLAIN before TLS on c2s.
    plaintext = [f for f in doc["findings"] if f["id"] == "tls.plaintext-auth"]
    assert [f["port"] for f in plaintext] == [server.c2s_port]


# ---- helpers -------------------------------------------------------------------------------


def _leaf_sha256(pki: ProsodyPki) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pki.leaf_pem.read_text())).hexdigest()


def _first_certificate_sha256(s_client_output: str) -> str:
    found = re.search(
        r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", s_client_output, re.DOTALL
    )
    assert found is not None, s_client_output
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(found.group(0))).hexdigest()


def _read_until(sock: socket.socket, end: bytes, limit: int = 65536) -> bytes:
    data = b""
    while end not in data and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _s_client(
    openssl: str,
    server: RunningProsody,
    pki: ProsodyPki,
    *flags: str,
    xmpphost: str = XMPP_DOMAIN,
    starttls: str = "xmpp",
    port: int | None = None,
) -> subprocess.CompletedProcess[str]:
    argv = [
        openssl,
        "s_client",
        "-starttls",
        starttls,
        "-xmpphost",
        xmpphost,
        "-connect",
        f"{server.address}:{port or server.c2s_port}",
        "-servername",
        XMPP_DOMAIN,
        "-CAfile",
        str(pki.root_pem),
        *flags,
    ]
    # Keep stdin open a moment so that s_client reads the TLS 1.3 tickets before it quits.
    return subprocess.run(
        ["sh", "-c", 'sleep 1 | "$0" "$@"', *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
