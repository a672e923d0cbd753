"""Fleet targets, pure: target-file lines, CIDR expansion, reserved ranges, exclusions, the
permutation key and shards; the CSV cell guard."""

from __future__ import annotations

import csv
import io
import ipaddress
import itertools

import pytest

from vedette.errors import UsageError
from vedette.model import Service
from vedette.report.csv import csv_cell
from vedette.report.rows import CSV_COLUMNS
from vedette.scale.spool import canonical
from vedette.scale.targets import (
    KEY_BITS,
    TargetLine,
    expand_line,
    order_key,
    parse_exclusions,
    parse_target_file,
    parse_target_line,
    shard_bounds,
)
from vedette.targets import parse_target, plan_ports


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
    # IPv6 in brackets, as target files write it
    bracketed = parse_exclusions(["[::1]", "[2001:db8::/48]"], "x")
    assert bracketed.address_excluded("::1") and bracketed.address_excluded("2001:db8::5")
    assert not bracketed.address_excluded("::2")


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


# --- CSV reports as target files ---------------------------------------------------------------


def _csv(rows: list[list[str]], *, quoting: int = csv.QUOTE_ALL, bom: bool = False) -> list[str]:
    """Rows written by Python's csv module (CRLF, quoted), split as a file is read."""
    out = io.StringIO()
    csv.writer(out, quoting=quoting).writerows(rows)
    text = ("\ufeff" if bom else "") + out.getvalue()
    return io.StringIO(text, newline=None).readlines()


SHADOWSERVER_HEADER = ["timestamp", "ip", "protocol", "port", "hostname", "tag", "asn", "geo"]


def test_a_shadowserver_report_gives_address_and_port_targets() -> None:
    lines = _csv(
        [
            SHADOWSERVER_HEADER,
            ["2026-12-01 00:01:02", "192.0.2.10", "tcp", "993", "mx.example.net", "imap", "1", ""],
            ["2026-12-01 00:01:03", "2001:db8::5", "tcp", "143", "", "imap,starttls", "1", ""],
            ["2026-12-01 00:01:04", "192.0.2.11", "tcp", "10143", "", "imap", "1", ""],
            ["2026-12-01 00:01:05", "192.0.2.12", "TCP", "25", 'a "quoted", name', "smtp", "", ""],
        ],
        bom=True,
    )  # fmt: skip
    got = list(parse_target_file(lines, "report.csv"))
    assert [t.text for t in got] == [
        "192.0.2.10:993",
        "[2001:db8::5]:143",
        "192.0.2.11:10143",
        "192.0.2.12:25",
    ]
    assert [t.where for t in got] == [f"report.csv:{n}" for n in (2, 3, 4, 5)]
    assert all(t.pin == "" for t in got)
    # The service is the port's (the transport in the report says nothing about it) ...
    specs = [parse_target(t.text) for t in got]
    assert [plan_ports(s)[0][1] for s in (specs[0], specs[1], specs[3])] == [
        Service.IMAPS,
        Service.IMAP,
        Service.SMTP,
    ]
    # ... a port without one needs --service, which also overrides the port's.
    with pytest.raises(UsageError, match="10143"):
        plan_ports(specs[2])
    assert plan_ports(specs[2], service=Service.IMAP) == ((10143, Service.IMAP),)
    assert plan_ports(specs[0], service=Service.IMAP) == ((993, Service.IMAP),)


def test_vedette_csv_report_gives_its_services_back() -> None:
    blank = [""] * (len(CSV_COLUMNS) - 5)
    lines = _csv(
        [
            list(CSV_COLUMNS),
            ["2026-12-01T00:00:00+00:00", "192.0.2.1", "993", "imaps", "Mail.Example.org", *blank],
            ["2026-12-01T00:00:01+00:00", "192.0.2.2", "587", "submission", "", *blank],
            ["2026-12-01T00:00:02+00:00", "", "110", "pop3", "gone.example.org", *blank],
            ["2026-12-01T00:00:03+00:00", "2001:db8::1", "443", "https", "", *blank],
        ],
        quoting=csv.QUOTE_MINIMAL,
    )
    got = [(t.text, t.pin) for t in parse_target_file(lines, "scan12.csv")]
    assert got == [
        ("imaps://mail.example.org:993", "192.0.2.1"),
        ("submission://192.0.2.2:587", ""),
        ("pop3://gone.example.org:110", ""),
        ("https://[2001:db8::1]:443", ""),
    ]
    for text, _ in got:
        parse_target(text)


def test_a_plain_target_file_with_a_byte_order_mark() -> None:
    got = list(parse_target_file(["\ufeffimaps://mail.example.org\r\n", "192.0.2.1:25\n"], "f"))
    assert [t.text for t in got] == ["imaps://mail.example.org", "192.0.2.1:25"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            ["t", "192.0.2.1\x1b]0;pwned\x07", "tcp", "993"],
            r"report.csv:3: control characters in column ip: '192.0.2.1\x1b]0;pwned\x07'",
        ),
        (
            ["t", "192.0.2.1", "tcp", "99\u202e3"],
            r"report.csv:3: control characters in column port: '99\u202e3'",
        ),
        (
            ["t", "192.0.2.1", "udp", "993"],
            "report.csv:3: protocol 'udp': vedette probes TCP services only",
        ),
        (
            ["t", "mail.example.org", "tcp", "993"],
            "report.csv:3: 'mail.example.org' is not an IP address",
        ),
        (["t", "192.0.2.1", "tcp", "99999"], "report.csv:3: bad port '99999' (expected 1-65535)"),
        (
            ["t", "192.0.2.1", "tcp", "\u0669\u0669\u0663"],  # digits, but not ASCII ones
            "report.csv:3: bad port '\u0669\u0669\u0663' (expected 1-65535)",
        ),
    ],
)  # fmt: skip
def test_hostile_or_broken_csv_rows_are_refused_by_line(row: list[str], message: str) -> None:
    lines = _csv([SHADOWSERVER_HEADER[:4], ["t", "192.0.2.9", "tcp", "25"], row])
    with pytest.raises(UsageError) as info:
        list(parse_target_file(lines, "report.csv"))
    text = str(info.value)
    assert text == message
    assert text.isprintable()


def test_broken_csv_is_refused_with_its_line() -> None:
    lines = ["timestamp,ip,protocol,port\n", "t,192.0.2.1,tcp,25\n", 't,"192.0.2.2\x00,tcp,25\n']
    with pytest.raises(UsageError, match=r"^report.csv:3: not a well-formed CSV row") as info:
        list(parse_target_file(lines, "report.csv"))
    assert str(info.value).isprintable()
    with pytest.raises(UsageError, match="report.csv:2: unknown protocol 'gopher'"):
        list(
            parse_target_file(
                [",".join(CSV_COLUMNS) + "\n", "t,192.0.2.1,70,gopher,,\n"], "report.csv"
            )
        )
