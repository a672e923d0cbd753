"""The shared base of the mail-domain rules: DNS answers, the fake lookup, the registry."""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.fake_dns import FakeDns
from vedette.mailauth.answers import DnsStatus, Security
from vedette.mailauth.registry import DOMAIN_CHECKS, domain_check
from vedette.model import Severity


def test_fake_dns_statuses_and_txt_joining() -> None:
    dns = FakeDns(
        [
            'example.com. TXT "v=spf1 " "mx -all"',
            "example.com. MX 10 mx1.example.com.",
            "alias.example.com. CNAME example.com.",
            "loop1.example.com. CNAME loop2.example.com.",
            "loop2.example.com. CNAME loop1.example.com.",
        ],
        failures={("broken.example.com", "TXT"): DnsStatus.TIMEOUT},
        secure={"example.com"},
    )

    async def run() -> None:
        txt = await dns.query("Example.COM.", "txt")
        assert txt.status is DnsStatus.OK and txt.texts() == ("v=spf1 mx -all",)
        assert txt.security is Security.SECURE
        assert (await dns.query("example.com", "A")).status is DnsStatus.NODATA
        assert (await dns.query("none.example.com", "A")).status is DnsStatus.NXDOMAIN
        via = await dns.query("alias.example.com", "MX")
        assert via.status is DnsStatus.OK and via.cnames == ("example.com",)
        assert (await dns.query("loop1.example.com", "A")).status is DnsStatus.ERROR
        failed = await dns.query("broken.example.com", "TXT")
        assert failed.status.is_failure and failed.status is DnsStatus.TIMEOUT

    asyncio.run(run())


def test_registry_refuses_duplicates_and_foreign_ids() -> None:
    check = domain_check("domain.test-only-check", "A test check", Severity.LOW, "Fix it.")
    try:
        hit = check.hit("example.com", "detail", severity=Severity.HIGH)
        assert hit.severity is Severity.HIGH and hit.title == "A test check"
        with pytest.raises(ValueError, match="twice"):
            domain_check("domain.test-only-check", "again", Severity.LOW, "x")
        with pytest.raises(ValueError, match="start with"):
            domain_check("spf.bad", "x", Severity.LOW, "x")
    finally:
        del DOMAIN_CHECKS["domain.test-only-check"]
