"""CAA (RFC 8659): the tree climb, properties, and whether the CAs seen may issue again."""

from __future__ import annotations

import asyncio
import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.fake_dns import FakeDns
from vedette.mailauth.answers import DnsStatus
from vedette.mailauth.caa import CaaResult, check_caa, issuer_domain

KEY = ec.generate_private_key(ec.SECP256R1())

#: Printable ASCII without the characters a master-file TXT string would need escaped.
TEXT = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\'),
    max_size=120,
)


def cert(issuer_org: str, *names: str) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    issuer = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, issuer_org),
            x509.NameAttribute(NameOID.COMMON_NAME, "Test Issuing CA"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(issuer)
        .public_key(KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    )
    return builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def run(lines: list[str], certs: tuple[bytes, ...] | list[bytes] = (), **kw: object) -> CaaResult:
    return asyncio.run(check_caa(FakeDns(lines, **kw), "example.com", certs))  # type: ignore[arg-type]


def ids(result: CaaResult) -> list[str]:
    return [f.id for f in result.findings]


def test_allowed_issuer_at_the_parent() -> None:
    lines = [
        'example.com. CAA 0 issue "letsencrypt.org"',
        'example.com. CAA 0 iodef "mailto:s@example.com"',
    ]
    result = run(lines, [cert("Let's Encrypt", "mx1.example.com")])
    assert result.record_name == "example.com" and result.issue == ("letsencrypt.org",)
    assert result.certificates[0].allowed == {"mx1.example.com": True}
    assert result.findings == ()


def test_climb_stops_at_the_first_set_and_unauthorised_ca_is_reported() -> None:
    lines = [
        'example.com. CAA 0 issue "letsencrypt.org"',
        'mail.example.com. CAA 0 issue "digicert.com; cansignhttpexchanges=yes"',
    ]
    dns_certs = [cert("Let's Encrypt", "mx.mail.example.com", "example.com")]
    result = run(lines, dns_certs)
    assert result.certificates[0].allowed == {"mx.mail.example.com": False, "example.com": True}
    (finding,) = result.findings
    assert finding.id == "domain.caa-issuer-not-authorised"
    assert finding.subject == "mx.mail.example.com"
    assert "CAA at mail.example.com allows digicert.com" in finding.detail


def test_issuewild_and_forbidding_issue() -> None:
    lines = ['example.com. CAA 0 issue "letsencrypt.org"', 'example.com. CAA 0 issuewild ";"']
    result = run(lines, [cert("Let's Encrypt", "*.example.com")])
    assert result.issuewild == ()
    assert ids(result) == ["domain.caa-issuer-not-authorised"]
    assert "allows no CA" in result.findings[0].detail


def test_no_caa_unknown_issuer_and_failures() -> None:
    result = run([], [cert("Example Private CA", "mx1.example.com")])
    assert ids(result) == ["domain.caa-none", "domain.caa-issuer-unknown"]
    unknown = run(['example.com. CAA 0 issue "ca.test"'], [cert("Odd CA", "mx.example.com")])
    assert unknown.certificates[0].allowed == {"mx.example.com": None}
    failed = run([], failures={("example.com", "CAA"): DnsStatus.SERVFAIL})
    assert ids(failed) == ["domain.caa-dns-failure"] and failed.record_name is None
    assert run([], [b"not a certificate"]).certificates == ()


@pytest.mark.parametrize(
    ("line", "check"),
    [
        ('example.com. CAA 128 tbs "x"', "domain.caa-critical-unknown"),
        ('example.com. CAA 0 issue "not a domain!"', "domain.caa-syntax"),
        ('example.com. CAA 0 iodef "http://x.test/"', "domain.caa-iodef-bad"),
    ],
)
def test_property_problems(line: str, check: str) -> None:
    assert check in ids(run([line]))


def test_issuer_domain_parse() -> None:
    assert issuer_domain("Sectigo.com; account=1") == ("sectigo.com", None)
    assert issuer_domain(";") == ("", None)
    assert issuer_domain("a..b")[0] is None


@given(st.text(max_size=100))
def test_issuer_domain_never_raises(text: str) -> None:
    issuer_domain(text)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 255), st.from_regex(r"[a-z0-9]{1,15}", fullmatch=True), TEXT)
def test_garbage_caa_never_raises(flags: int, tag: str, value: str) -> None:
    result = run(
        [f'example.com. CAA {flags} {tag} "{value}"'], [cert("Let's Encrypt", "a.example.com")]
    )
    json.dumps(result.to_json())
