"""Fuzzing the decrypting TLS 1.3 flight reader (``vedette.tls.tls13``).

Whatever the server sends, ``Tls13Client`` raises only ``TlsParseError`` or gives an answer.
Three ways in: random bytes; a well-formed encrypted flight (built by the server of
tests/unit/test_tls13_flight.py) mutated on the wire, which reaches the ServerHello and key
share code and the record layer; and mutated *plaintext* handshake messages encrypted
correctly, which reaches the parsers behind the decryption (EncryptedExtensions, Certificate
and its entry extensions, CertificateVerify, Finished). Deterministic (``derandomize=True``).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.test_fuzz_tls import chunked
from tests.unit.test_tls13_flight import client, flight_messages, server_flight
from vedette.tls._wire import TlsParseError
from vedette.tls.tls13 import Tls13Client

FUZZ = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


def feed(c: Tls13Client, chunks: list[bytes]) -> None:
    try:
        for chunk in chunks:
            c.receive_data(chunk)
            if c.done:
                break
        c.answer()
    except TlsParseError:
        pass


def mutate(draw: st.DrawFn, data: bytearray, rounds: int) -> bytes:
    for _ in range(rounds):
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


@FUZZ
@given(st.binary(max_size=600), st.lists(st.integers(0, 10_000), max_size=4))
def test_random_bytes_raise_only_tls_parse_error(data: bytes, cuts: list[int]) -> None:
    feed(client(), chunked(data, cuts))


@FUZZ
@given(st.data(), st.sampled_from([0x1301, 0x1302, 0x1303]))
def test_mutated_wire_flights_raise_only_tls_parse_error(data: st.DataObject, suite: int) -> None:
    c = client()
    wire = bytearray(server_flight(c, flight_messages(), suite=suite))
    rounds = data.draw(st.integers(1, 4))
    out = mutate(data.draw, wire, rounds)
    cuts = data.draw(st.lists(st.integers(0, 10_000), max_size=4))
    feed(c, chunked(out, cuts))


@FUZZ
@given(st.data())
def test_mutated_plaintext_messages_raise_only_tls_parse_error(data: st.DataObject) -> None:
    c = client()
    messages = flight_messages(staple=os.urandom(data.draw(st.integers(1, 40))))
    index = data.draw(st.integers(0, len(messages) - 1))
    if data.draw(st.booleans()):
        # Mutate the body and keep the message length right, so the message is parsed.
        msg = messages[index]
        body = mutate(data.draw, bytearray(msg[4:]), data.draw(st.integers(1, 4)))
        messages[index] = msg[:1] + len(body).to_bytes(3, "big") + body
    else:
        messages[index] = mutate(
            data.draw, bytearray(messages[index]), data.draw(st.integers(1, 4))
        )
    if data.draw(st.booleans()):
        messages.insert(index, data.draw(st.binary(max_size=64)))
    wire = server_flight(c, messages, finished=data.draw(st.booleans()))
    feed(c, [wire])
