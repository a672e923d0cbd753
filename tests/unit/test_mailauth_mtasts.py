"""MTA-STS: the TXT record, policy parsing, pattern matching, the check over fakes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from tests.unit.fake_dns import FakeDns
from vedette.mailauth.answers import DnsStatus
from vedette.mailauth.mtasts import (
    MtaStsResult,
    PolicyFetch,
    StsMode,
    check_mta_sts,
    mx_pattern_matches,
    parse_policy,
    parse_sts_record,
)

GOOD = (
    b"version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net\r\n"
    b"max_age: 604800\r\n"
)


def test_txt_record_needs_exactly_one_v_stsv1_with_an_id() -> None:
    rec, why = parse_sts_record(["v=spf1 -all", "v=STSv1; id=20240101T000000;"])
    assert rec is not None and rec.id == "20240101T000000" and why == ""
    assert parse_sts_record(["v=spf1 -all"]) == (None, "")
    none, why = parse_sts_record(["v=STSv1; id=a", "v=STSv1; id=b"])
    assert none is None and "exactly one" in why
    assert "no 'id='" in parse_sts_record(["v=STSv1;"])[1]
    assert "1 to 32" in parse_sts_record(["v=STSv1; id=not-alnum"])[1]
    assert "1 to 32" in parse_sts_record(["v=STSv1; id=" + "a" * 33])[1]
    assert "exactly 'v=STSv1'" in parse_sts_record(["v=STSv2; id=1"])[1]
    # Whitespace around '=' and extension fields are allowed.
    rec, _ = parse_sts_record(["v = STSv1 ; id = abc ; ext_1=val"])
    assert rec is not None and rec.id == "abc"


def test_policy_parses_crlf_and_lf_alike() -> None:
    crlf = parse_policy(GOOD)
    lf = parse_policy(GOOD.replace(b"\r\n", b"\n"))
    assert crlf == lf and crlf.valid
    assert crlf.mode is StsMode.ENFORCE and crlf.max_age == 604800
    assert crlf.mx == ("mx1.example.com", "*.example.net")


def test_policy_problems_are_named() -> None:
    bad = parse_policy(b"version: STSv2\nmode: strict\nmax_age: 99999999999\nmx: bad_name!\n")
    text = "; ".join(bad.problems)
    assert not bad.valid
    assert "STSv2" in text and "strict" in text and "max_age" in text and "bad_name" in text
    missing = parse_policy(b"version: STSv1\nmode: enforce\nmax_age: 86400\n")
    assert missing.problems == ("mode enforce needs at least one 'mx' line",)
    too_old = parse_policy(b"version: STSv1\nmode: none\nmax_age: 31557601\n")
    assert "above 31557600" in too_old.problems[0]
    assert parse_policy(b"version: STSv1\nmode: none\nmax_age: 0\n").valid
    twice = parse_policy(b"version: STSv1\nmode: none\nmode: enforce\nmax_age: 1\n")
    assert "given twice" in twice.problems[0]
    assert "not UTF-8" in parse_policy(b"\xff\xfe").problems[0]


def test_wildcards_cover_one_label_only() -> None:
    assert mx_pattern_matches("*.example.net", "mx.EXAMPLE.net.")
    assert not mx_pattern_matches("*.example.net", "a.b.example.net")
    assert not mx_pattern_matches("*.example.net", "example.net")
    assert mx_pattern_matches("mx1.example.com", "MX1.example.com")
    assert not mx_pattern_matches("mx1.example.com", "mx2.example.com")
    assert not mx_pattern_matches("", "mx1.example.com")


@given(st.binary(max_size=2048))
def test_policy_parser_never_raises_on_bytes(data: bytes) -> None:
    policy = parse_policy(data)
    assert policy.valid or policy.problems


@given(st.lists(st.text(max_size=120), max_size=4))
def test_record_parser_never_raises(texts: list[str]) -> None:
    rec, why = parse_sts_record(texts)
    assert rec is None or (rec.id.isalnum() and why == "")


@given(st.text(max_size=60), st.text(max_size=60))
def test_pattern_matching_never_raises_and_is_case_blind(pattern: str, host: str) -> None:
    assert mx_pattern_matches(pattern, host) == mx_pattern_matches(pattern.upper(), host.upper())


# --- check_mta_sts over a fake DNS and a fake fetch ---------------------------------------------


def _check(
    txt: list[str],
    body: bytes | None,
    *,
    certs: dict[str, list[str]] | None = None,
    content_type: str = "text/plain",
    mx: tuple[str, ...] = ("mx1.example.com", "mx2.example.net"),
    failures: dict[tuple[str, str], DnsStatus] | None = None,
) -> tuple[MtaStsResult, list[str]]:
    lines = [f'_mta-sts.example.com. TXT "{t}"' for t in txt] + ["example.com. A 127.0.0.1"]
    urls: list[str] = []

    async def fetch(url: str) -> PolicyFetch:
        urls.append(url)
        if body is None:
            return PolicyFetch(body=None, error="HTTP 404 (Not Found)")
        return PolicyFetch(body=body, content_type=content_type)

    dns = FakeDns(lines, failures=failures)
    result = asyncio.run(
        check_mta_sts(
            dns,
            "example.com",
            mx,
            certs if certs is not None else {m: [m] for m in mx},
            fetch,
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )
    return result, urls


def _ids(result: MtaStsResult) -> set[str]:
    return {f.id for f in result.findings}


def test_a_good_policy_enforces_and_matches_every_mx() -> None:
    result, urls = _check(["v=STSv1; id=1"], GOOD)
    assert urls == ["https://mta-sts.example.com/.well-known/mta-sts.txt"]
    assert result.enforced and result.findings == ()
    assert [(m.name, m.pattern, m.cert_matches) for m in result.mx] == [
        ("mx1.example.com", "mx1.example.com", True),
        ("mx2.example.net", "*.example.net", True),
    ]
    assert result.to_json()["mode_applied"] == "enforce"


def test_mx_outside_the_policy_or_with_a_wrong_certificate() -> None:
    result, _ = _check(
        ["v=STSv1; id=1"],
        GOOD,
        mx=("mx1.example.com", "mx3.other.org"),
        certs={"mx1.example.com": ["other.example.com"], "mx3.other.org": ["mx3.other.org"]},
    )
    by = {(f.id, f.subject) for f in result.findings}
    assert ("domain.mta-sts-mx-not-listed", "mx3.other.org") in by
    assert ("domain.mta-sts-mx-certificate-name", "mx1.example.com") in by
    assert ("domain.mta-sts-pattern-unused", "example.com") in by
    assert all(f.severity.name == "HIGH" for f in result.findings if "mx-" in f.id)


def test_testing_mode_weighs_less_and_says_so() -> None:
    body = GOOD.replace(b"enforce", b"testing").replace(b"604800", b"300")
    result, _ = _check(["v=STSv1; id=1"], body, certs={"mx1.example.com": ["x.example.com"]})
    assert not result.enforced and result.mode is StsMode.TESTING
    assert {"domain.mta-sts-testing", "domain.mta-sts-short-max-age"} <= _ids(result)
    name = next(f for f in result.findings if f.id == "domain.mta-sts-mx-certificate-name")
    assert name.severity.name == "MEDIUM"


def test_missing_invalid_unreachable_and_failed() -> None:
    absent, urls = _check([], GOOD)
    assert _ids(absent) == {"domain.mta-sts-missing"} and urls == []
    invalid, _ = _check(["v=STSv1; id=1", "v=STSv1; id=2"], GOOD)
    assert _ids(invalid) == {"domain.mta-sts-record-invalid"}
    unreachable, _ = _check(["v=STSv1; id=1"], None)
    assert _ids(unreachable) == {"domain.mta-sts-policy-unreachable"}
    assert unreachable.mode is None and "404" in unreachable.fetch_error
    failed, _ = _check([], GOOD, failures={("_mta-sts.example.com", "TXT"): DnsStatus.SERVFAIL})
    assert _ids(failed) == {"domain.mta-sts-record-lookup-failed"}
    bad, _ = _check(["v=STSv1; id=1"], b"version: STSv1\n", content_type="text/html")
    assert _ids(bad) == {"domain.mta-sts-policy-invalid", "domain.mta-sts-content-type"}
    assert bad.mode is None


def test_the_fetch_observation_round_trips_through_json() -> None:
    fetched = PolicyFetch(body=GOOD, chain_der=(b"\x30\x03abc",), content_type="text/plain")
    assert PolicyFetch.from_json(fetched.to_json()) == fetched
    binary = PolicyFetch(body=b"\xff\x00", error="")
    assert binary.to_json()["body"] is None
    assert PolicyFetch.from_json(binary.to_json()) == binary
    failed = PolicyFetch(body=None, error="HTTP 404 (Not Found)")
    assert PolicyFetch.from_json(failed.to_json()) == failed


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=40),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(["status", "body", "body_b64", "chain_der_b64", "error"]),
                inner,
                max_size=5,
            )
        ),
        max_leaves=12,
    )
)
def test_a_damaged_stored_fetch_is_a_value_error(data: object) -> None:
    try:
        PolicyFetch.from_json(data)
    except ValueError as exc:
        assert "\n" not in str(exc)
