"""Recorded DNS answers: stored as JSON, replayed to the rules without a packet."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.fake_dns import FakeDns
from vedette.mailauth.answers import DnsStatus, Security
from vedette.mailauth.recording import (
    RecordingLookup,
    ReplayLookup,
    answers_from_json,
    answers_to_json,
)

LINES = [
    'example.com. TXT "v=spf1 include:_spf.example.net" " -all"',
    "example.com. MX 10 mx1.example.com.",
    "_25._tcp.mx1.example.com. TLSA 3 1 1 "
    "0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6",
    "alias.example.com. CNAME example.com.",
]


def test_recorded_answers_replay_identically_through_json() -> None:
    async def run() -> None:
        fake = FakeDns(LINES, secure={"example.com"})
        recording = RecordingLookup(fake)
        questions = [
            ("example.com", "TXT"),
            ("example.com", "MX"),
            ("_25._tcp.mx1.example.com", "TLSA"),
            ("alias.example.com", "MX"),
            ("none.example.com", "A"),
            ("example.com", "TXT"),  # asked twice, kept once
        ]
        first = [await recording.query(n, t) for n, t in questions]
        assert len(recording.answers) == 5
        stored = json.loads(json.dumps(answers_to_json(recording.answers)))
        replay = ReplayLookup(answers_from_json(stored))
        again = [await replay.query(n.upper(), t.lower()) for n, t in questions]
        assert [(a.status, a.security, a.cnames) for a in again] == [
            (a.status, a.security, a.cnames) for a in first
        ]
        assert [tuple(r.to_text() for r in a.records) for a in again] == [
            tuple(r.to_text() for r in a.records) for a in first
        ]
        assert again[0].texts() == ("v=spf1 include:_spf.example.net -all",)
        assert again[0].security is Security.SECURE
        assert again[4].status is DnsStatus.NXDOMAIN
        never = await replay.query("other.example.com", "TXT")
        assert never.status is DnsStatus.ERROR and "not recorded" in never.detail
        assert replay.missing == [("other.example.com", "TXT")]

    asyncio.run(run())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "not a list"),
        ([1], "not an object"),
        ([{"name": "a"}], "missing or bad field"),
        (
            [
                {
                    "name": "a", "type": "MX", "status": "ok", "security": "secure",
                    "records": ["not an mx"], "cnames": [], "detail": "",
                }
            ],
            "does not parse",
        ),
        (
            [
                {
                    "name": "a", "type": "NOPE", "status": "ok", "security": "secure",
                    "records": [], "cnames": [], "detail": "",
                }
            ],
            "does not parse",
        ),
        (
            [
                {
                    "name": "a", "type": "TXT", "status": "bad", "security": "secure",
                    "records": [], "cnames": [], "detail": "",
                }
            ],
            "missing or bad field",
        ),
    ],
)  # fmt: skip
def test_bad_stored_answers_are_one_line_errors(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        answers_from_json(data)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


_answer = st.fixed_dictionaries(
    {
        "name": st.text(max_size=30) | _json,
        "type": st.sampled_from(["TXT", "MX", "TLSA", "A", "CAA", "CNAME", "x"]) | _json,
        "status": st.sampled_from([s.value for s in DnsStatus]) | _json,
        "security": st.sampled_from([s.value for s in Security]) | _json,
        "records": st.lists(st.text(max_size=40), max_size=3) | _json,
        "cnames": st.lists(st.text(max_size=10), max_size=2) | _json,
        "detail": st.text(max_size=10) | _json,
    }
)


@given(_json | st.lists(_answer, max_size=3))
def test_garbage_never_escapes_as_another_exception(data: object) -> None:
    with contextlib.suppress(ValueError):
        answers_from_json(data)
