"""The TLS enumeration after STARTTLS on real Postfix and Dovecot, and against their defences.

Each server is configured with a specific protocol and suite policy; ``openssl s_client
-starttls`` probing one item at a time is the ground truth. Postfix's anvil rate limit (with
loopback *not* exempted: ``smtpd_client_event_limit_exceptions`` emptied) answers ``421`` to
excess connections: vedette must back off and still get the exact answer within a generous
budget, and mark the result incomplete — never report a suite refused — within a tight one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.integration.conftest import _started
from tests.integration.realservers import (
    MAIL_HOST,
    DovecotSpec,
    Pki,
    PostfixSpec,
    RunningServer,
    start_dovecot,
    start_postfix,
)
from tests.integration.tls_truth import Truth, openssl_ciphers
from vedette.model import Defence, DefenceKind, Endpoint, Service
from vedette.probe.enumerate import RetryPolicy, enumerate_defended, enumerate_endpoint
from vedette.tls.result import TlsScan

TLS12, TLS13 = 0x0303, 0x0304
P3, P4, D5 = "127.0.0.23", "127.0.0.24", "127.0.0.15"

POSTFIX_POLICY = """\
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_ciphers = high
smtpd_tls_exclude_ciphers = aNULL, CAMELLIA, ARIA, SHA1
"""
DOVECOT_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:AES256-GCM-SHA384"
DOVECOT_POLICY = f"""\
ssl_min_protocol = TLSv1.2
ssl_cipher_list = {DOVECOT_CIPHERS}
ssl_prefer_server_ciphers = yes
"""


@pytest.fixture(scope="module")
def postfix_p3(realtest_pki: Pki, dovecot_d1: RunningServer) -> Iterator[RunningServer]:
    spec = PostfixSpec(
        name="p3",
        address=P3,
        chain_pem=realtest_pki.chain_pem,
        key_pem=realtest_pki.key_pem,
        sasl_socket=dovecot_d1.extra["auth_socket"],
        extra_config=POSTFIX_POLICY,
    )
    yield from _started(lambda: start_postfix(spec))


@pytest.fixture(scope="module")
def postfix_p4(realtest_pki: Pki, dovecot_d1: RunningServer) -> Iterator[RunningServer]:
    """P3's policy behind anvil: 12 connections a second per client, loopback included."""
    spec = PostfixSpec(
        name="p4",
        address=P4,
        chain_pem=realtest_pki.chain_pem,
        key_pem=realtest_pki.key_pem,
        sasl_socket=dovecot_d1.extra["auth_socket"],
        extra_config=POSTFIX_POLICY
        + "smtpd_client_event_limit_exceptions =\n"
        + "smtpd_client_connection_rate_limit = 12\n"
        + "anvil_rate_time_unit = 1s\n",
    )
    yield from _started(lambda: start_postfix(spec))


@pytest.fixture(scope="module")
def dovecot_d5(realtest_pki: Pki) -> Iterator[RunningServer]:
    spec = DovecotSpec(
        name="d5",
        address=D5,
        imap=True,
        pop3=True,
        ssl="yes",
        chain_pem=realtest_pki.chain_pem,
        key_pem=realtest_pki.key_pem,
        extra_config=DOVECOT_POLICY,
    )
    yield from _started(lambda: start_dovecot(spec))


def enumerate_at(ip: str, port: int, service: Service, policy: RetryPolicy) -> TlsScan:
    ep = Endpoint(host=MAIL_HOST, ip=ip, port=port, service=service)
    return asyncio.run(enumerate_endpoint(ep, policy=policy))


def enumerate_defended_at(
    ip: str, port: int, service: Service, policy: RetryPolicy
) -> tuple[TlsScan, tuple[Defence, ...]]:
    ep = Endpoint(host=MAIL_HOST, ip=ip, port=port, service=service)
    return asyncio.run(enumerate_defended(ep, policy=policy))


def assert_anvil(defences: tuple[Defence, ...]) -> Defence:
    """Postfix anvil's refusal, classified as a rate limit with its reply as evidence."""
    (d,) = defences
    assert d.kind is DefenceKind.RATE_LIMITED
    assert d.evidence.startswith("421 4.7.0 ")
    assert "mail.realtest.test Error: too many connections from 127.0.0.1" in d.evidence
    assert d.hits >= 1
    return d


def assert_matches_truth(scan: TlsScan, truth: Truth) -> None:
    assert not scan.incomplete, scan.incomplete_reason
    assert set(scan.versions) == truth.versions()
    for version in scan.versions:
        assert set(scan.suites_for(version)) == truth.suites(version), hex(version)


def test_postfix_submission_after_starttls_matches_s_client(postfix_p3):
    scan = enumerate_at(P3, 587, Service.SUBMISSION, RetryPolicy())
    assert scan.versions == (TLS12, TLS13)
    assert_matches_truth(scan, Truth(587, ip=P3, starttls="smtp"))
    assert scan.connections < 60  # sslyze repeats the SMTP dialogue for each of ~500 hellos


def test_dovecot_imap_starttls_matches_s_client_and_server_order(dovecot_d5):
    scan = enumerate_at(D5, 143, Service.IMAP, RetryPolicy())
    truth = Truth(143, ip=D5, starttls="imap")
    assert_matches_truth(scan, truth)
    # TLS 1.3's encrypted flight, read after STARTTLS: CertificateVerify's schemes.
    assert scan.sigalgs_tls13 and set(scan.sigalgs_tls13) == truth.sigalgs13()
    assert scan.ocsp_staple_tls13 is False  # Dovecot staples nothing
    assert scan.resumption_tls13 is True, (scan.resumption, scan.resumption_tls13)
    accepted = set(scan.suites_for(TLS12))
    configured = [c for c, _ in openssl_ciphers(DOVECOT_CIPHERS, "-tls1_2") if c in accepted]
    assert list(scan.suites_for(TLS12)) == configured
    assert scan.suites[0].server_order is True


def test_backs_off_from_postfix_anvil_and_still_gets_the_exact_answer(postfix_p3, postfix_p4):
    # Ground truth from the unlimited twin with the same policy (P4 would rate-limit s_client).
    truth = enumerate_at(P3, 587, Service.SUBMISSION, RetryPolicy())
    assert not truth.incomplete
    scan, defences = enumerate_defended_at(
        P4, 587, Service.SUBMISSION, RetryPolicy(attempts=6, budget=200)
    )
    assert not scan.incomplete, scan.incomplete_reason
    # 12 connections a second: the first refusal comes after about a second's worth.
    assert assert_anvil(defences).after <= 12 + 4
    assert scan.versions == truth.versions
    assert {v: set(scan.suites_for(v)) for v in scan.versions} == {
        v: set(truth.suites_for(v)) for v in truth.versions
    }
    assert scan.connections > truth.connections  # the 421s cost connections, and were retried
    assert "Connection rate limit exceeded" in postfix_p4.log()


def test_tight_budget_marks_incomplete_instead_of_refused(postfix_p4):
    scan, defences = enumerate_defended_at(
        P4, 587, Service.SUBMISSION, RetryPolicy(attempts=2, budget=1, backoff=0.05)
    )
    assert scan.incomplete
    assert_anvil(defences)
    assert "421" in (scan.incomplete_reason or "") or "too many" in (scan.incomplete_reason or "")


def test_dovecot_pop3_stls_matches_s_client(dovecot_d5):
    scan = enumerate_at(D5, 110, Service.POP3, RetryPolicy())
    assert_matches_truth(scan, Truth(110, ip=D5, starttls="pop3"))
    assert set(scan.groups) == Truth(110, ip=D5, starttls="pop3").groups13()
