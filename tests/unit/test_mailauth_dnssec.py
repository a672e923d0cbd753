"""vedette's DNSSEC chain of trust, over zones signed in memory by dnspython and served by a
small fake authority (the walk against real Knot and Unbound is in
tests/integration/test_mailauth_dnssec.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import warnings
from collections.abc import Iterable

import dns.name
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.fake_dns import FakeDns
from vedette.errors import UsageError
from vedette.mailauth.answers import DnsStatus, Security
from vedette.mailauth.dnsclient import RawAnswer
from vedette.mailauth.dnssec import (
    ValidatingLookup,
    dnssec_status,
    nsec_types,
    parse_trust_anchors,
    root_trust_anchors,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import dns.dnssec

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
INCEPTION = NOW - dt.timedelta(days=1)
EXPIRATION = NOW + dt.timedelta(days=30)


def _key() -> tuple[ec.EllipticCurvePrivateKey, dns.rdata.Rdata]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, dns.dnssec.make_dnskey(key.public_key(), "ECDSAP256SHA256", flags=257)


def _zone(origin: str, lines: Iterable[str], *, sign: bool = True, **sign_kw: object):
    text = "\n".join(
        [
            f"@ 300 SOA ns.{origin} hostmaster.{origin} 1 3600 600 86400 300",
            f"@ 300 NS ns.{origin}",
            "ns 300 A 192.0.2.53",
            *lines,
        ]
    )
    zone = dns.zone.from_text(text, origin=origin, relativize=False)
    dnskey = None
    if sign:
        key, dnskey = _key()
        with zone.writer() as txn:
            dns.dnssec.sign_zone(
                zone,
                txn,
                keys=[(key, dnskey)],
                inception=sign_kw.get("inception", INCEPTION),
                expiration=sign_kw.get("expiration", EXPIRATION),
            )
    return zone, dnskey


class FakeAuthority:
    """Serves in-memory zones as an authoritative server would, with RRSIGs and NSEC."""

    def __init__(self, zones: Iterable[dns.zone.Zone]) -> None:
        self.zones = {z.origin: z for z in zones}
        self.asked: list[tuple[str, str]] = []
        self.wildcard_proof = True  # False: a wildcard answer comes without its NSEC

    def _zone_for(self, qname: dns.name.Name, qtype: int) -> dns.zone.Zone | None:
        holders = [o for o in self.zones if qname.is_subdomain(o)]
        if qtype == dns.rdatatype.DS:
            holders = [o for o in holders if o != qname]
        if not holders:
            return None
        return self.zones[max(holders, key=len)]

    async def raw(self, name: str, rdtype: str) -> RawAnswer:
        self.asked.append((name, rdtype))
        qname = dns.name.from_text(name)
        qtype = dns.rdatatype.from_text(rdtype)
        answer: list[dns.rrset.RRset] = []
        for _ in range(8):
            zone = self._zone_for(qname, qtype)
            if zone is None:
                return RawAnswer(name, rdtype, DnsStatus.REFUSED, detail="refused")
            node = zone.get_node(qname)
            if node is None and (wild := self._wildcard(zone, qname, qtype)) is not None:
                answer += self._with_sig(*wild)
                proof = self._covering(zone, qname) if self.wildcard_proof else ()
                return RawAnswer(name, rdtype, DnsStatus.OK, tuple(answer), proof)
            if node is None:
                if any(n.is_subdomain(qname) for n in zone.nodes):  # an empty non-terminal
                    return RawAnswer(
                        name, rdtype, DnsStatus.NODATA, tuple(answer), self._covering(zone, qname)
                    )
                return RawAnswer(
                    name, rdtype, DnsStatus.NXDOMAIN, tuple(answer), self._nxdomain(zone, qname)
                )
            for wanted in (qtype, dns.rdatatype.CNAME):
                found = node.get_rdataset(dns.rdataclass.IN, wanted)
                if found is not None:
                    answer += self._with_sig(node, qname, found)
                    break
            else:
                proof = self._with_sig(node, qname, node.get_rdataset(1, dns.rdatatype.NSEC))
                return RawAnswer(name, rdtype, DnsStatus.NODATA, tuple(answer), tuple(proof))
            if wanted == qtype:
                return RawAnswer(name, rdtype, DnsStatus.OK, tuple(answer))
            qname = found[0].target
        return RawAnswer(name, rdtype, DnsStatus.ERROR, detail="loop")

    def _nxdomain(self, zone: dns.zone.Zone, qname: dns.name.Name) -> tuple[dns.rrset.RRset, ...]:
        """The NSEC covering the name and the one covering the wildcard at its closest
        encloser (RFC 4035 3.1.3.2); only the first when ``wildcard_proof`` is off."""
        encloser = qname.parent()
        while not any(n.is_subdomain(encloser) for n in zone.nodes):
            encloser = encloser.parent()
        proof = self._covering(zone, qname)
        if self.wildcard_proof:
            for rrset in self._covering(zone, dns.name.from_text("*", encloser)):
                if rrset not in proof:
                    proof += (rrset,)
        return proof

    @staticmethod
    def _wildcard(zone: dns.zone.Zone, qname: dns.name.Name, qtype: int):
        """(wildcard node, qname, its rdataset) when a wildcard above ``qname`` answers."""
        encloser = qname.parent()
        while encloser.is_subdomain(zone.origin):
            node = zone.get_node(dns.name.from_text("*", encloser))
            found = node.get_rdataset(dns.rdataclass.IN, qtype) if node is not None else None
            if found is not None:
                return node, qname, found
            if encloser == zone.origin:
                break
            encloser = encloser.parent()
        return None

    @staticmethod
    def _with_sig(node, owner, rdataset) -> list[dns.rrset.RRset]:
        if rdataset is None:
            return []
        out = [dns.rrset.from_rdata_list(owner, rdataset.ttl, list(rdataset))]
        sig = node.get_rdataset(1, dns.rdatatype.RRSIG, rdataset.rdtype)
        if sig is not None:
            rrsig = dns.rrset.RRset(owner, 1, dns.rdatatype.RRSIG, rdataset.rdtype)
            rrsig.update(sig)
            out.append(rrsig)
        return out

    def _covering(self, zone: dns.zone.Zone, qname: dns.name.Name) -> tuple[dns.rrset.RRset, ...]:
        for owner, node in zone.nodes.items():
            nsec = node.get_rdataset(1, dns.rdatatype.NSEC)
            if nsec is None:
                continue
            nxt = nsec[0].next
            if (owner < qname < nxt) or (nxt <= owner and (qname > owner or qname < nxt)):
                return tuple(self._with_sig(node, owner, nsec))
        return ()


def _world(**child_kw: object):
    """test. (anchored) -> good.test. (signed, DS) and plain.test. (unsigned delegation)."""
    good, good_key = _zone(
        "good.test.",
        [
            "mx1 300 A 192.0.2.25",
            "alias 300 CNAME mx1",
            "_25._tcp.mx1 300 TLSA 3 1 1 " + "ab" * 32,
            "*.wild 300 A 192.0.2.27",
        ],
        **child_kw,
    )
    plain, _ = _zone("plain.test.", ["mx1 300 A 192.0.2.26"], sign=False)
    ds = dns.dnssec.make_ds("good.test.", good_key, "SHA256")
    parent, parent_key = _zone(
        "test.",
        [
            "good 300 NS ns.good",
            "ns.good 300 A 192.0.2.53",
            f"good 300 DS {ds.to_text()}",
            "plain 300 NS ns.plain",
            "ns.plain 300 A 192.0.2.53",
        ],
    )
    anchors = parse_trust_anchors(f"test. 300 IN DNSKEY {parent_key.to_text()}", "unit")
    return FakeAuthority([parent, good, plain]), anchors, good


def _status(authority, anchors, name, rdtype="A", now=NOW):
    lookup = ValidatingLookup(authority, anchors, now=now.timestamp())
    return asyncio.run(dnssec_status(lookup, name, rdtype))


def test_a_signed_delegation_is_secure_with_its_chain() -> None:
    authority, anchors, _ = _world()
    status = _status(authority, anchors, "mx1.good.test")
    assert status.mode == "chain" and status.security is Security.SECURE, status.reason
    assert [(link.zone, link.security) for link in status.chain] == [
        ("test", Security.SECURE),
        ("good.test", Security.SECURE),
    ]
    assert "DS at test" in status.chain[1].how and status.findings == ()
    for name, rdtype in [("alias.good.test", "A"), ("none.good.test", "A"), ("good.test", "MX")]:
        assert _status(authority, anchors, name, rdtype).security is Security.SECURE


def test_answers_carry_their_standing_and_cnames() -> None:
    authority, anchors, _ = _world()
    lookup = ValidatingLookup(authority, anchors, now=NOW.timestamp())

    async def run() -> None:
        alias = await lookup.query("alias.good.test", "A")
        assert alias.status is DnsStatus.OK and alias.security is Security.SECURE
        assert alias.cnames == ("mx1.good.test",)
        assert [r.to_text() for r in alias.records] == ["192.0.2.25"]
        missing = await lookup.query("none.good.test", "A")
        assert missing.status is DnsStatus.NXDOMAIN and missing.security is Security.SECURE
        plain = await lookup.query("mx1.plain.test", "A")
        assert plain.status is DnsStatus.OK and plain.security is Security.INSECURE

    asyncio.run(run())


def test_an_unsigned_delegation_is_insecure_by_proof() -> None:
    authority, anchors, _ = _world()
    status = _status(authority, anchors, "mx1.plain.test")
    assert status.security is Security.INSECURE
    assert status.reason == "plain.test is delegated without DS (proven by NSEC/NSEC3)"
    assert [f.id for f in status.findings] == ["domain.dnssec-unsigned"]


def test_expired_and_not_yet_valid_signatures_are_bogus() -> None:
    authority, anchors, _ = _world()
    late = _status(authority, anchors, "mx1.good.test", now=EXPIRATION + dt.timedelta(days=1))
    assert late.security is Security.BOGUS
    assert late.reason.startswith("the signature of test DNSKEY expired on")
    assert [f.id for f in late.findings] == ["domain.dnssec-bogus"]
    early = _status(authority, anchors, "mx1.good.test", now=INCEPTION - dt.timedelta(days=1))
    assert "is valid only from" in early.reason and early.security is Security.BOGUS


def test_a_child_with_expired_signatures_under_a_valid_parent() -> None:
    authority, anchors, _ = _world(
        inception=NOW - dt.timedelta(days=10), expiration=NOW - dt.timedelta(days=1)
    )
    status = _status(authority, anchors, "mx1.good.test")
    assert status.security is Security.BOGUS
    assert "the signature of good.test DNSKEY expired on 2026-05-31" in status.reason
    answer = asyncio.run(
        ValidatingLookup(authority, anchors, now=NOW.timestamp()).query("mx1.good.test", "A")
    )
    assert answer.status is DnsStatus.SERVFAIL and answer.records == ()
    assert answer.detail.startswith("DNSSEC validation failed: the signature of good.test")


def test_a_ds_matching_no_key_is_bogus() -> None:
    authority, anchors, good = _world()
    # The child re-keyed without telling the parent.
    key, dnskey = _key()
    with good.writer() as txn:
        for name in list(good.nodes):
            txn.delete(name, dns.rdatatype.RRSIG)
        txn.delete(good.origin, dns.rdatatype.DNSKEY)
        dns.dnssec.sign_zone(
            good, txn, keys=[(key, dnskey)], inception=INCEPTION, expiration=EXPIRATION
        )
    status = _status(authority, anchors, "mx1.good.test")
    assert status.security is Security.BOGUS
    assert status.reason.startswith("no DNSKEY of good.test matches its DS at test (DS key tags")


def test_a_tampered_record_and_a_missing_proof_are_bogus() -> None:
    authority, anchors, good = _world()
    with good.writer() as txn:
        rdataset = txn.get("mx1.good.test.", dns.rdatatype.A)
        changed = dns.rdataset.from_text(1, dns.rdatatype.A, rdataset.ttl, "192.0.2.99")
        txn.replace("mx1.good.test.", changed)
    status = _status(authority, anchors, "mx1.good.test")
    assert status.security is Security.BOGUS
    assert "the signature of mx1.good.test A by key" in status.reason
    assert status.reason.endswith("does not verify")
    parent = authority.zones[dns.name.from_text("test.")]
    with parent.writer() as txn:
        txn.delete("plain.test.", dns.rdatatype.NSEC)
    stripped = _status(authority, anchors, "mx1.plain.test")
    assert stripped.security is Security.BOGUS
    assert stripped.reason == "no NSEC or NSEC3 record proves that plain.test (in test) has no DS"


def test_a_wrong_anchor_and_no_anchor() -> None:
    authority, _, _ = _world()
    _, other = _key()
    wrong = parse_trust_anchors(f"test. DNSKEY {other.to_text()}", "unit")
    status = _status(authority, wrong, "mx1.good.test")
    assert status.security is Security.BOGUS
    assert status.reason.startswith("no DNSKEY of test matches the trust anchor")
    elsewhere = _status(authority, wrong, "mail.example.org")
    assert elsewhere.security is Security.UNKNOWN
    assert elsewhere.reason == "no trust anchor covers mail.example.org"


def test_ds_anchor_and_failures_of_the_walk() -> None:
    authority, anchors, _ = _world()
    key = next(iter(anchors.dnskeys.values()))[0]
    ds = dns.dnssec.make_ds("test.", key, "SHA256")
    by_ds = parse_trust_anchors(f"; a comment\ntest. IN DS {ds.to_text()} ; trailing\n", "unit")
    assert _status(authority, by_ds, "mx1.good.test").security is Security.SECURE

    class Failing(FakeAuthority):
        async def raw(self, name: str, rdtype: str) -> RawAnswer:
            if rdtype == "DS":
                return RawAnswer(name, rdtype, DnsStatus.TIMEOUT, detail=f"{name} DS: timed out")
            return await super().raw(name, rdtype)

    failing = Failing(authority.zones.values())
    status = _status(failing, anchors, "mx1.good.test")
    assert status.security is Security.UNKNOWN
    assert (
        status.reason == "the DS question for good.test (in test) failed: good.test DS: timed out"
    )
    assert [f.id for f in status.findings] == ["domain.dnssec-unknown"]


def test_modes_other_than_the_chain() -> None:
    fake = FakeDns(["a.example. A 192.0.2.1", "b.example. A 192.0.2.2"], secure={"a.example"})

    async def run() -> None:
        secure = await dnssec_status(fake, "a.example")
        assert secure.mode == "lookup" and secure.security is Security.SECURE
        insecure = await dnssec_status(fake, "b.example")
        assert insecure.security is Security.INSECURE and insecure.findings

        class NoAd:
            trust_ad = False

        none = await dnssec_status(NoAd(), "a.example")
        assert none.mode == "none" and none.security is Security.UNKNOWN
        assert none.to_json()["reason"].startswith("not checked")

    asyncio.run(run())


def test_the_shipped_root_anchor_says_where_it_comes_from() -> None:
    anchors = root_trust_anchors()
    root = dns.name.root
    assert sorted(ds.key_tag for ds in anchors.ds[root]) == [20326, 38696]
    assert "data.iana.org/root-anchors/root-anchors.xml" in anchors.source
    assert anchors.closest(dns.name.from_text("mail.example.com.")) == root


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no DS or DNSKEY trust anchor"),
        ("example. A 192.0.2.1", "line 1: only DS and DNSKEY records are trust anchors"),
        ("; fine\nexample. DS 1 2", "line 2: not a valid DS record"),
        ("example.", "line 1: expected 'OWNER DS ...'"),
    ],
)
def test_bad_anchor_files_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_trust_anchors(text, "anchors.txt")


@given(st.text(max_size=300))
def test_anchor_parsing_never_crashes(text: str) -> None:
    try:
        anchors = parse_trust_anchors(text, "fuzz")
    except UsageError as exc:
        assert "\n" not in str(exc)
    else:
        assert anchors.ds or anchors.dnskeys


@given(st.sets(st.integers(min_value=1, max_value=65535), min_size=1, max_size=20))
def test_nsec_bitmaps_read_back(types: set[int]) -> None:
    text = "next.example. " + " ".join(f"TYPE{t}" for t in sorted(types))
    rdata = dns.rdata.from_text(1, dns.rdatatype.NSEC, text)
    assert nsec_types(rdata) == frozenset(types)


def test_a_wildcard_answer_needs_the_proof_that_no_closer_name_exists() -> None:
    authority, anchors, _ = _world()
    for name in ("x.wild.good.test", "a.b.wild.good.test"):
        made = _status(authority, anchors, name)
        assert made.security is Security.SECURE, (name, made.reason)
    # The same signed answer, replayed without the NSEC that proves x.wild.good.test does not
    # exist: it could stand in for a name that does (RFC 4035 5.3.4).
    authority.wildcard_proof = False
    bare = _status(authority, anchors, "y.wild.good.test")
    assert bare.security is Security.BOGUS
    assert bare.reason == (
        "y.wild.good.test, made by a wildcard, comes without the NSEC/NSEC3 proof that "
        "y.wild.good.test does not exist"
    )
    deeper = _status(authority, anchors, "a.c.wild.good.test")
    assert deeper.security is Security.BOGUS and "c.wild.good.test does not exist" in deeper.reason


def test_an_nxdomain_needs_the_proof_that_no_wildcard_answers() -> None:
    authority, anchors, _ = _world()
    assert _status(authority, anchors, "none.good.test").security is Security.SECURE
    # Only the NSEC covering the name: a wildcard *.good.test might exist and answer it.
    authority.wildcard_proof = False
    bare = _status(authority, anchors, "gone.good.test")
    assert bare.security is Security.BOGUS
    assert bare.reason == (
        "the denial of gone.good.test A: no NSEC proves that no wildcard *.good.test exists"
    )
