"""Round trip and strict reading of the stored form of observations and findings."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.builders import dialogue_of, endpoint_for, observed, observed_tls
from vedette.errors import StoreError
from vedette.model import (
    DialogueObservation,
    Endpoint,
    Failure,
    FailureKind,
    Finding,
    Observation,
    Service,
    Severity,
    Stage,
    TlsObservation,
)
from vedette.store.codec import (
    OBSERVATION_FORMAT,
    finding_from_dict,
    finding_to_dict,
    observation_from_dict,
    observation_to_dict,
)

# --- strategies --------------------------------------------------------------------------------

# Server lines are latin-1 decoded bytes, so every code point 0..255 may appear, controls included.
latin1_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=40)
any_text = st.text(max_size=40)
lines = st.lists(latin1_text, max_size=5).map(tuple)
opt_lines = st.none() | lines

aware_times = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7))]),
)

endpoints = st.builds(
    Endpoint,
    host=st.none() | any_text,
    ip=st.none() | st.ip_addresses().map(str),
    port=st.integers(0, 65535),
    service=st.sampled_from(Service),
)

dialogues = st.builds(
    DialogueObservation,
    greeting=lines,
    capabilities_before_tls=opt_lines,
    starttls_reply=opt_lines,
    capabilities_after_tls=opt_lines,
)

tls_observations = st.builds(
    TlsObservation,
    version=any_text,
    cipher=any_text,
    sni=st.none() | any_text,
    chain_der=st.lists(st.binary(max_size=64), max_size=4).map(tuple),
)

failures = st.builds(
    Failure,
    kind=st.sampled_from(FailureKind),
    stage=st.sampled_from(Stage),
    detail=any_text,
)

observations = st.builds(
    Observation,
    endpoint=endpoints,
    started_at=aware_times,
    duration_s=st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    dialogue=st.none() | dialogues,
    tls=st.none() | tls_observations,
    failure=st.none() | failures,
    connections=st.integers(0, 1000),
)

findings = st.builds(
    Finding,
    id=any_text,
    severity=st.sampled_from(Severity),
    title=any_text,
    detail=any_text,
    remediation=any_text,
    endpoint=endpoints,
    evidence=lines,
    references=st.lists(any_text, max_size=3).map(tuple),
)


# --- round trips -------------------------------------------------------------------------------


@given(observations)
def test_observation_round_trips_through_json(obs: Observation) -> None:
    text = json.dumps(observation_to_dict(obs))
    back = observation_from_dict(json.loads(text))
    assert back == obs
    # Times come back in UTC whatever offset they were taken in.
    assert back.started_at.utcoffset() == timedelta(0)


@given(findings)
def test_finding_round_trips_through_json(f: Finding) -> None:
    assert finding_from_dict(json.loads(json.dumps(finding_to_dict(f)))) == f


def _sample() -> Observation:
    return observed_tls(
        (b"\x30\x03\x02\x01\x00", b"\xff"),
        endpoint=endpoint_for(Service.SUBMISSION, host="mail.example.test", ip="192.0.2.1"),
        at=datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
        duration_s=0.25,
        dialogue=dialogue_of(
            "220 mail.example.test ESMTP",
            before=("250-mail.example.test", "250 STARTTLS"),
            starttls=("220 go ahead",),
            after=(),
        ),
    )


def test_stored_form_is_readable_and_versioned() -> None:
    d = observation_to_dict(_sample())
    assert d["format"] == OBSERVATION_FORMAT == 1
    assert d["started_at"] == "2024-05-01T12:00:00.123456+00:00"
    assert d["endpoint"] == {
        "host": "mail.example.test",
        "ip": "192.0.2.1",
        "port": 587,
        "service": "submission",
    }
    assert d["tls"]["chain_der"] == ["MAMCAQA=", "/w=="]
    # An empty capability reply and "not sent" stay distinct.
    assert d["dialogue"]["capabilities_after_tls"] == []
    assert d["failure"] is None


def test_naive_datetime_is_refused_when_writing() -> None:
    obs = observed(
        endpoint_for(Service.SMTP, host=None, ip="127.0.0.1"),
        at=datetime(2024, 1, 1),
        duration_s=0.0,
    )
    with pytest.raises(ValueError, match="naive"):
        observation_to_dict(obs)


# --- strict reading ----------------------------------------------------------------------------


def _mutated(path: tuple[Any, ...], value: Any, *, delete: bool = False) -> dict[str, Any]:
    d = copy.deepcopy(observation_to_dict(_sample()))
    target: Any = d
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return d


@pytest.mark.parametrize(
    ("garbage", "message"),
    [
        (None, "expected an object, got null"),
        ([1, 2], "expected an object, got list"),
        ("{}", "expected an object, got str"),
        ({}, "missing field 'format'"),
        (_mutated(("format",), 2), "unsupported format 2"),
        (_mutated(("format",), True), "unsupported format True"),
        (_mutated(("endpoint",), None, delete=True), "missing field 'endpoint'"),
        (_mutated(("endpoint", "port"), "587"), "observation.endpoint.port: expected an integer"),
        (_mutated(("endpoint", "port"), 70000), "out of range"),
        (_mutated(("endpoint", "port"), True), "expected an integer, got bool"),
        (_mutated(("endpoint", "service"), "gopher"), "unknown value 'gopher'"),
        (_mutated(("started_at",), "yesterday"), "not an ISO-8601 time"),
        (_mutated(("started_at",), "2024-05-01T12:00:00"), "without a UTC offset"),
        (_mutated(("duration_s",), "fast"), "expected a number"),
        (_mutated(("duration_s",), -1.0), "not a duration"),
        (_mutated(("dialogue", "greeting"), "220 hi"), "expected a list"),
        (_mutated(("dialogue", "greeting"), [220]), "greeting[0]: expected a string"),
        (_mutated(("tls", "chain_der"), ["not base64!"]), "chain_der[0]: invalid base64"),
        (_mutated(("tls", "cipher"), None, delete=True), "missing field 'cipher'"),
        (
            _mutated(("failure",), {"kind": "exploded", "stage": "connect", "detail": ""}),
            "observation.failure.kind: unknown value 'exploded'",
        ),
        (_mutated(("extra",), 1), "observation: unknown field(s) 'extra'"),
        (_mutated(("tls", "alpn"), "h2"), "observation.tls: unknown field(s) 'alpn'"),
    ],
)
def test_garbage_is_refused_with_one_line_store_error(garbage: object, message: str) -> None:
    with pytest.raises(StoreError) as info:
        observation_from_dict(garbage)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_error_message_is_bounded_for_huge_garbage() -> None:
    d = _mutated(("endpoint", "service"), "x" * 10_000)
    with pytest.raises(StoreError) as info:
        observation_from_dict(d)
    assert len(str(info.value)) < 200


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


@given(json_values)
def test_arbitrary_json_is_refused_with_store_error(garbage: object) -> None:
    with pytest.raises(StoreError):
        observation_from_dict(garbage)


@given(st.data(), observations)
def test_corrupting_one_field_gives_an_observation_or_store_error(
    data: st.DataObject, obs: Observation
) -> None:
    # Replace one field anywhere in a valid stored form with arbitrary JSON: reading must
    # either succeed (the value happened to be valid) or fail with StoreError, nothing else.
    d = observation_to_dict(obs)
    path = data.draw(st.sampled_from(_paths(d)))
    target: Any = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(json_values)
    message = ""
    try:
        back: object = observation_from_dict(d)
    except StoreError as exc:
        message = str(exc)
        back = None
    assert isinstance(back, Observation) or (message and "\n" not in message)


def test_finding_reading_is_strict() -> None:
    f = Finding(
        id="tls.plaintext-auth",
        severity=Severity.HIGH,
        title="t",
        detail="d",
        remediation="r",
        endpoint=Endpoint(host="a.test", ip=None, port=110, service=Service.POP3),
    )
    d = finding_to_dict(f)
    assert d["severity"] == "high"
    d["severity"] = "apocalyptic"
    with pytest.raises(StoreError, match=r"finding\.severity: unknown value"):
        finding_from_dict(d)
