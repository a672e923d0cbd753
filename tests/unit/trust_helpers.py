"""Certificates for the simulation tests: a test CA, leaves with or without SCTs, SHA-512 CAs.

Leaves are built here (with :func:`tests.builders.certificate`, not
``CertificateAuthority.issue_server``) because the tests need control over the notBefore date,
the validity, the EKU and an embedded SCT list, which a real public CA adds and which Apple and
Chrome require.
"""

from __future__ import annotations

import secrets
import struct
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.builders import SERVER_AUTH, SignatureHash, certificate, signer
from vedette.pki import CertificateAuthority, Issued

SCT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
HOST = "mail.example.test"


def der(cert: x509.Certificate | Issued | CertificateAuthority) -> bytes:
    if not isinstance(cert, x509.Certificate):
        cert = cert.cert
    return cert.public_bytes(Encoding.DER)


def sct_list(when: datetime) -> bytes:
    """extnValue of an embedded SCT list (RFC 6962 section 3.3) with one v1 SCT at ``when``.

    The log id and signature are random: nothing verifies them offline, only presence and
    timestamp are used.
    """
    ts = int(when.timestamp() * 1000)
    sig = secrets.token_bytes(70)
    sct = (
        b"\x00"  # version v1
        + secrets.token_bytes(32)  # log id
        + struct.pack(">Q", ts)
        + b"\x00\x00"  # no extensions
        + b"\x04\x03"  # sha256, ecdsa
        + struct.pack(">H", len(sig))
        + sig
    )
    body = struct.pack(">H", len(sct)) + sct
    tls = struct.pack(">H", len(body)) + body
    return b"\x04" + bytes([len(tls)]) + tls  # DER OCTET STRING (short form: < 128 bytes)


def leaf(
    ca: CertificateAuthority,
    names: tuple[str, ...] = (HOST,),
    *,
    not_before: datetime | None = None,
    days: int = 90,
    key_spec: str = "ec:p256",
    hash_alg: SignatureHash | None = None,
    eku: bool = True,
    sct: bool = True,
    san: bool = True,
) -> x509.Certificate:
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    scts = x509.UnrecognizedExtension(SCT_OID, sct_list(start))
    return certificate(
        names[0],
        issuer=signer(ca),
        key_type=key_spec,
        not_before=start,
        days=days,
        ca=False,
        key_ids=True,
        names=names if san else (),
        eku=(SERVER_AUTH,) if eku else (),
        extensions=[(scts, False)] if sct else (),
        hash_alg=hash_alg,
    ).cert
