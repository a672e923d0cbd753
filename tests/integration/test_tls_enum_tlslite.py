"""What OpenSSL 3 cannot serve — SSLv3, RC4, 3DES — against an independent peer: tlslite-ng.

tlslite-ng (pure Python, LGPL) is the server; the expected suites per version come from its
own API (``CipherSuite.get*Suites``, the functions its server draws its choices from, in its
preference order), never from vedette's codec.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import warnings
from collections.abc import Callable, Iterator

with warnings.catch_warnings():
    # tlslite-ng imports asyncore (deprecated in 3.11) for an integration vedette does not use.
    warnings.simplefilter("ignore", DeprecationWarning)
    import tlslite  # tlslite-ng, in the test extra
    from tlslite.constants import CipherSuite, GroupName

from vedette.model import Endpoint, Service
from vedette.pki.ca import CertificateAuthority
from vedette.probe.enumerate import RetryPolicy, enumerate_endpoint

SSL3, TLS10, TLS11, TLS12 = 0x0300, 0x0301, 0x0302, 0x0303


def _settings() -> object:
    s = tlslite.HandshakeSettings()
    s.minVersion = (3, 0)
    s.maxVersion = (3, 3)
    s.cipherNames = ["aes128gcm", "aes128", "3des", "rc4"]
    s.macNames = ["sha256", "sha", "md5"]
    s.keyExchangeNames = ["ecdhe_rsa", "rsa"]  # no DHE: pure-Python DH is slow
    return s


def expected(version: int) -> list[int]:
    """tlslite's server list for an RSA certificate, in its (server) order."""
    v = (version >> 8, version & 0xFF)
    s = _settings()
    suites = (
        CipherSuite.getEcdheCertSuites(s, v)
        + CipherSuite.getDheCertSuites(s, v)
        + CipherSuite.getCertSuites(s, v)
    )
    return list(CipherSuite.filterForVersion(suites, minVersion=v, maxVersion=v))


def _settings13() -> object:
    """TLS 1.2 and 1.3 with the hybrid post-quantum group first (ML-KEM from kyber-py)."""
    s = tlslite.HandshakeSettings()
    s.minVersion = (3, 3)
    s.maxVersion = (3, 4)
    s.eccCurves = ["x25519mlkem768", "x25519", "secp256r1"]
    s.dhGroups = ["ffdhe2048"]
    s.keyShares = []
    return s


@contextlib.contextmanager
def tlslite_server(settings: Callable[[], object] = _settings) -> Iterator[int]:
    root = CertificateAuthority.create_root("tlslite test root")
    leaf = root.issue_server(["tls.vedette.test"], key_spec="rsa:2048")
    chain = tlslite.X509CertChain()
    chain.parsePemList(leaf.cert_pem().decode())
    key = tlslite.parsePEMKey(leaf.key_pem().decode(), private=True)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)  # close() does not wake a blocked accept(): poll ``stop``
    port = listener.getsockname()[1]
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        conn.settimeout(5)
        with conn, contextlib.suppress(Exception):
            tlslite.TLSConnection(conn).handshakeServer(
                certChain=chain, privateKey=key, settings=settings()
            )

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_sslv3_rc4_and_3des_against_tlslite():
    with tlslite_server() as port:
        ep = Endpoint(host="tls.vedette.test", ip="127.0.0.1", port=port, service=Service.HTTPS)
        scan = asyncio.run(enumerate_endpoint(ep, policy=RetryPolicy(hello_timeout=3)))
    assert not scan.incomplete, scan.incomplete_reason
    assert scan.versions == (SSL3, TLS10, TLS11, TLS12)
    for version in scan.versions:
        assert list(scan.suites_for(version)) == expected(version), hex(version)
    assert {0x0004, 0x0005} <= set(scan.suites_for(SSL3))  # RC4_128_MD5 and _SHA
    assert 0x000A in scan.suites_for(SSL3)  # RSA_WITH_3DES_EDE_CBC_SHA
    assert all(vs.server_order for vs in scan.suites)
    assert scan.fallback_scsv is True
    assert scan.secure_renegotiation is True
    # Extensions tlslite acknowledges by default (OpenSSL 3 has no heartbeat at all).
    assert (scan.heartbeat, scan.extended_master_secret, scan.encrypt_then_mac) == (
        True,
        True,
        True,
    )
    curves = {
        getattr(GroupName, n)
        for n in _settings().eccCurves
        if not n.endswith("tls13") and "mlkem" not in n  # TLS 1.3-only groups
    }
    assert set(scan.groups_tls12) == curves


def test_hybrid_post_quantum_group_against_tlslite():
    with tlslite_server(_settings13) as port:
        ep = Endpoint(host="tls.vedette.test", ip="127.0.0.1", port=port, service=Service.HTTPS)
        scan = asyncio.run(enumerate_endpoint(ep, policy=RetryPolicy(hello_timeout=3)))
    assert not scan.incomplete, scan.incomplete_reason
    assert 0x0304 in scan.versions
    s = _settings13()
    expected = {getattr(GroupName, n) for n in (*s.eccCurves, *s.dhGroups)}
    assert set(scan.groups) == expected
    assert GroupName.x25519mlkem768 == 0x11EC and 0x11EC in scan.groups
