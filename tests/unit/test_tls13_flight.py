"""The TLS 1.3 key schedule against RFC 8448, and the decrypting flight reader.

The key-schedule values are typed from RFC 8448 ("Example Handshake Traces for TLS 1.3"),
§3 "Simple 1-RTT Handshake" (SHA-256, TLS_AES_128_GCM_SHA256). The flight tests build a
server's encrypted flight with ``cryptography``'s AEAD directly (the server side of RFC 8446
§5.2 written out here) and check what the reader makes of it; the live check against OpenSSL's
own secrets is tests/integration/test_tls13_openssl.py.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests import builders
from vedette.tls._wire import TlsParseError
from vedette.tls.hello import ClientHelloSpec
from vedette.tls.result import staple_info
from vedette.tls.tls13 import (
    KeyShares,
    Tls13Client,
    derive_secret,
    hkdf_expand_label,
    hkdf_extract,
    traffic_key_iv,
)

# RFC 8448 §3, "{server}  extract secret "early"" (no PSK: 32 zero octets).
EARLY_SECRET = "33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a"
# RFC 8448 §3, "{server}  derive secret for handshake "tls13 derived"".
DERIVED = "6f2615a108c702c5678f54fc9dbab69716c076189c48250cebeac3576c3611ba"
# RFC 8448 §3, "derive secret "tls13 s hs traffic"" and "tls13 c hs traffic" outputs.
S_HS_TRAFFIC = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38"
C_HS_TRAFFIC = "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21"
# RFC 8448 §3, "{server}  derive write traffic keys for handshake data": key and iv.
S_HS_KEY, S_HS_IV = "3fce516009c21727d0f2e4e86ee403bc", "5d313eb2671276ee13000b30"
# RFC 8448 §3, "{client}  derive write traffic keys for handshake data".
C_HS_KEY, C_HS_IV = "dbfaa693d1762c5b666af5d950258d01", "5bd3c71b836e0b76bb73265f"
# RFC 8448 §3, "{server}  calculate finished "tls13 finished"": the finished key.
S_FINISHED_KEY = "008d3b66f816ea559f96b537e885c31fc068bf492c652f01f288a1d8cdc19fc8"


def test_key_schedule_matches_rfc_8448_simple_1rtt() -> None:
    early = hkdf_extract("sha256", b"", bytes(32))
    assert early.hex() == EARLY_SECRET
    assert derive_secret("sha256", early, "derived", b"").hex() == DERIVED
    key, iv = traffic_key_iv("sha256", bytes.fromhex(S_HS_TRAFFIC), 16)
    assert (key.hex(), iv.hex()) == (S_HS_KEY, S_HS_IV)
    key, iv = traffic_key_iv("sha256", bytes.fromhex(C_HS_TRAFFIC), 16)
    assert (key.hex(), iv.hex()) == (C_HS_KEY, C_HS_IV)
    finished = hkdf_expand_label("sha256", bytes.fromhex(S_HS_TRAFFIC), "finished", b"", 32)
    assert finished.hex() == S_FINISHED_KEY


# --- a server written out with cryptography's primitives ------------------------------------

SERVER_KEY = x25519.X25519PrivateKey.from_private_bytes(bytes(range(32)))
CLIENT_KEY = x25519.X25519PrivateKey.from_private_bytes(bytes(range(32, 64)))


def _hs(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def _v(n: int, body: bytes) -> bytes:
    return len(body).to_bytes(n, "big") + body


def client() -> Tls13Client:
    spec = ClientHelloSpec(
        version=0x0304,
        suites=(0x1301, 0x1302, 0x1303),
        groups=(0x001D,),
        sigalgs=(0x0804, 0x0403),
        sni="mail.example.test",
        random=os.urandom(32),
    )
    return Tls13Client(spec, KeyShares({0x001D: CLIENT_KEY}))


def server_flight(
    c: Tls13Client,
    messages: list[bytes],
    *,
    suite: int = 0x1301,
    finished: bool = True,
    ccs: bool = True,
) -> bytes:
    """ServerHello in clear, then ``messages`` (+ a correct Finished) encrypted, one record each."""
    hash_name, key_len = {0x1301: ("sha256", 16), 0x1302: ("sha384", 32), 0x1303: ("sha256", 32)}[
        suite
    ]
    ch = c.hello_bytes()[5:]
    share = SERVER_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    exts = (
        (43).to_bytes(2, "big")
        + _v(2, b"\x03\x04")
        + (51).to_bytes(2, "big")
        + _v(2, b"\x00\x1d" + _v(2, share))
    )
    sh_body = b"\x03\x03" + os.urandom(32) + b"\x00" + suite.to_bytes(2, "big") + b"\x00"
    sh = _hs(2, sh_body + _v(2, exts))
    shared = SERVER_KEY.exchange(CLIENT_KEY.public_key())
    size = hashlib.new(hash_name).digest_size
    early = hmac.new(bytes(size), bytes(size), hash_name).digest()
    derived = hkdf_expand_label(
        hash_name, early, "derived", hashlib.new(hash_name, b"").digest(), size
    )
    hs_secret = hmac.new(derived, shared, hash_name).digest()
    transcript = ch + sh
    secret = hkdf_expand_label(
        hash_name, hs_secret, "s hs traffic", hashlib.new(hash_name, transcript).digest(), size
    )
    key = hkdf_expand_label(hash_name, secret, "key", b"", key_len)
    iv = hkdf_expand_label(hash_name, secret, "iv", b"", 12)
    aead = ChaCha20Poly1305(key) if suite == 0x1303 else AESGCM(key)
    out = b"\x16\x03\x03" + _v(2, sh)
    if ccs:
        out += b"\x14\x03\x03\x00\x01\x01"
    if finished:
        transcript += b"".join(messages)
        fk = hkdf_expand_label(hash_name, secret, "finished", b"", size)
        mac = hmac.new(fk, hashlib.new(hash_name, transcript).digest(), hash_name).digest()
        messages = [*messages, _hs(20, mac)]
    for seq, message in enumerate(messages):
        inner = message + b"\x16" + bytes(seq % 3)  # content type, then some padding
        header = b"\x17\x03\x03" + (len(inner) + 16).to_bytes(2, "big")
        nonce = bytes(a ^ b for a, b in zip(iv, seq.to_bytes(12, "big"), strict=True))
        out += header + aead.encrypt(nonce, inner, header)
    return out


LEAF = b"\x30\x03\x02\x01\x01"  # opaque to the reader: any non-empty bytes
CA = b"\x30\x03\x02\x01\x02"


def certificate(staple: bytes | None) -> bytes:
    ext = b""
    if staple is not None:
        ext = (5).to_bytes(2, "big") + _v(2, b"\x01" + _v(3, staple))
    entries = _v(3, LEAF) + _v(2, ext) + _v(3, CA) + _v(2, b"")
    return _hs(11, b"\x00" + _v(3, entries))


def flight_messages(staple: bytes | None = b"ocsp-der", sigalg: int = 0x0804) -> list[bytes]:
    return [
        _hs(8, _v(2, (0).to_bytes(2, "big") + _v(2, b""))),
        certificate(staple),
        _hs(15, sigalg.to_bytes(2, "big") + _v(2, b"signature")),
    ]


@pytest.mark.parametrize("suite", [0x1301, 0x1302, 0x1303])
def test_reads_the_encrypted_flight(suite: int) -> None:
    c = client()
    data = server_flight(c, flight_messages(), suite=suite)
    # Fed a byte at a time, as a slow socket would.
    for i in range(len(data)):
        c.receive_data(data[i : i + 1])
    assert c.done
    answer = c.answer()
    assert answer.hello is not None and answer.hello.suite == suite
    flight = answer.tls13
    assert flight is not None
    assert flight.sigalg == 0x0804
    assert flight.certificates == (LEAF, CA)
    assert flight.ocsp_response == b"ocsp-der" == answer.ocsp_response
    assert flight.extensions == (0,)
    assert flight.finished


def test_no_staple_and_certificate_request() -> None:
    c = client()
    msgs = flight_messages(staple=None)
    msgs.insert(1, _hs(13, b"\x00" + _v(2, (13).to_bytes(2, "big") + _v(2, b"\x00\x02\x08\x04"))))
    c.receive_data(server_flight(c, msgs, ccs=False))
    flight = c.answer().tls13
    assert flight is not None and flight.ocsp_response is None and flight.certificate_request


def test_a_wrong_finished_or_a_tampered_record_is_a_parse_error() -> None:
    c = client()
    data = bytearray(server_flight(c, flight_messages()))
    data[-1] ^= 1
    with pytest.raises(TlsParseError, match="decrypt"):
        c.receive_data(bytes(data))
    c = client()
    bad = [*flight_messages(), _hs(20, bytes(32))]
    with pytest.raises(TlsParseError, match="Finished"):
        c.receive_data(server_flight(c, bad, finished=False))


def test_a_hello_retry_request_ends_the_flight_for_a_fallback() -> None:
    c = client()
    hrr_random = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
    exts = b"\x00\x2b\x00\x02\x03\x04\x00\x33\x00\x02\x00\x18"
    body = b"\x03\x03" + hrr_random + b"\x00\x13\x01\x00" + _v(2, exts)
    c.receive_data(b"\x16\x03\x03" + _v(2, _hs(2, body)))
    answer = c.answer()
    assert c.done and answer.hello is not None and answer.hello.retry
    assert answer.hello.group == 0x0018 and answer.tls13 is None


def test_staple_info_reads_an_ocsp_response_made_by_cryptography() -> None:
    import datetime as dt

    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import ocsp

    now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    ca = builders.certificate("ca", not_before=now, days=30, serial=7)
    cert, key = ca.cert, ca.key
    resp = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=cert,
            issuer=cert,
            algorithm=hashes.SHA256(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=now,
            next_update=dt.datetime(2026, 11, 30, tzinfo=dt.UTC),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, cert)
        .sign(key, hashes.SHA256())
    )
    info = staple_info(resp.public_bytes(Encoding.DER))
    assert info is not None
    assert info.summary() == "good, next update 2026-11-30 00:00 UTC"
    assert staple_info(b"not an ocsp response") is None


def test_new_fields_round_trip_through_the_store_and_old_scans_still_load() -> None:
    import json

    from vedette.report._tls_section import tls_scan_json
    from vedette.store._tls_codec import tls_scan_from_dict, tls_scan_to_dict
    from vedette.tls.result import TlsScan

    scan = TlsScan(
        versions=(0x0303, 0x0304),
        sigalgs_tls13=(0x0804, 0x0403),
        ocsp_staple_tls12=False,
        ocsp_staple_tls13=True,
        ocsp_response=b"\x30\x03\x0a\x01\x00",
        resumption=True,
        resumption_tls13=False,
    )
    stored = json.loads(json.dumps(tls_scan_to_dict(scan)))
    assert tls_scan_from_dict(stored) == scan
    for key in (
        "sigalgs_tls13",
        "ocsp_staple_tls12",
        "ocsp_staple_tls13",
        "ocsp_response",
        "resumption_tls13",
    ):
        del stored[key]  # a scan stored before these were learnt
    old = tls_scan_from_dict(stored)
    assert old.sigalgs_tls13 == () and old.ocsp_response is None
    assert old.ocsp_staple_tls13 is None and old.resumption_tls13 is None
    section = tls_scan_json(scan)
    assert section is not None
    assert section["sigalgs_tls13"] == [
        {"code": 0x0804, "name": "RSA_PSS_RSAE_SHA256"},
        {"code": 0x0403, "name": "ECDSA_SHA256"},
    ]
    # Not a parsable OCSP response: its hash is shown, its contents are not made up.
    assert section["ocsp_staple"]["cert_status"] is None
    assert section["ocsp_staple"]["sha256"] == hashlib.sha256(scan.ocsp_response or b"").hexdigest()


def test_handshake_bytes_after_the_server_hello_in_its_record_are_refused() -> None:
    c = client()
    wire = server_flight(c, flight_messages())
    length = int.from_bytes(wire[3:5], "big")
    sh_record = wire[: 5 + length]
    smuggled = b"\x08\x00\x00\x02\x00\x00"  # an EncryptedExtensions in clear
    bad = b"\x16\x03\x03" + (length + len(smuggled)).to_bytes(2, "big") + sh_record[5:]
    with pytest.raises(TlsParseError, match="more than the ServerHello"):
        c.receive_data(bad + smuggled)
