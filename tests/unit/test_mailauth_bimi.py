"""BIMI: the record, the DMARC enforcement it needs, and the SVG Tiny PS logo check."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.fake_dns import FakeDns
from vedette.mailauth.answers import DnsStatus
from vedette.mailauth.bimi import BimiResult, check_bimi, check_svg_tiny_ps
from vedette.mailauth.dmarc import check_dmarc

REJECT = '_dmarc.example.com. TXT "v=DMARC1; p=reject; rua=mailto:d@example.com"'
GOOD_RECORD = (
    'default._bimi.example.com. TXT "v=BIMI1; l=https://example.com/logo.svg; '
    'a=https://example.com/vmc.pem"'
)

#: Printable ASCII without the characters a master-file TXT string would need escaped.
TEXT = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\'),
    max_size=120,
)


def run(*lines: str, domain: str = "example.com", **kw: object) -> BimiResult:
    return asyncio.run(check_bimi(FakeDns(lines, **kw), domain))  # type: ignore[arg-type]


def ids(result: BimiResult) -> list[str]:
    return [f.id for f in result.findings]


def test_good_record_with_enforcing_dmarc() -> None:
    result = run(REJECT, GOOD_RECORD)
    assert result.logo_url == "https://example.com/logo.svg"
    assert result.certificate_url == "https://example.com/vmc.pem"
    assert result.dmarc_enforcing and result.findings == ()
    assert result.to_json()["record_name"] == "default._bimi.example.com"


def test_dmarc_result_is_reused() -> None:
    dns = FakeDns([REJECT, GOOD_RECORD])

    async def go() -> BimiResult:
        dmarc = await check_dmarc(dns, "example.com")
        dns.asked.clear()
        return await check_bimi(dns, "example.com", dmarc=dmarc)

    result = asyncio.run(go())
    assert dns.asked == [("default._bimi.example.com", "TXT")] and result.findings == ()


def test_subdomain_falls_back_to_the_organisational_domain() -> None:
    result = run(REJECT, GOOD_RECORD, domain="news.example.com")
    assert result.record_name == "default._bimi.example.com"


@pytest.mark.parametrize(
    ("dmarc", "words"),
    [
        ('_dmarc.example.com. TXT "v=DMARC1; p=none"', "none"),
        ('_dmarc.example.com. TXT "v=DMARC1; p=reject; t=y"', "t=y"),
        ("example.com. A 192.0.2.1", "no DMARC record"),
        ('_dmarc.example.com. TXT "v=DMARC1; p=reject; pct=50"', "pct=50"),
    ],
)
def test_dmarc_not_enforcing(dmarc: str, words: str) -> None:
    result = run(dmarc, GOOD_RECORD)
    finding = next(f for f in result.findings if f.id == "domain.bimi-dmarc-not-enforcing")
    assert words in finding.detail


def test_organisational_domain_must_enforce_too() -> None:
    sub = '_dmarc.news.example.com. TXT "v=DMARC1; p=reject"'
    bimi = 'default._bimi.news.example.com. TXT "v=BIMI1; l=https://x.test/l.svg; a=https://x.test/a.pem"'
    lax = run(sub, bimi, '_dmarc.example.com. TXT "v=DMARC1; p=none"', domain="news.example.com")
    (gap,) = [f.detail for f in lax.findings if f.id == "domain.bimi-dmarc-not-enforcing"]
    assert gap == "the organisational domain example.com has p=none"
    assert not lax.dmarc_enforcing
    sp = run(
        sub,
        bimi,
        '_dmarc.example.com. TXT "v=DMARC1; p=reject; sp=none"',
        domain="news.example.com",
    )
    assert [f.detail for f in sp.findings] == ["the organisational domain example.com has sp=none"]
    strict = run(
        sub, bimi, '_dmarc.example.com. TXT "v=DMARC1; p=reject"', domain="news.example.com"
    )
    assert strict.findings == () and strict.dmarc_enforcing


def test_missing_declined_duplicate_failure_syntax() -> None:
    assert ids(run(REJECT)) == ["domain.bimi-missing"]
    declined = run(REJECT, 'default._bimi.example.com. TXT "v=BIMI1; l=; a=;"')
    assert ids(declined) == ["domain.bimi-declined"]
    dup = run(REJECT, GOOD_RECORD, 'default._bimi.example.com. TXT "v=BIMI1; l=;"')
    assert ids(dup) == ["domain.bimi-duplicate"]
    failed = run(REJECT, failures={("default._bimi.example.com", "TXT"): DnsStatus.SERVFAIL})
    assert ids(failed) == ["domain.bimi-dns-failure"]
    bad = run(REJECT, 'default._bimi.example.com. TXT "v=BIMI1; l=http://x.test/l.svg; z=1"')
    assert ids(bad) == [
        "domain.bimi-syntax",
        "domain.bimi-syntax",
        "domain.bimi-no-mark-certificate",
    ]


GOOD_SVG = b"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps"
     viewBox="0 0 100 100">
  <title>Example Ltd</title>
  <defs><linearGradient id="g"><stop offset="0" stop-color="#000"/></linearGradient></defs>
  <rect width="100" height="100" fill="url(#g)"/>
  <use xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="#g"/>
</svg>"""


def test_good_svg_passes() -> None:
    assert check_svg_tiny_ps(GOOD_SVG) == ()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ((b'baseProfile="tiny-ps"', b'baseProfile="tiny"'), "baseProfile is 'tiny'"),
        ((b'version="1.2"', b'version="1.1"'), "version is '1.1'"),
        ((b"<title>Example Ltd</title>", b""), "no <title>"),
        ((b"<title>Example Ltd</title>", b"<title> </title>"), "empty"),
        ((b'viewBox="0 0 100 100"', b'viewBox="0 0 100 100" x="0"'), "has x="),
        ((b'viewBox="0 0 100 100"', b'viewBox="0 0 200 100"'), "not square"),
        ((b"<rect", b"<script>alert(1)</script><rect"), "scripts"),
        ((b"<rect", b'<animate attributeName="x"/><rect'), "animation"),
        ((b"<rect", b'<image href="logo.png"/><rect'), "raster"),
        ((b'xlink:href="#g"', b'xlink:href="https://evil.test/x.svg#a"'), "outside the file"),
        ((b'fill="url(#g)"', b'fill="url(https://evil.test/p)"'), "outside the file"),
        ((b"<rect", b'<rect onclick="x()"/><rect'), "event attribute"),
        ((b"<rect", b'<blink xmlns="http://x.test/ns"/><rect'), "another namespace"),
        ((b"<rect", b"<marquee/><rect"), "not an SVG Tiny PS element"),
    ],
)
def test_profile_violations(change: tuple[bytes, bytes], words: str) -> None:
    findings = check_svg_tiny_ps(GOOD_SVG.replace(*change))
    assert findings, words
    assert all(f.id == "domain.bimi-svg-not-tiny-ps" for f in findings)
    assert any(words in f.detail for f in findings), [f.detail for f in findings]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
            b'<svg xmlns="http://www.w3.org/2000/svg">&b;</svg>',
            "DOCTYPE",
        ),
        (
            b'<!DOCTYPE svg SYSTEM "file:///etc/passwd"><svg xmlns="http://www.w3.org/2000/svg"/>',
            "DOCTYPE",
        ),
        (b"<svg", "not well-formed"),
        (b"", "not well-formed"),
        (b"<a>" * 100 + b"</a>" * 100, "nested"),
    ],
)
def test_unreadable_and_hostile_documents(data: bytes, words: str) -> None:
    (finding,) = check_svg_tiny_ps(data)
    assert finding.id == "domain.bimi-svg-unreadable" and words in finding.detail


def test_size_limits() -> None:
    padded = GOOD_SVG.replace(b"<title>", b"<desc>" + b"x" * 40_000 + b"</desc><title>")
    assert any("at most 32768" in f.detail for f in check_svg_tiny_ps(padded))
    (huge,) = check_svg_tiny_ps(b" " * (2 * 1024 * 1024))
    assert huge.id == "domain.bimi-svg-unreadable"


def test_wrong_root() -> None:
    findings = check_svg_tiny_ps(b"<html/>")
    assert [f.detail for f in findings] == [
        "the root element is not <svg> in the SVG namespace ('html')"
    ]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_never_raises(data: bytes) -> None:
    assert isinstance(check_svg_tiny_ps(data), tuple)
    check_svg_tiny_ps(GOOD_SVG[:200] + data)


@settings(max_examples=150, deadline=None)
@given(TEXT)
def test_garbage_records_never_raise_in_the_check(record: str) -> None:
    result = run(REJECT, f'default._bimi.example.com. TXT "v=BIMI1;{record}"')
    json.dumps(result.to_json())
