"""SPF: the record, the RFC 7208 4.6.4 lookup count, and pyspf's check_host() per address,
every DNS question through the fake Lookup (none reaches the system resolver)."""

from __future__ import annotations

import asyncio
import json

import pytest
import spf  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.fake_dns import FakeDns
from vedette.mailauth.answers import DnsStatus
from vedette.mailauth.spf import SpfResult, check_spf


def run(dns: FakeDns, domain: str = "example.com", **kw: object) -> SpfResult:
    result = asyncio.run(check_spf(dns, domain, **kw))  # type: ignore[arg-type]
    # Every question pyspf and the walk asked went through the fake.
    assert set(result.asked) <= set(dns.asked)
    return result


def ids(result: SpfResult) -> list[str]:
    return [f.id for f in result.findings]


def test_good_record_passes_its_senders_and_costs_what_it_asks() -> None:
    dns = FakeDns(
        [
            'example.com. TXT "v=spf1 mx include:_spf.provider.test -all"',
            'example.com. TXT "google-site-verification=abc"',
            "example.com. MX 10 mx1.example.com.",
            "mx1.example.com. A 192.0.2.10",
            'example.com. TXT "v=DMARC1 is not here"',
            '_spf.provider.test. TXT "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 -all"',
        ]
    )
    result = run(
        dns,
        sending_ips=["198.51.100.7", "2001:db8::25"],
        mx_addresses={"mx1.example.com": ["192.0.2.10"]},
    )
    assert result.record == "v=spf1 mx include:_spf.provider.test -all"
    assert result.all_qualifier == "-"
    assert [(t.kind, t.target) for t in result.lookups] == [
        ("mx", "example.com"),
        ("include", "_spf.provider.test"),
    ]
    assert result.void_lookups == 0
    assert [(v.address, v.result) for v in result.verdicts] == [
        ("198.51.100.7", "pass"),
        ("2001:db8::25", "pass"),
        ("192.0.2.10", "pass"),
    ]
    assert result.findings == ()
    assert result.to_json()["lookup_count"] == 2


def test_unlisted_sender_fails_and_mx_not_listed_is_noted() -> None:
    dns = FakeDns(['example.com. TXT "v=spf1 ip4:198.51.100.1 -all"'])
    result = run(dns, sending_ips=["203.0.113.9"], mx_addresses=["192.0.2.10"])
    assert [v.result for v in result.verdicts] == ["fail", "fail"]
    assert ids(result) == ["domain.spf-sender-not-allowed", "domain.spf-mx-not-allowed"]
    assert "203.0.113.9: fail" in result.findings[0].detail


def test_missing_duplicate_and_dns_failure() -> None:
    none = run(FakeDns(['example.com. TXT "hello"']))
    assert ids(none) == ["domain.spf-missing"] and none.records == ()
    nx = run(FakeDns([]))
    assert ids(nx) == ["domain.spf-missing"] and "does not exist" in nx.findings[0].detail
    dup = run(
        FakeDns(['example.com. TXT "v=spf1 -all"', 'example.com. TXT "v=spf1 mx -all"']),
        sending_ips=["192.0.2.1"],
    )
    assert ids(dup)[0] == "domain.spf-duplicate"
    assert dup.verdicts[0].result == "permerror"  # pyspf agrees: two records are broken
    failed = run(FakeDns([], failures={("example.com", "TXT"): DnsStatus.SERVFAIL}))
    assert ids(failed) == ["domain.spf-dns-failure"]


@pytest.mark.parametrize(
    ("record", "check", "qualifier"),
    [
        ("v=spf1 +all", "domain.spf-plus-all", "+"),
        ("v=spf1 all", "domain.spf-plus-all", "+"),
        ("v=spf1 a ?all", "domain.spf-neutral-all", "?"),
        ("v=spf1 a", "domain.spf-no-all", ""),
    ],
)
def test_all_qualifiers(record: str, check: str, qualifier: str) -> None:
    dns = FakeDns([f'example.com. TXT "{record}"', "example.com. A 192.0.2.1"])
    result = run(dns)
    assert check in ids(result) and result.all_qualifier == qualifier


def test_plus_all_inside_an_include_lets_everyone_pass() -> None:
    dns = FakeDns(
        [
            'example.com. TXT "v=spf1 include:lax.test -all"',
            'lax.test. TXT "v=spf1 +all"',
        ]
    )
    result = run(dns, sending_ips=["203.0.113.50"])
    assert "domain.spf-plus-all" in ids(result)
    assert result.verdicts[0].result == "pass"


def test_redirect_is_followed_and_counted_unless_there_is_an_all() -> None:
    dns = FakeDns(
        [
            'example.com. TXT "v=spf1 redirect=_spf.example.com"',
            '_spf.example.com. TXT "v=spf1 ip4:192.0.2.0/24 ~all"',
            'other.test. TXT "v=spf1 -all redirect=_spf.example.com"',
        ]
    )
    result = run(dns, sending_ips=["192.0.2.3"])
    assert [t.kind for t in result.lookups] == ["redirect"]
    assert result.all_qualifier == "~" and result.verdicts[0].result == "pass"
    assert ids(result) == []
    ignored = run(dns, "other.test")
    assert ignored.lookups == ()


def _tree(count: int) -> list[str]:
    lines = ['example.com. TXT "v=spf1 include:i0.example.com -all"']
    for n in range(count):
        nxt = f" include:i{n + 1}.example.com" if n + 1 < count else ""
        lines.append(f'i{n}.example.com. TXT "v=spf1 ip4:10.0.{n}.0/24{nxt} ~all"')
    return lines


def test_eleven_lookups_is_permerror_and_lists_the_terms() -> None:
    ok = run(FakeDns(_tree(10)), sending_ips=["10.0.9.1"])
    assert ok.lookup_count == 10 and "domain.spf-too-many-lookups" not in ids(ok)
    assert ok.verdicts[0].result == "pass"
    over = run(FakeDns(_tree(11)), sending_ips=["10.0.10.1"])
    assert over.lookup_count == 11
    finding = next(f for f in over.findings if f.id == "domain.spf-too-many-lookups")
    assert finding.detail.startswith("11 lookups: include:i0.example.com (example.com)")
    # pyspf (check_host) stops at the 11th lookup too.
    assert over.verdicts[0].result == "permerror"
    assert "lookups" in over.verdicts[0].explanation.lower()


def test_a_hostile_tree_is_walked_only_so_far() -> None:
    deep = run(FakeDns(_tree(100)))  # followed 20 includes deep, no further
    assert deep.truncated and deep.lookup_count == 20
    assert "more than 20 lookups" in next(
        f.detail for f in deep.findings if f.id == "domain.spf-too-many-lookups"
    )
    terms = " ".join(f'"a:h{n}.example.com "' for n in range(70))  # strings joined
    wide = run(FakeDns([f'example.com. TXT "v=spf1 " {terms} "-all"']))
    assert wide.truncated and wide.lookup_count == 60


def test_void_lookups_counted_and_third_one_is_permerror() -> None:
    dns = FakeDns(
        [
            'example.com. TXT "v=spf1 a:gone1.example.com a:gone2.example.com '
            'mx:nomx.example.com -all"',
            "nomx.example.com. A 192.0.2.1",
        ]
    )
    result = run(dns, sending_ips=["192.0.2.200"])
    assert result.void_lookups == 3
    assert [t.status for t in result.lookups] == ["nxdomain", "nxdomain", "nodata"]
    assert "domain.spf-too-many-void-lookups" in ids(result)
    assert result.verdicts[0].result == "permerror"
    assert "void" in result.verdicts[0].explanation.lower()


def test_terms_after_all_cost_nothing_and_are_reported() -> None:
    dns = FakeDns(['example.com. TXT "v=spf1 a:x.example.com -all include:_spf.example.net ?all"'])
    result = run(dns, sending_ips=["192.0.2.1"])
    assert [t.kind for t in result.lookups] == ["a"]
    assert result.all_qualifier == "-"
    finding = next(f for f in result.findings if f.id == "domain.spf-terms-after-all")
    assert finding.detail.endswith("include:_spf.example.net ?all")
    assert result.verdicts[0].result == "fail"


def test_an_ipv6_only_host_is_not_a_void_lookup() -> None:
    dns = FakeDns(
        [
            'example.com. TXT "v=spf1 a:v6.example.com a:none.example.com -all"',
            "v6.example.com. AAAA 2001:db8::25",
            "none.example.com. MX 10 v6.example.com.",
        ]
    )
    result = run(dns, sending_ips=["2001:db8::25"])
    assert [t.void for t in result.lookups] == [False, True]
    assert result.verdicts[0].result == "pass"


def test_includes_that_do_not_resolve() -> None:
    dns = FakeDns(
        [
            'example.com. TXT "v=spf1 include:gone.test include:nospf.test '
            'include:broken.test include:dup.test -all"',
            'nospf.test. TXT "not spf"',
            'dup.test. TXT "v=spf1 -all"',
            'dup.test. TXT "v=spf1 ~all"',
        ],
        failures={("broken.test", "TXT"): DnsStatus.TIMEOUT},
    )
    result = run(dns)
    details = [f.detail for f in result.findings if f.id == "domain.spf-include-unresolved"]
    assert len(details) == 3
    assert "gone.test does not exist" in details[0]
    assert "nospf.test has no SPF record" in details[1]
    assert "temperror" in details[2]
    assert "domain.spf-duplicate" in ids(result)
    assert result.void_lookups == 1  # gone.test; nospf.test has TXT records


def test_loops_ptr_macros_and_many_mx() -> None:
    dns = FakeDns(
        [
            'example.com. TXT "v=spf1 include:a.test ptr exists:%{i}.rbl.test mx:big.test -all"',
            'a.test. TXT "v=spf1 include:example.com -all"',
            *[f"big.test. MX {n} mx{n}.big.test." for n in range(11)],
        ]
    )
    result = run(dns)
    found = ids(result)
    assert {"domain.spf-include-loop", "domain.spf-ptr", "domain.spf-too-many-mx"} <= set(found)
    macro = next(t for t in result.lookups if t.kind == "exists")
    assert macro.target == ""  # depends on the sender: counted, not followed
    assert result.lookup_count == 5


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 ip4:192.0.2.300 -all",
        "v=spf1 ip4:192.0.2.0/33 -all",
        "v=spf1 moo -all",
        "v=spf1 include: -all",
        "v=spf1 a:192.0.2.1 -all",
        "v=spf1 =a -all",
        "v=spf1 redirect=a.test redirect=b.test",
        "v=spf1 redirect=",
    ],
)
def test_syntax_errors_are_found_and_pyspf_agrees(record: str) -> None:
    dns = FakeDns([f'example.com. TXT "{record}"', 'a.test. TXT "v=spf1 -all"'])
    result = run(dns, sending_ips=["192.0.2.9"])
    assert "domain.spf-syntax" in ids(result)
    assert result.verdicts[0].result == "permerror"


def test_invalid_sending_address_is_reported_not_raised() -> None:
    result = run(FakeDns(['example.com. TXT "v=spf1 -all"']), sending_ips=["not-an-ip"])
    assert result.verdicts[0].result == "invalid"


def test_pyspf_outside_a_check_never_reaches_the_system_resolver() -> None:
    query = spf.query(i="192.0.2.1", s="a@example.com", h="example.com")
    result, _code, explanation = query.check()
    assert result == "temperror"
    assert "no resolver" in explanation


def test_deadline_gives_temperror() -> None:
    class Slow(FakeDns):
        async def query(self, name: str, rdtype: str):  # type: ignore[no-untyped-def]
            if name.startswith("slow"):
                await asyncio.sleep(5)
            return await super().query(name, rdtype)

    dns = Slow(['example.com. TXT "v=spf1 include:slow.test -all"'])
    result = asyncio.run(check_spf(dns, "example.com", sending_ips=["192.0.2.1"], timeout=0.3))
    assert result.verdicts[0].result == "temperror"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120))
def test_garbage_records_never_raise(tail: str) -> None:
    record = ("v=spf1 " + tail).replace("\\", "").replace('"', "")
    dns = FakeDns([f'example.com. TXT "{record}"'])
    result = run(dns, sending_ips=["192.0.2.1"])
    assert result.verdicts[0].result in {
        "pass",
        "fail",
        "softfail",
        "neutral",
        "none",
        "permerror",
        "temperror",
    }
    assert isinstance(result.to_json(), dict)


def test_results_are_plain_json() -> None:
    dns = FakeDns(['example.com. TXT "v=spf1 a:x.example.com ptr -all"'])
    result = run(dns, sending_ips=["192.0.2.1"], mx_addresses=["192.0.2.2"])
    assert json.loads(json.dumps(result.to_json()))["verdicts"][1]["source"] == "mx"
