"""Host name matching: SAN only, left-most whole-label wildcards, IDNA, IPs, trailing dots."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.builders import certificate, signer
from vedette.pki import CertificateAuthority
from vedette.x509.names import dns_name_matches, match_certificate, normalize_host


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("mail.example.com", "mail.example.com", True),
        ("MAIL.Example.COM", "mail.example.com", True),
        ("mail.example.com", "MAIL.EXAMPLE.COM", True),
        ("mail.example.com.", "mail.example.com", True),
        ("mail.example.com", "mail.example.com.", True),
        ("mail.example.com", "imap.example.com", False),
        ("mail.example.com", "example.com", False),
        ("example.com", "mail.example.com", False),
        # Wildcards: whole left-most label, exactly one label.
        ("*.example.com", "mail.example.com", True),
        ("*.example.com", "MAIL.example.com.", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", ".example.com", False),
        # Partial-label and non-left-most wildcards are refused.
        ("f*.example.com", "foo.example.com", False),
        ("*o.example.com", "foo.example.com", False),
        ("f*o.example.com", "foo.example.com", False),
        ("mail.*.com", "mail.example.com", False),
        ("*.*.example.com", "a.b.example.com", False),
        ("*", "localhost", False),
        # Wildcards over a public suffix never match.
        ("*.com", "example.com", False),
        ("*.co.uk", "example.co.uk", False),
        ("*.example.co.uk", "mail.example.co.uk", True),
        # Empty labels.
        ("mail..example.com", "mail..example.com", False),
        # IDNA: hosts given in Unicode compare as A-labels.
        ("xn--bcher-kva.example", "bücher.example", True),
        ("xn--bcher-kva.example", "BÜCHER.example", True),
        ("*.xn--bcher-kva.example", "mail.bücher.example", True),
        ("bücher.example", "bucher.example", False),
        # A dNSName spelling an address does not match the address.
        ("127.0.0.1", "localhost", False),
    ],
)
def test_dns_name_matches(pattern: str, host: str, expected: bool) -> None:
    assert dns_name_matches(pattern, host) is expected


def test_normalize_host():
    assert normalize_host("Mail.Example.COM.") == "mail.example.com"
    assert normalize_host("bücher.example") == "xn--bcher-kva.example"
    with pytest.raises(ValueError, match="empty"):
        normalize_host(".")


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create_root("Names Test Root")


@pytest.mark.parametrize(
    ("names", "target", "matched", "matched_by"),
    [
        (["mail.example.com", "*.example.org"], "mail.example.com", True, "mail.example.com"),
        (["mail.example.com", "*.example.org"], "imap.example.org", True, "*.example.org"),
        (["mail.example.com"], "imap.example.com", False, None),
        (["mail.example.com", "192.0.2.10"], "192.0.2.10", True, "192.0.2.10"),
        (["mail.example.com", "2001:db8::1"], "2001:DB8:0::1", True, "2001:db8::1"),
        (["mail.example.com", "2001:db8::1"], "[2001:db8::1]", True, "2001:db8::1"),
        (["mail.example.com"], "192.0.2.10", False, None),
        (["192.0.2.10"], "192.0.2.11", False, None),
    ],
)
def test_match_certificate(
    ca: CertificateAuthority, names: list[str], target: str, matched: bool, matched_by: str | None
):
    leaf = ca.issue_server(names)
    result = match_certificate(leaf.cert, target)
    assert result.matched is matched
    assert result.matched_by == matched_by


def test_mismatch_detail_lists_names_tried_and_present(ca: CertificateAuthority):
    leaf = ca.issue_server(["mail.example.com", "192.0.2.10"])
    text = match_certificate(leaf.cert, "imap.example.com").describe()
    assert "imap.example.com" in text
    assert "mail.example.com" in text
    assert "192.0.2.10" in text


def test_common_name_is_ignored_even_without_san(ca: CertificateAuthority):
    # A CN-only certificate, as issued by old internal CAs: current clients reject it.
    cert = certificate(
        "mail.example.com", issuer=signer(ca), not_before=datetime.now(UTC), days=30
    ).cert
    result = match_certificate(cert, "mail.example.com")
    assert not result.matched
    assert not result.has_san
    assert result.common_names == ("mail.example.com",)
    text = result.describe()
    assert "no subjectAltName" in text
    assert "CN (mail.example.com) is ignored" in text


def test_cn_does_not_rescue_a_san_mismatch(ca: CertificateAuthority):
    leaf = ca.issue_server(["other.example.com"], common_name="mail.example.com")
    assert not match_certificate(leaf.cert, "mail.example.com").matched
