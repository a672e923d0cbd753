"""A sans-I/O TLS 1.3 client that reads the server's encrypted flight (RFC 8446).

What a TLS 1.3 server says after its ServerHello is encrypted with the handshake traffic keys:
the signature scheme of its CertificateVerify, its certificate chain and the OCSP response it
staples to the leaf. To see them vedette does the client's half of the key exchange (an
ephemeral X25519 or P-256 key; X448, P-384 or P-521 when the server asks for one), runs the
key schedule of RFC 8446 §7.1 up to the server handshake traffic secret, and decrypts the
server's records (AES-GCM, AES-CCM or ChaCha20-Poly1305, nonce = IV XOR sequence number,
§5.3). It then parses EncryptedExtensions, CertificateRequest, Certificate (with each entry's
extensions), CertificateVerify and Finished, checks the Finished MAC (which proves the key
schedule and transcript right), and stops: no client Finished is ever sent, the connection is
simply closed.

``Tls13Client`` is fed socket bytes (``receive_data``) and says when it is ``done``; like
``vedette.tls.server.FlightReader`` its ``answer()`` is a ``ServerAnswer`` (``tls13`` holds
what the encrypted part told). A HelloRetryRequest (the server wants a group we sent no share
for) ends it too: the caller asks again, on a new connection, offering that group. Everything
is bounded and any malformed input raises ``TlsParseError``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vedette.tls._wire import Reader, TlsParseError, u16, vec
from vedette.tls.hello import (
    EXT_STATUS_REQUEST,
    ClientHelloSpec,
    build_client_hello,
    records,
)
from vedette.tls.record import (
    CONTENT_ALERT,
    CONTENT_APPLICATION_DATA,
    CONTENT_CHANGE_CIPHER_SPEC,
    CONTENT_HANDSHAKE,
    RecordFeed,
)
from vedette.tls.registry import TLS13
from vedette.tls.result import Tls13Flight
from vedette.tls.server import (
    HS_CERTIFICATE,
    HS_CERTIFICATE_REQUEST,
    HS_SERVER_HELLO,
    ServerAnswer,
    ServerHello,
    parse_certificate_status,
    parse_server_hello,
)

X25519 = 0x001D
X448 = 0x001E
SECP256R1 = 0x0017
SECP384R1 = 0x0018
SECP521R1 = 0x0019
#: Groups whose shares are sent by default, in the order they are offered.
GROUPS = (X25519, SECP256R1)
#: Every group whose key exchange this module computes (a HelloRetryRequest naming one of the
#: others is answered by a new connection whose hello offers just that group).
COMPUTABLE = frozenset({X25519, X448, SECP256R1, SECP384R1, SECP521R1})

HS_ENCRYPTED_EXTENSIONS = 8
HS_CERTIFICATE_VERIFY = 15
HS_FINISHED = 20

#: (hash, key length) per TLS 1.3 suite (RFC 8446 §B.4).
SUITES: dict[int, tuple[str, int]] = {
    0x1301: ("sha256", 16),  # TLS_AES_128_GCM_SHA256
    0x1302: ("sha384", 32),  # TLS_AES_256_GCM_SHA384
    0x1303: ("sha256", 32),  # TLS_CHACHA20_POLY1305_SHA256
    0x1304: ("sha256", 16),  # TLS_AES_128_CCM_SHA256
    0x1305: ("sha256", 16),  # TLS_AES_128_CCM_8_SHA256
}


# --- the key schedule (RFC 8446 §7.1) ---------------------------------------------------------


def hkdf_extract(hash_name: str, salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract (RFC 5869 §2.2); an empty salt is a string of zeros of the hash length."""
    size = hashlib.new(hash_name).digest_size
    return hmac.new(salt or bytes(size), ikm, hash_name).digest()


def hkdf_expand(hash_name: str, prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand (RFC 5869 §2.3)."""
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hash_name).digest()
        out += block
        counter += 1
    return out[:length]


def hkdf_expand_label(
    hash_name: str, secret: bytes, label: str, context: bytes, length: int
) -> bytes:
    """HKDF-Expand-Label: ``HkdfLabel`` = length, "tls13 " + label, context."""
    info = u16(length) + vec(1, b"tls13 " + label.encode("ascii")) + vec(1, context)
    return hkdf_expand(hash_name, secret, info, length)


def derive_secret(hash_name: str, secret: bytes, label: str, transcript: bytes) -> bytes:
    """Derive-Secret(Secret, Label, Messages) with ``transcript`` the concatenated messages."""
    h = hashlib.new(hash_name, transcript)
    return hkdf_expand_label(hash_name, secret, label, h.digest(), h.digest_size)


@dataclass(frozen=True, slots=True)
class HandshakeSecrets:
    """The handshake-stage secrets of one connection."""

    handshake_secret: bytes
    client_handshake_traffic: bytes
    server_handshake_traffic: bytes


def handshake_secrets(hash_name: str, shared: bytes, ch_sh: bytes) -> HandshakeSecrets:
    """From the (EC)DHE shared secret and ClientHello..ServerHello (no PSK: zeros)."""
    size = hashlib.new(hash_name).digest_size
    early = hkdf_extract(hash_name, b"", bytes(size))
    derived = derive_secret(hash_name, early, "derived", b"")
    hs = hkdf_extract(hash_name, derived, shared)
    return HandshakeSecrets(
        handshake_secret=hs,
        client_handshake_traffic=derive_secret(hash_name, hs, "c hs traffic", ch_sh),
        server_handshake_traffic=derive_secret(hash_name, hs, "s hs traffic", ch_sh),
    )


def traffic_key_iv(hash_name: str, secret: bytes, key_length: int) -> tuple[bytes, bytes]:
    """The record protection key and IV of a traffic secret (RFC 8446 §7.3)."""
    return (
        hkdf_expand_label(hash_name, secret, "key", b"", key_length),
        hkdf_expand_label(hash_name, secret, "iv", b"", 12),
    )


class RecordDecryptor:
    """Decrypts TLSCiphertext records under one traffic key (RFC 8446 §5.2–5.3)."""

    def __init__(self, suite_code: int, key: bytes, iv: bytes) -> None:
        self._aead: AESGCM | AESCCM | ChaCha20Poly1305
        if suite_code == 0x1303:
            self._aead = ChaCha20Poly1305(key)
        elif suite_code in (0x1304, 0x1305):
            self._aead = AESCCM(key, tag_length=8 if suite_code == 0x1305 else 16)
        else:
            self._aead = AESGCM(key)
        self._iv = iv
        self._seq = 0

    def decrypt(self, header: bytes, fragment: bytes) -> tuple[int, bytes]:
        """(inner content type, content) of one record; ``header`` is its 5 bytes."""
        nonce = bytes(a ^ b for a, b in zip(self._iv, self._seq.to_bytes(12, "big"), strict=True))
        self._seq += 1
        try:
            plain = self._aead.decrypt(nonce, fragment, header)
        except InvalidTag:
            raise TlsParseError("a TLS 1.3 record failed to decrypt") from None
        inner = plain.rstrip(b"\x00")
        if not inner:
            raise TlsParseError("a TLS 1.3 record without an inner content type")
        return inner[-1], inner[:-1]


# --- ephemeral keys -------------------------------------------------------------------------


_CURVES: dict[int, type[ec.EllipticCurve]] = {
    SECP256R1: ec.SECP256R1,
    SECP384R1: ec.SECP384R1,
    SECP521R1: ec.SECP521R1,
}
_PrivateKey = x25519.X25519PrivateKey | x448.X448PrivateKey | ec.EllipticCurvePrivateKey


class KeyShares:
    """Ephemeral private keys, one per group, made when first needed (``COMPUTABLE`` only).

    Args:
        keys: fixed keys by group (tests); any other group gets a fresh key.
    """

    def __init__(self, keys: dict[int, _PrivateKey] | None = None) -> None:
        self._keys: dict[int, _PrivateKey] = dict(keys or {})

    def _key(self, group: int) -> _PrivateKey:
        key = self._keys.get(group)
        if key is None:
            if group == X25519:
                key = x25519.X25519PrivateKey.generate()
            elif group == X448:
                key = x448.X448PrivateKey.generate()
            elif group in _CURVES:
                key = ec.generate_private_key(_CURVES[group]())
            else:
                raise ValueError(f"no key exchange for group 0x{group:04x} here")
            self._keys[group] = key
        return key

    def share(self, group: int) -> bytes:
        """The public key_exchange value for ``group`` (RFC 8446 §4.2.8.2)."""
        key = self._key(group)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def shared_secret(self, group: int, peer: bytes) -> bytes:
        key = self._keys.get(group)
        if key is None:
            raise TlsParseError(
                f"the server chose group 0x{group:04x}, for which no share was sent"
            )
        try:
            if isinstance(key, x25519.X25519PrivateKey):
                return key.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
            if isinstance(key, x448.X448PrivateKey):
                return key.exchange(x448.X448PublicKey.from_public_bytes(peer))
            point = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, peer)
            return key.exchange(ec.ECDH(), point)
        except ValueError:
            raise TlsParseError(
                f"the server's key share for group 0x{group:04x} is invalid"
            ) from None


# --- the server's encrypted flight ----------------------------------------------------------


def parse_certificate13(body: bytes) -> tuple[tuple[bytes, ...], bytes | None]:
    """A TLS 1.3 Certificate body: the DER chain and the leaf's stapled OCSP response."""
    r = Reader(body, "Certificate")
    r.vector(1)  # certificate_request_context: empty in a server's Certificate
    lst = r.sub(3, "certificate_list")
    r.end()
    certs: list[bytes] = []
    staple: bytes | None = None
    while lst.remaining:
        certs.append(lst.vector(3, minimum=1))
        exts = lst.sub(2, "CertificateEntry extensions")
        while exts.remaining:
            ext_type = exts.u16()
            data = exts.vector(2)
            if ext_type == EXT_STATUS_REQUEST and len(certs) == 1:
                staple = parse_certificate_status(data)
    return tuple(certs), staple


def _extension_types(body: bytes) -> tuple[int, ...]:
    r = Reader(body, "EncryptedExtensions")
    exts = r.sub(2, "EncryptedExtensions extensions")
    r.end()
    types = []
    while exts.remaining:
        types.append(exts.u16())
        exts.vector(2)
    return tuple(types)


class Tls13Client(RecordFeed):
    """Sans-I/O: the ClientHello to send (``hello_bytes``), then the server's flight parsed.

    Args:
        spec: the hello to send; its ``key_shares`` are replaced by ours, its version must be
            TLS 1.3 and its ``random`` chosen by the caller.
        keys: the ephemeral keys (fresh ones when omitted; tests pass fixed ones).
    """

    def __init__(self, spec: ClientHelloSpec, keys: KeyShares | None = None) -> None:
        if spec.version != TLS13:
            raise ValueError("Tls13Client needs a TLS 1.3 hello")
        self._keys = keys or KeyShares()
        groups = spec.groups or GROUPS
        # Shares for the default groups offered, else for the first computable one (after a
        # HelloRetryRequest); the other groups are offered without a share.
        share_groups = [g for g in groups if g in GROUPS] or [g for g in groups if g in COMPUTABLE][
            :1
        ]
        if not share_groups:
            raise ValueError("the hello must offer a group whose key exchange is computed here")
        shares = tuple((g, self._keys.share(g)) for g in share_groups)
        self._client_hello = build_client_hello(
            ClientHelloSpec(
                version=spec.version,
                suites=spec.suites,
                groups=groups,
                sigalgs=spec.sigalgs,
                sni=spec.sni,
                compression=(0,),
                extras=spec.extras,
                key_shares=shares,
                extra_extensions=spec.extra_extensions,
                random=spec.random,
                session_id=spec.session_id,
            )
        )
        super().__init__()
        self._hs = bytearray()
        self._transcript = bytearray(self._client_hello)
        self._hello: ServerHello | None = None
        self._alert: tuple[int, int] | None = None
        self._hash = "sha256"
        self._decryptor: RecordDecryptor | None = None
        self._server_secret = b""
        self._certs: tuple[bytes, ...] = ()
        self._staple: bytes | None = None
        self._sigalg: int | None = None
        self._cert_request = False
        self._ext_types: tuple[int, ...] = ()
        self._finished = False

    def hello_bytes(self) -> bytes:
        """The ClientHello records to write."""
        return records(CONTENT_HANDSHAKE, self._client_hello)

    @property
    def started(self) -> bool:
        return self._hello is not None or self._alert is not None

    @property
    def client_random(self) -> bytes:
        return self._client_hello[6:38]

    @property
    def server_handshake_traffic_secret(self) -> bytes:
        """SERVER_HANDSHAKE_TRAFFIC_SECRET (empty before the ServerHello)."""
        return self._server_secret

    def flight(self) -> Tls13Flight | None:
        if self._decryptor is None:
            return None
        return Tls13Flight(
            certificates=self._certs,
            ocsp_response=self._staple,
            sigalg=self._sigalg,
            certificate_request=self._cert_request,
            extensions=self._ext_types,
            finished=self._finished,
        )

    def answer(self) -> ServerAnswer:
        return ServerAnswer(
            hello=self._hello,
            certificates=self._certs,
            alert=self._alert,
            tls13=self.flight(),
            ocsp_response=self._staple,
        )

    def _next_record(self) -> bool:
        record = self._pop_record((0x03,))
        if record is None:
            return False
        header, fragment = record
        ctype = header[0]
        if ctype == CONTENT_APPLICATION_DATA:
            if self._decryptor is None:
                raise TlsParseError("encrypted data before a TLS 1.3 ServerHello")
            ctype, fragment = self._decryptor.decrypt(header, fragment)
            if ctype not in (CONTENT_ALERT, CONTENT_HANDSHAKE):
                raise TlsParseError(f"content type {ctype} inside the server's handshake flight")
        elif ctype == CONTENT_HANDSHAKE and self._decryptor is not None:
            raise TlsParseError("a handshake record in clear after the ServerHello")
        if ctype == CONTENT_ALERT:
            if len(fragment) != 2:
                raise TlsParseError("malformed alert")
            self._alert = (fragment[0], fragment[1])
            self.done = True
        elif ctype == CONTENT_HANDSHAKE:
            if not fragment:
                raise TlsParseError("empty handshake record")
            self._hs += fragment
            self._messages()
        # ChangeCipherSpec (middlebox compatibility, §D.4) carries nothing.
        elif ctype == CONTENT_CHANGE_CIPHER_SPEC and fragment != b"\x01":
            raise TlsParseError("malformed ChangeCipherSpec")
        return True

    def _messages(self) -> None:
        hs = self._hs
        while len(hs) >= 4 and not self.done:
            length = int.from_bytes(hs[1:4], "big")
            if len(hs) < 4 + length:
                return
            message = bytes(hs[: 4 + length])
            del hs[: 4 + length]
            self._message(message[0], message[4:], message)

    def _message(self, msg_type: int, body: bytes, message: bytes) -> None:
        if self._hello is None:
            if msg_type != HS_SERVER_HELLO:
                raise TlsParseError(f"handshake message {msg_type} before the ServerHello")
            self._hello = hello = parse_server_hello(body)
            if hello.retry or hello.version != TLS13:
                self.done = True  # a HelloRetryRequest or an older version: nothing to decrypt
                return
            self._transcript += message
            self._start_decryption(hello)
            if self._hs:  # §5.1: handshake messages must not span a key change
                raise TlsParseError("the ServerHello record holds more than the ServerHello")
            return
        if msg_type == HS_FINISHED:
            size = hashlib.new(self._hash).digest_size
            finished_key = hkdf_expand_label(self._hash, self._server_secret, "finished", b"", size)
            expected = hmac.new(
                finished_key, hashlib.new(self._hash, self._transcript).digest(), self._hash
            ).digest()
            if not hmac.compare_digest(expected, body):
                raise TlsParseError("the server's Finished does not verify")
            self._finished = True
            self.done = True
            return
        self._transcript += message
        if msg_type == HS_ENCRYPTED_EXTENSIONS:
            self._ext_types = _extension_types(body)
        elif msg_type == HS_CERTIFICATE_REQUEST:
            self._cert_request = True
        elif msg_type == HS_CERTIFICATE:
            self._certs, self._staple = parse_certificate13(body)
        elif msg_type == HS_CERTIFICATE_VERIFY:
            r = Reader(body, "CertificateVerify")
            self._sigalg = r.u16()
            r.vector(2, minimum=1)
            r.end()
        else:
            raise TlsParseError(f"unexpected handshake message {msg_type} in the server's flight")

    def _start_decryption(self, hello: ServerHello) -> None:
        params = SUITES.get(hello.suite)
        if params is None:
            raise TlsParseError(f"TLS 1.3 suite 0x{hello.suite:04x} is not decryptable here")
        self._hash, key_length = params
        peer = b""
        for ext_type, data in hello.extensions:
            if ext_type == 51:  # key_share: group, key_exchange
                r = Reader(data, "key_share")
                r.u16()
                peer = r.vector(2, minimum=1)
        if hello.group is None or not peer:
            raise TlsParseError("a TLS 1.3 ServerHello without a key share")
        shared = self._keys.shared_secret(hello.group, peer)
        secrets = handshake_secrets(self._hash, shared, bytes(self._transcript))
        self._server_secret = secrets.server_handshake_traffic
        key, iv = traffic_key_iv(self._hash, self._server_secret, key_length)
        self._decryptor = RecordDecryptor(hello.suite, key, iv)


__all__ = [
    "COMPUTABLE",
    "GROUPS",
    "KeyShares",
    "RecordDecryptor",
    "Tls13Client",
    "Tls13Flight",
    "derive_secret",
    "handshake_secrets",
    "hkdf_expand_label",
    "hkdf_extract",
    "parse_certificate13",
    "parse_certificate_status",
    "traffic_key_iv",
]
