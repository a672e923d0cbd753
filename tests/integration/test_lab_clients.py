"""The lab's servers with Python's own mail clients: log in over TLS, list, read, send."""

from __future__ import annotations

import email
import imaplib
import smtplib
from email import policy
from email.message import EmailMessage

import pytest

from tests.integration.test_lab_support import IMAP, IMAPS, POP3S, SMTP, SMTPS, insecure, trusting
from tests.integration.test_lab_support import within as within_
from vedette.lab import DEMO_PASSWORD, DEMO_USER, LAB_HOST, LabThread


@pytest.fixture(scope="module")
def lt():
    with LabThread() as running:
        yield running


def within(seconds: float = 10):
    return within_(seconds)


def test_imaps_login_list_select_fetch(lt):
    lab = lt.lab
    with within(), IMAPS(LAB_HOST, lab.server("imaps-good").port, ssl_context=trusting(lab)) as m:
        assert m.login(DEMO_USER, DEMO_PASSWORD)[0] == "OK"
        typ, boxes = m.list()
        assert typ == "OK"
        assert boxes == [b'(\\HasNoChildren) "/" INBOX']
        typ, count = m.select("INBOX")
        assert (typ, count) == ("OK", [b"3"])
        assert m.search(None, "ALL") == ("OK", [b"1 2 3"])
        assert m.search(None, "UNSEEN") == ("OK", [b"2 3"])
        typ, data = m.fetch("2", "(RFC822.SIZE BODY[])")
        assert typ == "OK"
        head, body = data[0]
        msg = email.message_from_bytes(body, policy=policy.default)
        assert msg["Subject"] == "Your certificate for lab.vedette.test expires soon"
        assert f"RFC822.SIZE {len(body)}".encode() in head
        # BODY[] (not PEEK) in a read-write SELECT sets \Seen for the rest of the session.
        assert m.search(None, "UNSEEN") == ("OK", [b"3"])
        assert m.close()[0] == "OK"
        assert m.logout()[0] == "BYE"


def test_imap_starttls_then_login_examine_uid_fetch(lt):
    lab = lt.lab
    with within(), IMAP(LAB_HOST, lab.server("imap-starttls-good").port) as m:
        assert "LOGINDISABLED" in m.capabilities
        assert "AUTH=PLAIN" not in m.capabilities
        assert m.starttls(ssl_context=trusting(lab))[0] == "OK"
        # imaplib asks CAPABILITY again after TLS: the offer changed.
        assert "LOGINDISABLED" not in m.capabilities
        assert "AUTH=PLAIN" in m.capabilities
        assert "STARTTLS" not in m.capabilities
        assert m.login(DEMO_USER, DEMO_PASSWORD)[0] == "OK"
        typ, count = m.select("INBOX", readonly=True)
        assert (typ, count) == ("OK", [b"3"])
        typ, data = m.uid("FETCH", "3", "(FLAGS BODY.PEEK[TEXT])")
        assert typ == "OK"
        head, text = data[0]
        assert b"UID 3" in head
        assert b"\\Flagged" in data[1] or b"\\Flagged" in head
        assert b"\r\n.\r\n" in text  # the lone-dot line, verbatim in IMAP
        assert m.status("INBOX", "(MESSAGES UNSEEN UIDNEXT)") == (
            "OK",
            [b"INBOX (MESSAGES 3 UNSEEN 2 UIDNEXT 4)"],
        )
        assert m.lsub() == ("OK", [b'() "/" INBOX'])


def test_imap_authenticate_plain_after_starttls(lt):
    lab = lt.lab
    with within(), IMAP(LAB_HOST, lab.server("imap-starttls-good").port) as m:
        m.starttls(ssl_context=trusting(lab))
        # imaplib sends AUTHENTICATE PLAIN and answers the "+" continuation.
        typ, _ = m.authenticate("PLAIN", lambda _: f"\0{DEMO_USER}\0{DEMO_PASSWORD}".encode())
        assert typ == "OK"
        assert m.select("INBOX")[0] == "OK"
        typ, data = m.fetch("1:*", "(UID RFC822.SIZE)")
        assert typ == "OK"
        assert len(data) == 3


def test_imap_wrong_password_is_refused(lt):
    lab = lt.lab
    port = lab.server("imaps-good").port
    with (
        within(),
        IMAPS(LAB_HOST, port, ssl_context=trusting(lab)) as m,
        pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"),
    ):
        m.login(DEMO_USER, "wrong")


def test_pop3s_login_stat_list_uidl_retr_top_dele(lt):
    lab = lt.lab
    srv = lab.server("pop3s-self-signed")
    with within():
        p = POP3S(LAB_HOST, srv.port, context=insecure())
        try:
            assert p.getwelcome().startswith(b"+OK")
            caps = p.capa()
            assert "USER" in caps
            assert "STLS" not in caps  # already TLS
            p.user(DEMO_USER)
            assert p.pass_(DEMO_PASSWORD).startswith(b"+OK")
            count, total = p.stat()
            assert count == 3
            _, listing, _ = p.list()
            sizes = [int(x.split()[1]) for x in listing]
            assert sum(sizes) == total
            _, uidls, _ = p.uidl()
            assert [x.split()[1] for x in uidls] == [
                b"vedette-lab-00000001",
                b"vedette-lab-00000002",
                b"vedette-lab-00000003",
            ]
            _, lines, _ = p.retr(3)
            # Dot-stuffed on the wire, unstuffed by poplib: the original lines come back.
            assert b".well-known/mta-sts.txt was fetched 12 times." in lines
            assert b"." in lines
            assert sum(len(x) + 2 for x in lines) == sizes[2]
            _, top, _ = p.top(1, 1)
            assert top[-1] == b"This mailbox belongs to the vedette demo lab."
            assert p.dele(1).startswith(b"+OK")
            assert p.stat()[0] == 2
            p.rset()
            assert p.stat()[0] == 3
        finally:
            assert p.quit().startswith(b"+OK")


def test_pop3s_auth_plain(lt):
    lab = lt.lab
    with within():
        p = POP3S(LAB_HOST, lab.server("pop3s-wrong-name").port, context=insecure())
        try:
            # AUTH PLAIN with an initial response (RFC 5034); poplib has no helper for it.
            import base64

            ir = base64.b64encode(f"\0{DEMO_USER}\0{DEMO_PASSWORD}".encode()).decode()
            assert p._shortcmd(f"AUTH PLAIN {ir}").startswith(b"+OK")
            assert p.stat()[0] == 3
        finally:
            p.quit()


def _message(body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "someone@client.vedette.test"
    msg["To"] = f"{DEMO_USER}@{LAB_HOST}"
    msg["Subject"] = "hello from smtplib"
    msg.set_content(body)
    return msg


def test_smtps_login_and_send(lt):
    lab = lt.lab
    body = "first line\n.a line starting with a dot\n..two dots\n"
    before = len(lab.received)
    with within(), SMTPS(lab.server("smtps-expired").port, insecure()) as s:
        s.ehlo()
        assert "auth" in s.esmtp_features
        s.login(DEMO_USER, DEMO_PASSWORD)
        refused = s.send_message(_message(body))
        assert refused == {}
    got = lab.received[before:]
    assert len(got) == 1
    msg = got[0]
    assert msg.server == "smtps-expired"
    assert msg.authenticated_as == DEMO_USER
    assert msg.tls is True
    assert msg.rcpt_to == (f"{DEMO_USER}@{LAB_HOST}",)
    assert msg.data.startswith(b"Received: from client.vedette.test")
    assert b"with ESMTPSA" in msg.data
    # smtplib dot-stuffed; the server unstuffed: the body is back as written.
    parsed = email.message_from_bytes(msg.data, policy=policy.default)
    assert parsed.get_content().replace("\r\n", "\n") == body


def test_submission_starttls_login_and_send(lt):
    lab = lt.lab
    before = len(lab.received)
    with within(), SMTP(lab.server("submission-auth-before-tls").port) as s:
        s.starttls(context=trusting(lab))
        s.ehlo()
        s.login(DEMO_USER, DEMO_PASSWORD)
        # Submission relays for authenticated users.
        s.sendmail("demo@lab.vedette.test", ["friend@example.org"], b"Subject: hi\r\n\r\nhi\r\n")
    got = lab.received[before:]
    assert [m.rcpt_to for m in got] == [("friend@example.org",)]


def test_submission_refuses_mail_without_auth(lt):
    lab = lt.lab
    with within(), SMTP(lab.server("submission-auth-before-tls").port) as s:
        s.starttls(context=trusting(lab))
        with pytest.raises(smtplib.SMTPSenderRefused) as exc:
            s.sendmail("a@client.vedette.test", ["demo@lab.vedette.test"], b"x\r\n")
        assert exc.value.smtp_code == 530


def test_relay_accepts_local_mail_without_auth_and_refuses_relaying(lt):
    lab = lt.lab
    before = len(lab.received)
    with within(), SMTP(lab.server("smtp-relay-good").port) as s:
        s.starttls(context=trusting(lab))
        s.ehlo()
        assert "starttls" not in s.esmtp_features
        assert "auth" not in s.esmtp_features  # an MX offers no AUTH, even inside TLS
        with pytest.raises(smtplib.SMTPRecipientsRefused) as exc:
            s.sendmail("a@client.vedette.test", ["victim@example.org"], b"x\r\n")
        assert exc.value.recipients["victim@example.org"][0] == 554
        s.sendmail("a@client.vedette.test", ["demo@lab.vedette.test"], b"Subject: mx\r\n\r\nx\r\n")
    got = lab.received[before:]
    assert len(got) == 1
    assert got[0].authenticated_as is None
    assert b"with ESMTPS id" in got[0].data
