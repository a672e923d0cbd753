"""TLS-RPT (RFC 8460): the _smtp._tls record and its destinations."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.fake_dns import FakeDns
from vedette.mailauth.answers import DnsStatus
from vedette.mailauth.tlsrpt import TlsRptResult, check_tlsrpt, parse_tlsrpt

#: Printable ASCII without the characters a master-file TXT string would need escaped.
TEXT = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\'),
    max_size=120,
)


def run(*lines: str, failures: dict[tuple[str, str], DnsStatus] | None = None) -> TlsRptResult:
    return asyncio.run(check_tlsrpt(FakeDns(lines, failures=failures), "example.com"))


def ids(result: TlsRptResult) -> list[str]:
    return [f.id for f in result.findings]


def test_good_record_with_mail_and_https() -> None:
    result = run(
        '_smtp._tls.example.com. TXT "v=TLSRPTv1; '
        'rua=mailto:tls@example.com,https://reports.example.net/v1/tlsrpt"',
        '_smtp._tls.example.com. TXT "something else"',
    )
    assert result.destinations == (
        "mailto:tls@example.com",
        "https://reports.example.net/v1/tlsrpt",
    )
    assert result.findings == () and result.to_json()["record"] is not None


def test_missing_duplicate_failure() -> None:
    assert ids(run()) == ["domain.tlsrpt-missing"]
    assert ids(run('_smtp._tls.example.com. TXT "v=spf1"')) == ["domain.tlsrpt-missing"]
    dup = run(
        '_smtp._tls.example.com. TXT "v=TLSRPTv1; rua=mailto:a@example.com"',
        '_smtp._tls.example.com. TXT "v=TLSRPTv1; rua=mailto:b@example.com"',
    )
    assert ids(dup) == ["domain.tlsrpt-duplicate"] and dup.record is None
    failed = run(failures={("_smtp._tls.example.com", "TXT"): DnsStatus.REFUSED})
    assert ids(failed) == ["domain.tlsrpt-dns-failure"]


@pytest.mark.parametrize(
    ("rua", "words"),
    [
        ("http://reports.example.net/x", "plain http"),
        ("mailto:nobody", "not user@host"),
        ("ftp://x.example", "scheme 'ftp'"),
        ("https:///path", "no host"),
        ("", "empty destination"),
    ],
)
def test_bad_destinations(rua: str, words: str) -> None:
    result = run(f'_smtp._tls.example.com. TXT "v=TLSRPTv1; rua={rua}"')
    assert ids(result) == ["domain.tlsrpt-bad-destination"]
    assert words in result.findings[0].detail


def test_syntax() -> None:
    result = run('_smtp._tls.example.com. TXT "v=TLSRPTv1; rua"')
    assert set(ids(result)) == {"domain.tlsrpt-syntax"}
    assert "no rua=" in result.findings[-1].detail


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_garbage_never_raises(text: str) -> None:
    destinations, findings = parse_tlsrpt("v=TLSRPTv1; rua=" + text, "x")
    assert isinstance(destinations, tuple) and isinstance(findings, list)
    parse_tlsrpt(text, "x")


@settings(max_examples=150, deadline=None)
@given(TEXT)
def test_garbage_records_never_raise_in_the_check(record: str) -> None:
    result = run(f'_smtp._tls.example.com. TXT "v=TLSRPTv1;{record}"')
    json.dumps(result.to_json())
