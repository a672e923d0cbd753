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


def test_one_socket_carries_concurrent_questions_and_spoofed_answers_are_ignored() -> None:
    """A loopback server that collects 8 concurrent questions, then answers them in reverse
    order, each preceded by three forgeries: a wrong id, the right id for another question,
    and the right answer sent from another port. The client takes only the real answers."""
    import socket
    import threading

    import dns.message
    import dns.rrset

    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.57", 0))
    forger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    forger.bind(("127.0.0.57", 0))
    names = [f"n{i}.spoof.test" for i in range(8)]
    sources: set[tuple[str, int]] = set()

    def reply(query: dns.message.Message, text: str) -> bytes:
        answer = dns.message.make_response(query)
        answer.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "TXT", text))
        return answer.to_wire()

    def serve() -> None:
        server.settimeout(5)
        got = []
        while len(got) < len(names):
            wire, peer = server.recvfrom(4096)
            got.append((dns.message.from_wire(wire), peer))
            sources.add(peer)
        for query, peer in reversed(got):
            wrong_id = dns.message.from_wire(reply(query, '"forged: wrong id"'))
            wrong_id.id = (query.id + 1) % 65536
            server.sendto(wrong_id.to_wire(), peer)
            other = dns.message.make_query("other.spoof.test", "TXT")
            other.id = query.id
            server.sendto(reply(other, '"forged: other question"'), peer)
            forger.sendto(reply(query, '"forged: wrong port"'), peer)
            server.sendto(reply(query, f'"real {query.question[0].name}"'), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def run() -> list[tuple[str, ...]]:
        client = DnsClient(server.getsockname(), timeout=5.0, trust_ad=True)
        answers = await asyncio.gather(*(client.query(n, "TXT") for n in names))
        return [a.texts() for a in answers]

    try:
        texts = asyncio.run(run())
    finally:
        thread.join(5)
        server.close()
        forger.close()
    assert texts == [(f"real {n}.",) for n in names]
    assert len(sources) == 1  # the eight questions shared one socket (one source port)
