"""The loopback DNS lab (Knot + validating Unbound) that DNS-dependent tests share: checked
with an independent client (kdig) and through vedette's own ``--resolver``; and the scripted
bad DNS server (SERVFAIL, silence, truncation, CNAME loops) with the status vedette's DNS client
gives each case."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.cli import run_vedette
from tests.integration.dns_lab import (
    DnsLab,
    Scripted,
    ScriptedDns,
    Zone,
    lab_for_fixture,
    scripted_dns,
)
from tests.tools import require_program
from vedette.mailauth.answers import DnsStatus, Security
from vedette.mailauth.dane import check_dane
from vedette.mailauth.dnsclient import DnsClient
from vedette.mailauth.dnssec import ValidatingLookup, dnssec_status, parse_trust_anchors

ZONES = (
    Zone("signed.test.", ("mail 300 A 127.0.0.77", '@ 300 TXT "v=spf1 -all"'), signed=True),
    Zone("plain.test.", ("mail 300 A 127.0.0.78",)),
    Zone("broken.test.", ("mail 300 A 127.0.0.79",), bogus=True),
)


@pytest.fixture(scope="module")
def lab() -> Iterator[DnsLab]:
    yield from lab_for_fixture(ZONES)


def _kdig(server: tuple[str, int], name: str, rdtype: str) -> str:
    kdig = require_program("kdig")
    out = subprocess.run(
        [kdig, f"@{server[0]}", "-p", str(server[1]), "+dnssec", "+tcp", name, rdtype],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return out.stdout


def test_a_signed_zone_validates_and_an_unsigned_one_is_insecure(lab: DnsLab) -> None:
    signed = _kdig(lab.resolver, "mail.signed.test", "A")
    assert "status: NOERROR" in signed and ";; Flags: qr rd ra ad;" in signed, signed
    assert "127.0.0.77" in signed
    plain = _kdig(lab.resolver, "mail.plain.test", "A")
    assert "status: NOERROR" in plain and " ad;" not in plain, plain
    # Knot itself serves the signatures Unbound checked.
    assert "RRSIG" in _kdig(lab.authoritative, "mail.signed.test", "A")


def test_a_broken_chain_of_trust_is_servfail(lab: DnsLab) -> None:
    out = _kdig(lab.resolver, "mail.broken.test", "A")
    assert "status: SERVFAIL" in out, out
    # Without validation the same name resolves: only the chain of trust is broken.
    assert "127.0.0.79" in _kdig(lab.authoritative, "mail.broken.test", "A")


def test_nothing_outside_the_lab_is_answered(lab: DnsLab) -> None:
    # Unbound forwards everything to Knot, which knows only the lab's zones.
    assert "status: REFUSED" in _kdig(lab.authoritative, "www.example.com", "A")
    assert "status: SERVFAIL" in _kdig(lab.resolver, "www.example.com", "A")


def test_vedette_resolves_through_the_lab(lab: DnsLab) -> None:
    # Port 9 on the lab's address: nothing listens, so the scan ends at once, after DNS.
    ok = run_vedette(
        "scan", "imaps://mail.signed.test:9", "--resolver", lab.resolver_arg, "--no-store"
    )
    assert ok.returncode == 2, ok.stderr
    assert "imaps://mail.signed.test:9 (127.0.0.77)" in ok.stdout
    bogus = run_vedette(
        "scan", "imaps://mail.broken.test:9", "--resolver", lab.resolver_arg, "--no-store"
    )
    assert "endpoint.resolve-failed" in bogus.stdout
    assert "answered SERVFAIL" in " ".join(bogus.stdout.split())


# --- bad DNS: the scripted server, and the status vedette's client gives each case ----------

BAD = {
    "servfail.bad.test": Scripted("servfail"),
    "silent.bad.test": Scripted("silent"),
    "big.bad.test": Scripted(
        "truncate", [f'big.bad.test. 300 TXT "{"x" * 200} {i}"' for i in range(12)]
    ),
    "loop1.bad.test": Scripted(
        records=[
            "loop1.bad.test. 300 CNAME loop2.bad.test.",
            "loop2.bad.test. 300 CNAME loop1.bad.test.",
        ]
    ),
    "short.bad.test": Scripted(records=["short.bad.test. 300 A 127.0.0.71"]),
    # A DANE-EE SHA-256 record with 20 bytes of digest: on the wire as a server may send it.
    "_25._tcp.short.bad.test": Scripted(
        records=["_25._tcp.short.bad.test. 300 TLSA \\# 23 030101" + "ab" * 20]
    ),
}


def test_bad_dns_gets_a_clear_status_from_the_client() -> None:
    async def run(server: ScriptedDns) -> None:
        client = DnsClient(server.address, timeout=1.0)
        failed = await client.query("servfail.bad.test", "TXT")
        assert failed.status is DnsStatus.SERVFAIL
        assert failed.detail == "servfail.bad.test TXT: the server failed (SERVFAIL)"
        started = time.monotonic()
        silent = await client.query("silent.bad.test", "TXT")
        assert silent.status is DnsStatus.TIMEOUT and time.monotonic() - started < 3
        assert silent.detail == "silent.bad.test TXT: no answer within 1 s"
        big = await client.query("big.bad.test", "TXT")
        assert big.status is DnsStatus.OK and len(big.records) == 12
        loop = await client.query("loop1.bad.test", "A")
        assert loop.status is DnsStatus.ERROR
        assert loop.detail == "loop1.bad.test A: CNAME loop (or a chain of more than 16 CNAMEs)"
        refused = await client.query("elsewhere.test", "A")
        assert refused.status is DnsStatus.REFUSED

    with scripted_dns(BAD) as server:
        asyncio.run(run(server))
        # The truncated answer came whole over TCP, after the UDP try.
        assert [t for t, name, _ in server.asked if name == "big.bad.test"] == ["udp", "tcp"]


def test_bad_dns_through_the_validating_lookup() -> None:
    async def run(server: ScriptedDns) -> None:
        # The raw (DO+CD) path the DNSSEC walk uses meets the same failures.
        client = DnsClient(server.address, timeout=1.0)
        assert (await client.raw("servfail.bad.test", "TXT")).status is DnsStatus.SERVFAIL
        assert (await client.raw("silent.bad.test", "TXT")).status is DnsStatus.TIMEOUT
        big = await client.raw("big.bad.test", "TXT")
        assert big.status is DnsStatus.OK and len(big.answer[0]) == 12
        anchors = parse_trust_anchors("bad.test. DS 1 13 2 " + "00" * 32, "test")
        lookup = ValidatingLookup(client, anchors)
        loop = await lookup.query("loop1.bad.test", "A")
        assert loop.status is DnsStatus.ERROR and "CNAME loop" in loop.detail
        # bad.test's DNSKEY question is REFUSED: the standing is unknown, with the reason.
        assert loop.security is Security.UNKNOWN
        status = await dnssec_status(lookup, "servfail.bad.test", "TXT")
        assert status.security is Security.UNKNOWN and "refused" in status.reason

    with scripted_dns(BAD) as server:
        asyncio.run(run(server))
        assert ("tcp", "big.bad.test", "TXT") in server.asked


def test_an_answer_dnspython_refuses_is_an_error_that_says_why_at_once() -> None:
    async def run(server: ScriptedDns) -> None:
        client = DnsClient(server.address, timeout=2.0)
        started = time.monotonic()
        tlsa = await client.query("_25._tcp.short.bad.test", "TLSA")
        assert time.monotonic() - started < 1  # not a timeout
        assert tlsa.status is DnsStatus.ERROR
        assert "length inconsistent with matching type" in tlsa.detail
        result = await check_dane(client, "short.bad.test", None)
        assert [f.id for f in result.findings] == ["domain.dane-malformed"]
        assert "digest length does not fit" in result.findings[0].detail

    with scripted_dns(BAD) as server:
        asyncio.run(run(server))


def test_nameservers_are_asked_in_turn_within_one_deadline() -> None:
    # As with two nameservers in /etc/resolv.conf (the client's only way to get several); no
    # other way in, so the test sets them on the client's resolver settings.
    dead = "127.0.0.57"  # nothing listens there: UDP questions go unanswered

    async def run(server: ScriptedDns) -> None:
        first_dead = DnsClient(server.address, timeout=2.0)
        first_dead._dns().nameservers = [dead, server.address[0]]
        started = time.monotonic()
        big = await first_dead.query("big.bad.test", "TXT")
        assert big.status is DnsStatus.OK and len(big.records) == 12
        assert time.monotonic() - started < 1.8  # the dead one got its share, not all of it
        last_dead = DnsClient(server.address, timeout=1.0)
        last_dead._dns().nameservers = [server.address[0], dead]
        failed = await last_dead.query("servfail.bad.test", "TXT")
        assert failed.status is DnsStatus.SERVFAIL  # the answer heard, not the later silence
        both_silent = DnsClient(server.address, timeout=1.0)
        both_silent._dns().nameservers = [server.address[0]] * 2
        started = time.monotonic()
        silent = await both_silent.query("silent.bad.test", "TXT")
        assert silent.status is DnsStatus.TIMEOUT and time.monotonic() - started < 1.5

    with scripted_dns(BAD) as server:
        asyncio.run(run(server))
