"""Classifying a mail server's defences (probe.defence), their storage and their finding."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders import endpoint_for, observed_failure
from vedette.checks import CheckContext, analyse
from vedette.errors import StoreError
from vedette.model import (
    Defence,
    DefenceKind,
    Failure,
    FailureKind,
    Observation,
    Service,
    Stage,
)
from vedette.probe.defence import (
    TARPIT_DELAY,
    Attempt,
    DefenceLog,
    ReplyTimer,
    classify,
    describe,
    merge,
)
from vedette.store.codec import observation_from_dict, observation_to_dict

POSTFIX_ANVIL = "421 4.7.0 mx.example.org Error: too many connections from 192.0.2.7"


def refused(line: str, stage: Stage = Stage.GREETING) -> Attempt:
    return Attempt(
        failure=Failure(kind=FailureKind.UNAVAILABLE, stage=stage, detail="refused"),
        reply=(line,),
    )


def silent(kind: FailureKind, stage: Stage = Stage.GREETING, others: int = 0) -> Attempt:
    return Attempt(failure=Failure(kind=kind, stage=stage, detail="x"), others_open=others)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (POSTFIX_ANVIL, DefenceKind.RATE_LIMITED),
        ("421 4.3.2 Service not available", DefenceKind.RATE_LIMITED),
        ("451 4.7.1 Greylisting in action, please come back later", DefenceKind.GREYLISTED),
        ("450 4.2.0 <a@b>: Recipient address rejected: Greylisted", DefenceKind.GREYLISTED),
        ("451 4.7.1 Please try again later", DefenceKind.GREYLISTED),
        (
            "421 Too many concurrent SMTP connections from this IP address; please try again",
            DefenceKind.CONNECTION_CAP,
        ),
        ("* BYE Too many connections from your address", DefenceKind.RATE_LIMITED),
        ("-ERR [SYS/TEMP] rate limit exceeded", DefenceKind.RATE_LIMITED),
    ],
)
def test_refusal_replies_are_classified(line, kind):
    found = classify(refused(line), earlier_ok=0)
    assert found is not None
    assert found[0] is kind
    assert found[1] == line


def test_a_permanent_refusal_or_a_plain_bye_is_not_a_defence():
    assert classify(refused("554 5.7.1 Service unavailable; client blocked"), earlier_ok=0) is None
    assert classify(refused("* BYE not now"), earlier_ok=0) is None
    # The same plain refusal after the server let us in is one.
    found = classify(refused("* BYE not now"), earlier_ok=3)
    assert found is not None and found[0] is DefenceKind.RATE_LIMITED


@pytest.mark.parametrize(
    "line",
    [
        "* BYE Server shutting down.",  # Dovecot stopping
        "421 4.3.2 mx.example.test Service shutting down, closing transmission channel",
        "421 4.3.0 Server in maintenance, try again later",
        "-ERR [SYS/TEMP] Server restarting",
    ],
)
def test_a_server_going_away_for_everyone_is_not_defending_itself(line):
    # Even after earlier successful connections and with others open: not aimed at the scanner.
    assert classify(refused(line), earlier_ok=5) is None
    assert (
        classify(Attempt(failure=refused(line).failure, reply=(line,), others_open=2), earlier_ok=5)
        is None
    )


def test_silent_refusals_count_only_after_earlier_successes():
    for kind in (FailureKind.REFUSED, FailureKind.CLOSED):
        assert classify(silent(kind), earlier_ok=0) is None
        found = classify(silent(kind), earlier_ok=5)
        assert found is not None and found[0] is DefenceKind.RATE_LIMITED
        capped = classify(silent(kind, others=3), earlier_ok=5)
        assert capped is not None and capped[0] is DefenceKind.CONNECTION_CAP
        assert "while 3 other(s) were open" in capped[1]
    # A silent greeting: a dead service at first, a tarpit or a cap once it has answered.
    assert classify(silent(FailureKind.TIMEOUT), earlier_ok=0) is None
    found = classify(silent(FailureKind.TIMEOUT), earlier_ok=2)
    assert found is not None and found[0] is DefenceKind.TARPIT
    # Failures after admission (a TLS error, a protocol error) are answers, not defences.
    assert classify(silent(FailureKind.CLOSED, Stage.TLS_HANDSHAKE), earlier_ok=9) is None


def test_tarpits_slow_or_trickled_replies():
    slow = Attempt(slowest_reply=TARPIT_DELAY + 0.2, slowest_stage=Stage.GREETING)
    assert classify(slow, earlier_ok=0) == (DefenceKind.TARPIT, "the greeting took 3.2 s")
    assert classify(Attempt(slowest_reply=TARPIT_DELAY - 0.5), earlier_ok=0) is None
    trickle = Attempt(
        failure=Failure(kind=FailureKind.TIMEOUT, stage=Stage.GREETING, detail="late"),
        trickled=12,
    )
    found = classify(trickle, earlier_ok=0)
    assert found is not None and found[0] is DefenceKind.TARPIT
    assert "12 byte(s)" in found[1]


def test_reply_timer_keeps_the_slowest_reply():
    timer = ReplyTimer()
    timer.waiting(0.0, Stage.GREETING)
    timer.waiting(0.5, Stage.GREETING)  # the same reply, still awaited
    timer.answered(4.0)
    timer.answered(9.0)  # nothing awaited: ignored
    timer.waiting(10.0, Stage.CAPABILITIES)
    timer.answered(10.1)
    assert (timer.slowest, timer.stage) == (4.0, Stage.GREETING)


def test_log_counts_successes_before_the_first_defence_and_the_hits():
    log = DefenceLog()
    for _ in range(37):
        assert log.record(Attempt()) is None
    assert log.record(refused(POSTFIX_ANVIL)) is DefenceKind.RATE_LIMITED
    log.record(Attempt())
    log.record(refused("421 4.7.0 again"))
    (d,) = log.defences()
    assert (d.kind, d.evidence, d.after, d.hits) == (DefenceKind.RATE_LIMITED, POSTFIX_ANVIL, 37, 2)
    assert describe(d) == (
        f"the server rate-limited the scanner ({POSTFIX_ANVIL}) after 37 connections, 2 times"
    )


def test_merge_keeps_one_per_kind():
    a = Defence(kind=DefenceKind.TARPIT, evidence="first", after=3, hits=1)
    b = Defence(kind=DefenceKind.TARPIT, evidence="second", after=1, hits=2)
    c = Defence(kind=DefenceKind.GREYLISTED, evidence="451", after=0, hits=1)
    assert merge((a,), (b, c)) == (
        Defence(kind=DefenceKind.TARPIT, evidence="first", after=1, hits=3),
        c,
    )


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    line=st.text(max_size=400),
    kind=st.sampled_from(list(FailureKind)),
    stage=st.sampled_from(list(Stage)),
    earlier=st.integers(0, 3),
    others=st.integers(0, 3),
    trickled=st.integers(0, 50),
    slow=st.none() | st.floats(0, 100),
)
def test_classify_is_total_and_bounds_its_evidence(
    line, kind, stage, earlier, others, trickled, slow
):
    attempt = Attempt(
        failure=Failure(kind=kind, stage=stage, detail=line),
        reply=(line,),
        others_open=others,
        trickled=trickled,
        slowest_reply=slow,
        slowest_stage=stage,
    )
    found = classify(attempt, earlier_ok=earlier)
    if found is not None:
        assert isinstance(found[0], DefenceKind)
        assert len(found[1]) <= 260


EP = endpoint_for(Service.SMTP, host="mx.example.org", ip="192.0.2.7")


def observation(*defences: Defence) -> Observation:
    return observed_failure(
        FailureKind.UNAVAILABLE,
        endpoint=EP,
        stage=Stage.GREETING,
        detail=POSTFIX_ANVIL,
        at=datetime(2026, 1, 2, tzinfo=UTC),
        duration_s=1.0,
        defences=defences,
    )


def test_defences_round_trip_through_the_store_and_old_rows_still_load():
    d = Defence(kind=DefenceKind.RATE_LIMITED, evidence=POSTFIX_ANVIL + "\x1b[2J", after=37)
    obs = observation(d)
    stored = json.loads(json.dumps(observation_to_dict(obs)))
    assert observation_from_dict(stored) == obs
    old = observation_to_dict(observation())
    assert "defences" not in old  # rows written before the field existed look like this
    assert observation_from_dict(old).defences == ()
    stored["defences"][0]["kind"] = "bribed"
    with pytest.raises(StoreError, match=r"defences\[0\]\.kind"):
        observation_from_dict(stored)


def test_a_defended_endpoint_gets_the_info_finding_not_unavailable():
    ctx = CheckContext(now=datetime(2026, 1, 3, tzinfo=UTC))
    plain = {f.id for f in analyse((observation(),), ctx)}
    assert "endpoint.unavailable" in plain and "endpoint.defended" not in plain
    d = Defence(kind=DefenceKind.RATE_LIMITED, evidence=POSTFIX_ANVIL)
    findings = {f.id: f for f in analyse((observation(d),), ctx)}
    assert "endpoint.unavailable" not in findings
    f = findings["endpoint.defended"]
    assert f.severity.label == "info"
    assert "rate-limited the scanner" in f.detail and f.evidence == (POSTFIX_ANVIL,)
