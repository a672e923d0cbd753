"""A hostile ServerHello's key share: only vedette's parse error, for every computable group."""

from __future__ import annotations

import os

import pytest

from vedette.tls.hello import ClientHelloSpec
from vedette.tls.server import TlsParseError
from vedette.tls.tls13 import KeyShares, Tls13Client

# (group, a valid share length)
GROUPS = [(0x001D, 32), (0x001E, 56), (0x0017, 65), (0x0018, 97), (0x0019, 133)]


def _v(n: int, body: bytes) -> bytes:
    return len(body).to_bytes(n, "big") + body


def _bad_shares(group: int, size: int) -> list[bytes]:
    """Shares each group must refuse (any 32/56 bytes are a valid X25519/X448 share)."""
    shares = [b"\x04", b"\x00" * size, b"\x05" * (size - 1), b"\x05" * (size + 1)]
    if group not in (0x001D, 0x001E):
        shares.append(b"\x04" + b"\x01" * (size - 1))  # not on the curve
    return shares


@pytest.mark.parametrize(("group", "size"), GROUPS)
def test_a_malformed_key_share_is_a_parse_error(group: int, size: int) -> None:
    for share in _bad_shares(group, size):
        spec = ClientHelloSpec(
            version=0x0304,
            suites=(0x1301,),
            groups=(group,),
            sigalgs=(0x0804,),
            sni="mail.example.test",
            random=os.urandom(32),
        )
        c = Tls13Client(spec, KeyShares())
        exts = (
            (43).to_bytes(2, "big")
            + _v(2, b"\x03\x04")
            + (51).to_bytes(2, "big")
            + _v(2, group.to_bytes(2, "big") + _v(2, share))
        )
        body = b"\x03\x03" + os.urandom(32) + b"\x00\x13\x01\x00" + _v(2, exts)
        sh = b"\x02" + _v(3, body)
        with pytest.raises(TlsParseError):
            c.receive_data(b"\x16\x03\x03" + _v(2, sh))
