"""DMARC (RFC 9989): parse, the DNS tree walk, policies, report destinations, findings."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.fake_dns import FakeDns
from vedette.mailauth.answers import DnsStatus
from vedette.mailauth.dmarc import DmarcResult, check_dmarc, parse_dmarc, walk_targets

#: Printable ASCII without the characters a master-file TXT string would need escaped.
TEXT = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\'),
    max_size=120,
)


def run(dns: FakeDns, domain: str = "example.com") -> DmarcResult:
    return asyncio.run(check_dmarc(dns, domain))


def ids(result: DmarcResult) -> list[str]:
    return [f.id for f in result.findings]


def test_parse_defaults_and_values() -> None:
    record = parse_dmarc("v=DMARC1; p=reject; rua=mailto:d@example.com, mailto:x@y.test!10m")
    assert (record.policy, record.sp, record.np) == ("reject", "reject", "reject")
    assert (record.adkim, record.aspf, record.psd, record.testing) == ("r", "r", "u", False)
    assert record.rua == ("mailto:d@example.com", "mailto:x@y.test!10m") and not record.errors
    odd = parse_dmarc("v=DMARC1; p=maybe; sp=none; adkim=x; pct=50; foo=1; rua=http://x")
    assert odd.policy is None and odd.sp == "none" and odd.np == "none"
    assert odd.obsolete == ("pct=50",)
    assert any("p='maybe'" in e for e in odd.errors)
    assert any("unknown tag 'foo'" in e for e in odd.errors)
    assert any(e.startswith("rua:") for e in odd.errors)
    assert "does not start" in parse_dmarc("p=reject; v=DMARC1").errors[-1]


def test_walk_targets_follow_rfc_9989() -> None:
    assert walk_targets("a.b.c.d.e.f.example.com") == (
        "e.f.example.com",
        "f.example.com",
        "example.com",
        "com",
    )
    assert walk_targets("a.b.c.d.e.example.com") == (
        "d.e.example.com",
        "e.example.com",
        "example.com",
        "com",
    )
    assert walk_targets("mail.example.com") == ("example.com", "com")
    assert walk_targets("com") == ()


def test_reject_at_the_domain_with_reports_in_domain() -> None:
    dns = FakeDns(['_dmarc.example.com. TXT "v=DMARC1; p=reject; rua=mailto:r@example.com"'])
    result = run(dns)
    assert result.policy_domain == "example.com" and result.applied == "reject"
    assert result.enforcing and result.org_domain == "example.com"
    assert ids(result) == ["domain.dmarc-forwarding"]
    assert "rejected" in result.findings[0].detail
    assert result.to_json()["applied_policy"] == "reject"


def test_subdomain_inherits_sp_from_the_walk() -> None:
    dns = FakeDns(
        [
            '_dmarc.example.com. TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:r@example.com"',
        ]
    )
    result = run(dns, "a.b.mail.example.com")
    assert result.walk == (
        "_dmarc.a.b.mail.example.com",
        "_dmarc.b.mail.example.com",
        "_dmarc.mail.example.com",
        "_dmarc.example.com",
        "_dmarc.com",
    )
    assert result.policy_domain == "example.com" and result.applied == "quarantine"
    assert result.org_domain == "example.com"
    assert "domain.dmarc-subdomain-weaker" in ids(result)


def test_np_applies_to_a_subdomain_that_does_not_exist() -> None:
    record = '_dmarc.example.com. TXT "v=DMARC1; p=reject; sp=quarantine; np=none"'
    assert run(FakeDns([record]), "ghost.example.com").applied == "none"
    real = FakeDns([record, "real.example.com. A 192.0.2.1"])
    assert run(real, "real.example.com").applied == "quarantine"


def test_psd_tags_decide_the_organisational_domain() -> None:
    stop = FakeDns(
        [
            '_dmarc.dept.example.com. TXT "v=DMARC1; p=none; psd=n; rua=mailto:a@dept.example.com"',
            '_dmarc.example.com. TXT "v=DMARC1; p=reject"',
        ]
    )
    result = run(stop, "host.dept.example.com")
    assert result.org_domain == "dept.example.com" and result.walk[-1] == "_dmarc.dept.example.com"
    assert result.applied == "none"  # sp defaults to p of the record found
    psd = FakeDns(['_dmarc.gov.test. TXT "v=DMARC1; p=reject; psd=y"'])
    result = run(psd, "x.agency.gov.test")
    assert result.org_domain == "agency.gov.test" and result.policy_domain == "gov.test"
    plain = FakeDns([])
    assert run(plain, "x.example.com").org_domain == "x.example.com"


def test_no_record_duplicates_and_dns_failure() -> None:
    assert ids(run(FakeDns([]))) == ["domain.dmarc-missing"]
    dup = FakeDns(
        [
            '_dmarc.example.com. TXT "v=DMARC1; p=reject"',
            '_dmarc.example.com. TXT "v=DMARC1; p=none"',
        ]
    )
    assert ids(run(dup)) == ["domain.dmarc-duplicate", "domain.dmarc-missing"]
    failed = FakeDns([], failures={("_dmarc.example.com", "TXT"): DnsStatus.SERVFAIL})
    result = run(failed)
    assert ids(result) == ["domain.dmarc-dns-failure"] and result.record is None


def test_weak_and_obsolete_records() -> None:
    dns = FakeDns(['_dmarc.example.com. TXT "v=DMARC1; p=none; pct=20; ri=3600; t=y"'])
    found = ids(run(dns))
    assert found.count("domain.dmarc-obsolete-tag") == 2
    assert {"domain.dmarc-policy-none", "domain.dmarc-testing", "domain.dmarc-no-reports"} <= set(
        found
    )
    assert "domain.dmarc-forwarding" not in found
    nop = FakeDns(['_dmarc.example.com. TXT "v=DMARC1; rua=mailto:a@example.com"'])
    result = run(nop)
    assert "domain.dmarc-no-policy" in ids(result) and result.applied == "none"
    testing = FakeDns(['_dmarc.example.com. TXT "v=DMARC1; p=reject; t=y"'])
    assert not run(testing).enforcing


@pytest.mark.parametrize(
    ("authorisation", "ok"),
    [
        ('example.com._report._dmarc.reports.vendor.test. TXT "v=DMARC1"', True),
        ('example.com._report._dmarc.reports.vendor.test. TXT "v=spf1"', False),
        ("other.test. A 192.0.2.1", False),
    ],
)
def test_external_report_destinations(authorisation: str, ok: bool) -> None:
    dns = FakeDns(
        [
            '_dmarc.example.com. TXT "v=DMARC1; p=quarantine; '
            'rua=mailto:a@reports.vendor.test,mailto:b@sub.example.com; ruf=mailto:f@Example.COM"',
            authorisation,
        ]
    )
    result = run(dns)
    assert result.authorised == {"reports.vendor.test": ok}
    assert ("domain.dmarc-external-destination-unauthorised" in ids(result)) is not ok


def test_bad_uri_is_reported() -> None:
    dns = FakeDns(['_dmarc.example.com. TXT "v=DMARC1; p=reject; rua=https://x.test/r"'])
    result = run(dns)
    assert {"domain.dmarc-bad-report-uri", "domain.dmarc-no-reports"} <= set(ids(result))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_garbage_never_raises(text: str) -> None:
    record = parse_dmarc("v=DMARC1;" + text)
    assert isinstance(record.to_json(), dict)
    parse_dmarc(text)


@settings(max_examples=150, deadline=None)
@given(TEXT, TEXT)
def test_garbage_records_through_the_walk_never_raise(record: str, parent: str) -> None:
    dns = FakeDns(
        [
            f'_dmarc.a.example.com. TXT "v=DMARC1;{record}"',
            f'_dmarc.example.com. TXT "v=DMARC1; p=reject;{parent}"',
        ]
    )
    result = run(dns, "a.example.com")
    json.dumps(result.to_json())
