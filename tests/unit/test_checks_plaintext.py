"""Plaintext exposure, TLS availability, reachability and consistency checks, on observations
built from real servers' capability lines (no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.builders import dialogue_of, endpoint_for, failure_of, observed, tls_session
from vedette.checks import CheckContext, analyse
from vedette.model import (
    FailureKind,
    Service,
    Severity,
    Stage,
)

NOW = datetime(2026, 11, 23, tzinfo=UTC)
CTX = CheckContext(now=NOW)
TLS = tls_session()

DOVECOT_OPEN = (
    "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN",
    "a1 OK Pre-login capabilities listed, post-login capabilities have more.",
)
DOVECOT_STRICT = (
    "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED",
    "a1 OK Pre-login capabilities listed.",
)
POSTFIX_AUTH = (
    "250-mx.example.test",
    "250-PIPELINING",
    "250-SIZE 10240000",
    "250-STARTTLS",
    "250-AUTH PLAIN LOGIN",
    "250-ENHANCEDSTATUSCODES",
    "250 CHUNKING",
)
POSTFIX_NOAUTH = ("250-mx.example.test", "250-PIPELINING", "250-STARTTLS", "250 CHUNKING")
POP3_USER = ("+OK", "CAPA", "TOP", "UIDL", "RESP-CODES", "USER", "SASL PLAIN")
POP3_NO_STLS = ("+OK", "CAPA", "TOP", "UIDL", "USER")


def obs(
    service,
    before,
    *,
    tls=TLS,
    starttls=("a2 OK Begin TLS negotiation now.",),
    failure=None,
    ip="192.0.2.1",
    host="mail.example.test",
    port=None,
):
    return observed(
        endpoint_for(service, host=host, ip=ip, port=port),
        at=NOW,
        dialogue=dialogue_of("ok", before=before, starttls=starttls),
        tls=tls,
        failure=failure,
    )


def ids(*observations):
    return {f.id: f for f in analyse(observations, CTX)}


def test_imap_auth_plain_before_starttls():
    found = ids(obs(Service.IMAP, DOVECOT_OPEN))
    f = found["tls.plaintext-auth"]
    assert f.severity is Severity.HIGH
    assert "LOGIN" in f.detail and "PLAIN" in f.detail
    assert any("AUTH=PLAIN" in e for e in f.evidence)
    assert "tls.none" not in found


def test_imap_logindisabled_is_clean():
    assert "tls.plaintext-auth" not in ids(obs(Service.IMAP, DOVECOT_STRICT))


def test_smtp_auth_before_starttls_weighs_by_role():
    sub = ids(obs(Service.SUBMISSION, POSTFIX_AUTH, starttls=("220 2.0.0 Ready to start TLS",)))
    mx = ids(obs(Service.SMTP, POSTFIX_AUTH, starttls=("220 2.0.0 Ready to start TLS",)))
    assert sub["tls.plaintext-auth"].severity is Severity.HIGH
    assert mx["tls.plaintext-auth"].severity is Severity.MEDIUM
    assert "tls.plaintext-auth" not in ids(obs(Service.SUBMISSION, POSTFIX_NOAUTH))


def test_pop3_without_tls_is_critical():
    o = obs(Service.POP3, POP3_NO_STLS, tls=None, starttls=("-ERR Unknown command",))
    found = ids(o)
    assert found["tls.none"].severity is Severity.HIGH
    assert "not advertised" in found["tls.none"].detail
    assert found["tls.plaintext-auth"].severity is Severity.CRITICAL
    assert "no working TLS" in found["tls.plaintext-auth"].detail


def test_starttls_advertised_but_refused():
    o = obs(
        Service.SUBMISSION,
        POSTFIX_NOAUTH,
        tls=None,
        starttls=("454 4.7.0 TLS not available due to local problem",),
    )
    f = ids(o)["tls.none"]
    assert "advertised but the server refused it" in f.detail
    assert "454" in f.detail


def test_starttls_works_but_not_advertised():
    caps = ("250-mx.example.test", "250-PIPELINING", "250 8BITMIME")
    found = ids(obs(Service.SUBMISSION, caps, starttls=("220 go ahead",)))
    assert "tls.starttls-not-advertised" in found
    assert "tls.none" not in found
    assert "tls.starttls-not-advertised" not in ids(obs(Service.SUBMISSION, POSTFIX_NOAUTH))


def test_tls_failure_after_starttls_is_handshake_failed_not_none():
    failure = failure_of(FailureKind.TLS_ERROR, stage=Stage.TLS_HANDSHAKE, detail="alert")
    found = ids(obs(Service.IMAP, DOVECOT_STRICT, tls=None, failure=failure))
    assert "tls.handshake-failed" in found
    assert "tls.none" not in found


@pytest.mark.parametrize(
    ("version", "expected"),
    [("TLSv1", True), ("TLSv1.1", True), ("TLSv1.2", False), ("TLSv1.3", False)],
)
def test_old_version(version, expected):
    tls = tls_session(version=version, cipher="AES128-SHA")
    found = ids(obs(Service.IMAPS, None, tls=tls, starttls=None))
    assert ("tls.old-version" in found) is expected
    if expected:
        assert found["tls.old-version"].severity is Severity.HIGH
        mx = ids(obs(Service.SMTP, POSTFIX_NOAUTH, tls=tls))
        assert mx["tls.old-version"].severity is Severity.LOW


def test_implicit_tls_ports_never_get_plaintext_findings():
    found = ids(obs(Service.IMAPS, None, starttls=None))
    assert not {"tls.none", "tls.plaintext-auth", "tls.starttls-not-advertised"} & set(found)


def test_connect_failures_and_not_protocol():
    refused = failure_of(FailureKind.REFUSED, detail="refused")
    o = observed(
        endpoint_for(Service.IMAPS, host=None, ip="192.0.2.1"),
        at=NOW,
        duration_s=0.0,
        failure=refused,
    )
    f = ids(o)["endpoint.unreachable"]
    assert f.severity is Severity.INFO
    garbage = failure_of(FailureKind.NOT_PROTOCOL, stage=Stage.GREETING, detail="HTTP/1.1")
    o2 = obs(Service.IMAP, None, tls=None, starttls=None, failure=garbage)
    assert "endpoint.not-protocol" in ids(o2)


def test_nodes_behind_one_name_that_differ():
    a = obs(Service.IMAP, DOVECOT_STRICT, ip="192.0.2.1")
    b = obs(Service.IMAP, DOVECOT_OPEN, ip="192.0.2.2")
    found = ids(a, b)
    f = found["endpoint.inconsistent"]
    assert "passwords before TLS" in f.detail
    assert any(e.startswith("192.0.2.2:") for e in f.evidence)
    assert "endpoint.inconsistent" not in ids(a, obs(Service.IMAP, DOVECOT_STRICT, ip="192.0.2.3"))
    # Different names are different services: no comparison.
    c = obs(Service.IMAP, DOVECOT_OPEN, ip="192.0.2.2", host="other.example.test")
    assert "endpoint.inconsistent" not in ids(a, c)


def test_old_version_defers_to_a_complete_enumeration():
    from dataclasses import replace

    from vedette.tls.result import TlsScan

    tls = tls_session(version="TLSv1", cipher="AES128-SHA")
    quick = obs(Service.IMAPS, None, tls=tls, starttls=None)
    assert "tls.old-version" in ids(quick)
    full = replace(quick, tls_scan=TlsScan(versions=(0x0301,)))
    found = ids(full)
    assert "tls.old-version" not in found
    assert "tls.tls10" in found and "tls.no-tls12" in found
    unfinished = replace(quick, tls_scan=TlsScan(versions=(0x0301,), incomplete=True))
    assert "tls.old-version" in ids(unfinished)
