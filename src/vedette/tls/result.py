"""What the TLS enumeration learnt: ``TlsScan`` and its parts (frozen values that live in
:mod:`vedette.model`, the bottom layer, since an Observation carries them; re-exported here),
and the stapled OCSP response read for the report (``StapleInfo``).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from vedette.model import ClientCertRequest, TlsScan, VersionSuites

__all__ = [
    "ClientCertRequest",
    "StapleInfo",
    "Tls13Flight",
    "TlsScan",
    "VersionSuites",
    "staple_info",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Tls13Flight:
    """What the encrypted part of a TLS 1.3 server flight told.

    Attributes:
        certificates: the DER chain of the Certificate message, leaf first.
        ocsp_response: the DER OCSPResponse stapled to the leaf (its ``status_request``
            CertificateEntry extension), ``None`` when the server stapled nothing.
        sigalg: the signature scheme of CertificateVerify.
        certificate_request: the server asked for a client certificate.
        extensions: the EncryptedExtensions types, in order.
        finished: the Finished MAC was checked and is right.
    """

    certificates: tuple[bytes, ...] = ()
    ocsp_response: bytes | None = None
    sigalg: int | None = None
    certificate_request: bool = False
    extensions: tuple[int, ...] = ()
    finished: bool = False


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
