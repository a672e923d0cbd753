"""Real Dovecot ManageSieve servers (Pigeonhole's managesieve-login) on loopback, for the tests.

Built on ``realservers.py``'s ``start_dovecot`` (the test PKI and accounts, a private
configuration, ``base_dir``, ``state_dir`` and log under ``WORK_ROOT/<name>``, readiness, stop
by PID), with ``protocols = sieve`` only: one Dovecot per case, each on its own loopback address
at the standard port 4190::

    127.0.0.190  S1  sieve 4190  disable_plaintext_auth = no: SASL PLAIN LOGIN before STARTTLS
    127.0.0.191  S2  sieve 4190  disable_plaintext_auth = yes: "SASL" "" before STARTTLS
    127.0.0.192  S3  sieve 4190  ssl = no: no STARTTLS at all

The client's source address is 127.0.0.1, not the server's, so Dovecot does not take the
connection for a local, "secured" one (see ``realservers.py``). Needs the Debian package
dovecot-managesieved (``scripts/install-deps``); without it the tests skip, or fail in CI.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.integration.conftest import _started
from tests.integration.realservers import (
    DovecotSpec,
    Pki,
    RunningServer,
    ServerUnavailable,
    Ssl,
    _wait_ready,
    start_dovecot,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

SIEVE_PORT = 4190
#: Where Debian's dovecot-managesieved puts the login process Dovecot starts for ``sieve``.
MANAGESIEVE_LOGIN = Path("/usr/lib/dovecot/managesieve-login")

S1, S2, S3 = "127.0.0.190", "127.0.0.191", "127.0.0.192"


#: Appended to realservers.py's Dovecot configuration: its ``protocols`` line names IMAP and POP3
#: only when asked for (here: neither), and a later assignment overrides an earlier one, so
#: this instance runs managesieve-login alone. Also where a login's user keeps its scripts.
SIEVE_CONFIG = f"""\
protocols = sieve
plugin {{
  sieve = file:~/sieve;active=~/.dovecot.sieve
}}
service managesieve-login {{
  inet_listener sieve {{
    port = {SIEVE_PORT}
  }}
  # High-performance mode: one login process serves many connections (the TLS enumeration).
  service_count = 0
}}
"""


def start_sieve_dovecot(
    name: str, address: str, pki: Pki, *, ssl: Ssl, disable_plaintext_auth: bool
) -> RunningServer:
    """A Dovecot serving only ManageSieve on ``address``:4190, started and stopped as
    realservers.py starts the IMAP/POP3 ones (same PKI, accounts and work root)."""
    if not MANAGESIEVE_LOGIN.exists():
        raise ServerUnavailable(
            f"{MANAGESIEVE_LOGIN} is missing: install the Debian package dovecot-managesieved "
            "(./scripts/install-deps)"
        )
    spec = DovecotSpec(
        name=name,
        address=address,
        ssl=ssl,
        disable_plaintext_auth=disable_plaintext_auth,
        chain_pem=pki.chain_pem,
        key_pem=pki.key_pem,
        extra_config=SIEVE_CONFIG,
    )
    server = start_dovecot(spec)  # waits for no port: the spec has neither IMAP nor POP3
    server.name = f"dovecot {name} (managesieve)"
    server.ports = (SIEVE_PORT,)
    try:
        _wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def sieve_s1(realtest_pki: Pki) -> Iterator[RunningServer]:
    """S1: STARTTLS, and SASL PLAIN/LOGIN offered before it (disable_plaintext_auth = no)."""
    yield from _started(
        lambda: start_sieve_dovecot(
            "sieve-s1", S1, realtest_pki, ssl="yes", disable_plaintext_auth=False
        )
    )


@pytest.fixture(scope="session")
def sieve_s2(realtest_pki: Pki) -> Iterator[RunningServer]:
    """S2: STARTTLS, no SASL mechanism before it (disable_plaintext_auth = yes)."""
    yield from _started(
        lambda: start_sieve_dovecot(
            "sieve-s2", S2, realtest_pki, ssl="yes", disable_plaintext_auth=True
        )
    )


@pytest.fixture(scope="session")
def sieve_s3(realtest_pki: Pki) -> Iterator[RunningServer]:
    """S3: ssl = no; passwords (necessarily) accepted in clear."""
    yield from _started(
        lambda: start_sieve_dovecot(
            "sieve-s3", S3, realtest_pki, ssl="no", disable_plaintext_auth=False
        )
    )
