"""The lab's servers with curl (Debian's, linked with OpenSSL): a client vedette did not write.

A good server lets curl log in with the lab root as its only trust anchor; each broken
certificate makes curl refuse the server (exit 60, "peer certificate cannot be authenticated"),
which is the user-visible effect of the finding the scenario demonstrates.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.test_lab_support import IP, need_curl, within
from vedette.lab import DEMO_PASSWORD, DEMO_USER, LabThread

CURLE_PEER_FAILED_VERIFICATION = 60


@pytest.fixture(scope="module")
def lt():
    with LabThread() as running:
        yield running


def curl(lab, name: str, path: str, *args: str, verify: bool = True):
    srv = lab.server(name)
    cmd = [
        need_curl(),
        "--silent",
        "--show-error",
        "--max-time",
        "20",
        "--resolve",
        f"{srv.host}:{srv.port}:{IP}",
        "--user",
        f"{DEMO_USER}:{DEMO_PASSWORD}",
        *(("--cacert", str(lab.root_ca_path)) if verify else ("--insecure",)),
        *args,
        srv.curl_url + path,
    ]
    return subprocess.run(cmd, capture_output=True, timeout=30, check=False)


def test_imaps_lists_the_mailbox(lt):
    with within(10):
        r = curl(lt.lab, "imaps-good", "/INBOX")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b'* LIST (\\HasNoChildren) "/" INBOX\r\n'


def test_imaps_fetches_a_message_and_searches(lt):
    with within(10):
        r = curl(lt.lab, "imaps-good", "/INBOX;MAILINDEX=1")
        s = curl(lt.lab, "imaps-good", "/INBOX", "--request", "SEARCH ALL")
    assert r.returncode == 0, r.stderr
    assert b"Subject: Welcome to the vedette lab" in r.stdout
    assert b"user demo, password demo-password" in r.stdout
    assert s.returncode == 0, s.stderr
    assert s.stdout == b"* SEARCH 1 2 3\r\n"


def test_imap_starttls_required_fetches_by_uid(lt):
    with within(10):
        r = curl(lt.lab, "imap-starttls-good", "/INBOX;UID=2", "--ssl-reqd")
    assert r.returncode == 0, r.stderr
    assert b"Subject: Your certificate for lab.vedette.test expires soon" in r.stdout


def test_pop3s_lists_and_retrieves(lt):
    lab = lt.lab
    with within(10):
        listing = curl(lab, "pop3s-self-signed", "/", verify=False)
        message = curl(lab, "pop3s-self-signed", "/3", verify=False)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.decode().splitlines()
    assert [line.split()[0] for line in lines] == ["1", "2", "3"]
    assert message.returncode == 0, message.stderr
    assert int(lines[2].split()[1]) == len(message.stdout)
    # curl removed the dot-stuffing: the lone dot line is back to a single dot.
    assert b"\r\n.\r\n" in message.stdout


def test_smtps_sends_a_message(lt, tmp_path):
    lab = lt.lab
    mail = tmp_path / "mail.txt"
    mail.write_bytes(b"Subject: sent by curl\r\n\r\nhello from curl\r\n.leading dot\r\n")
    before = len(lab.received)
    with within(10):
        r = curl(
            lab,
            "smtps-expired",
            "",
            "--mail-from",
            "curl@client.vedette.test",
            "--mail-rcpt",
            "demo@lab.vedette.test",
            "--upload-file",
            str(mail),
            verify=False,
        )
    assert r.returncode == 0, r.stderr
    got = lab.received[before:]
    assert len(got) == 1
    assert got[0].authenticated_as == DEMO_USER
    assert got[0].data.endswith(b"\r\n\r\nhello from curl\r\n.leading dot\r\n")


def test_submission_starttls_sends_a_message_with_a_verified_chain(lt, tmp_path):
    lab = lt.lab
    mail = tmp_path / "mail.txt"
    mail.write_bytes(b"Subject: starttls\r\n\r\nbody\r\n")
    before = len(lab.received)
    with within(10):
        r = curl(
            lab,
            "submission-auth-before-tls",
            "",
            "--ssl-reqd",
            "--mail-from",
            "curl@client.vedette.test",
            "--mail-rcpt",
            "someone@example.org",
            "--upload-file",
            str(mail),
        )
    assert r.returncode == 0, r.stderr
    assert [m.rcpt_to for m in lab.received[before:]] == [("someone@example.org",)]


@pytest.mark.parametrize(
    "name",
    [
        "pop3s-self-signed",
        "smtps-expired",
        "imaps-sha1",
        "imaps-no-intermediate",
        "pop3s-wrong-name",
    ],
)
def test_curl_refuses_each_broken_certificate(lt, name):
    lab = lt.lab
    path = "/INBOX" if name.startswith("imap") else "/"
    with within(10):
        r = curl(lab, name, path)
    assert r.returncode == CURLE_PEER_FAILED_VERIFICATION, (r.returncode, r.stderr)
    with within(10):
        insecure = curl(lab, name, path, verify=False) if not name.startswith("smtp") else None
    if insecure is not None:
        assert insecure.returncode == 0, insecure.stderr  # the server itself works
