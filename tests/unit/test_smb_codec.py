"""The SMB negotiation codec: requests laid out as [MS-SMB2]/[MS-CIFS] say, responses read
field by field, and hostile bytes (cut short, huge lengths, wrong protocol id, wrong message
id) always one ``ProtocolError``, never another exception or an unbounded buffer."""

from __future__ import annotations

import contextlib
import struct
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vedette.errors import NotProtocolError, ProtocolError
from vedette.protocols._base import Close, NeedData, Send
from vedette.protocols.smb import (
    MAX_MESSAGE,
    NT_LM_012,
    SMB1_DIALECTS,
    Dialect,
    NbssReader,
    SmbNegotiation,
    nbss_session_request,
    netbios_name,
    parse_smb2_negotiate_response,
    smb1_negotiate_request,
    smb2_negotiate_request,
)

GUID = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
# 2024-01-02 03:04:05 UTC as a FILETIME.
WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
FILETIME = int((WHEN - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds()) * 10_000_000


def frame(payload: bytes, kind: int = 0) -> bytes:
    return bytes([kind]) + len(payload).to_bytes(3, "big") + payload


def smb2_header(*, status: int = 0, message_id: int = 0, flags: int = 1, command: int = 0) -> bytes:
    return (
        b"\xfeSMB"
        + struct.pack("<HHIHHIIQ", 64, 0, status, command, 1, flags, 0, message_id)
        + b"\x00" * 32
    )


def contexts_blob(items: list[tuple[int, bytes]]) -> bytes:
    out = b""
    for i, (ctx_type, data) in enumerate(items):
        if i:
            out += b"\x00" * ((8 - len(out) % 8) % 8)
        out += struct.pack("<HHI", ctx_type, len(data), 0) + data
    return out


def smb2_response(
    dialect: int,
    *,
    security_mode: int = 1,
    capabilities: int = 0x47,
    contexts: list[tuple[int, bytes]] | None = None,
    message_id: int = 0,
    status: int = 0,
) -> bytes:
    header = smb2_header(status=status, message_id=message_id)
    if status:
        return header + struct.pack("<HBBI", 9, 0, 0, 0) + b"\x00"
    ctx = contexts_blob(contexts or [])
    ctx_offset = 64 + 64 + 8 if contexts else 0
    body = struct.pack(
        "<HHHH16sIIIIQQHHI",
        65,
        security_mode,
        dialect,
        len(contexts or []),
        GUID.bytes_le,
        capabilities,
        65536,
        65536,
        65536,
        FILETIME,
        0,
        128,
        0,
        ctx_offset,
    )
    return header + body + (b"\x00" * 8 + ctx if contexts else b"")


def smb1_response(index: int, *, security_mode: int = 0x0F, mid: int = 0) -> bytes:
    header = b"\xffSMB" + struct.pack(
        "<BIBHH8sHHHHH", 0x72, 0, 0x98, 0xC801, 0, b"", 0, 0, 0, 0, mid
    )
    if index == 0xFFFF:
        return header + b"\x01" + struct.pack("<H", index) + b"\x00\x00"
    words = struct.pack(
        "<HBHHIIIIQHB", index, security_mode, 50, 1, 16644, 65536, 0, 0x8000E3FD, FILETIME, 0, 0
    )
    return header + b"\x11" + words + b"\x00\x00"


def drive(dialogue: SmbNegotiation, server_bytes: bytes, chunk: int = 7) -> list[bytes]:
    sent: list[bytes] = []
    data = server_bytes
    for _ in range(10_000):
        action = dialogue.next_action()
        if isinstance(action, Send):
            sent.append(action.data)
        elif isinstance(action, NeedData):
            piece, data = data[:chunk], data[chunk:]
            dialogue.receive_data(piece)
        else:
            assert isinstance(action, Close)
            return sent
    raise AssertionError("dialogue never closed")


# ---- requests ----------------------------------------------------------------------------------


def test_smb1_request_offers_nt_lm_012_and_multi_protocol_strings() -> None:
    req = smb1_negotiate_request(multi_protocol=True)
    assert req[:5] == b"\xffSMB\x72"
    assert req[32] == 0  # WordCount
    (byte_count,) = struct.unpack_from("<H", req, 33)
    body = req[35:]
    assert len(body) == byte_count
    names = [p[1:].decode() for p in body.split(b"\x00") if p]
    assert names[-3:] == ["NT LM 0.12", "SMB 2.002", "SMB 2.???"]
    assert all(p.startswith(b"\x02") for p in body.split(b"\x00") if p)


def test_smb2_request_for_311_carries_three_padded_contexts() -> None:
    req = smb2_negotiate_request(
        [0x0311, 0x0302], client_guid=GUID.bytes, salt=b"S" * 32, message_id=0
    )
    assert req[:4] == b"\xfeSMB"
    size, count, sec_mode, _r, _caps = struct.unpack_from("<HHHHI", req, 64)
    assert (size, count, sec_mode) == (36, 2, 1)
    ctx_offset, ctx_count = struct.unpack_from("<IH", req, 64 + 28)
    assert struct.unpack_from("<HH", req, 64 + 36) == (0x0311, 0x0302)
    assert ctx_count == 3 and ctx_offset % 8 == 0
    pos = ctx_offset
    seen = []
    for i in range(ctx_count):
        if i:
            pos += (8 - pos % 8) % 8
        ctx_type, length = struct.unpack_from("<HH", req, pos)
        seen.append((ctx_type, req[pos + 8 : pos + 8 + length]))
        pos += 8 + length
    assert pos == len(req)
    types = dict(seen)
    assert types[1] == struct.pack("<HHH", 1, 32, 1) + b"S" * 32  # SHA-512 and the salt
    assert types[2] == struct.pack("<5H", 4, 4, 3, 2, 1)  # AES-256-GCM ... AES-128-CCM
    assert types[8] == struct.pack("<4H", 3, 2, 1, 0)  # AES-GMAC, AES-CMAC, HMAC-SHA256


def test_smb2_request_without_311_has_no_contexts() -> None:
    req = smb2_negotiate_request([0x0202])
    assert len(req) == 64 + 36 + 2
    assert req[64 + 28 : 64 + 36] == b"\x00" * 8


def test_netbios_session_request_names_smbserver() -> None:
    # RFC 1001 14.1: each half-byte + 'A'. "*" is 0x2A -> "CK"; space 0x20 -> "CA".
    assert netbios_name("*SMBSERVER", 0x20)[:3] == b"\x20CK"
    req = nbss_session_request()
    assert req[0] == 0x81 and int.from_bytes(req[1:4], "big") == 68 == len(req) - 4


# ---- responses ---------------------------------------------------------------------------------


def test_smb2_311_response_read_field_by_field() -> None:
    contexts = [
        (1, struct.pack("<HHH", 1, 32, 1) + b"s" * 32),
        (2, struct.pack("<HH", 1, 2)),
        (8, struct.pack("<HH", 1, 1)),
        (0x42, b"xyz"),
    ]
    resp = smb2_response(0x0311, security_mode=3, contexts=contexts)
    neg = parse_smb2_negotiate_response(resp)
    assert neg.dialect_label == "3.1.1"
    assert neg.signing_enabled and neg.signing_required
    assert neg.server_guid == GUID
    assert neg.system_time == WHEN
    assert "ENCRYPTION" in neg.capability_names
    assert neg.contexts is not None
    assert neg.contexts.preauth_hashes == ("SHA-512",)
    assert neg.contexts.ciphers == ("AES-128-GCM",)
    assert neg.contexts.signing_algorithms == ("AES-CMAC",)
    assert neg.contexts.other == ("0x0042",)


def test_dialect_labels() -> None:
    assert [d.label for d in Dialect] == ["2.0.2", "2.1", "3.0", "3.0.2", "3.1.1", "2.???"]


def test_one_connection_over_netbios_139() -> None:
    d = SmbNegotiation(smb2_dialects=[0x0210], netbios=True)
    sent = drive(d, frame(b"", 0x82) + frame(smb2_response(0x0210, security_mode=1)))
    assert sent[0][0] == 0x81 and sent[1][0] == 0x00
    assert d.outcome is not None and d.outcome.smb2 is not None
    assert d.outcome.smb2.dialect_label == "2.1" and not d.outcome.smb2.signing_required


def test_netbios_negative_answer_is_one_error() -> None:
    d = SmbNegotiation(netbios=True)
    with pytest.raises(ProtocolError, match="called name not present"):
        drive(d, frame(b"\x82", 0x83))


def test_smb1_nt_lm_012_accepted() -> None:
    d = SmbNegotiation()
    drive(d, frame(smb1_response(SMB1_DIALECTS.index(NT_LM_012))))
    assert d.outcome is not None and d.outcome.smb1 is not None
    assert d.outcome.smb1.dialect == NT_LM_012
    assert d.outcome.smb1.signing_required and d.outcome.smb1.system_time == WHEN


def test_smb1_refused_by_index_ffff_or_hang_up() -> None:
    d = SmbNegotiation()
    drive(d, frame(smb1_response(0xFFFF)))
    assert d.outcome is not None and d.outcome.smb1 is not None and d.outcome.smb1.dialect is None
    d = SmbNegotiation()
    drive(d, b"")
    assert d.outcome is not None and d.outcome.refused == "connection closed"


def test_smb2_not_supported_status_is_a_refusal() -> None:
    d = SmbNegotiation(smb2_dialects=[0x0202])
    drive(d, frame(smb2_response(0, status=0xC00000BB)))
    assert d.outcome is not None and d.outcome.refused == "status 0xc00000bb"


def test_multi_protocol_negotiate_answered_in_smb2_wildcard() -> None:
    d = SmbNegotiation(multi_protocol=True)
    drive(d, frame(smb2_response(0x02FF)))
    assert d.outcome is not None and d.outcome.smb2 is not None
    assert d.outcome.smb2.dialect_label == "2.???"


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (frame(smb2_response(0x0202)[:80]), "cut short"),
        (frame(b"HTTP/1.1 400 Bad Request\r\n"), "protocol id"),
        (b"\x00\xff\xff\xff", "over the 65536-byte bound"),
        (frame(smb2_response(0x0202, message_id=5)), "message id 5"),
        (frame(smb2_response(0x0300)), "not offered"),
        (b"HTTP/1.1 200 OK\r\n", "not a NetBIOS session frame"),
        (frame(smb2_header(flags=0) + b"\x00" * 64), "request, not a response"),
    ],
)
def test_hostile_replies_are_one_line_errors(reply: bytes, message: str) -> None:
    d = SmbNegotiation(smb2_dialects=[0x0202])
    with pytest.raises(ProtocolError, match=message) as err:
        drive(d, reply)
    assert "\n" not in str(err.value)
    # After the error the dialogue only closes.
    assert isinstance(d.next_action(), Close)


def test_huge_context_count_and_offsets_are_bounded() -> None:
    resp = bytearray(smb2_response(0x0311, contexts=[(2, struct.pack("<HH", 1, 2))]))
    struct.pack_into("<H", resp, 64 + 6, 0xFFFF)  # NegotiateContextCount
    with pytest.raises(ProtocolError, match="over the bound"):
        parse_smb2_negotiate_response(bytes(resp))
    resp = bytearray(smb2_response(0x0311, contexts=[(2, struct.pack("<HH", 1, 2))]))
    struct.pack_into("<I", resp, 64 + 60, 0xFFFFFFF0)  # NegotiateContextOffset
    with pytest.raises(ProtocolError, match="offset outside"):
        parse_smb2_negotiate_response(bytes(resp))
    resp = bytearray(smb2_response(0x0311, contexts=[(2, struct.pack("<HH", 1, 2))]))
    struct.pack_into("<H", resp, 64 + 64 + 8 + 8, 0x7FFF)  # CipherCount
    with pytest.raises(ProtocolError):
        parse_smb2_negotiate_response(bytes(resp))


def test_reader_refuses_a_frame_over_the_bound_before_buffering_it() -> None:
    reader = NbssReader()
    reader.feed(b"\x00" + (MAX_MESSAGE + 1).to_bytes(3, "big"))
    with pytest.raises(ProtocolError) as err:
        reader.next_frame()
    assert err.value.too_large


# ---- fuzzing -----------------------------------------------------------------------------------

FRAGMENTS = [
    frame(
        smb2_response(
            0x0311, contexts=[(1, struct.pack("<HHH", 1, 0, 1)), (2, b"\x01\x00\x02\x00")]
        )
    ),
    frame(smb2_response(0x0202)),
    frame(smb1_response(9)),
    frame(b"", 0x82),
    frame(b"", 0x85),
    b"\x00\x00\x00\x40",
    b"\xfeSMB",
    b"\xffSMB",
]


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    pieces=st.lists(
        st.one_of(
            st.sampled_from(FRAGMENTS),
            st.binary(max_size=200),
            st.sampled_from(FRAGMENTS).flatmap(
                lambda f: st.tuples(st.integers(0, len(f)), st.binary(max_size=8)).map(
                    lambda t: f[: t[0]] + t[1] + f[t[0] + len(t[1]) :]
                )
            ),
        ),
        max_size=6,
    ),
    smb2=st.booleans(),
    netbios=st.booleans(),
    multi=st.booleans(),
    chunk=st.integers(1, 64),
)
def test_fuzz_any_reply_gives_an_outcome_or_a_protocol_error(
    pieces: list[bytes], smb2: bool, netbios: bool, multi: bool, chunk: int
) -> None:
    d = SmbNegotiation(
        smb2_dialects=[0x0311, 0x0202] if smb2 else (), netbios=netbios, multi_protocol=multi
    )
    try:
        drive(d, b"".join(pieces), chunk=chunk)
    except ProtocolError as err:
        assert "\n" not in str(err)
        assert isinstance(d.next_action(), Close)
    else:
        assert d.outcome is not None


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=400))
def test_fuzz_smb2_parser_raw(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        parse_smb2_negotiate_response(b"\xfeSMB" + data)


def test_not_smb_at_all_is_not_protocol() -> None:
    d = SmbNegotiation()
    with pytest.raises(NotProtocolError):
        drive(d, b"220 mail.example ESMTP\r\n")
