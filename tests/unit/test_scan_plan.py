"""The scan plan: what the kind of input decides, its stored form (round trip, strict reading),
and the migration that turns the options of unfinished schema-3 fleet scans into plans."""

from __future__ import annotations

import copy
import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vedette.errors import StoreError
from vedette.model import Service, Severity
from vedette.plan import (
    InputKind,
    Output,
    PlanLimits,
    Resolution,
    ScanMode,
    ScanPlan,
    TargetSource,
)
from vedette.probe.limits import Limits
from vedette.scan import scan_options
from vedette.store.codec import PLAN_FORMAT, plan_from_dict, plan_to_dict
from vedette.store.db import MIGRATIONS, SCHEMA_VERSION, Store
from vedette.targets import Pin

T0 = datetime(2026, 1, 1, tzinfo=UTC)

# --- the rule of the kind of input ------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        (TargetSource(targets=("mail.example.com",)), InputKind.EXPLICIT),
        (TargetSource(targets=("imaps://mail.example.com", "192.0.2.7")), InputKind.EXPLICIT),
        (TargetSource(targets=("192.0.2.0/28",)), InputKind.FLEET),
        (TargetSource(targets=("imaps://[2001:db8::]/120",)), InputKind.FLEET),
        (TargetSource(file="targets.txt"), InputKind.FLEET),
        (TargetSource(file="-"), InputKind.FLEET),
        (TargetSource(resume=7), InputKind.FLEET),
    ],
)
def test_the_kind_of_input_sets_the_default_mode_and_exit_rule(
    source: TargetSource, kind: InputKind
) -> None:
    assert source.kind is kind
    plan = ScanPlan(source=source, mode=ScanPlan.default_mode(source))
    if kind is InputKind.EXPLICIT:
        assert plan.mode is ScanMode.FULL
        assert plan.fail_threshold is Severity.HIGH
    else:
        assert plan.mode is ScanMode.QUICK
        assert plan.fail_threshold is None
    given_fail_on = ScanPlan(
        source=source, mode=ScanMode.QUICK, output=Output(fail_on=Severity.LOW)
    )
    assert given_fail_on.fail_threshold is Severity.LOW


def test_incidental_flags_do_not_change_the_rule() -> None:
    source = TargetSource(targets=("mail.example.com",))
    plain = ScanPlan(source=source, mode=ScanPlan.default_mode(source))
    busy = ScanPlan(
        source=source,
        mode=ScanPlan.default_mode(source),
        limits=PlanLimits(rate=5.0),
        resolution=Resolution(exclusions=("192.0.2.0/24",)),
        output=Output(quiet=True),
        deep=frozenset({"tls.plaintext-auth"}),
    )
    assert (busy.mode, busy.fail_threshold) == (plain.mode, plain.fail_threshold)


def test_plan_limits_default_to_the_probes_limits() -> None:
    probe = scan_options(ScanPlan(mode=ScanMode.QUICK)).limits
    mine = Limits()
    assert (probe.connect_timeout, probe.read_timeout, probe.endpoint_timeout) == (
        mine.connect_timeout,
        mine.read_timeout,
        mine.endpoint_timeout,
    )
    assert (probe.concurrency, probe.per_host) == (mine.concurrency, mine.per_host)


# --- the stored form --------------------------------------------------------------------------

printable = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FF).filter(
        lambda ch: ch.isprintable() and not ch.isspace()
    ),
    min_size=1,
    max_size=30,
)
addresses = st.ip_addresses().map(str)
ports = st.integers(1, 65535)
seconds = st.floats(min_value=0.001, max_value=3600, allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

plans = st.builds(
    ScanPlan,
    source=st.builds(
        TargetSource,
        targets=st.lists(st.text(max_size=30), max_size=4).map(tuple),
        file=st.none() | st.text(max_size=30),
        resume=st.none() | st.integers(1, 2**63 - 1),
        max_cidr=st.integers(1, 2**32),
        allow_reserved=st.booleans(),
    ),
    mode=st.sampled_from(ScanMode),
    limits=st.builds(
        PlanLimits,
        connect_timeout=seconds,
        read_timeout=seconds,
        endpoint_timeout=seconds,
        concurrency=st.integers(1, 10_000),
        per_host=st.integers(1, 10_000),
        rate=st.none()
        | st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False),
    ),
    resolution=st.builds(
        Resolution,
        ports=st.none() | st.lists(ports, max_size=4).map(tuple),
        service=st.none() | st.sampled_from(Service),
        pinned=st.lists(addresses, max_size=3).map(tuple),
        pins=st.lists(
            st.builds(
                Pin,
                host=printable,
                port=st.none() | ports,
                addresses=st.lists(addresses, min_size=1, max_size=3).map(tuple),
            ),
            max_size=3,
        ).map(tuple),
        resolver=st.none() | st.tuples(addresses, ports),
        ehlo_name=printable,
        exclusions=st.lists(st.text(max_size=20), max_size=3).map(tuple),
    ),
    clients=st.dictionaries(st.text(max_size=10), json_values, max_size=4),
    extra_roots=st.lists(st.binary(min_size=1, max_size=40), max_size=3).map(tuple),
    intermediates=st.lists(st.binary(min_size=1, max_size=40), max_size=3).map(tuple),
    fetch_issuers=st.booleans(),
    deep=st.frozensets(st.text(max_size=20), max_size=3),
    cluster=st.none() | st.text(max_size=30),
    seed=st.none() | st.binary(min_size=16, max_size=16),
    output=st.builds(
        Output,
        fail_on=st.none() | st.sampled_from(Severity),
        quiet=st.booleans(),
        json=st.booleans(),
        verbose=st.booleans(),
        store=st.booleans(),
        db=st.none() | st.text(max_size=30),
    ),
)


@given(plans)
def test_plan_round_trip_through_json(plan: ScanPlan) -> None:
    text = json.dumps(plan_to_dict(plan), ensure_ascii=True)
    assert plan_from_dict(json.loads(text)) == plan
    assert json.dumps(plan_to_dict(plan_from_dict(json.loads(text))), ensure_ascii=True) == text


@given(json_values)
def test_any_json_is_a_plan_or_one_store_error(data: object) -> None:
    try:
        plan_from_dict(data)
    except StoreError as err:
        assert "\n" not in str(err)


def _sample() -> dict[str, Any]:
    return plan_to_dict(
        ScanPlan(
            source=TargetSource(file="targets.txt"),
            mode=ScanMode.QUICK,
            resolution=Resolution(
                ports=(993,),
                pins=(Pin(host="mx.example.com", port=None, addresses=("192.0.2.7",)),),
                resolver=("192.0.2.53", 53),
            ),
            clients={"families": ["ios"]},
            seed=b"k" * 16,
        )
    )


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("format",), PLAN_FORMAT + 1, f"plan: unsupported format {PLAN_FORMAT + 1}"),
        (("mode",), "deep", "plan.mode: unknown value 'deep'"),
        (("limits", "concurrency"), 0, "plan.limits.concurrency: 0 is out of range"),
        (("limits", "connect_timeout"), -1, "plan.limits.connect_timeout: -1 is not a duration"),
        (("limits", "rate"), "fast", "plan.limits.rate: expected a number, got str"),
        (("resolution", "ports"), [993, 70000], "plan.resolution.ports[1]: not a port: 70000"),
        (("resolution", "pinned"), ["mx.example.com"], "plan.resolution.pinned[0]: not an IP"),
        (("resolution", "resolver"), ["192.0.2.53"], "plan.resolution.resolver: expected"),
        (("resolution", "ehlo_name"), "a b", "plan.resolution.ehlo_name: not a usable host"),
        (("resolution", "service"), "gopher", "plan.resolution.service: unknown value"),
        (("clients",), [], "plan.clients: expected an object, got list"),
        (("extra_roots",), ["%%%"], "plan.extra_roots[0]: invalid base64"),
        (("seed",), "abcd", "plan.seed: expected 32 hex digits"),
        (("output", "fail_on"), "severe", "plan.output.fail_on: unknown value 'severe'"),
        (("output", "quiet"), 1, "plan.output.quiet: expected true or false, got int"),
        (("source", "resume"), 0, "plan.source.resume: 0 is out of range"),
        (("source", "surprise"), 1, "plan.source: unknown field(s) 'surprise'"),
    ],
)
def test_a_damaged_plan_is_one_line_naming_the_field(
    path: tuple[str, ...], value: object, message: str
) -> None:
    data = copy.deepcopy(_sample())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(StoreError) as info:
        plan_from_dict(data)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_a_missing_field_is_named() -> None:
    data = _sample()
    del data["limits"]["per_host"]
    with pytest.raises(StoreError, match=r"^plan\.limits: missing field 'per_host'$"):
        plan_from_dict(data)


def test_the_plan_is_stored_with_the_fleet_scan_and_read_back(tmp_path: Path) -> None:
    plan = plan_from_dict(_sample())
    with Store.open(f"sqlite:///{tmp_path / 'v.db'}") as store:
        scan_id = store.begin_fleet_scan(["--targets targets.txt"], {}, T0, plan.mode, plan)
        assert store.scan_plan(scan_id) == plan
        assert store.fleet_scan(scan_id).mode is ScanMode.QUICK
        plain = store.begin_scan(["mail.example.com"], {}, T0)
        with pytest.raises(StoreError, match=f"^scan {plain} has no stored plan"):
            store.scan_plan(plain)
        store.delete_scan(scan_id)
        with pytest.raises(StoreError, match=f"no scan with id {scan_id}"):
            store.scan_plan(scan_id)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "stored JSON is corrupt"),
        ("[" * 100_000, "stored JSON is corrupt"),
        ('{"format": 1}', "plan: missing field"),
        ("null", "plan: expected an object, got null"),
    ],
)
def test_a_garbage_stored_plan_is_one_store_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "v.db"
    plan = plan_from_dict(_sample())
    with Store.open(f"sqlite:///{path}") as store:
        scan_id = store.begin_fleet_scan(["x"], {}, T0, plan.mode, plan)
    con = sqlite3.connect(path)
    con.execute("UPDATE scan_plans SET plan_json = ? WHERE scan_id = ?", (text, scan_id))
    con.commit()
    con.close()
    with Store.open(f"sqlite:///{path}") as store, pytest.raises(StoreError) as info:
        store.scan_plan(scan_id)
    assert str(info.value).startswith(f"scan {scan_id} plan: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


# --- schema 3 -> 4 ----------------------------------------------------------------------------

#: ``options_json`` exactly as vedette wrote it with schema 3 (``scale/fleet.py``'s
#: ``_new_options`` then): the command-line strings, parsed again on resume.
V3_OPTIONS: dict[str, Any] = {
    "ports": "110,995",
    "service": None,
    "ip": [],
    "resolve": ["pinned.fleet.test:*:127.0.6.1", "mx.fleet.test:995:[2001:db8::7],127.0.6.2"],
    "resolver": "127.0.0.53:5353",
    "ehlo": "scanner.example.net",
    "connect_timeout": 2.0,
    "read_timeout": 3.5,
    "endpoint_timeout": 20.0,
    "concurrency": 50,
    "per_host": 2,
    "rate": 40.0,
    "mode": "quick",
    "deep": ["tls.plaintext-auth"],
    "exclude": ["127.0.7.0/24", "hidden.fleet.test"],
    "ca_roots_der_hex": ["3082"],
    "fleet": True,
    "seed": "00112233445566778899aabbccddeeff",
    "clients": {"families": ["ios", "android"], "as_of": "2026-01-01"},
}


def _v3_scan(
    con: sqlite3.Connection, scan_id: int, options: dict[str, Any] | str, status: str
) -> None:
    text = options if isinstance(options, str) else json.dumps(options, sort_keys=True)
    con.execute(
        "INSERT INTO scans (id, started_at, finished_at, targets_json, options_json, "
        "vedette_version, mode, status) VALUES (?, '2026-01-01 00:00:00.000000', ?, ?, ?, "
        "'0.3.0', 'quick', ?)",
        (
            scan_id,
            "2026-01-01 01:00:00.000000" if status == "finished" else None,
            json.dumps(["pop3://pinned.fleet.test", "--targets fleet.txt"]),
            text,
            status,
        ),
    )


def test_a_version_3_database_migrates_its_unfinished_fleet_scans_to_plans(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v3.db"
    url = f"sqlite:///{path}"
    with Store.open(url, migrations=MIGRATIONS[:3]) as old:
        assert old.schema_version() == 3
    con = sqlite3.connect(path)
    _v3_scan(con, 1, V3_OPTIONS, "running")
    _v3_scan(con, 2, V3_OPTIONS, "finished")
    _v3_scan(con, 3, {**V3_OPTIONS, "resolve": ["no colon here"]}, "running")
    _v3_scan(con, 4, "{damaged", "running")
    # A scan stored before an option existed: today's default stands in for it.
    _v3_scan(con, 5, {"mode": "quick", "fleet": True}, "running")
    con.execute(
        "INSERT INTO scan_targets (scan_id, target, pin, order_key, done) "
        "VALUES (1, 'pop3://pinned.fleet.test', '', 5, 0)"
    )
    con.commit()
    con.close()

    with Store.open(url) as store:
        assert store.schema_version() == SCHEMA_VERSION == 5
        plan = store.scan_plan(1)
        assert plan.mode is ScanMode.QUICK
        assert plan.source == TargetSource(targets=("pop3://pinned.fleet.test",), file="fleet.txt")
        assert plan.limits == PlanLimits(
            connect_timeout=2.0,
            read_timeout=3.5,
            endpoint_timeout=20.0,
            concurrency=50,
            per_host=2,
            rate=40.0,
        )
        assert plan.resolution == Resolution(
            ports=(110, 995),
            pins=(
                Pin(host="pinned.fleet.test", port=None, addresses=("127.0.6.1",)),
                Pin(host="mx.fleet.test", port=995, addresses=("2001:db8::7", "127.0.6.2")),
            ),
            resolver=("127.0.0.53", 5353),
            ehlo_name="scanner.example.net",
            exclusions=("127.0.7.0/24", "hidden.fleet.test"),
        )
        assert dict(plan.clients) == {"families": ["ios", "android"], "as_of": "2026-01-01"}
        assert plan.extra_roots == (b"\x30\x82",)
        assert plan.deep == frozenset({"tls.plaintext-auth"})
        assert plan.seed == bytes.fromhex("00112233445566778899aabbccddeeff")
        # Finished scans keep their options only; damaged options leave the scan planless
        # (resume says so in one line) without stopping the migration.
        for scan_id in (2, 3, 4):
            with pytest.raises(StoreError, match=f"^scan {scan_id} has no stored plan"):
                store.scan_plan(scan_id)
        assert replace(store.scan_plan(5), source=TargetSource()) == ScanPlan(mode=ScanMode.QUICK)
        assert dict(store.scan_options(2)) == V3_OPTIONS
        # The migrated scan goes on where it stopped: its pending target is still pending.
        assert [p.target for p in store.pending_targets(1, after=None, limit=10)] == [
            "pop3://pinned.fleet.test"
        ]


def test_scan_options_take_the_mode_by_its_text_too() -> None:
    # `vedette demo --mode full` passed the text: compared by identity, it meant quick.
    from vedette.scan import ScanOptions

    assert ScanOptions(mode="full").mode is ScanMode.FULL  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a valid ScanMode"):
        ScanOptions(mode="deep")  # type: ignore[arg-type]
