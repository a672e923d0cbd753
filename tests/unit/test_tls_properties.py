"""Property-based round trips of the TLS codec, GREASE values included (RFC 8701)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vedette.tls.hello import (
    ClientHelloSpec,
    build_client_hello,
    client_hello_records,
    parse_client_hello,
)
from vedette.tls.registry import GREASE, SSL3, TLS10, TLS11, TLS12, TLS13
from vedette.tls.server import HRR_RANDOM, parse_flight

PROPS = settings(max_examples=150, derandomize=True, deadline=None, database=None)

codes = st.one_of(st.sampled_from(GREASE), st.integers(0, 0xFFFF))
# Extension types vedette adds itself are left out so the extra ones stay identifiable.
extra_types = st.one_of(st.sampled_from(GREASE), st.integers(0x3000, 0xFEFF))


@PROPS
@given(
    version=st.sampled_from([SSL3, TLS10, TLS11, TLS12, TLS13]),
    suites=st.lists(codes, min_size=1, max_size=300),
    groups=st.lists(codes, max_size=60),
    sigalgs=st.lists(codes, max_size=40),
    extras=st.lists(st.tuples(extra_types, st.binary(max_size=40)), max_size=4),
    random=st.binary(min_size=32, max_size=32),
    session_id=st.binary(max_size=32),
    fallback=st.booleans(),
)
def test_client_hello_round_trips(
    version, suites, groups, sigalgs, extras, random, session_id, fallback
):
    spec = ClientHelloSpec(
        version=version,
        suites=tuple(suites),
        groups=tuple(groups),
        sigalgs=tuple(sigalgs),
        sni="mail.example.test",
        extra_extensions=tuple(extras),
        random=random,
        session_id=session_id,
        fallback_scsv=fallback,
    )
    hello = parse_client_hello(build_client_hello(spec))
    assert hello.legacy_version == min(version, TLS12)
    assert hello.random == random and hello.session_id == session_id
    tail = ((0x00FF,) if version < TLS13 else ()) + ((0x5600,) if fallback else ())
    assert hello.suites == (*suites, *tail)
    if version == SSL3:
        assert hello.extensions == ()
        return
    # GREASE and unknown extensions come back byte for byte, in order, at the end.
    assert hello.extensions[len(hello.extensions) - len(extras) :] == tuple(extras)
    if groups:
        body = hello.extension(10)
        assert body is not None
        assert [int.from_bytes(body[i : i + 2], "big") for i in range(2, len(body), 2)] == groups
    # The records reassemble to the same message.
    wire = client_hello_records(spec)
    payload, pos = b"", 0
    while pos < len(wire):
        n = int.from_bytes(wire[pos + 3 : pos + 5], "big")
        payload += wire[pos + 5 : pos + 5 + n]
        pos += 5 + n
    assert payload == build_client_hello(spec)


def _server_hello(
    version: int, suite: int, exts: list[tuple[int, bytes]], random: bytes, sid: bytes
) -> bytes:
    """A ServerHello encoded here, independently of vedette's code."""
    ext_bytes = b"".join(t.to_bytes(2, "big") + len(b).to_bytes(2, "big") + b for t, b in exts)
    body = (
        version.to_bytes(2, "big")
        + random
        + bytes([len(sid)])
        + sid
        + suite.to_bytes(2, "big")
        + b"\x00"
        + len(ext_bytes).to_bytes(2, "big")
        + ext_bytes
    )
    msg = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + len(msg).to_bytes(2, "big") + msg


@PROPS
@given(
    suite=codes,
    group=codes,
    exts=st.lists(st.tuples(extra_types, st.binary(max_size=30)), max_size=5),
    sid=st.binary(max_size=32),
    retry=st.booleans(),
)
def test_server_hello_fields_survive_parsing(suite, group, exts, sid, retry):
    random = HRR_RANDOM if retry else bytes(31) + b"\x01"
    key_share = group.to_bytes(2, "big") + (b"" if retry else b"\x00\x01\x07")
    all_exts = [*exts, (43, b"\x03\x04"), (51, key_share)]
    h = parse_flight(_server_hello(0x0303, suite, all_exts, random, sid)).hello
    assert h is not None
    assert (h.suite, h.group, h.retry, h.version, h.session_id) == (suite, group, retry, TLS13, sid)
    assert list(h.extensions) == all_exts
