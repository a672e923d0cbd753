"""Messages signed in the test by dkimpy with keys made in the test, and the DNS that goes
with them (for tests of ``vedette eml``)."""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from typing import Any

import dkim  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

BODY = b"Hello,\r\n\r\nthe quarterly figures are attached.\r\n"


def message(
    *,
    sender: str = "alice@example.com",
    return_path: str | None = "bounce@example.com",
    extra: Sequence[bytes] = (),
    body: bytes = BODY,
) -> bytes:
    head = [
        *extra,
        *([f"Return-Path: <{return_path}>".encode()] if return_path is not None else []),
        f"From: Alice <{sender}>".encode(),
        b"To: bob@receiver.test",
        b"Subject: figures",
        b"Date: Mon, 07 Dec 2026 10:00:00 +0000",
        b"Message-ID: <1@example.com>",
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class Key:
    """An RSA key pair: ``pem`` for dkimpy, ``record`` the DNS TXT value."""

    def __init__(self, bits: int = 1024) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        self.pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.p = base64.b64encode(der).decode("ascii")

    def record(self) -> str:
        return f"v=DKIM1; k=rsa; p={self.p}"

    def zone_line(self, selector: str, domain: str) -> str:
        return f"{selector}._domainkey.{domain}. TXT {txt(self.record())}"


def txt(value: str) -> str:
    """A TXT record's presentation form, cut in 255-byte strings."""
    return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))


class _Expiring(dkim.DKIM):  # type: ignore[misc]
    """dkimpy signs without x=; this adds one (and a t= before it)."""

    expires: int = 0

    def gen_header(self, fields: list[Any], *args: Any, **kwargs: Any) -> Any:
        fields = [f for f in fields if f[0] != b"t"]
        fields.insert(-2, (b"t", str(self.expires - 3600).encode()))
        fields.insert(-2, (b"x", str(self.expires).encode()))
        return super().gen_header(fields, *args, **kwargs)


def sign(
    msg: bytes, key: Key, domain: str, selector: str = "s1", *, expires: int | None = None
) -> bytes:
    """``msg`` with one more DKIM-Signature on top."""
    if expires is None:
        header = dkim.sign(
            msg,
            selector.encode(),
            domain.encode(),
            key.pem,
            include_headers=[b"from", b"to", b"subject"],
        )
    else:
        signer = _Expiring(msg)
        signer.expires = expires
        header = signer.sign(
            selector.encode(),
            domain.encode(),
            key.pem,
            include_headers=[b"from", b"to", b"subject"],
        )
    return header + msg


def arc_seal(msg: bytes, key: Key, domain: str, srv_id: str, selector: str = "arc") -> bytes:
    """``msg`` sealed by one more ARC hop (dkimpy's arc_sign; it needs an
    Authentication-Results field of ``srv_id`` on top)."""
    headers = dkim.arc_sign(
        msg,
        selector.encode(),
        domain.encode(),
        key.pem,
        srv_id.encode(),
        include_headers=[b"from", b"to", b"subject"],
        timestamp=int(time.time()),
    )
    return b"".join(headers) + msg
