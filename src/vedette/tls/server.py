"""The server's first flight, sans-I/O: records in, one ``ServerAnswer`` out.

``FlightReader`` is fed whatever bytes the socket gave (``receive_data``) and says when it has
seen enough (``done``). What "enough" means depends on the answer:

* an **alert** (handshake_failure, protocol_version, inappropriate_fallback…) ends it;
* a **HelloRetryRequest** ends it: it names the TLS 1.3 suite and group, all we asked;
* a **ServerHello selecting TLS 1.3** ends it: everything after it is encrypted;
* for TLS ≤ 1.2, the flight runs in clear to **ServerHelloDone**: Certificate,
  ServerKeyExchange (curve or DH prime, signature scheme), CertificateRequest (the client
  certificate CA list) are parsed on the way;
* an **SSLv2 SERVER-HELLO** (a record whose first byte has the top bit set) ends it.

Handshake messages may be split over records and records may hold several messages
(RFC 5246 §6.2.1), so handshake bytes are reassembled before parsing. Everything is bounded:
``MAX_FLIGHT`` bytes in all (a CertificateRequest with a few hundred CA names, the classic
SChannel failure on port 5061, runs to tens of kilobytes), records of at most 2^14 + 2048 bytes.
Malformed input raises ``TlsParseError`` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vedette.tls._wire import Reader, TlsParseError
from vedette.tls.hello import (
    EXT_KEY_SHARE,
    EXT_SUPPORTED_VERSIONS,
    SSL2_SERVER_HELLO,
)
from vedette.tls.record import (
    CONTENT_ALERT,
    CONTENT_APPLICATION_DATA,
    CONTENT_HANDSHAKE,
    RecordFeed,
)
from vedette.tls.registry import SSL2, TLS12, TLS13, suite

if TYPE_CHECKING:
    from vedette.tls.result import Tls13Flight

HS_SERVER_HELLO = 2
HS_CERTIFICATE = 11
HS_SERVER_KEY_EXCHANGE = 12
HS_CERTIFICATE_REQUEST = 13
HS_SERVER_HELLO_DONE = 14
HS_CERTIFICATE_STATUS = 22


#: SHA-256("HelloRetryRequest"): the ServerHello.random that marks a HelloRetryRequest.
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


# Alert descriptions worth naming (RFC 8446 §6, RFC 7507).
@dataclass(frozen=True, slots=True, kw_only=True)
class ServerHello:
    """A ServerHello or HelloRetryRequest.

    Attributes:
        version: the negotiated version (``supported_versions`` if present, else legacy).
        legacy_version: the 2-byte version field itself.
        suite: the chosen cipher suite code.
        compression: the chosen compression method (1 = DEFLATE).
        extensions: (type, body) in the order sent.
        retry: True for a HelloRetryRequest.
        group: the group of ``key_share`` (selected_group in a HelloRetryRequest).
    """

    version: int
    legacy_version: int
    random: bytes
    session_id: bytes
    suite: int
    compression: int
    extensions: tuple[tuple[int, bytes], ...]
    retry: bool
    group: int | None

    def has_extension(self, ext_type: int) -> bool:
        return any(t == ext_type for t, _ in self.extensions)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyExchange:
    """What a TLS ≤ 1.2 ServerKeyExchange reveals.

    Attributes:
        kind: ``ecdhe``, ``dhe``, ``rsa`` (export temporary key) or ``other``.
        group: the named curve (``ecdhe``), ``None`` otherwise.
        bits: DH prime or temporary RSA modulus size in bits; ``None`` for ``ecdhe``.
        sigalg: the signature scheme (TLS 1.2 signed exchanges only).
    """

    kind: str
    group: int | None = None
    bits: int | None = None
    sigalg: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateRequestInfo:
    """A TLS ≤ 1.2 CertificateRequest: the server asks the client for a certificate.

    Attributes:
        ca_count: distinguished names in ``certificate_authorities``.
        ca_bytes: size of that list on the wire (2^16 − 1 at most).
    """

    certificate_types: tuple[int, ...]
    sigalgs: tuple[int, ...]
    ca_count: int
    ca_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Ssl2ServerHello:
    certificate: bytes
    cipher_kinds: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerAnswer:
    """Everything read of the server's first flight.

    Exactly one of ``hello``, ``alert`` and ``ssl2`` is the headline; an alert may also follow a
    ServerHello (``hello`` and ``alert`` both set). ``ocsp_response`` is a stapled OCSP response
    (DER): the TLS ≤ 1.2 CertificateStatus message, or the TLS 1.3 leaf's ``status_request``
    entry extension. ``tls13`` is the decrypted TLS 1.3 flight (``vedette.tls.tls13``).
    """

    hello: ServerHello | None = None
    certificates: tuple[bytes, ...] = ()
    key_exchange: KeyExchange | None = None
    certificate_request: CertificateRequestInfo | None = None
    hello_done: bool = False
    alert: tuple[int, int] | None = None
    ssl2: Ssl2ServerHello | None = None
    ocsp_response: bytes | None = None
    tls13: Tls13Flight | None = None


def parse_server_hello(body: bytes) -> ServerHello:
    """The body of a ServerHello handshake message (after type and length)."""
    r = Reader(body, "ServerHello")
    legacy = r.u16()
    random = r.take(32)
    session_id = r.vector(1, maximum=32)
    chosen = r.u16()
    compression = r.u8()
    extensions: list[tuple[int, bytes]] = []
    if r.remaining:  # SSLv3 and early TLS servers may send no extensions block at all
        ext = r.sub(2, "ServerHello extensions")
        while ext.remaining:
            t = ext.u16()
            extensions.append((t, ext.vector(2)))
    r.end()
    retry = random == HRR_RANDOM
    version = legacy
    group: int | None = None
    for t, data in extensions:
        if t == EXT_SUPPORTED_VERSIONS:
            v = Reader(data, "supported_versions")
            version = v.u16()
            v.end()
        elif t == EXT_KEY_SHARE:
            k = Reader(data, "key_share")
            group = k.u16()
            if not retry:
                k.vector(2, minimum=1)
            k.end()
    return ServerHello(
        version=version,
        legacy_version=legacy,
        random=random,
        session_id=session_id,
        suite=chosen,
        compression=compression,
        extensions=tuple(extensions),
        retry=retry,
        group=group,
    )


def parse_certificate(body: bytes) -> tuple[bytes, ...]:
    """A TLS ≤ 1.2 Certificate message body: the DER certificates, leaf first."""
    r = Reader(body, "Certificate")
    lst = r.sub(3, "certificate_list")
    r.end()
    out: list[bytes] = []
    while lst.remaining:
        out.append(lst.vector(3, minimum=1))
    return tuple(out)


def parse_certificate_status(body: bytes) -> bytes:
    """A CertificateStatus body (RFC 6066 §8): status_type ocsp (1), then the DER response."""
    r = Reader(body, "CertificateStatus")
    if r.u8() != 1:
        raise TlsParseError("CertificateStatus of a type other than ocsp")
    der = r.vector(3, minimum=1)
    r.end()
    return der


def _bits(number: bytes) -> int:
    return int.from_bytes(number, "big").bit_length()


def parse_server_key_exchange(body: bytes, suite_code: int, version: int) -> KeyExchange:
    """A ServerKeyExchange body, read according to the chosen suite's key exchange."""
    info = suite(suite_code)
    kx = info.kx if info is not None else None
    anonymous = info is not None and info.anonymous
    r = Reader(body, "ServerKeyExchange")
    if kx in ("ECDHE", "AECDH", "ECDHE_PSK"):
        if kx == "ECDHE_PSK":
            r.vector(2)  # psk_identity_hint
        curve_type = r.u8()
        if curve_type != 3:  # named_curve; explicit curves (1, 2) are deprecated (RFC 8422)
            return KeyExchange(kind="ecdhe", group=None)
        group = r.u16()
        r.vector(1, minimum=1)  # the server's public point
        result = KeyExchange(kind="ecdhe", group=group)
    elif kx in ("DHE", "ADH", "DHE_PSK"):
        if kx == "DHE_PSK":
            r.vector(2)
        p = r.vector(2, minimum=1)
        r.vector(2, minimum=1)  # g
        r.vector(2, minimum=1)  # Ys
        result = KeyExchange(kind="dhe", bits=_bits(p))
    elif kx == "RSA" and info is not None and info.export:
        modulus = r.vector(2, minimum=1)
        r.vector(2, minimum=1)  # exponent
        result = KeyExchange(kind="rsa", bits=_bits(modulus))
    else:
        return KeyExchange(kind="other")  # PSK hints, SRP, GOST, KRB5: kept opaque
    if anonymous or kx in ("ECDHE_PSK", "DHE_PSK"):
        r.end()
        return result
    sigalg: int | None = None
    if version >= TLS12:
        sigalg = r.u16()
    r.vector(2)
    r.end()
    return KeyExchange(kind=result.kind, group=result.group, bits=result.bits, sigalg=sigalg)


def parse_certificate_request(body: bytes, version: int) -> CertificateRequestInfo:
    r = Reader(body, "CertificateRequest")
    types: tuple[int, ...] = tuple(r.vector(1, minimum=1))
    sigalgs: tuple[int, ...] = ()
    if version >= TLS12:
        sigalgs = r.u16_list(2, "supported_signature_algorithms")
    cas = r.sub(2, "certificate_authorities")
    r.end()
    ca_bytes = cas.remaining
    count = 0
    while cas.remaining:
        cas.vector(2, minimum=1)
        count += 1
    return CertificateRequestInfo(
        certificate_types=types, sigalgs=sigalgs, ca_count=count, ca_bytes=ca_bytes
    )


def parse_ssl2_server_hello(message: bytes) -> Ssl2ServerHello:
    """The SSLv2 SERVER-HELLO message (after the record header)."""
    r = Reader(message, "SSLv2 SERVER-HELLO")
    if r.u8() != SSL2_SERVER_HELLO:
        raise TlsParseError("SSLv2 record is not a SERVER-HELLO")
    r.u8()  # session id hit
    r.u8()  # certificate type
    if r.u16() != SSL2:
        raise TlsParseError("SSLv2 SERVER-HELLO with a version other than 0x0002")
    cert_len = r.u16()
    specs_len = r.u16()
    conn_id_len = r.u16()
    if specs_len % 3:
        raise TlsParseError("SSLv2 cipher specs not a multiple of 3 bytes")
    cert = r.take(cert_len)
    specs = r.take(specs_len)
    r.take(conn_id_len)
    kinds = tuple(int.from_bytes(specs[i : i + 3], "big") for i in range(0, specs_len, 3))
    return Ssl2ServerHello(certificate=cert, cipher_kinds=kinds)


class FlightReader(RecordFeed):
    """Sans-I/O reader of one server flight (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._hs = bytearray()
        self._hello: ServerHello | None = None
        self._certs: tuple[bytes, ...] = ()
        self._kx: KeyExchange | None = None
        self._cr: CertificateRequestInfo | None = None
        self._hello_done = False
        self._alert: tuple[int, int] | None = None
        self._ssl2: Ssl2ServerHello | None = None
        self._staple: bytes | None = None
        self._encrypted = False

    def answer(self) -> ServerAnswer:
        return ServerAnswer(
            hello=self._hello,
            certificates=self._certs,
            key_exchange=self._kx,
            certificate_request=self._cr,
            hello_done=self._hello_done,
            alert=self._alert,
            ssl2=self._ssl2,
            ocsp_response=self._staple,
        )

    @property
    def started(self) -> bool:
        """True once a ServerHello, an alert or an SSLv2 hello was read."""
        return self._hello is not None or self._alert is not None or self._ssl2 is not None

    def _next_record(self) -> bool:
        buf = self._buf
        if not buf:
            return False
        if buf[0] & 0x80 and self._hello is None and not self._hs:
            return self._ssl2_record()
        record = self._pop_record((0x02, 0x03))
        if record is None:
            return False
        header, fragment = record
        ctype = header[0]
        if ctype == CONTENT_ALERT:
            if len(fragment) < 2:
                raise TlsParseError("truncated alert")
            self._alert = (fragment[0], fragment[1])
            self.done = True
        elif ctype == CONTENT_HANDSHAKE:
            if not fragment:
                raise TlsParseError("empty handshake record")
            self._hs += fragment
            self._messages()
        elif ctype == CONTENT_APPLICATION_DATA:
            if self._hello is None:
                raise TlsParseError("application data before a ServerHello")
            self.done = True
        # ChangeCipherSpec (TLS 1.3 middlebox compatibility) carries nothing for us.
        return True

    def _ssl2_record(self) -> bool:
        buf = self._buf
        if len(buf) < 2:
            return False
        length = int.from_bytes(buf[0:2], "big") & 0x7FFF
        if len(buf) < 2 + length:
            return False
        message = bytes(buf[2 : 2 + length])
        del buf[: 2 + length]
        if message[:1] == b"\x00" and len(message) >= 3:
            # SSLv2 ERROR message: the server speaks SSLv2 but refuses our offer.
            self._alert = (2, int.from_bytes(message[1:3], "big"))
            self.done = True
            return True
        self._ssl2 = parse_ssl2_server_hello(message)
        self.done = True
        return True

    def _messages(self) -> None:
        hs = self._hs
        while len(hs) >= 4 and not self.done:
            length = int.from_bytes(hs[1:4], "big")
            if len(hs) < 4 + length:
                return
            msg_type = hs[0]
            body = bytes(hs[4 : 4 + length])
            del hs[: 4 + length]
            self._message(msg_type, body)

    def _message(self, msg_type: int, body: bytes) -> None:
        if self._hello is None:
            if msg_type != HS_SERVER_HELLO:
                raise TlsParseError(f"handshake message {msg_type} before the ServerHello")
            self._hello = parse_server_hello(body)
            if self._hello.retry or self._hello.version >= TLS13:
                self.done = True  # the rest (if any) is encrypted or a new hello
            return
        version = self._hello.version
        if msg_type == HS_CERTIFICATE:
            self._certs = parse_certificate(body)
        elif msg_type == HS_SERVER_KEY_EXCHANGE:
            self._kx = parse_server_key_exchange(body, self._hello.suite, version)
        elif msg_type == HS_CERTIFICATE_REQUEST:
            self._cr = parse_certificate_request(body, version)
        elif msg_type == HS_CERTIFICATE_STATUS:
            self._staple = parse_certificate_status(body)
        elif msg_type == HS_SERVER_HELLO_DONE:
            if body:
                raise TlsParseError("ServerHelloDone with a body")
            self._hello_done = True
            self.done = True
        # NewSessionTicket… are skipped.


def parse_flight(data: bytes) -> ServerAnswer:
    """Parse a complete flight at once (tests, replayed captures)."""
    reader = FlightReader()
    reader.receive_data(data)
    return reader.answer()
