"""A lab server must not be hangable or inflatable: hostile clients are dropped within their
bounds and the server keeps serving everyone else."""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl

import pytest

from tests.integration.test_lab_support import IMAPS, SMTP, Raw, insecure, trusting, within
from vedette.lab import DEMO_PASSWORD, DEMO_USER, LAB_HOST, LabLimits, LabThread

# Short bounds so that every limit is reached in well under a second.
LIMITS = LabLimits(
    read_timeout=0.5,
    handshake_timeout=0.5,
    max_line=4096,
    max_message=10_000,
    max_bad_commands=5,
    max_connections=4,
)


@pytest.fixture(scope="module")
def lt():
    with LabThread(limits=LIMITS) as running:
        yield running


def _still_serves(lab) -> None:
    """A well-behaved client logs in and reads the mailbox on the good IMAPS server."""
    port = lab.server("imaps-good").port
    with IMAPS(LAB_HOST, port, ssl_context=trusting(lab), timeout=5) as m:
        m.login(DEMO_USER, DEMO_PASSWORD)
        assert m.select("INBOX") == ("OK", [b"3"])


def _flood(r: Raw, data: bytes) -> None:
    """Send as much of ``data`` as the server takes before it hangs up."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
        for i in range(0, len(data), 8192):
            r.send(data[i : i + 8192])


@pytest.mark.parametrize(
    ("name", "tls", "goodbye"),
    [
        ("imaps-good", True, b"* BYE Command line too long"),
        ("pop3-no-tls", False, b"-ERR Command line too long"),
        ("smtp-relay-good", False, b"500 5.5.0 Error: line too long"),
    ],
)
def test_endless_line_is_cut_off(lt, name, tls, goodbye):
    r = Raw(lt.lab.server(name).port, tls=trusting(lt.lab) if tls else None)
    try:
        with within(15):
            r.line()  # greeting
            _flood(r, b"A" * 200_000)  # no line end, far past max_line
            with contextlib.suppress(ssl.SSLError):
                tail = r.read_to_eof(limit=5)
                assert goodbye in tail
    finally:
        r.close()
    with within(15):
        _still_serves(lt.lab)


@pytest.mark.parametrize(
    ("name", "goodbye"),
    [
        ("imap-plaintext-login", b"* BYE Too many invalid IMAP commands."),
        ("pop3-no-tls", b"-ERR Too many bad commands, disconnecting."),
        ("smtp-relay-good", b"421 4.7.0 lab.vedette.test Error: too many errors"),
    ],
)
def test_garbage_commands_get_the_client_disconnected(lt, name, goodbye):
    r = Raw(lt.lab.server(name).port)
    try:
        with within(15):
            r.line()
            _flood(r, b"\x00\xff\xfe garbage \x1b[31m\r\n" * 50)
            assert r.read_to_eof(limit=5).rstrip(b"\r\n").endswith(goodbye)
    finally:
        r.close()
    with within(15):
        _still_serves(lt.lab)


def test_idle_client_is_dropped(lt):
    r = Raw(lt.lab.server("imap-starttls-good").port)
    try:
        with within(10):
            r.line()
            assert r.read_to_eof(limit=3) == b"* BYE Disconnected for inactivity\r\n"
    finally:
        r.close()


def test_silent_or_non_tls_client_on_implicit_tls_port(lt):
    port = lt.lab.server("imaps-good").port
    with within(10):
        silent = socket.create_connection(("127.0.0.1", port), 5)
        silent.settimeout(3)
        try:
            assert silent.recv(100) == b""  # no ClientHello: closed at the handshake deadline
        except ConnectionResetError:
            pass
        finally:
            silent.close()
    with within(10):
        http = socket.create_connection(("127.0.0.1", port), 5)
        http.settimeout(3)
        try:
            http.sendall(b"GET / HTTP/1.0\r\n\r\n")
            with contextlib.suppress(ConnectionResetError):
                # at most a TLS alert record, then EOF
                data = http.recv(100)
                assert data == b"" or data[:1] == b"\x15"
        finally:
            http.close()
    with within(15):
        _still_serves(lt.lab)


def test_message_size_bounds(lt):
    lab = lt.lab
    big = b"Subject: big\r\n\r\n" + (b"y" * 78 + b"\r\n") * 200  # 16 KB > max_message
    before = len(lab.received)
    with within(15), SMTP(lab.server("smtp-relay-good").port) as s:
        # smtplib announces the size (SIZE=...) and is refused at MAIL (RFC 1870).
        with pytest.raises(smtplib.SMTPSenderRefused) as exc:
            s.sendmail("a@c.vedette.test", ["demo@lab.vedette.test"], big)
        assert exc.value.smtp_code == 552
        # Without SIZE the server reads to the final dot, then refuses; the session goes on.
        s.rset()
        assert s.docmd("MAIL", "FROM:<a@c.vedette.test>")[0] == 250
        assert s.docmd("RCPT", "TO:<demo@lab.vedette.test>")[0] == 250
        assert s.docmd("DATA")[0] == 354
        s.send(big + b"\r\n.\r\n")
        assert s.getreply()[0] == 552
        s.sendmail("a@c.vedette.test", ["demo@lab.vedette.test"], b"Subject: small\r\n\r\nok\r\n")
    assert len(lab.received) == before + 1


def test_connection_limit(lt):
    port = lt.lab.server("pop3-no-tls").port
    held = [Raw(port) for _ in range(LIMITS.max_connections)]
    try:
        with within(10):
            for r in held:
                assert r.line().startswith(b"+OK")
            extra = Raw(port)
            try:
                assert extra.read_to_eof(limit=3).startswith(b"-ERR [SYS/TEMP] Too many")
            finally:
                extra.close()
    finally:
        for r in held:
            r.close()


def test_auth_failures_disconnect(lt):
    r = Raw(lt.lab.server("imaps-good").port, tls=insecure())
    try:
        with within(15):
            r.line()
            for i in range(LIMITS.max_auth_failures):
                r.send(f"a{i} LOGIN demo wrong\r\n".encode())
            tail = r.read_to_eof(limit=3)
            assert tail.count(b"NO [AUTHENTICATIONFAILED]") == LIMITS.max_auth_failures - 1
            assert tail.endswith(b"* BYE Too many invalid authentication attempts.\r\n")
    finally:
        r.close()
