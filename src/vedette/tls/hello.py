"""ClientHello builders (SSLv2 detection hello, SSLv3 to TLS 1.3) and a ClientHello parser.

No cryptography is needed to learn what a server *accepts*: the ServerHello names the version
and suite it picked, a HelloRetryRequest names the TLS 1.3 suite and group, and a TLS ≤ 1.2
ServerKeyExchange names the curve or the DH prime. So vedette writes hellos itself, with any
list of suites, groups, signature schemes and extensions, codes unknown to it included (GREASE
values round-trip through ``build_client_hello``/``parse_client_hello``).

Choices that matter on the wire:

* TLS 1.3 hellos carry ``supported_versions`` = [0x0304] only and an **empty** ``key_share``
  list. RFC 8446 §4.2.8 allows it ("to request group selection from the server"): the server
  answers with a HelloRetryRequest naming its suite and group, so no key pair is ever made and
  every group — hybrid post-quantum ones such as X25519MLKEM768 (0x11EC) included — can be
  enumerated by its code alone.
* TLS ≤ 1.2 hellos carry no ``supported_versions``: the legacy version field is the offer, and
  a server that picks a lower version tells us the offered one is not enabled.
* Secure renegotiation is asked with the SCSV (0x00FF, RFC 5746 §3.3), not the extension, so
  that SSLv3 hellos — sent without any extension, as SSLv3 servers may choke on them — ask it
  too. The server's ``renegotiation_info`` extension in its ServerHello is the answer.
* Records carry version 0x0301 (0x0300 for SSLv3): some servers drop a first record whose
  version is above TLS 1.0, and RFC 8446 §5.1 lets a client use 0x0301 for the first record.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from vedette.tls._wire import Reader, TlsParseError, u8, u16, u16_vec, u24, vec
from vedette.tls.registry import (
    EMPTY_RENEGOTIATION_INFO_SCSV,
    FALLBACK_SCSV,
    SSL3,
    TLS10,
    TLS12,
    TLS13,
)

#: An X25519 key share for servers that will not answer an empty key_share with a
#: HelloRetryRequest: the base point (u = 9), the public key of the scalar 1. Any 32 bytes are
#: a valid X25519 public value and vedette never completes the exchange, so a fixed one serves.
X25519_SHARE = (0x001D, b"\x09" + bytes(31))

# Extension types (RFC 6066, 8422, 8446, 6520, 7627, 7366, 5077).
EXT_SERVER_NAME = 0
EXT_STATUS_REQUEST = 5
EXT_SUPPORTED_GROUPS = 10
EXT_EC_POINT_FORMATS = 11
EXT_SIGNATURE_ALGORITHMS = 13
EXT_HEARTBEAT = 15
EXT_ENCRYPT_THEN_MAC = 22
EXT_EXTENDED_MASTER_SECRET = 23
EXT_SESSION_TICKET = 35
EXT_SUPPORTED_VERSIONS = 43
EXT_PSK_KEY_EXCHANGE_MODES = 45
EXT_KEY_SHARE = 51
EXT_RENEGOTIATION_INFO = 0xFF01

HANDSHAKE_CLIENT_HELLO = 1
CONTENT_HANDSHAKE = 22
MAX_FRAGMENT = 1 << 14


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientHelloSpec:
    """What one ClientHello offers.

    Attributes:
        version: the version offered: SSL3 … TLS12 go in the legacy version field; TLS13 is
            offered through ``supported_versions`` (legacy field 0x0303).
        suites: cipher suite codes in preference order (unknown codes and GREASE allowed).
        groups, sigalgs: ``supported_groups`` and ``signature_algorithms`` (omitted if empty;
            ``sigalgs`` is sent only for TLS 1.2 and 1.3, groups not for SSLv3).
        sni: a DNS name for ``server_name``; an IP address or ``None`` sends no SNI.
        compression: compression methods offered (0 null, 1 DEFLATE).
        fallback_scsv: append TLS_FALLBACK_SCSV (RFC 7507).
        renegotiation_scsv: append TLS_EMPTY_RENEGOTIATION_INFO_SCSV.
        extras: facts to ask about (status_request, heartbeat, session ticket, EMS, ETM).
        key_shares: TLS 1.3 (group, key_exchange) shares; empty asks for a
            HelloRetryRequest (see the module docstring).
        extra_extensions: (type, body) pairs appended as given (GREASE, tests).
        random, session_id: 32 bytes and 0–32 bytes; the caller chooses (no randomness here).
    """

    version: int
    suites: tuple[int, ...]
    groups: tuple[int, ...] = ()
    sigalgs: tuple[int, ...] = ()
    sni: str | None = None
    compression: tuple[int, ...] = (0,)
    fallback_scsv: bool = False
    renegotiation_scsv: bool = True
    extras: bool = True
    key_shares: tuple[tuple[int, bytes], ...] = ()
    extra_extensions: tuple[tuple[int, bytes], ...] = ()
    random: bytes = bytes(32)
    session_id: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientHello:
    """A parsed ClientHello (used by tests and by anyone replaying a client's hello)."""

    legacy_version: int
    random: bytes
    session_id: bytes
    suites: tuple[int, ...]
    compression: tuple[int, ...]
    extensions: tuple[tuple[int, bytes], ...]

    def extension(self, ext_type: int) -> bytes | None:
        for t, body in self.extensions:
            if t == ext_type:
                return body
        return None


def _sni_name(sni: str | None) -> bytes | None:
    if not sni:
        return None
    try:
        ipaddress.ip_address(sni.strip("[]"))
    except ValueError:
        pass
    else:
        return None  # RFC 6066 §3: literal IP addresses are not permitted in server_name
    try:
        return sni.rstrip(".").encode("idna")
    except UnicodeError:
        return sni.encode("ascii", "replace")


def _extensions(spec: ClientHelloSpec) -> list[tuple[int, bytes]]:
    exts: list[tuple[int, bytes]] = []
    name = _sni_name(spec.sni)
    if name is not None:
        exts.append((EXT_SERVER_NAME, vec(2, u8(0) + vec(2, name))))
    if spec.groups:
        exts.append((EXT_SUPPORTED_GROUPS, u16_vec(2, spec.groups)))
        # uncompressed only: RFC 8422 §5.1.2 deprecates the compressed formats.
        exts.append((EXT_EC_POINT_FORMATS, vec(1, b"\x00")))
    if spec.sigalgs and spec.version >= TLS12:
        exts.append((EXT_SIGNATURE_ALGORITHMS, u16_vec(2, spec.sigalgs)))
    if spec.extras:
        # status_request: OCSP, no responder ids, no request extensions (RFC 6066 §8).
        exts.append((EXT_STATUS_REQUEST, b"\x01\x00\x00\x00\x00"))
        if spec.version < TLS13:
            exts.append((EXT_SESSION_TICKET, b""))
            exts.append((EXT_EXTENDED_MASTER_SECRET, b""))
            exts.append((EXT_ENCRYPT_THEN_MAC, b""))
        # heartbeat: peer_allowed_to_send (RFC 6520 §2); a server echoing it supports it.
        exts.append((EXT_HEARTBEAT, b"\x01"))
    if spec.version >= TLS13:
        exts.append((EXT_SUPPORTED_VERSIONS, vec(1, u16(TLS13))))
        exts.append((EXT_PSK_KEY_EXCHANGE_MODES, vec(1, b"\x01")))
        shares = b"".join(u16(g) + vec(2, key) for g, key in spec.key_shares)
        exts.append((EXT_KEY_SHARE, vec(2, shares)))  # empty: ask for a HelloRetryRequest
    exts.extend(spec.extra_extensions)
    return exts


def build_client_hello(spec: ClientHelloSpec) -> bytes:
    """The ClientHello handshake message (type, 3-byte length, body) for ``spec``."""
    if len(spec.random) != 32 or len(spec.session_id) > 32:
        raise ValueError("random must be 32 bytes and session_id at most 32")
    suites = list(spec.suites)
    if spec.renegotiation_scsv and spec.version < TLS13:
        suites.append(EMPTY_RENEGOTIATION_INFO_SCSV)
    if spec.fallback_scsv:
        suites.append(FALLBACK_SCSV)
    legacy = min(spec.version, TLS12)
    body = u16(legacy) + spec.random + vec(1, spec.session_id)
    body += u16_vec(2, suites) + vec(1, bytes(spec.compression))
    if spec.version > SSL3:
        exts = b"".join(u16(t) + vec(2, b) for t, b in _extensions(spec))
        body += vec(2, exts)
    return u8(HANDSHAKE_CLIENT_HELLO) + u24(len(body)) + body


def records(content_type: int, payload: bytes, version: int = TLS10) -> bytes:
    """``payload`` cut into TLS plaintext records of at most 2^14 bytes."""
    out = bytearray()
    for i in range(0, max(len(payload), 1), MAX_FRAGMENT):
        frag = payload[i : i + MAX_FRAGMENT]
        out += u8(content_type) + u16(version) + vec(2, frag)
    return bytes(out)


def client_hello_records(spec: ClientHelloSpec) -> bytes:
    """The bytes to write on the socket for ``spec``."""
    record_version = SSL3 if spec.version == SSL3 else TLS10
    return records(CONTENT_HANDSHAKE, build_client_hello(spec), record_version)


def parse_client_hello(message: bytes) -> ClientHello:
    """Parse a ClientHello handshake message (as ``build_client_hello`` returns)."""
    r = Reader(message, "ClientHello")
    if r.u8() != HANDSHAKE_CLIENT_HELLO:
        raise TlsParseError("not a ClientHello")
    body = r.sub(3, "ClientHello")
    r.end()
    legacy = body.u16()
    random = body.take(32)
    session_id = body.vector(1, maximum=32)
    suites = body.u16_list(2, "cipher_suites")
    compression: tuple[int, ...] = tuple(body.vector(1, minimum=1))
    extensions: list[tuple[int, bytes]] = []
    if body.remaining:
        ext_reader = body.sub(2, "extensions")
        while ext_reader.remaining:
            ext_type = ext_reader.u16()
            extensions.append((ext_type, ext_reader.vector(2)))
    body.end()
    return ClientHello(
        legacy_version=legacy,
        random=random,
        session_id=session_id,
        suites=suites,
        compression=compression,
        extensions=tuple(extensions),
    )


# --- SSLv2 ------------------------------------------------------------------------------------

SSL2_CLIENT_HELLO = 1
SSL2_SERVER_HELLO = 4


def build_ssl2_client_hello(kinds: tuple[int, ...], challenge: bytes = bytes(16)) -> bytes:
    """An SSLv2 CLIENT-HELLO record offering the 3-byte cipher ``kinds`` (detection only).

    Layout (draft-hickman-netscape-ssl-00): a 2-byte record header with the top bit set and a
    15-bit length, then msg type 1, version 0x0002, the lengths of the cipher specs, session id
    and challenge, and those three fields.
    """
    if not 16 <= len(challenge) <= 32:
        raise ValueError("SSLv2 challenge must be 16 to 32 bytes")
    specs = b"".join(k.to_bytes(3, "big") for k in kinds)
    body = u8(SSL2_CLIENT_HELLO) + u16(0x0002) + u16(len(specs)) + u16(0) + u16(len(challenge))
    body += specs + challenge
    if len(body) > 0x7FFF:
        raise ValueError("SSLv2 hello too long")
    return u16(0x8000 | len(body)) + body


__all__ = [
    "SSL3",
    "TLS10",
    "TLS12",
    "TLS13",
    "ClientHello",
    "ClientHelloSpec",
    "build_client_hello",
    "build_ssl2_client_hello",
    "client_hello_records",
    "parse_client_hello",
    "records",
]
