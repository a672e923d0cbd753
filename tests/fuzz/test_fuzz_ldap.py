"""Fuzzing the LDAP dialogue: whatever a server sends, only a ProtocolError or a clean Close.

LDAP replies are BER, not lines: the inputs are random bytes, valid server transcripts with
bytes flipped, inserted, deleted or cut, and valid messages glued in random order, so that the
fuzzer reaches the framing, the element walk, pyasn1's decoder and every state of the walk.
Run longer with ``HYPOTHESIS_PROFILE=fuzz-long pytest tests/fuzz/test_fuzz_ldap.py``.
"""

from __future__ import annotations

import contextlib
import os

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.unit.ldap_messages import (
    bind_response,
    entry,
    extended_response,
    openldap_clear,
    openldap_tls,
    request,
    search_done,
)
from tests.unit.protocol_script import chunkings, drive
from vedette.errors import ProtocolError
from vedette.model import Service, Stage
from vedette.protocols.ldap import MAX_MESSAGE, NOTICE_OF_DISCONNECTION_OID, decode_message
from vedette.protocols.registry import new_dialogue

_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fuzz-default")
FUZZ = settings(
    max_examples=50_000 if _PROFILE == "fuzz-long" else 300,
    deadline=None,
    derandomize=_PROFILE != "fuzz-long",
    suppress_health_check=list(HealthCheck),
)

#: Valid messages in every state's vocabulary, for gluing in random orders.
PIECES = [
    entry(1, [("namingContexts", ["dc=example,dc=com"]), ("supportedLDAPVersion", ["3"])]),
    entry(4, [("supportedSASLMechanisms", ["PLAIN"])]),
    search_done(1),
    search_done(4),
    search_done(1, 13, "confidentiality required"),
    bind_response(2, 49),
    bind_response(2, 13),
    bind_response(2, 0),
    extended_response(3),
    extended_response(3, 2, "unsupported extended operation"),
    extended_response(0, 52, "bye", NOTICE_OF_DISCONNECTION_OID),
    b"\x30\x80",
    b"\x30\x84\xff\xff\xff\xff",
    b"\x30",
    b"\x00",
]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes flipped, inserted or deleted, maybe cut short."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 6))):
        if not out:
            break
        at = draw(st.integers(0, len(out) - 1))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "set"]))
        if kind == "flip":
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del out[at]
        else:
            out[at] = draw(st.sampled_from([0x00, 0x30, 0x80, 0x84, 0xFF, 0x7F, 0x1F]))
    if draw(st.booleans()):
        out = out[: draw(st.integers(0, len(out)))]
    return bytes(out)


def streams() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=600),
        st.sampled_from([openldap_clear(), openldap_tls()]).flatmap(mutated),
        st.lists(st.sampled_from(PIECES), max_size=8).map(b"".join),
        st.lists(st.sampled_from(PIECES), max_size=8).map(b"".join).flatmap(mutated),
    )


def _check(out_sent: tuple[bytes, ...]) -> None:
    # The dialogue only ever sends its own requests, each a valid LDAPMessage.
    names = [request(data)[1] for data in out_sent]
    allowed = {"searchRequest", "bindRequest", "extendedReq", "unbindRequest"}
    assert set(names) <= allowed, names
    assert len(names) <= 5


@FUZZ
@given(
    data=st.data(),
    service=st.sampled_from([Service.LDAP, Service.LDAPS]),
    try_starttls=st.booleans(),
)
def test_ldap_dialogue_survives_any_bytes(
    data: st.DataObject, service: Service, try_starttls: bool
) -> None:
    clear = data.draw(streams(), label="clear")
    tls = data.draw(streams(), label="tls")
    # drive() lets nothing but ProtocolError through and fails on a dialogue that loops.
    out = drive(
        new_dialogue(service, try_starttls=try_starttls),
        data.draw(chunkings(clear)),
        data.draw(chunkings(tls)),
    )
    _check(out.sent)
    assert out.actions <= len(clear) + len(tls) + 2 + 5 + 1 + 1 + 1
    obs = out.observation
    for field in (obs.capabilities_before_tls, obs.starttls_reply, obs.capabilities_after_tls):
        assert field is None or all(type(x) is str and "\n" not in x for x in field)
    if out.error is None and not out.closed_early:
        assert out.stage is Stage.CLOSE
    event(f"ended at {out.stage.value}, {type(out.error).__name__ if out.error else 'no error'}")


@FUZZ
@given(frame=st.one_of(st.binary(max_size=300), st.sampled_from(PIECES).flatmap(mutated)))
def test_decoding_one_message_raises_only_protocol_error(frame: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_message(frame)


@FUZZ
@given(size=st.integers(MAX_MESSAGE + 1, 2**32 - 1), chunk=st.integers(1, 70_000))
def test_an_announced_message_above_the_bound_is_never_buffered(size: int, chunk: int) -> None:
    header = b"\x30\x84" + size.to_bytes(4, "big")
    out = drive(new_dialogue(Service.LDAP), [header + b"\x04" * chunk] * 3)
    assert out.error is not None and out.error.too_large
    assert out.actions <= 4
