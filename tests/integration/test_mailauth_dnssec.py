"""vedette's DNSSEC verdicts against three independent validators on the same zones: Unbound
(the lab's validating resolver: AD, no AD, SERVFAIL), BIND's ``delv`` (its own validation from
the same trust anchor, straight from Knot) and the zones' signer, Knot.

The lab: ``test.`` signed and anchored; under it ``good.test.`` signed with its DS at the
parent, ``plain.test.`` delegated without DS, ``mismatch.test.`` whose DS matches no key, and
``expired.test.`` whose signatures expired a day ago. ``good.test.`` holds a wildcard.
``n3.test.`` denies with NSEC3 and opt-out (as most top-level domains do), with a signed and an
unsigned child; there BIND's delv differs from Unbound on one point (see DELV_DIFFERS)."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dns.rdatatype
import pytest

from tests.integration.dns_lab import DnsLab, Zone, lab_for_fixture
from tests.tools import require_program
from vedette.mailauth.answers import DnsStatus, Security
from vedette.mailauth.dnsclient import DnsClient, RawAnswer
from vedette.mailauth.dnssec import ValidatingLookup, dnssec_status, load_trust_anchors

ZONES = [
    Zone("test.", ["www 300 A 127.0.0.1"], signed=True),
    Zone(
        "good.test.",
        [
            "mx1 300 A 127.0.0.25",
            "alias 300 CNAME mx1",
            '@ 300 TXT "v=spf1 mx -all"',
            "@ 300 MX 10 mx1",
            "*.wild 300 A 127.0.0.29",
        ],
        signed=True,
    ),
    Zone("plain.test.", ["mx1 300 A 127.0.0.26"]),
    Zone("mismatch.test.", ["mx1 300 A 127.0.0.27"], signed=True, ds_mismatch=True),
    Zone("expired.test.", ["mx1 300 A 127.0.0.28"], signed=True, expired=True),
    # NSEC3 with opt-out, as most top-level domains deny: a signed and an unsigned child.
    Zone(
        "n3.test.",
        [
            "mx1 300 A 127.0.0.30",
            "_25._tcp.mx1 300 TLSA 3 1 1 " + "ab" * 32,
            "*.wild 300 A 127.0.0.31",
            '@ 300 TXT "v=spf1 -all"',
        ],
        signed=True,
        nsec3="opt-out",
    ),
    Zone("signed.n3.test.", ["mx1 300 A 127.0.0.32"], signed=True, nsec3="opt-out"),
    Zone("plain.n3.test.", ["mx1 300 A 127.0.0.33"]),
    Zone(
        "n3x.test.",
        ["mx1 300 A 127.0.0.34", "*.wild 300 A 127.0.0.35"],
        signed=True,
        nsec3="strict",
    ),
]

#: (name, type, the standing every validator must give).
CASES = [
    ("www.test", "A", Security.SECURE),
    ("mx1.good.test", "A", Security.SECURE),
    ("alias.good.test", "A", Security.SECURE),
    ("good.test", "MX", Security.SECURE),
    ("good.test", "AAAA", Security.SECURE),  # NODATA, proven by NSEC
    ("none.good.test", "A", Security.SECURE),  # NXDOMAIN, proven by NSEC
    ("q.mx1.good.test", "A", Security.SECURE),  # NXDOMAIN: no wildcard *.mx1.good.test either
    ("x.wild.good.test", "A", Security.SECURE),  # a wildcard's answer, with its NSEC proof
    ("a.b.wild.good.test", "A", Security.SECURE),
    ("x.wild.good.test", "TXT", Security.SECURE),  # a wildcard's NODATA
    ("mx1.plain.test", "A", Security.INSECURE),
    ("mx1.n3.test", "A", Security.SECURE),
    ("_25._tcp.mx1.n3.test", "TLSA", Security.SECURE),  # below an empty non-terminal
    ("n3.test", "AAAA", Security.SECURE),  # NODATA, proven by NSEC3
    # An NXDOMAIN or a wildcard's answer whose next closer name an opt-out NSEC3 covers: an
    # unsigned delegation of that name could hide there (RFC 5155 9.2), so not secure.
    ("none.n3.test", "A", Security.INSECURE),
    ("x.wild.n3.test", "A", Security.INSECURE),
    ("mx1.signed.n3.test", "A", Security.SECURE),  # DS under an NSEC3 parent
    ("none.signed.n3.test", "A", Security.INSECURE),
    ("mx1.plain.n3.test", "A", Security.INSECURE),  # unsigned: in an opt-out span
    # NSEC3 without opt-out: closest encloser proofs.
    ("none.n3x.test", "A", Security.SECURE),
    ("a.b.n3x.test", "A", Security.SECURE),
    ("x.wild.n3x.test", "A", Security.SECURE),
    ("mx1.n3x.test", "TXT", Security.SECURE),
    ("mx1.mismatch.test", "A", Security.BOGUS),
    ("mx1.expired.test", "A", Security.BOGUS),
]

#: Where BIND's delv judges otherwise: it calls an NXDOMAIN under opt-out NSEC3 fully
#: validated; Unbound (whose verdict is what a Postfix behind it acts on) and vedette do not.
DELV_DIFFERS = {
    ("none.n3.test", "A"): Security.SECURE,
    ("none.signed.n3.test", "A"): Security.SECURE,
}


@pytest.fixture(scope="module")
def lab() -> Iterator[DnsLab]:
    yield from lab_for_fixture(ZONES)


@pytest.fixture(scope="module")
def anchor_file(lab: DnsLab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("anchors") / "anchors.txt"
    path.write_text("; the lab's trust anchor\n" + "\n".join(lab.anchors.values()) + "\n")
    return path


def _unbound(lab: DnsLab, name: str, rdtype: str) -> Security:
    """Unbound's verdict, read with kdig: AD set, AD clear, or SERVFAIL."""
    kdig = require_program("kdig")
    out = subprocess.run(
        [kdig, f"@{lab.resolver[0]}", "-p", str(lab.resolver[1]), "+dnssec", name, rdtype],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    if "status: SERVFAIL" in out:
        return Security.BOGUS
    flags = next(line for line in out.splitlines() if line.startswith(";; Flags:"))
    return Security.SECURE if " ad;" in flags else Security.INSECURE


def _delv(lab: DnsLab, name: str, rdtype: str, directory: Path) -> Security:
    """BIND's delv, validating by itself from the same anchor, asking Knot directly."""
    delv = require_program("delv")
    owner, _, key = lab.anchors["test."].partition(" DNSKEY ")
    flags, protocol, algorithm, data = key.split(None, 3)
    conf = directory / "delv.conf"
    conf.write_text(
        f'trust-anchors {{ "{owner}" static-key {flags} {protocol} {algorithm} '
        f'"{data.replace(" ", "")}"; }};\n'
    )
    server, port = lab.authoritative
    out = subprocess.run(
        [delv, f"@{server}", "-p", str(port), "-a", str(conf), "+root=test.", name, rdtype],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if "fully validated" in out.stdout:
        return Security.SECURE
    if "; unsigned answer" in out.stdout:
        return Security.INSECURE
    assert "broken trust chain" in out.stderr, (out.stdout, out.stderr)
    return Security.BOGUS


def _vedette(server: tuple[str, int], anchors: Path, name: str, rdtype: str):
    lookup = ValidatingLookup(DnsClient(server, timeout=5.0), load_trust_anchors(anchors))
    return asyncio.run(dnssec_status(lookup, name, rdtype))


@pytest.mark.parametrize(("name", "rdtype", "expected"), CASES)
def test_vedette_unbound_and_delv_agree(
    lab: DnsLab, anchor_file: Path, tmp_path: Path, name: str, rdtype: str, expected: Security
) -> None:
    through_unbound = _vedette(lab.resolver, anchor_file, name, rdtype)
    from_knot = _vedette(lab.authoritative, anchor_file, name, rdtype)
    assert through_unbound.mode == "chain" and str(anchor_file) == through_unbound.anchor
    verdicts = {
        "vedette (through Unbound, CD)": through_unbound.security,
        "vedette (from Knot)": from_knot.security,
        "Unbound": _unbound(lab, name, rdtype),
    }
    assert set(verdicts.values()) == {expected}, verdicts
    delv = _delv(lab, name, rdtype, tmp_path)
    assert delv is DELV_DIFFERS.get((name, rdtype), expected), (delv, verdicts)
    assert through_unbound.reason == from_knot.reason


def test_the_reasons_a_chain_fails(lab: DnsLab, anchor_file: Path) -> None:
    mismatch = _vedette(lab.resolver, anchor_file, "mx1.mismatch.test", "A")
    assert mismatch.reason.startswith("no DNSKEY of mismatch.test matches its DS at test")
    assert [link.zone for link in mismatch.chain] == ["test", "mismatch.test"]
    expired = _vedette(lab.resolver, anchor_file, "mx1.expired.test", "A")
    assert expired.reason.startswith("the signature of expired.test DNSKEY expired on")
    plain = _vedette(lab.resolver, anchor_file, "mx1.plain.test", "A")
    assert plain.reason == "plain.test is delegated without DS (proven by NSEC/NSEC3)"
    for status, check in [(mismatch, "domain.dnssec-bogus"), (plain, "domain.dnssec-unsigned")]:
        assert [f.id for f in status.findings] == [check]
    good = _vedette(lab.resolver, anchor_file, "mx1.good.test", "A")
    assert [(link.zone, link.security) for link in good.chain] == [
        ("test", Security.SECURE),
        ("good.test", Security.SECURE),
    ]


def test_rules_see_the_standing_of_their_records(lab: DnsLab, anchor_file: Path) -> None:
    async def run() -> None:
        client = DnsClient(lab.resolver, timeout=5.0)
        lookup = ValidatingLookup(client, load_trust_anchors(anchor_file))
        txt = await lookup.query("good.test", "TXT")
        assert txt.status is DnsStatus.OK and txt.security is Security.SECURE
        assert txt.texts() == ("v=spf1 mx -all",)
        alias = await lookup.query("alias.good.test", "A")
        assert alias.cnames == ("mx1.good.test",) and alias.security is Security.SECURE
        bogus = await lookup.query("mx1.expired.test", "A")
        assert bogus.status is DnsStatus.SERVFAIL and bogus.records == ()
        assert bogus.security is Security.BOGUS and "expired on" in bogus.detail
        asked = client.asked
        await lookup.query("good.test", "TXT")
        assert client.asked == asked  # cached

    asyncio.run(run())


def test_trust_ad_mode_says_so_and_cannot_tell_bogus_from_failure(lab: DnsLab) -> None:
    async def run() -> None:
        client = DnsClient(lab.resolver, timeout=5.0, trust_ad=True)
        good = await dnssec_status(client, "mx1.good.test")
        assert good.mode == "trust-ad" and good.security is Security.SECURE
        plain = await dnssec_status(client, "mx1.plain.test")
        assert plain.security is Security.INSECURE
        assert plain.reason == "the validating resolver did not set AD"
        bogus = await dnssec_status(client, "mx1.expired.test")
        assert bogus.security is Security.UNKNOWN and "SERVFAIL" in bogus.reason
        # A name's absence carries the resolver's standing too (AD on the signed denial).
        gone = await client.query("none.good.test", "A")
        assert gone.status is DnsStatus.NXDOMAIN and gone.security is Security.SECURE
        assert _unbound(lab, "none.good.test", "A") is Security.SECURE
        gone_plain = await client.query("none.plain.test", "A")
        assert gone_plain.status is DnsStatus.NXDOMAIN
        assert gone_plain.security is Security.INSECURE
        unchecked = await dnssec_status(DnsClient(lab.resolver, timeout=5.0), "mx1.good.test")
        assert unchecked.mode == "none" and unchecked.security is Security.UNKNOWN

    asyncio.run(run())


def test_the_root_anchor_against_a_lab_without_a_root(lab: DnsLab) -> None:
    # The shipped IANA anchor: the lab has no root zone, so the walk cannot start; it says so.
    lookup = ValidatingLookup(DnsClient(lab.authoritative, timeout=5.0))
    status = asyncio.run(dnssec_status(lookup, "mx1.good.test"))
    assert status.security is Security.UNKNOWN
    assert status.reason.startswith("the DNSKEY question failed: . DNSKEY: the server refused")
    assert "data.iana.org" in status.anchor


class _WithoutProofs:
    """Knot's real answers with the authority section (NSEC, NSEC3) dropped: a replayed
    wildcard answer, signed but without its proof."""

    def __init__(self, client: DnsClient) -> None:
        self.client = client

    async def raw(self, name: str, rdtype: str) -> RawAnswer:
        raw = await self.client.raw(name, rdtype)
        wildcard_answer = ".wild." in name and rdtype == "A"
        return dataclasses.replace(raw, authority=()) if wildcard_answer else raw


def test_a_wildcard_answer_without_its_proof_is_bogus(lab: DnsLab, anchor_file: Path) -> None:
    async def run() -> None:
        client = DnsClient(lab.authoritative, timeout=5.0)
        raw = await client.raw("x.wild.good.test", "A")
        # Knot's answer is a wildcard's: its RRSIG counts the labels of *.wild.good.test.
        (sig,) = [r for r in raw.answer if r.rdtype == dns.rdatatype.RRSIG]
        assert sig[0].labels == 3 and any(r.rdtype == dns.rdatatype.NSEC for r in raw.authority)
        anchors = load_trust_anchors(anchor_file)
        whole = await dnssec_status(ValidatingLookup(client, anchors), "x.wild.good.test")
        assert whole.security is Security.SECURE
        bare_lookup = ValidatingLookup(_WithoutProofs(client), anchors)
        bare = await dnssec_status(bare_lookup, "x.wild.good.test")
        assert bare.security is Security.BOGUS
        assert "made by a wildcard, comes without the NSEC/NSEC3 proof" in bare.reason
        # The same with NSEC3 (no opt-out).
        hashed = await dnssec_status(ValidatingLookup(client, anchors), "x.wild.n3x.test")
        assert hashed.security is Security.SECURE
        bare_hashed = await dnssec_status(bare_lookup, "x.wild.n3x.test")
        assert bare_hashed.security is Security.BOGUS
        assert "made by a wildcard, comes without the NSEC/NSEC3 proof" in bare_hashed.reason

    asyncio.run(run())
