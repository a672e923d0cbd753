"""vedette's mail-domain DNS client against real Knot (authoritative) and Unbound (validating)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.integration.dns_lab import DnsLab, Zone, dns_lab
from vedette.mailauth.answers import DnsStatus, Security
from vedette.mailauth.dnsclient import DnsClient

ZONES = [
    Zone(
        "signed.test.",
        [
            '@ 300 TXT "v=spf1 " "mx -all"',
            "@ 300 MX 10 mx1",
            "mx1 300 A 127.0.0.25",
            "alias 300 CNAME mx1",
        ],
        signed=True,
    ),
    Zone("plain.test.", ['@ 300 TXT "v=spf1 -all"']),
    Zone("bogus.test.", ['@ 300 TXT "v=spf1 -all"'], bogus=True),
]


@pytest.fixture(scope="module")
def lab() -> Iterator[DnsLab]:
    with dns_lab(ZONES) as running:
        yield running


def test_statuses_cnames_and_ad_through_a_validating_resolver(lab: DnsLab) -> None:
    async def run() -> None:
        client = DnsClient(lab.resolver, timeout=5.0, trust_ad=True)
        txt = await client.query("signed.test", "TXT")
        assert txt.status is DnsStatus.OK and txt.texts() == ("v=spf1 mx -all",)
        assert txt.security is Security.SECURE
        alias = await client.query("alias.signed.test.", "A")
        assert alias.status is DnsStatus.OK and alias.cnames == ("mx1.signed.test",)
        assert [r.to_text() for r in alias.records] == ["127.0.0.25"]
        assert (await client.query("signed.test", "AAAA")).status is DnsStatus.NODATA
        assert (await client.query("none.signed.test", "A")).status is DnsStatus.NXDOMAIN
        plain = await client.query("plain.test", "TXT")
        assert plain.status is DnsStatus.OK and plain.security is Security.INSECURE
        bogus = await client.query("bogus.test", "TXT")
        assert bogus.status is DnsStatus.SERVFAIL and "SERVFAIL" in bogus.detail
        assert client.asked == 6
        again = await client.query("SIGNED.test.", "txt")
        assert again is txt and client.asked == 6

    asyncio.run(run())


def test_without_trust_ad_the_standing_is_unknown(lab: DnsLab) -> None:
    async def run() -> None:
        client = DnsClient(lab.authoritative, timeout=5.0)
        txt = await client.query("signed.test", "TXT")
        assert txt.status is DnsStatus.OK and txt.security is Security.UNKNOWN
        refused = await client.query("example.net", "TXT")
        assert refused.status is DnsStatus.REFUSED

    asyncio.run(run())
