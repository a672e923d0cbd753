"""The protocol rules the lab's servers obey, as real servers do: what is offered and accepted
before TLS, and STARTTLS that cannot be used to inject commands."""

from __future__ import annotations

import base64
import imaplib
import poplib
import smtplib

import pytest

from tests.integration.test_lab_support import IMAP, POP3, SMTP, Raw, trusting, within
from vedette.lab import DEMO_PASSWORD, DEMO_USER, LAB_HOST, SCENARIOS, LabThread, Scenario
from vedette.lab._pop3 import Pop3Policy
from vedette.lab._smtp import SmtpPolicy
from vedette.lab.scenarios import CertKind
from vedette.model import Service

# Two servers the demo does not need but the rules do: POP3 with STLS done right (USER hidden
# and refused before TLS) and SMTP submission with AUTH only after STARTTLS.
_STRICT = (
    Scenario(
        name="pop3-starttls-strict",
        service=Service.POP3,
        description="POP3 with STLS, USER only after TLS",
        expected_findings=frozenset(),
        cert=CertKind.GOOD,
        pop3=Pop3Policy(stls=True, user_before_tls=False),
    ),
    Scenario(
        name="submission-strict",
        service=Service.SUBMISSION,
        description="submission with AUTH only after STARTTLS",
        expected_findings=frozenset(),
        cert=CertKind.GOOD,
        smtp=SmtpPolicy(starttls=True, auth=True, auth_before_tls=False, submission=True),
    ),
)

PLAIN_IR = base64.b64encode(f"\0{DEMO_USER}\0{DEMO_PASSWORD}".encode()).decode()


@pytest.fixture(scope="module")
def lt():
    with LabThread(scenarios=SCENARIOS + _STRICT) as running:
        yield running


# --- IMAP ---------------------------------------------------------------------------------


def test_login_before_starttls_refused_where_logindisabled(lt):
    with within(10), IMAP(LAB_HOST, lt.lab.server("imap-starttls-good").port) as m:
        assert "LOGINDISABLED" in m.capabilities
        with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
            m.login(DEMO_USER, DEMO_PASSWORD)
        typ, data = m._simple_command("AUTHENTICATE", "PLAIN", PLAIN_IR)
        assert typ == "NO"
        assert data[0].startswith(b"[PRIVACYREQUIRED]")
        assert m.state == "NONAUTH"
        # The same connection can still upgrade and log in.
        m.starttls(ssl_context=trusting(lt.lab))
        assert m.login(DEMO_USER, DEMO_PASSWORD)[0] == "OK"


def test_login_in_clear_accepted_on_imap_plaintext_login(lt):
    # This is the vulnerability the scenario demonstrates: the password crosses in clear.
    with within(10), IMAP(LAB_HOST, lt.lab.server("imap-plaintext-login").port) as m:
        assert "LOGINDISABLED" not in m.capabilities
        assert "AUTH=PLAIN" in m.capabilities
        assert "STARTTLS" in m.capabilities
        assert m.login(DEMO_USER, DEMO_PASSWORD)[0] == "OK"
        assert m.select("INBOX") == ("OK", [b"3"])


def test_sasl_ir_authenticate_in_clear_on_imap_plaintext_login(lt):
    r = Raw(lt.lab.server("imap-plaintext-login").port)
    try:
        with within(10):
            assert b"AUTH=PLAIN" in r.line()
            r.send(f"a1 AUTHENTICATE PLAIN {PLAIN_IR}\r\n".encode())
            assert r.line().startswith(b"a1 OK")
    finally:
        r.close()


def test_imap_starttls_discards_pipelined_plaintext(lt):
    """Commands sent in clear behind STARTTLS must not run inside TLS (CVE-2011-0411 class)."""
    r = Raw(lt.lab.server("imap-starttls-good").port)
    try:
        with within(10):
            r.line()
            r.send(b"a1 STARTTLS\r\na2 CAPABILITY\r\n")
            assert r.line() == b"a1 OK Begin TLS negotiation now."
            r.starttls(trusting(lt.lab))
            r.send(b"a3 NOOP\r\n")
            assert r.line() == b"a3 OK Noop completed."  # nothing from a2
    finally:
        r.close()


# --- POP3 ---------------------------------------------------------------------------------


def test_pop3_user_in_clear_only_where_allowed(lt):
    with within(10):
        open_ = POP3(LAB_HOST, lt.lab.server("pop3-no-tls").port, timeout=10)
        try:
            caps = open_.capa()
            assert "USER" in caps
            assert "STLS" not in caps
            with pytest.raises(poplib.error_proto, match="STLS not available"):
                open_._shortcmd("STLS")
            open_.user(DEMO_USER)
            open_.pass_(DEMO_PASSWORD)
            assert open_.stat()[0] == 3
        finally:
            open_.quit()

        strict = POP3(LAB_HOST, lt.lab.server("pop3-starttls-strict").port, timeout=10)
        try:
            caps = strict.capa()
            assert "STLS" in caps
            assert "USER" not in caps
            with pytest.raises(poplib.error_proto, match=r"\[AUTH\] Plaintext"):
                strict.user(DEMO_USER)
            with pytest.raises(poplib.error_proto, match=r"\[AUTH\] Plaintext"):
                strict._shortcmd(f"AUTH PLAIN {PLAIN_IR}")
            strict.stls(context=trusting(lt.lab))
            assert "USER" in strict.capa()
            strict.user(DEMO_USER)
            strict.pass_(DEMO_PASSWORD)
            assert strict.stat()[0] == 3
        finally:
            strict.quit()


def test_pop3_stls_discards_pipelined_plaintext(lt):
    r = Raw(lt.lab.server("pop3-starttls-strict").port)
    try:
        with within(10):
            r.line()
            r.send(b"STLS\r\nQUIT\r\n")
            assert r.line() == b"+OK Begin TLS negotiation now."
            r.starttls(trusting(lt.lab))
            r.send(b"NOOP\r\n")
            assert r.line() == b"+OK "  # still connected: the injected QUIT never ran
    finally:
        r.close()


# --- SMTP ---------------------------------------------------------------------------------


def test_smtp_auth_only_where_the_scenario_offers_it(lt):
    lab = lt.lab
    with within(10):
        with SMTP(lab.server("submission-auth-before-tls").port) as s:
            s.ehlo()
            assert "auth" in s.esmtp_features
            assert "starttls" in s.esmtp_features
            s.login(DEMO_USER, DEMO_PASSWORD)  # in clear: the scenario's vulnerability

        with SMTP(lab.server("submission-strict").port) as s:
            s.ehlo()
            assert "auth" not in s.esmtp_features
            code, text = s.docmd("AUTH", f"PLAIN {PLAIN_IR}")
            assert (code, text) == (530, b"5.7.0 Must issue a STARTTLS command first")
            s.starttls(context=trusting(lab))
            s.ehlo()
            assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
            s.login(DEMO_USER, DEMO_PASSWORD)

        with SMTP(lab.server("smtp-relay-good").port) as s:
            s.starttls(context=trusting(lab))
            s.ehlo()
            assert "auth" not in s.esmtp_features
            with pytest.raises(smtplib.SMTPNotSupportedError):
                s.login(DEMO_USER, DEMO_PASSWORD)
            assert s.docmd("AUTH", f"PLAIN {PLAIN_IR}")[0] == 503


def test_smtp_auth_login_mechanism(lt):
    with within(10), SMTP(lt.lab.server("submission-strict").port) as s:
        s.starttls(context=trusting(lt.lab))
        s.ehlo()
        s.user, s.password = DEMO_USER, DEMO_PASSWORD
        code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        assert code == 235


def test_smtp_starttls_discards_pipelined_plaintext_and_resets(lt):
    r = Raw(lt.lab.server("submission-strict").port)
    try:
        with within(10):
            r.line()
            r.send(b"EHLO c.vedette.test\r\n")
            r.until(b"250 ")
            r.send(b"STARTTLS\r\nQUIT\r\n")
            assert r.line() == b"220 2.0.0 Ready to start TLS"
            r.starttls(trusting(lt.lab))
            # The injected QUIT did not run, and the EHLO given in clear is forgotten.
            r.send(b"MAIL FROM:<a@c.vedette.test>\r\n")
            assert r.line().startswith(b"503 5.5.1")
            r.send(b"EHLO c.vedette.test\r\n")
            lines = r.until(b"250 ")
            assert b"250-AUTH PLAIN LOGIN" in lines
            assert b"250-STARTTLS" not in lines
    finally:
        r.close()
