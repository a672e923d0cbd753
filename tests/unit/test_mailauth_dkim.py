"""DKIM key records: selectors given or the common list, key types and sizes, flags, syntax."""

from __future__ import annotations

import asyncio
import base64
import functools
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.fake_dns import FakeDns
from vedette.mailauth.answers import DnsStatus
from vedette.mailauth.dkim import COMMON_SELECTORS, DkimResult, check_dkim, parse_key_record

#: Printable ASCII without the characters a master-file TXT string would need escaped.
TEXT = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\'),
    max_size=120,
)


@functools.cache
def rsa_b64(bits: int, spki: bool = True) -> str:
    if bits < 1024:  # too weak for cryptography to generate: a made-up modulus of that size
        key = rsa.RSAPublicNumbers(65537, 2 ** (bits - 1) + 111).public_key()
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    fmt = (
        serialization.PublicFormat.SubjectPublicKeyInfo
        if spki
        else serialization.PublicFormat.PKCS1
    )
    return base64.b64encode(key.public_bytes(serialization.Encoding.DER, fmt)).decode()


def ed_b64() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def txt(owner: str, record: str) -> str:
    """A TXT line with the record split into <=255-character strings."""
    parts = " ".join(f'"{record[i : i + 255]}"' for i in range(0, len(record), 255))
    return f"{owner} TXT {parts}"


class FakeDnsEnt(FakeDns):
    """FakeDns where the ancestors of an owner name exist (empty non-terminals answer NODATA,
    as real DNS does: RFC 8020), which the _domainkey shortcut relies on."""

    def __init__(self, lines: list[str], **kw: object) -> None:
        super().__init__(lines, **kw)  # type: ignore[arg-type]
        for owner in list(self.owners):
            labels = owner.split(".")
            self.owners.update(".".join(labels[i:]) for i in range(1, len(labels)))


def run(dns: FakeDns, selectors: list[str] | None) -> DkimResult:
    return asyncio.run(check_dkim(dns, "example.com", selectors))


def ids(result: DkimResult) -> list[str]:
    return [f.id for f in result.findings]


def test_good_rsa_2048_and_ed25519_keys() -> None:
    dns = FakeDnsEnt(
        [
            txt("s2048._domainkey.example.com.", f"v=DKIM1; k=rsa; p={rsa_b64(2048)}"),
            txt("ed._domainkey.example.com.", f"v=DKIM1; k=ed25519; p={ed_b64()}"),
            txt("bare._domainkey.example.com.", f"p={rsa_b64(2048, spki=False)}"),
        ]
    )
    result = run(dns, ["s2048", "ed", "bare"])
    assert [(k.key_type, k.bits) for k in result.keys] == [
        ("rsa", 2048),
        ("ed25519", 256),
        ("rsa", 2048),
    ]
    assert result.findings == ()
    assert result.to_json()["selectors_from"] == "given"


@pytest.mark.parametrize(
    ("bits", "check"), [(512, "domain.dkim-rsa-too-short"), (1024, "domain.dkim-rsa-short")]
)
def test_short_rsa_keys(bits: int, check: str) -> None:
    dns = FakeDnsEnt([txt("s._domainkey.example.com.", f"v=DKIM1; p={rsa_b64(bits)}")])
    result = run(dns, ["s"])
    assert ids(result) == [check] and result.keys[0].bits == bits


def test_flags_revoked_sha1_service_and_cname() -> None:
    dns = FakeDnsEnt(
        [
            txt("rev._domainkey.example.com.", "v=DKIM1; k=rsa; p="),
            txt(
                "t._domainkey.example.com.",
                f"v=DKIM1; k=ed25519; t=y:s; h=sha1; s=tlsrpt; p={ed_b64()}",
            ),
            "selector1._domainkey.example.com. CNAME "
            "selector1-example-com._domainkey.example.onmicrosoft.com.",
            txt(
                "selector1-example-com._domainkey.example.onmicrosoft.com.",
                f"v=DKIM1; k=rsa; p={rsa_b64(2048)}",
            ),
        ]
    )
    result = run(dns, ["rev", "t", "selector1"])
    rev, flagged, m365 = result.keys
    assert rev.revoked and rev.status == "found"
    assert flagged.testing and flagged.strict and flagged.hashes == ("sha1",)
    assert m365.cname == "selector1-example-com._domainkey.example.onmicrosoft.com"
    assert m365.bits == 2048
    assert ids(result) == [
        "domain.dkim-revoked",
        "domain.dkim-testing",
        "domain.dkim-strict",
        "domain.dkim-sha1-only",
        "domain.dkim-not-for-email",
    ]


@pytest.mark.parametrize(
    ("record", "words"),
    [
        ("v=DKIM2; p=AAAA", "must be DKIM1"),
        ("v=DKIM1; k=dsa; p=AAAA", "not rsa or ed25519"),
        ("v=DKIM1; p=!!notbase64", "not base64"),
        ("v=DKIM1; p=AAAA", "not an RSA public key"),
        ("v=DKIM1; k=ed25519; p=AAAA", "Ed25519"),
        ("v=DKIM1; k=rsa", "no p= tag"),
        ("v=DKIM1; p=a; p=b", "not a tag list"),
        ("just words", "not a tag list"),
    ],
)
def test_syntax_errors(record: str, words: str) -> None:
    dns = FakeDnsEnt([txt("s._domainkey.example.com.", record)])
    result = run(dns, ["s"])
    assert "domain.dkim-syntax" in ids(result)
    assert any(words in e for e in result.keys[0].errors)


def test_missing_multiple_and_failed_selectors() -> None:
    dns = FakeDnsEnt(
        [
            txt("two._domainkey.example.com.", "v=DKIM1; p="),
            txt("two._domainkey.example.com.", "v=DKIM1; p="),
        ],
        failures={("down._domainkey.example.com", "TXT"): DnsStatus.TIMEOUT},
    )
    result = run(dns, ["gone", "two", "down"])
    assert [k.status for k in result.keys] == ["absent", "found", "failed"]
    assert ids(result) == [
        "domain.dkim-selector-missing",
        "domain.dkim-multiple-records",
        "domain.dkim-revoked",
        "domain.dkim-dns-failure",
    ]


def test_common_selectors_when_none_given() -> None:
    # Something under _domainkey exists (an empty non-terminal): every common selector asked.
    other = FakeDnsEnt([txt("custom._domainkey.example.com.", "v=DKIM1; p=")])
    empty = run(other, None)
    assert len(empty.keys) == len(COMMON_SELECTORS)
    assert ids(empty) == ["domain.dkim-none-found"]  # absent at unknown selectors is no error
    # Nothing under _domainkey (NXDOMAIN, RFC 8020): one question, no selector asked.
    nothing = FakeDnsEnt([])
    shortcut = run(nothing, None)
    assert shortcut.keys == () and nothing.asked == [("_domainkey.example.com", "TXT")]
    assert "NXDOMAIN" in shortcut.findings[0].detail
    google = FakeDnsEnt([txt("google._domainkey.example.com.", f"v=DKIM1; p={rsa_b64(2048)}")])
    result = run(google, None)
    assert [(k.selector, k.provider) for k in result.found] == [("google", "Google Workspace")]
    assert result.findings == ()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_garbage_key_records_never_raise(text: str) -> None:
    parsed = parse_key_record(text)
    assert isinstance(parsed.errors, tuple)
    parse_key_record("v=DKIM1; p=" + text)


@settings(max_examples=150, deadline=None)
@given(TEXT)
def test_garbage_records_never_raise_in_the_check(record: str) -> None:
    result = run(FakeDnsEnt([txt("s._domainkey.example.com.", record or "x")]), ["s"])
    json.dumps(result.to_json())
