"""Session-wide real servers on loopback: Dovecot, Postfix and dnsmasq (see realservers.py).

Each fixture starts its server once per session and stops it at the end. When a server cannot
run here (binary missing, not root) the tests that need it are skipped with the reason, unless
``VEDETTE_REQUIRE_REAL_SERVERS=1`` (set by ./scripts/test in CI), where they fail instead: a CI
run that silently skipped every real-server test would prove nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.integration.fleet_support import PgCluster, start_postgresql
from tests.integration.realservers import (
    MAIL_HOST,
    NODES_HOST,
    WORK_ROOT,
    DovecotSpec,
    Pki,
    PostfixSpec,
    RunningServer,
    ServerUnavailable,
    make_pki,
    session_lock,
    start_dnsmasq,
    start_dovecot,
    start_postfix,
)
from tests.tools import unavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def _started(start: Callable[[], RunningServer]) -> Iterator[RunningServer]:
    try:
        server = start()
    except ServerUnavailable as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def realservers_lock() -> Iterator[None]:
    with session_lock():
        yield


@pytest.fixture(scope="session")
def realtest_pki(realservers_lock: None) -> Pki:
    return make_pki(WORK_ROOT / "pki")


@pytest.fixture(scope="session")
def dovecot_d1(realtest_pki: Pki) -> Iterator[RunningServer]:
    """D1: IMAP 143 + POP3 110, STARTTLS optional, plaintext login allowed before TLS.

    Also serves SASL to both Postfix instances through an extra auth socket."""
    spec = DovecotSpec(
        name="d1",
        address="127.0.0.11",
        imap=True,
        pop3=True,
        ssl="yes",
        disable_plaintext_auth=False,
        chain_pem=realtest_pki.chain_pem,
        key_pem=realtest_pki.key_pem,
        postfix_auth_socket=True,
    )
    yield from _started(lambda: start_dovecot(spec))


@pytest.fixture(scope="session")
def dovecot_d2(realtest_pki: Pki) -> Iterator[RunningServer]:
    """D2: IMAP 143 + POP3 110, disable_plaintext_auth = yes (LOGINDISABLED, no USER)."""
    spec = DovecotSpec(
        name="d2",
        address="127.0.0.12",
        imap=True,
        pop3=True,
        ssl="yes",
        disable_plaintext_auth=True,
        chain_pem=realtest_pki.chain_pem,
        key_pem=realtest_pki.key_pem,
    )
    yield from _started(lambda: start_dovecot(spec))


@pytest.fixture(scope="session")
def dovecot_d3(realtest_pki: Pki) -> Iterator[RunningServer]:
    """D3: implicit TLS only, imaps 993 + pop3s 995, leaf + intermediate served."""
    spec = DovecotSpec(
        name="d3",
        address="127.0.0.13",
        imaps=True,
        pop3s=True,
        ssl="required",
        disable_plaintext_auth=True,
        chain_pem=realtest_pki.chain_pem,
        key_pem=realtest_pki.key_pem,
    )
    yield from _started(lambda: start_dovecot(spec))


@pytest.fixture(scope="session")
def dovecot_d4(realtest_pki: Pki) -> Iterator[RunningServer]:
    """D4: POP3 110 with ssl = no (and, necessarily, plaintext login allowed)."""
    spec = DovecotSpec(
        name="d4", address="127.0.0.14", pop3=True, ssl="no", disable_plaintext_auth=False
    )
    yield from _started(lambda: start_dovecot(spec))


@pytest.fixture(scope="session")
def postfix_p1(realtest_pki: Pki, dovecot_d1: RunningServer) -> Iterator[RunningServer]:
    """P1: 25 + 587 with STARTTLS and smtpd_tls_auth_only = no: AUTH offered before TLS."""
    spec = PostfixSpec(
        name="p1",
        address="127.0.0.21",
        tls_auth_only=False,
        chain_pem=realtest_pki.chain_pem,
        key_pem=realtest_pki.key_pem,
        sasl_socket=dovecot_d1.extra["auth_socket"],
    )
    yield from _started(lambda: start_postfix(spec))


@pytest.fixture(scope="session")
def postfix_p2(realtest_pki: Pki, dovecot_d1: RunningServer) -> Iterator[RunningServer]:
    """P2: 25 + 587 + 465 (wrapper mode), smtpd_tls_auth_only = yes."""
    spec = PostfixSpec(
        name="p2",
        address="127.0.0.22",
        smtps=True,
        tls_auth_only=True,
        chain_pem=realtest_pki.chain_pem,
        key_pem=realtest_pki.key_pem,
        sasl_socket=dovecot_d1.extra["auth_socket"],
    )
    yield from _started(lambda: start_postfix(spec))


@pytest.fixture(scope="session")
def dovecot_nodes(realtest_pki: Pki) -> Iterator[tuple[RunningServer, RunningServer]]:
    """Two imaps nodes behind nodes.realtest.test: .31 has the right certificate, .32 a
    certificate for other.realtest.test (same CA), as after a half-finished renewal."""
    good = DovecotSpec(
        name="n1",
        address="127.0.0.31",
        imaps=True,
        ssl="required",
        chain_pem=realtest_pki.chain_pem,
        key_pem=realtest_pki.key_pem,
    )
    wrong = DovecotSpec(
        name="n2",
        address="127.0.0.32",
        imaps=True,
        ssl="required",
        chain_pem=realtest_pki.other_chain_pem,
        key_pem=realtest_pki.other_key_pem,
    )
    for first in _started(lambda: start_dovecot(good)):
        for second in _started(lambda: start_dovecot(wrong)):
            yield first, second


@pytest.fixture(scope="session")
def dns_server(realservers_lock: None) -> Iterator[RunningServer]:
    """dnsmasq on 127.0.0.53 (port 5353 unless taken): the only DNS the resolver tests use."""
    records = [
        (NODES_HOST, "127.0.0.31"),
        (NODES_HOST, "127.0.0.32"),
        (MAIL_HOST, "127.0.0.13"),
    ]
    yield from _started(lambda: start_dnsmasq(records))


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster on 127.0.0.1 (fleet tests); each test makes its database."""
    yield from _started(start_postgresql)  # type: ignore[arg-type]
