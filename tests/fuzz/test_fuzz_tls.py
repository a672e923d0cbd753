"""Fuzzing the TLS parsers: whatever a server sends, only ``TlsParseError`` or an answer.

The server-flight reader (``vedette.tls.server``) and the ClientHello parser are the first code
to touch bytes from a hostile server. Each test is deterministic in CI (``derandomize=True``)
and starts from a seed corpus of well-formed flights — TLS 1.2 to ServerHelloDone, a TLS 1.3
HelloRetryRequest, alerts, an SSLv2 SERVER-HELLO — that Hypothesis mutates (truncation, byte
flips, insertions, re-chunking), so that the parsers past the record layer are reached.

For long campaigns outside CI see ``tests/fuzz/atheris_tls.py``.
"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_tls_codec_wire import (
    CERT_REQUEST,
    HELLO_DONE,
    HRR,
    SERVER_HELLO_TLS12,
    SKE_ECDHE,
)
from vedette.tls._wire import TlsParseError
from vedette.tls.hello import parse_client_hello
from vedette.tls.registry import registry
from vedette.tls.server import (
    FlightReader,
    parse_certificate,
    parse_certificate_request,
    parse_server_key_exchange,
)

_SSL2_HELLO = (
    bytes.fromhex("801f0400010002000000060010") + bytes.fromhex("0100800700c0") + bytes(16)
)

#: Well-formed flights the mutations start from.
SEEDS = [
    SERVER_HELLO_TLS12 + SKE_ECDHE + CERT_REQUEST + HELLO_DONE,
    HRR,
    bytes.fromhex("15030300020228"),
    _SSL2_HELLO,
    SERVER_HELLO_TLS12 + HELLO_DONE,
]

FUZZ = settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


def feed(chunks: list[bytes]) -> None:
    reader = FlightReader()
    try:
        for chunk in chunks:
            reader.receive_data(chunk)
            if reader.done:
                break
        reader.answer()
    except TlsParseError:
        pass


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at : at + draw(st.integers(1, 8))]
    return bytes(data)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


@FUZZ
@given(mutated(), st.lists(st.integers(0, 10_000), max_size=6))
def test_mutated_flights_raise_only_tls_parse_error(data, cuts):
    feed(chunked(data, cuts))


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_raise_only_tls_parse_error(data):
    feed([data])


@FUZZ
@given(st.binary(max_size=400))
def test_client_hello_parser_raises_only_tls_parse_error(data):
    with contextlib.suppress(TlsParseError):
        parse_client_hello(b"\x01" + data)


_SUITES = sorted(registry().suites)


@FUZZ
@given(
    st.sampled_from(_SUITES),
    st.sampled_from([0x0300, 0x0301, 0x0303]),
    st.binary(max_size=300),
)
def test_key_exchange_and_certificate_request_parsers(suite_code, version, body):
    # Every key exchange kind of the registry (ECDHE, DHE, export RSA, PSK, SRP, GOST...).
    with contextlib.suppress(TlsParseError):
        parse_server_key_exchange(body, suite_code, version)
    with contextlib.suppress(TlsParseError):
        parse_certificate_request(body, version)
    with contextlib.suppress(TlsParseError):
        parse_certificate(body)
