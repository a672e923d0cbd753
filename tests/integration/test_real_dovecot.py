"""vedette against real Dovecot 2.3 instances (Debian package) on loopback.

Two layers. The ``test_server_*`` tests check, with the standard library's own clients, that
each Dovecot really behaves as its configuration claims (plaintext login allowed or not, TLS
present or not): without them a wrong fixture could make a scanner test pass for the wrong
reason. The ``test_scan_*`` tests then drive ``python -m vedette scan --json`` as a user would
and assert on the findings and the recorded dialogue.
"""

from __future__ import annotations

import imaplib
import poplib
import socket
import ssl

import pytest

from tests.integration.realservers import (
    MAIL_HOST,
    PASSWORD,
    USER,
    Pki,
    RunningServer,
    ScanRun,
    run_scan,
)

D1, D2, D3, D4 = "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"
CERT_IDS = {
    "cert.self-signed",
    "cert.expired",
    "cert.name-mismatch",
    "cert.chain-incomplete",
    "cert.unknown-root",
    "cert.untrusted",
}


def _context(pki: Pki, *, check_hostname: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.root_pem))
    # imaplib/poplib pass the IP they connected to as server_hostname; the certificate names
    # mail.realtest.test, so the STARTTLS sanity checks verify the chain but not the name.
    ctx.check_hostname = check_hostname
    return ctx


def _caps(endpoint: dict[str, object], key: str) -> str:
    value = endpoint[key]
    assert isinstance(value, list), f"{key} not recorded: {endpoint}"
    return " ".join(str(v) for v in value).upper()


# --- the servers are what they claim ------------------------------------------------------------


def test_server_d1_accepts_imap_and_pop3_logins_in_clear(dovecot_d1: RunningServer) -> None:
    with imaplib.IMAP4(D1, 143, timeout=5) as imap:
        assert "AUTH=PLAIN" in imap.capabilities
        assert "STARTTLS" in imap.capabilities
        assert "LOGINDISABLED" not in imap.capabilities
        typ, _ = imap.login(USER, PASSWORD)  # the password really crosses in clear
        assert typ == "OK"
    pop = poplib.POP3(D1, 110, timeout=5)
    try:
        capa = pop.capa()
        assert "USER" in capa
        assert "STLS" in capa
        assert pop.user(USER).startswith(b"+OK")
        assert pop.pass_(PASSWORD).startswith(b"+OK")
    finally:
        pop.quit()


def test_server_d2_refuses_login_before_starttls(dovecot_d2: RunningServer, realtest_pki: Pki):
    with imaplib.IMAP4(D2, 143, timeout=5) as imap:
        assert "LOGINDISABLED" in imap.capabilities
        with pytest.raises(imaplib.IMAP4.error):
            imap.login(USER, PASSWORD)
    with imaplib.IMAP4(D2, 143, timeout=5) as imap:
        imap.starttls(_context(realtest_pki, check_hostname=False))
        assert "LOGINDISABLED" not in imap.capabilities
        assert imap.login(USER, PASSWORD)[0] == "OK"
    pop = poplib.POP3(D2, 110, timeout=5)
    try:
        assert "USER" not in pop.capa()
        with pytest.raises(poplib.error_proto, match="Plaintext authentication disallowed"):
            pop.user(USER)
        pop.stls(_context(realtest_pki, check_hostname=False))
        assert "USER" in pop.capa()
    finally:
        pop.quit()


def test_server_d3_serves_a_chain_that_verifies_for_the_name(
    dovecot_d3: RunningServer, realtest_pki: Pki
) -> None:
    # Only the root is trusted here, so the handshake verifies only if the server sends the
    # intermediate; check_hostname proves the leaf names mail.realtest.test.
    ctx = _context(realtest_pki, check_hostname=True)
    for port, greeting in ((993, b"* OK"), (995, b"+OK")):
        with (
            socket.create_connection((D3, port), timeout=5) as raw,
            ctx.wrap_socket(raw, server_hostname=MAIL_HOST) as tls,
        ):
            assert tls.recv(200).startswith(greeting)


def test_server_d4_has_no_tls(dovecot_d4: RunningServer) -> None:
    pop = poplib.POP3(D4, 110, timeout=5)
    try:
        capa = pop.capa()
        assert "STLS" not in capa
        assert "USER" in capa
        with pytest.raises(poplib.error_proto):
            pop._shortcmd("STLS")
    finally:
        pop.quit()


# --- vedette scan ---------------------------------------------------------------------------------


def _scan_d1(pki: Pki) -> ScanRun:
    return run_scan("--ip", D1, f"imap://{MAIL_HOST}", f"pop3://{MAIL_HOST}", ca=pki.root_pem)


def test_scan_d1_reports_plaintext_auth_on_imap_and_pop3(
    dovecot_d1: RunningServer, realtest_pki: Pki
) -> None:
    run = _scan_d1(realtest_pki)
    assert run.returncode == 1, run  # tls.plaintext-auth is high on user-facing ports
    imap, pop3 = run.endpoint(D1, 143), run.endpoint(D1, 110)
    assert (imap["service"], pop3["service"]) == ("imap", "pop3")
    for endpoint in (imap, pop3):
        assert endpoint["status"] == "ok", run
        assert endpoint["host"] == MAIL_HOST
        assert "tls.plaintext-auth" in endpoint["findings"], run
        assert endpoint["tls"] is not None, run
        assert endpoint["tls"]["sni"] == MAIL_HOST
    assert run.finding_ids(D1, 143) >= {"tls.plaintext-auth"}
    assert run.finding_ids(D1, 110) >= {"tls.plaintext-auth"}
    assert not run.finding_ids(D1) & ({"tls.none"} | CERT_IDS), run
    # What the server said in clear is recorded, and TLS really happened afterwards.
    assert "AUTH=PLAIN" in _caps(imap, "capabilities_before_tls")
    assert "LOGINDISABLED" not in _caps(imap, "capabilities_before_tls")
    assert "STARTTLS" in _caps(imap, "capabilities_before_tls")
    assert "USER" in _caps(pop3, "capabilities_before_tls")
    assert "STLS" in _caps(pop3, "capabilities_before_tls")
    assert imap["starttls_reply"], run
    assert "AUTH=PLAIN" in _caps(imap, "capabilities_after_tls")
    finding = next(
        f for f in run.document["findings"] if f["id"] == "tls.plaintext-auth" and f["port"] == 143
    )
    assert finding["severity"] == "high"
    assert finding["remediation"]


def test_scan_d2_finds_no_plaintext_auth(dovecot_d2: RunningServer, realtest_pki: Pki) -> None:
    run = run_scan(
        "--ip", D2, f"imap://{MAIL_HOST}", f"pop3://{MAIL_HOST}", ca=realtest_pki.root_pem
    )
    imap, pop3 = run.endpoint(D2, 143), run.endpoint(D2, 110)
    for endpoint in (imap, pop3):
        assert endpoint["status"] == "ok", run
        assert "tls.plaintext-auth" not in endpoint["findings"], run
    assert "tls.plaintext-auth" not in run.finding_ids(D2), run
    assert not run.finding_ids(D2) & CERT_IDS, run
    assert "LOGINDISABLED" in _caps(imap, "capabilities_before_tls")
    assert "LOGINDISABLED" not in _caps(imap, "capabilities_after_tls")
    assert "AUTH=PLAIN" in _caps(imap, "capabilities_after_tls")
    assert "USER" not in _caps(pop3, "capabilities_before_tls").split()
    assert "USER" in _caps(pop3, "capabilities_after_tls").split()
    assert run.returncode == 0, run


def test_scan_d3_implicit_tls_with_a_good_chain(
    dovecot_d3: RunningServer, realtest_pki: Pki
) -> None:
    run = run_scan(
        "--ip", D3, f"imaps://{MAIL_HOST}", f"pop3s://{MAIL_HOST}", ca=realtest_pki.root_pem
    )
    assert run.returncode == 0, run
    for port, service in ((993, "imaps"), (995, "pop3s")):
        endpoint = run.endpoint(D3, port)
        assert endpoint["service"] == service
        assert endpoint["status"] == "ok", run
        assert endpoint["starttls_reply"] is None  # implicit TLS: nothing said in clear
        tls = endpoint["tls"]
        assert tls is not None, run
        assert tls["version"] in ("TLSv1.2", "TLSv1.3")
        chain = tls["chain"]
        assert len(chain) == 2, run  # leaf + intermediate, the root is not sent
        assert "mail.realtest.test" in chain[0]["subject"]
        assert "Issuing CA" in chain[1]["subject"]
        assert chain[0]["issuer"] == chain[1]["subject"]
    found = run.finding_ids(D3)
    assert not found & (CERT_IDS | {"tls.none", "tls.plaintext-auth"}), run


def test_scan_d3_without_the_test_root_reports_the_unknown_root(
    dovecot_d3: RunningServer, realtest_pki: Pki
) -> None:
    # The same server, but vedette is not told about the private root. The server sends leaf +
    # intermediate, a correct chain whose root vedette does not know: cert.unknown-root alone
    # (not a missing intermediate, issue 10; cert.untrusted is for an untrusted root the
    # server sent), and it says to give the root with --ca.
    run = run_scan("--ip", D3, f"imaps://{MAIL_HOST}")
    assert run.finding_ids(D3, 993) & CERT_IDS == {"cert.unknown-root"}, run
    finding = next(
        f for f in run.document["findings"] if f["port"] == 993 and f["id"] == "cert.unknown-root"
    )
    assert "Vedette Realtest Root" in finding["detail"]
    assert "--ca" in finding["detail"] and "--ca" in finding["remediation"]
    assert run.returncode == 1, run


def test_scan_d3_under_another_name_is_a_name_mismatch(
    dovecot_d3: RunningServer, realtest_pki: Pki
) -> None:
    run = run_scan("--ip", D3, "imaps://imap.elsewhere.test", ca=realtest_pki.root_pem)
    endpoint = run.endpoint(D3, 993)
    assert endpoint["tls"]["sni"] == "imap.elsewhere.test"
    assert "cert.name-mismatch" in run.finding_ids(D3, 993), run


def test_scan_d4_reports_no_tls_and_plaintext_auth(
    dovecot_d4: RunningServer, realtest_pki: Pki
) -> None:
    run = run_scan("--ip", D4, f"pop3://{MAIL_HOST}", ca=realtest_pki.root_pem)
    assert run.returncode == 1, run
    endpoint = run.endpoint(D4, 110)
    assert endpoint["tls"] is None
    assert endpoint["capabilities_after_tls"] is None
    assert "STLS" not in _caps(endpoint, "capabilities_before_tls").split()
    assert endpoint["starttls_reply"], run  # asked anyway; Dovecot said no
    assert {"tls.none", "tls.plaintext-auth"} <= run.finding_ids(D4, 110), run
    plaintext = next(f for f in run.document["findings"] if f["id"] == "tls.plaintext-auth")
    assert plaintext["severity"] == "critical"  # passwords in clear with no way to avoid it
