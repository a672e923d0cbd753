"""MX discovery over a fake lookup: preference order, null MX, CNAME, literals, fallbacks."""

from __future__ import annotations

import asyncio

from tests.unit.fake_dns import FakeDns
from vedette.mailauth.answers import DnsStatus, Security
from vedette.mailauth.mx import MxResult, MxStatus, discover_mx


def _mx(lines: list[str], **kw: object) -> MxResult:
    return asyncio.run(discover_mx(FakeDns(lines, **kw), "Example.COM."))  # type: ignore[arg-type]


def _ids(result: MxResult) -> set[str]:
    return {f.id for f in result.findings}


def test_hosts_come_by_preference_with_their_addresses() -> None:
    result = _mx(
        [
            "example.com. MX 20 mx2.example.com.",
            "example.com. MX 10 MX1.example.com.",
            "example.com. MX 20 mx3.example.com.",
            "mx1.example.com. A 127.0.0.1",
            "mx1.example.com. AAAA ::1",
            "mx2.example.com. A 127.0.0.2",
            "mx3.example.com. A 127.0.0.3",
        ],
        secure={"example.com", "mx1.example.com"},
    )
    assert result.status is MxStatus.OK
    assert result.names == ("mx1.example.com", "mx2.example.com", "mx3.example.com")
    assert [h.preference for h in result.hosts] == [10, 20, 20]
    assert result.hosts[0].addresses == ("127.0.0.1", "::1")
    assert result.addresses() == ("127.0.0.1", "::1", "127.0.0.2", "127.0.0.3")
    assert result.security is Security.SECURE
    assert result.hosts[0].security is Security.SECURE
    assert result.hosts[1].security is Security.INSECURE
    assert result.findings == ()
    assert result.to_json()["hosts"][0]["name"] == "mx1.example.com"


def test_null_mx_alone_means_no_mail_and_mixed_is_an_error() -> None:
    alone = _mx(["example.com. MX 0 ."])
    assert alone.status is MxStatus.NULL and alone.hosts == ()
    assert _ids(alone) == {"domain.mx-null"}
    mixed = _mx(
        ["example.com. MX 0 .", "example.com. MX 10 mx1.example.com.", "mx1.example.com. A 1.2.3.4"]
    )
    assert mixed.status is MxStatus.OK and mixed.names == ("mx1.example.com",)
    assert _ids(mixed) == {"domain.mx-null-mixed"}


def test_cname_target_literal_and_missing_hosts_are_findings() -> None:
    result = _mx(
        [
            "example.com. MX 10 alias.example.com.",
            "example.com. MX 20 192.0.2.1.",
            "example.com. MX 30 gone.example.com.",
            "example.com. MX 40 bare.example.com.",
            "alias.example.com. CNAME real.example.com.",
            "real.example.com. A 127.0.0.9",
            "bare.example.com. TXT hello",
        ]
    )
    assert result.status is MxStatus.OK
    by_id = {f.id: f for f in result.findings}
    assert set(by_id) == {"domain.mx-cname", "domain.mx-address-literal", "domain.mx-no-address"}
    assert "real.example.com" in by_id["domain.mx-cname"].detail
    assert by_id["domain.mx-address-literal"].subject == "192.0.2.1"
    missing = [f for f in result.findings if f.id == "domain.mx-no-address"]
    assert {f.subject for f in missing} == {"gone.example.com", "bare.example.com"}
    assert any("NXDOMAIN" in f.detail for f in missing)
    # The literal is not scanned as a host; the alias is, at the address it leads to.
    assert result.names == ("alias.example.com", "gone.example.com", "bare.example.com")
    assert result.hosts[0].addresses == ("127.0.0.9",)


def test_no_mx_falls_back_to_the_domain_address() -> None:
    result = _mx(["example.com. A 127.0.0.5", "example.com. TXT x"])
    assert result.status is MxStatus.IMPLICIT
    assert result.names == ("example.com",) and result.hosts[0].preference == 0
    assert _ids(result) == {"domain.mx-implicit"}
    nothing = _mx(["example.com. TXT x"])
    assert nothing.status is MxStatus.NO_MAIL and _ids(nothing) == {"domain.mx-missing"}
    absent = _mx([])
    assert absent.status is MxStatus.NXDOMAIN and _ids(absent) == {"domain.nxdomain"}


def test_lookup_failures_are_statuses() -> None:
    failed = _mx([], failures={("example.com", "MX"): DnsStatus.SERVFAIL})
    assert failed.status is MxStatus.FAILED and _ids(failed) == {"domain.mx-lookup-failed"}
    timeout = _mx(
        ["example.com. MX 10 mx1.example.com."],
        failures={
            ("mx1.example.com", "A"): DnsStatus.TIMEOUT,
            ("mx1.example.com", "AAAA"): DnsStatus.TIMEOUT,
        },
    )
    assert timeout.status is MxStatus.FAILED
    assert timeout.hosts[0].address_status is DnsStatus.TIMEOUT
    assert _ids(timeout) == {"domain.mx-lookup-failed"}
    bogus = _mx(["example.com. MX 10 mx1.example.com."], bogus={"example.com"})
    assert bogus.status is MxStatus.FAILED and bogus.security is Security.BOGUS
