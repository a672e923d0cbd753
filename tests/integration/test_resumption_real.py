"""Session resumption on real Dovecot and Postfix, and the tls.no-resumption finding.

The remediation of ``tls.no-resumption`` names configuration settings; this checks them on
the daemons: Dovecot in high-performance mode (``service_count = 0``, the other fixtures)
resumes and in its default high-security mode (``service_count = 1``) does not; Postfix
resumes by default and not with ``smtpd_tls_session_cache_timeout = 0``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.builders import endpoint_for, observed
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
from vedette.checks import CheckContext, analyse
from vedette.model import Service
from vedette.probe.enumerate import RetryPolicy, enumerate_endpoint

D6, P5 = "127.0.0.18", "127.0.0.26"


@pytest.fixture(scope="module")
def dovecot_high_security(realtest_pki: Pki) -> Iterator[RunningServer]:
    """D6: Dovecot's default login mode, one login process per connection."""
    spec = DovecotSpec(
        name="d6",
        address=D6,
        imap=True,
        pop3=True,
        ssl="yes",
        chain_pem=realtest_pki.chain_pem,
        key_pem=realtest_pki.key_pem,
        extra_config="service imap-login {\n  service_count = 1\n}\n"
        "service pop3-login {\n  service_count = 1\n}\n",
    )
    yield from _started(lambda: start_dovecot(spec))


@pytest.fixture(scope="module")
def postfix_no_cache(realtest_pki: Pki, dovecot_d1: RunningServer) -> Iterator[RunningServer]:
    """P5: Postfix with smtpd_tls_session_cache_timeout = 0 (no cache, no tickets)."""
    spec = PostfixSpec(
        name="p5",
        address=P5,
        chain_pem=realtest_pki.chain_pem,
        key_pem=realtest_pki.key_pem,
        sasl_socket=dovecot_d1.extra["auth_socket"],
        extra_config="smtpd_tls_session_cache_timeout = 0\n",
    )
    yield from _started(lambda: start_postfix(spec))


def findings(ip: str, port: int, service: Service) -> tuple[bool | None, set[str]]:
    ep = endpoint_for(service, host=MAIL_HOST, ip=ip, port=port)
    scan = asyncio.run(enumerate_endpoint(ep, policy=RetryPolicy(hello_timeout=3)))
    assert not scan.incomplete, scan.incomplete_reason
    now = datetime.now(UTC)
    obs = observed(ep, at=now, duration_s=0.0, tls_scan=scan)
    return scan.resumption, {f.id for f in analyse((obs,), CheckContext(now=now))}


def test_dovecot_resumes_in_high_performance_mode_only(dovecot_d1, dovecot_high_security):
    resumed, ids = findings("127.0.0.11", 143, Service.IMAP)
    assert resumed is True and "tls.no-resumption" not in ids
    resumed, ids = findings(D6, 143, Service.IMAP)
    assert resumed is False and "tls.no-resumption" in ids
    resumed, ids = findings(D6, 110, Service.POP3)
    assert resumed is False and "tls.no-resumption" in ids


def test_postfix_session_cache_timeout_zero_disables_resumption(postfix_p1, postfix_no_cache):
    resumed, ids = findings("127.0.0.21", 587, Service.SUBMISSION)
    assert resumed is True and "tls.no-resumption" not in ids
    resumed, ids = findings(P5, 587, Service.SUBMISSION)
    assert resumed is False and "tls.no-resumption" in ids
