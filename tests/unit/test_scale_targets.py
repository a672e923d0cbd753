"""Fleet targets, pure: target-file lines, CIDR expansion, reserved ranges, exclusions, the
permutation key and shards; the CSV cell guard."""

from __future__ import annotations

import ipaddress
import itertools

import pytest

from vedette.errors import UsageError
from vedette.report.csv import csv_cell
from vedette.scale.spool import canonical
from vedette.scale.targets import (
    KEY_BITS,
    TargetLine,
    expand_line,
    order_key,
    parse_exclusions,
    parse_target_line,
    shard_bounds,
)
from vedette.targets import parse_target


def _texts(text: str, **kw: object) -> list[str]:
    return [canonical(spec) for spec, _ in expand_line(TargetLine(text=text), **kw)]  # type: ignore[arg-type]


def test_target_lines() -> None:
    assert parse_target_line("  # comment\n", "f:1") is None
    assert parse_target_line("\n", "f:2") is None
    line = parse_target_line("imaps://mail.example.org  192.0.2.7 # pinned\n", "f:3")
    assert line == TargetLine(text="imaps://mail.example.org", pin="192.0.2.7", where="f:3")
    assert parse_target_line("mail.example.org:587\n", "f:4") == TargetLine(
        text="mail.example.org:587", where="f:4"
    )
    with pytest.raises(UsageError, match=r"^f:5: expected 'TARGET \[ADDRESS\]'"):
        parse_target_line("a b c", "f:5")
    with pytest.raises(UsageError, match="^f:6: 'nope' is not an IP address to pin"):
        parse_target_line("a.example nope", "f:6")


def test_cidr_forms_expand_to_one_target_per_address() -> None:
    assert _texts("192.0.2.0/30", allow_reserved=True) == [
        "192.0.2.0",
        "192.0.2.1",
        "192.0.2.2",
        "192.0.2.3",
    ]
    assert _texts("imaps://198.51.100.8/31", allow_reserved=True) == [
        "imaps://198.51.100.8:993",
        "imaps://198.51.100.9:993",
    ]
    assert _texts("203.0.113.4/31:2525", allow_reserved=True) == [
        "203.0.113.4:2525",
        "203.0.113.5:2525",
    ]
    assert _texts("[2001:db8::/127]:993", allow_reserved=True) == [
        "[2001:db8::]:993",
        "[2001:db8::1]:993",
    ]
    # Not a CIDR: a scheme's "//" is not a prefix length.
    assert _texts("imaps://127.0.0.1:1") == ["imaps://127.0.0.1:1"]


def test_cidr_sweeps_skip_reserved_ranges_unless_allowed() -> None:
    assert _texts("9.255.255.252/30") == [f"9.255.255.{i}" for i in range(252, 256)]
    assert _texts("10.0.0.0/30") == []
    assert _texts("127.0.0.0/30") == []
    assert len(_texts("127.0.0.0/30", allow_reserved=True)) == 4
    # 10.0.0.0/7 is 10/8 (private) then 11/8: the sweep jumps over the private block at once
    # (lazily: taking the first three does not enumerate sixteen million addresses).
    sweep = expand_line(TargetLine(text="10.0.0.0/7"), max_cidr=1 << 25)
    assert [canonical(spec) for spec, _ in itertools.islice(sweep, 3)] == [
        "11.0.0.0",
        "11.0.0.1",
        "11.0.0.2",
    ]
    spans = _texts("11.0.0.0/30") + _texts("100.63.255.254/31") + _texts("100.64.0.0/31")
    assert spans == [
        "11.0.0.0",
        "11.0.0.1",
        "11.0.0.2",
        "11.0.0.3",
        "100.63.255.254",
        "100.63.255.255",
    ]
    assert _texts("2001:db8::/126") == []
    assert _texts("fe80::/126") == []
    assert _texts("2a00::/126") == ["2a00::", "2a00::1", "2a00::2", "2a00::3"]
    # An explicit address is allowed whatever its range.
    assert _texts("10.1.2.3") == ["10.1.2.3"]


def test_cidr_size_cap() -> None:
    with pytest.raises(UsageError, match="more than the --max-cidr limit of 65536"):
        list(expand_line(TargetLine(text="2001:db8::/64"), max_cidr=65536))
    with pytest.raises(UsageError, match="cannot be pinned"):
        list(expand_line(TargetLine(text="192.0.2.0/30", pin="192.0.2.1")))


def test_exclusions() -> None:
    ex = parse_exclusions(
        ["# comment", "192.0.2.0/25", "198.51.100.7", "2001:db8::/48", "Example.ORG  # names"],
        "x",
    )
    assert ex.address_excluded("192.0.2.127")
    assert not ex.address_excluded("192.0.2.128")
    assert ex.address_excluded("198.51.100.7") and not ex.address_excluded("198.51.100.8")
    assert ex.address_excluded("2001:db8:0:ffff::1")
    assert not ex.address_excluded("2001:db9::1")
    assert ex.address_excluded("::ffff:192.0.2.1")  # IPv4-mapped reaches the IPv4 host
    assert ex.name_excluded("example.org") and ex.name_excluded("mail.example.org")
    assert not ex.name_excluded("notexample.org")
    with pytest.raises(UsageError, match="^x:1: "):
        parse_exclusions(["10.0.0.0/33"], "x")


def test_order_key_groups_hosts_and_shards_never_split_one() -> None:
    seed = b"s" * 16
    keys = {
        t: order_key(seed, parse_target(t))
        for t in ("imaps://192.0.2.1", "pop3s://192.0.2.1", "smtp://192.0.2.1", "192.0.2.2")
    }
    assert all(0 <= k < 1 << KEY_BITS for k in keys.values())
    same_host = {k >> 16 for t, k in keys.items() if "192.0.2.1" in t}
    assert len(same_host) == 1
    assert keys["192.0.2.2"] >> 16 not in same_host
    # Another seed, another permutation.
    assert order_key(b"t" * 16, parse_target("192.0.2.2")) != keys["192.0.2.2"]
    bounds = shard_bounds(7)
    assert bounds[0][0] == 0 and bounds[-1][1] == 1 << KEY_BITS
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    assert all(lo % (1 << 16) == 0 for lo, _ in bounds)
    # Keys spread evenly: 2000 addresses over 4 shards.
    counts = [0, 0, 0, 0]
    four = shard_bounds(4)
    for i in range(2000):
        k = order_key(seed, parse_target(str(ipaddress.IPv4Address(0x0B000000 + i))))
        counts[next(n for n, (lo, hi) in enumerate(four) if lo <= k < hi)] += 1
    assert min(counts) > 400


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+OK ready", "'+OK ready"),
        ("-ERR", "'-ERR"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\\x09x"),
        ("\uff1dcmd", "'\uff1dcmd"),
        ("220 mail ESMTP\r\nX", "220 mail ESMTP\\x0d\\x0aX"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_csv_cells_are_inert(value: str, cell: str) -> None:
    assert csv_cell(value) == cell
