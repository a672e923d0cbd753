"""The loopback DNS lab (Knot + validating Unbound) that DNS-dependent tests share: checked
with an independent client (kdig) and through vedette's own ``--resolver``."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.cli import run_vedette
from tests.integration.dns_lab import DnsLab, Zone, dns_lab
from tests.integration.realservers import ServerUnavailable
from tests.tools import require_program, unavailable

ZONES = (
    Zone("signed.test.", ("mail 300 A 127.0.0.77", '@ 300 TXT "v=spf1 -all"'), signed=True),
    Zone("plain.test.", ("mail 300 A 127.0.0.78",)),
    Zone("broken.test.", ("mail 300 A 127.0.0.79",), bogus=True),
)


@pytest.fixture(scope="module")
def lab() -> Iterator[DnsLab]:
    try:
        with dns_lab(ZONES) as running:
            yield running
    except ServerUnavailable as exc:
        unavailable(str(exc))


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
