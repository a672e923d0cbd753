"""vedette against real Postfix 3.7 instances (Debian package) on loopback.

P1 (127.0.0.21) offers AUTH before STARTTLS (``smtpd_tls_auth_only = no``); P2 (127.0.0.22)
hides it until TLS (``smtpd_tls_auth_only = yes``) and also serves 465 in wrapper mode. SASL
goes through Dovecot D1's auth socket, so a login really is checked against a password. As in
test_real_dovecot.py, ``test_server_*`` proves each server is what it claims with smtplib, and
``test_scan_*`` drives the CLI.
"""

from __future__ import annotations

import smtplib
import ssl

from tests.integration.realservers import (
    MAIL_HOST,
    PASSWORD,
    USER,
    Pki,
    RunningServer,
    run_scan,
)

P1, P2 = "127.0.0.21", "127.0.0.22"
CERT_IDS = {
    "cert.self-signed",
    "cert.expired",
    "cert.name-mismatch",
    "cert.chain-incomplete",
    "cert.unknown-root",
    "cert.untrusted",
}


def _context(pki: Pki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.root_pem))


def _joined(endpoint: dict[str, object], key: str) -> str:
    value = endpoint[key]
    assert isinstance(value, list), f"{key} not recorded: {endpoint}"
    return "\n".join(str(v) for v in value).upper()


# --- the servers are what they claim ------------------------------------------------------------


def test_server_p1_accepts_auth_before_starttls(postfix_p1: RunningServer) -> None:
    with smtplib.SMTP(P1, 587, local_hostname="client.realtest.test", timeout=5) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        assert "PLAIN" in smtp.esmtp_features["auth"].upper()
        # A real SASL exchange through Dovecot's auth socket, in clear.
        code, _ = smtp.login(USER, PASSWORD)
        assert code == 235


def test_server_p2_requires_starttls_before_auth(postfix_p2: RunningServer, realtest_pki: Pki):
    with smtplib.SMTP(P2, 587, local_hostname="client.realtest.test", timeout=5) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")
        code, message = smtp.docmd("AUTH", "PLAIN AGFsaWNlAHdvbmRlcmxhbmQtNw==")
        # 503 "authentication not enabled": before TLS Postfix behaves as if AUTH did not exist.
        assert code in (503, 530), message
        context = _context(realtest_pki)
        context.check_hostname = False  # smtplib sends the IP as SNI; names checked below
        smtp.starttls(context=context)
        smtp.ehlo()
        assert smtp.has_extn("auth")
        assert smtp.login(USER, PASSWORD)[0] == 235
    # Wrapper mode on 465: TLS first, with a chain that verifies up to the test root.
    context = _context(realtest_pki)
    context.check_hostname = False
    with smtplib.SMTP_SSL(P2, 465, context=context, timeout=5) as smtps:
        assert smtps.ehlo()[0] == 250
        assert smtps.has_extn("auth")
        assert isinstance(smtps.sock, ssl.SSLSocket)
        peer = smtps.sock.getpeercert()
        assert ("DNS", MAIL_HOST) in peer["subjectAltName"]


# --- vedette scan ---------------------------------------------------------------------------------


def test_scan_p1_reports_auth_before_starttls(postfix_p1: RunningServer, realtest_pki: Pki):
    run = run_scan(
        "--ip",
        P1,
        f"submission://{MAIL_HOST}",
        f"smtp://{MAIL_HOST}",
        ca=realtest_pki.root_pem,
    )
    assert run.returncode == 1, run
    submission, relay = run.endpoint(P1, 587), run.endpoint(P1, 25)
    assert (submission["service"], relay["service"]) == ("submission", "smtp")
    for endpoint in (submission, relay):
        assert endpoint["status"] == "ok", run
        assert "AUTH PLAIN" in _joined(endpoint, "capabilities_before_tls")
        assert "STARTTLS" in _joined(endpoint, "capabilities_before_tls")
        assert endpoint["starttls_reply"], run
        assert endpoint["tls"] is not None, run
        assert "tls.plaintext-auth" in endpoint["findings"], run
        assert any(line.startswith("220") for line in endpoint["greeting"]), run
    severities = {
        f["port"]: f["severity"]
        for f in run.document["findings"]
        if f["id"] == "tls.plaintext-auth"
    }
    # Users type passwords on 587; port 25 is server-to-server and weighs less.
    assert severities == {587: "high", 25: "medium"}, run
    assert not run.finding_ids(P1) & (CERT_IDS | {"tls.none"}), run


def test_scan_p2_finds_no_plaintext_auth(postfix_p2: RunningServer, realtest_pki: Pki) -> None:
    run = run_scan(
        "--ip",
        P2,
        f"submission://{MAIL_HOST}",
        f"smtp://{MAIL_HOST}",
        f"smtps://{MAIL_HOST}",
        ca=realtest_pki.root_pem,
    )
    assert run.returncode == 0, run
    for port in (25, 587):
        endpoint = run.endpoint(P2, port)
        assert endpoint["status"] == "ok", run
        assert "AUTH" not in _joined(endpoint, "capabilities_before_tls")
        assert "AUTH PLAIN" in _joined(endpoint, "capabilities_after_tls")
    smtps = run.endpoint(P2, 465)
    assert smtps["service"] == "smtps"
    assert smtps["status"] == "ok", run
    assert smtps["starttls_reply"] is None
    assert len(smtps["tls"]["chain"]) == 2
    found = run.finding_ids(P2)
    assert "tls.plaintext-auth" not in found, run
    assert not found & (CERT_IDS | {"tls.none"}), run


def test_scan_by_ports_finds_every_postfix_service(postfix_p2: RunningServer, realtest_pki: Pki):
    # A bare host name with --ports: the port alone decides the dialogue (25/587 STARTTLS,
    # 465 implicit TLS), as when an administrator sweeps a host.
    run = run_scan("--ip", P2, "--ports", "25,587,465", MAIL_HOST, ca=realtest_pki.root_pem)
    services = {e["port"]: e["service"] for e in run.endpoints(P2)}
    assert services == {25: "smtp", 587: "submission", 465: "smtps"}, run
    assert all(e["status"] == "ok" for e in run.endpoints(P2)), run
    assert run.returncode == 0, run
