"""``TlsScan``: what the enumeration learnt about one endpoint, as a frozen value.

It keeps the exact accepted sets (codes, not names) so that a client's hello can be replayed
against them offline, and everything the checks judge. ``None`` always means "not learnt"
(not tested, or the test could not conclude), never "no".
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionSuites:
    """The suites one protocol version accepts.

    Attributes:
        version: wire code (0x0300 SSLv3 … 0x0304 TLS 1.3; 0x0002 SSLv2 with 3-byte kinds).
        suites: accepted codes, in the order the server picked them when offered everything
            still untried — the server's preference order when ``server_order`` is True.
        server_order: True if the server imposes its own order, False if it follows the
            client's, ``None`` when fewer than two suites were accepted or the test failed.
    """

    version: int
    suites: tuple[int, ...]
    server_order: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientCertRequest:
    """The server asked for a client certificate (TLS ≤ 1.2, seen in clear).

    Attributes:
        ca_count: distinguished names in its list of acceptable CAs.
        ca_bytes: that list's size on the wire; SChannel fails past 16 KiB of names.
    """

    ca_count: int
    ca_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsScan:
    """The enumeration of one endpoint.

    Attributes:
        versions: accepted protocol versions (wire codes), oldest first.
        suites: per accepted version, the accepted suites (see ``VersionSuites``).
        groups: TLS 1.3 groups accepted (HelloRetryRequest selections), in pick order; hybrid
            post-quantum groups such as X25519MLKEM768 (0x11EC) included.
        groups_tls12: curves accepted for ECDHE in TLS ≤ 1.2 (ServerKeyExchange), pick order.
        dh_bits: distinct DH prime sizes seen in DHE ServerKeyExchanges, smallest first.
        sigalgs: signature schemes the server signs TLS 1.2 ServerKeyExchanges with, in pick
            order (enumerated when the server accepts a signed ECDHE or DHE suite).
        secure_renegotiation: the server answered the RFC 5746 SCSV with renegotiation_info.
        fallback_scsv: the server refused a downgraded hello carrying TLS_FALLBACK_SCSV.
        compression: the server chose DEFLATE when offered (CRIME).
        session_ticket, ocsp_stapling, heartbeat, extended_master_secret, encrypt_then_mac:
            the server acknowledged the extension in a TLS ≤ 1.2 ServerHello.
        resumption: a TLS ≤ 1.2 session (ticket or session id) from one full handshake was
            resumed on a second connection; ``None`` if not tried or no handshake completed.
        resumption_tls13: the same for TLS 1.3: a ticket (NewSessionTicket, read after the
            handshake) was offered as a PSK on a second connection and accepted; False when
            no ticket came or it was not accepted, ``None`` if not tried or no handshake.
        sigalgs_tls13: signature schemes the server signs TLS 1.3 CertificateVerify with, in
            pick order (learnt by decrypting its flight, ``vedette.tls.tls13``).
        ocsp_staple_tls12: a TLS ≤ 1.2 server sent a CertificateStatus (an OCSP response
            really stapled, not only the extension acknowledged); ``None`` if no TLS ≤ 1.2
            certificate was seen.
        ocsp_staple_tls13: the TLS 1.3 leaf carried a stapled OCSP response; ``None`` if no
            TLS 1.3 flight was decrypted.
        ocsp_response: the stapled OCSP response (DER), TLS 1.3's when both were seen.
        client_cert_request: the server asked for a client certificate; ``None`` if not.
        leaf_certificates: distinct leaf certificates (DER) served in TLS ≤ 1.2 flights and in
            decrypted TLS 1.3 ones: an RSA and an ECDSA one for a dual-certificate server.
        leaf_without_sni: the leaf served to a TLS ≤ 1.2 hello that names no server (a
            client without SNI, or a scanner given an IP); ``None`` when not tested (bare-IP
            target, TLS 1.3 only) or when no certificate came.
        connections: TCP connections the enumeration opened (retries included).
        incomplete: the enumeration could not finish; ``incomplete_reason`` says why. Sets
            are then lower bounds: nothing missing from them was seen refused.
    """

    versions: tuple[int, ...] = ()
    suites: tuple[VersionSuites, ...] = ()
    groups: tuple[int, ...] = ()
    groups_tls12: tuple[int, ...] = ()
    dh_bits: tuple[int, ...] = ()
    sigalgs: tuple[int, ...] = ()
    secure_renegotiation: bool | None = None
    fallback_scsv: bool | None = None
    compression: bool | None = None
    session_ticket: bool | None = None
    ocsp_stapling: bool | None = None
    heartbeat: bool | None = None
    extended_master_secret: bool | None = None
    encrypt_then_mac: bool | None = None
    resumption: bool | None = None
    resumption_tls13: bool | None = None
    sigalgs_tls13: tuple[int, ...] = ()
    ocsp_staple_tls12: bool | None = None
    ocsp_staple_tls13: bool | None = None
    ocsp_response: bytes | None = None
    client_cert_request: ClientCertRequest | None = None
    leaf_certificates: tuple[bytes, ...] = ()
    leaf_without_sni: bytes | None = None
    connections: int = 0
    incomplete: bool = False
    incomplete_reason: str | None = None

    def suites_for(self, version: int) -> tuple[int, ...]:
        for vs in self.suites:
            if vs.version == version:
                return vs.suites
        return ()

    def all_suites(self) -> frozenset[int]:
        """Every accepted TLS/SSLv3 suite code, whatever the version (SSLv2 kinds excluded)."""
        return frozenset(c for vs in self.suites if vs.version != 0x0002 for c in vs.suites)


@dataclass(frozen=True, slots=True, kw_only=True)
class StapleInfo:
    """A stapled OCSP response, read for the report.

    Attributes:
        response_status: ``successful``, ``unauthorized``… (RFC 6960 §4.2.1).
        cert_status: ``good``, ``revoked`` or ``unknown`` (successful responses only).
        produced_at, next_update: UTC times (``next_update`` may be absent from a response).
    """

    response_status: str
    cert_status: str | None = None
    produced_at: _dt.datetime | None = None
    next_update: _dt.datetime | None = None

    def summary(self) -> str:
        """E.g. ``good, next update 2026-11-30``."""
        if self.cert_status is None:
            return f"response {self.response_status}"
        text = self.cert_status
        if self.next_update is not None:
            text += f", next update {self.next_update:%Y-%m-%d %H:%M} UTC"
        return text


def staple_info(der: bytes) -> StapleInfo | None:
    """Parse a stapled OCSP response (``None`` when it is not a valid DER OCSPResponse)."""
    from cryptography.x509 import ocsp

    try:
        resp = ocsp.load_der_ocsp_response(der)
        status = resp.response_status.name.lower()
        if resp.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            return StapleInfo(response_status=status)
        return StapleInfo(
            response_status=status,
            cert_status=resp.certificate_status.name.lower(),
            produced_at=resp.produced_at_utc,
            next_update=resp.next_update_utc,
        )
    except (ValueError, TypeError):
        return None
