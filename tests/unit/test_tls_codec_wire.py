"""The sans-I/O TLS codec: ClientHello bytes, server flights, as annotated byte literals."""

from __future__ import annotations

import pytest

from vedette.tls._wire import TlsParseError
from vedette.tls.hello import (
    ClientHelloSpec,
    build_client_hello,
    build_ssl2_client_hello,
    client_hello_records,
    parse_client_hello,
)
from vedette.tls.registry import (
    SSL3,
    TLS10,
    TLS12,
    TLS13,
    group_name,
    legacy_suites,
    registry,
    suite,
    suite_name,
    tls13_suites,
)
from vedette.tls.server import FlightReader, parse_flight

H = bytes.fromhex


def test_tls12_client_hello_exact_bytes():
    spec = ClientHelloSpec(
        version=TLS12,
        suites=(0xC02F, 0x009C),
        groups=(0x001D,),
        sigalgs=(0x0804,),
        sni="mx.example",
        extras=False,
        random=bytes(range(32)),
    )
    expected = (
        H("01")  # handshake type: client_hello
        + H("000058")  # length 88
        + H("0303")  # legacy_version TLS 1.2
        + bytes(range(32))  # random
        + H("00")  # session id: empty
        + H("0006c02f009c00ff")  # 3 suites, the last the renegotiation SCSV
        + H("0100")  # compression methods: null
        + H("0029")  # extensions: 41 bytes
        + H("0000000f000d00000a")
        + b"mx.example"  # server_name, host_name
        + H("000a00040002001d")  # supported_groups: x25519
        + H("000b00020100")  # ec_point_formats: uncompressed
        + H("000d000400020804")  # signature_algorithms: rsa_pss_rsae_sha256
    )
    assert build_client_hello(spec) == expected


def test_tls13_hello_asks_for_a_retry_with_an_empty_key_share():
    spec = ClientHelloSpec(version=TLS13, suites=(0x1301,), groups=(0x11EC,), extras=False)
    hello = parse_client_hello(build_client_hello(spec))
    assert hello.legacy_version == 0x0303
    assert hello.suites == (0x1301,)  # no renegotiation SCSV in TLS 1.3
    assert hello.extension(43) == H("020304")  # supported_versions: TLS 1.3 only
    assert hello.extension(51) == H("0000")  # key_share: empty client_shares
    assert hello.extension(10) == H("000211ec")  # X25519MLKEM768 by its code alone


def test_tls13_key_share_layout():
    spec = ClientHelloSpec(
        version=TLS13, suites=(0x1301,), extras=False, key_shares=((0x001D, b"\x09" + bytes(31)),)
    )
    hello = parse_client_hello(build_client_hello(spec))
    assert hello.extension(51) == (
        H("0024")  # client_shares: 36 bytes
        + H("001d")  # x25519
        + H("0020")  # key_exchange: 32 bytes
        + b"\x09"
        + bytes(31)
    )


def test_sslv3_hello_has_no_extensions_and_ssl3_record():
    spec = ClientHelloSpec(version=SSL3, suites=(0x000A,), groups=(23,), sni="a.example")
    wire = client_hello_records(spec)
    assert wire[:3] == H("160300")  # handshake record, version SSL 3.0
    hello = parse_client_hello(wire[5:])
    assert hello.legacy_version == SSL3
    assert hello.extensions == ()
    assert hello.suites == (0x000A, 0x00FF)


def test_no_sni_for_ip_addresses_and_fallback_scsv_last():
    spec = ClientHelloSpec(version=TLS10, suites=(0x002F,), sni="192.0.2.1", fallback_scsv=True)
    hello = parse_client_hello(build_client_hello(spec))
    assert hello.extension(0) is None
    assert hello.suites[-1] == 0x5600


def test_large_hello_is_split_into_records():
    spec = ClientHelloSpec(version=TLS12, suites=tuple(range(0x0100, 0x0100 + 9000)))
    wire = client_hello_records(spec)
    first_len = int.from_bytes(wire[3:5], "big")
    assert first_len == 1 << 14
    assert wire[5 + first_len] == 0x16


def test_sslv2_client_hello_layout():
    wire = build_ssl2_client_hello((0x010080, 0x0700C0), challenge=bytes(16))
    assert wire == (
        H("801f")  # 2-byte header, top bit set, length 31
        + H("01")  # CLIENT-HELLO
        + H("0002")  # version SSL 2.0
        + H("000600000010")  # cipher specs 6, session id 0, challenge 16
        + H("0100800700c0")
        + bytes(16)
    )


# --- server flights --------------------------------------------------------------------------

SERVER_HELLO_TLS12 = (
    H("1603030045")  # handshake record, 69 bytes
    + H("02000041")  # server_hello, 65 bytes
    + H("0303")  # TLS 1.2
    + bytes(32)  # random
    + H("00")  # no session id
    + H("c02f")  # TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    + H("00")  # compression: null
    + H("0019")  # extensions, 25 bytes
    + H("ff01000100")  # renegotiation_info, empty
    + H("000b000403000102")  # ec_point_formats
    + H("00230000")  # session_ticket
    + H("00170000")  # extended_master_secret
    + H("00160000")  # encrypt_then_mac
)

SKE_ECDHE = (
    H("1603030017")
    + H("0c000013")  # server_key_exchange, 19 bytes
    + H("030017")  # named_curve secp256r1
    + H("0404aabbcc")  # public point, 4 bytes
    + H("0804")  # signature scheme rsa_pss_rsae_sha256
    + H("0007")
    + b"sigsig!"  # signature
)

CERT_REQUEST = (
    H("1603030018")
    + H("0d000014")  # certificate_request, 20 bytes
    + H("0101")  # certificate types: rsa_sign
    + H("00020401")  # signature algorithms: rsa_pkcs1_sha256
    + H("000c")  # certificate_authorities, 12 bytes
    + H("0003300100")  # DN 1
    + H("00053003020101")  # DN 2
)

HELLO_DONE = H("16030300040e000000")


def test_tls12_flight_to_server_hello_done():
    answer = parse_flight(SERVER_HELLO_TLS12 + SKE_ECDHE + CERT_REQUEST + HELLO_DONE)
    h = answer.hello
    assert h is not None and not h.retry
    assert (h.version, h.suite, h.compression) == (TLS12, 0xC02F, 0)
    assert [t for t, _ in h.extensions] == [0xFF01, 11, 35, 23, 22]
    assert answer.key_exchange is not None
    assert answer.key_exchange.kind == "ecdhe"
    assert group_name(answer.key_exchange.group or 0) == "SECP256R1"
    assert answer.key_exchange.sigalg == 0x0804
    cr = answer.certificate_request
    assert cr is not None and (cr.ca_count, cr.ca_bytes, cr.sigalgs) == (2, 12, (0x0401,))
    assert answer.hello_done


def test_flight_fed_one_byte_at_a_time():
    reader = FlightReader()
    data = SERVER_HELLO_TLS12 + SKE_ECDHE + HELLO_DONE
    for i in range(len(data)):
        assert not reader.done
        reader.receive_data(data[i : i + 1])
    assert reader.done and reader.answer().hello_done


def test_handshake_messages_split_across_records():
    body = SERVER_HELLO_TLS12[5:] + HELLO_DONE[5:]
    wire = H("160303") + (30).to_bytes(2, "big") + body[:30]
    wire += H("160303") + (len(body) - 30).to_bytes(2, "big") + body[30:]
    answer = parse_flight(wire)
    assert answer.hello is not None and answer.hello.suite == 0xC02F and answer.hello_done


def test_dhe_key_exchange_reports_prime_size():
    p = b"\xff" * 128  # a 1024-bit prime
    ske_body = (
        H("0080")
        + p  # dh_p
        + H("000102")  # dh_g
        + H("00020102")  # dh_Ys
        + H("0401")  # rsa_pkcs1_sha256
        + H("0002abcd")
    )
    hello = bytearray(SERVER_HELLO_TLS12)
    hello[5 + 4 + 2 + 32 + 1 : 5 + 4 + 2 + 32 + 3] = H("009e")  # DHE_RSA_AES_128_GCM
    ske = H("160303") + (len(ske_body) + 4).to_bytes(2, "big")
    ske += H("0c") + len(ske_body).to_bytes(3, "big") + ske_body
    answer = parse_flight(bytes(hello) + ske + HELLO_DONE)
    assert answer.key_exchange is not None
    assert (answer.key_exchange.kind, answer.key_exchange.bits) == ("dhe", 1024)


HRR = (
    H("1603030058")
    + H("02000054")
    + H("0303")
    + H("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")  # HRR magic
    + H("20")
    + bytes(32)  # echoed session id
    + H("1302")  # TLS_AES_256_GCM_SHA384
    + H("00")
    + H("000c")
    + H("002b00020304")  # supported_versions: TLS 1.3
    + H("0033000211ec")  # key_share: selected_group X25519MLKEM768
)


def test_hello_retry_request_names_suite_and_group():
    answer = parse_flight(HRR + H("140303000101"))  # a CCS record after is ignored
    h = answer.hello
    assert h is not None and h.retry
    assert (h.version, h.suite, h.group) == (TLS13, 0x1302, 0x11EC)


def test_alert_ends_the_flight():
    answer = parse_flight(H("15030300020228"))  # fatal handshake_failure
    assert answer.alert == (2, 40) and answer.hello is None


def test_sslv2_server_hello():
    cert = b"CERT"
    msg = H("0400010002000400060010") + cert + H("0100800700c0") + bytes(16)
    answer = parse_flight((0x8000 | len(msg)).to_bytes(2, "big") + msg)
    assert answer.ssl2 is not None
    assert answer.ssl2.cipher_kinds == (0x010080, 0x0700C0)
    assert answer.ssl2.certificate == cert


@pytest.mark.parametrize(
    "wire",
    [
        b"220 mail.example ESMTP\r\n",  # not TLS at all
        H("160303000702000003030300"),  # ServerHello cut short
        H("16030300040b000000"),  # Certificate before ServerHello
        H("1603030000"),  # empty handshake record
        H("160303ffff"),  # record over the size bound
    ],
)
def test_malformed_flights_raise_only_tls_parse_error(wire):
    with pytest.raises(TlsParseError):
        parse_flight(wire)


def test_trailing_bytes_inside_a_server_hello_are_refused():
    body = SERVER_HELLO_TLS12[9:] + b"\x00"
    wire = H("160303") + (len(body) + 4).to_bytes(2, "big") + H("02")
    wire += len(body).to_bytes(3, "big") + body
    with pytest.raises(TlsParseError):
        parse_flight(wire)


# --- registries ------------------------------------------------------------------------------


def test_registry_carries_the_whole_iana_table_with_properties():
    reg = registry()
    assert "cryptodatahub" in reg.source
    assert len(reg.suites) > 350
    assert suite_name(0xC02F) == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert suite_name(0x0A0A) == "0x0A0A"  # GREASE: unknown, not an error
    exp = suite(0x0003)
    assert exp is not None and exp.export and exp.rc4
    anon = suite(0x0034)
    assert anon is not None and anon.anonymous and anon.forward_secret
    assert suite(0x000A) is not None and suite(0x000A).triple_des  # type: ignore[union-attr]
    assert suite(0x0001) is not None and suite(0x0001).null  # type: ignore[union-attr]
    assert set(tls13_suites()) >= {0x1301, 0x1302, 0x1303, 0x1304, 0x1305}
    assert not set(tls13_suites()) & set(legacy_suites())
    assert reg.groups[0x11EC].kind == "hybrid-pq"
    assert group_name(0x001D) == "X25519"


def _endless_certificate(reader: FlightReader) -> None:
    # A Certificate message announcing 16 MiB, then 16 KiB records that never complete it.
    reader.receive_data(SERVER_HELLO_TLS12 + H("16030300040bffffff"))
    for _ in range(100):
        reader.receive_data(H("1603034000") + bytes(0x4000))


def test_a_flight_over_the_size_bound_is_refused():
    reader = FlightReader()
    with pytest.raises(TlsParseError) as info:
        _endless_certificate(reader)
    assert info.value.too_large
