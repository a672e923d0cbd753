"""DANE for SMTP: TLSA records matched against served chains (pure), and check_dane over a fake
lookup. The same matches are checked against OpenSSL's DANE code in
tests/integration/test_mailauth_dane.py."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from tests.builders import certificate, chain
from tests.unit.fake_dns import FakeDns
from vedette.mailauth.answers import DnsStatus
from vedette.mailauth.dane import (
    association,
    check_dane,
    match_record,
    record_problem,
    spki_of,
    tlsa_311,
)

MX = "mx1.example.com"
TLSA_NAME = f"_25._tcp.{MX}"
SERVED = chain((MX,), key_type="ec:p256")
OTHER = chain((MX,), key_type="rsa:2048")


def _spki(made) -> bytes:
    return made.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("made", [SERVED.leaf, SERVED.intermediate, OTHER.leaf, OTHER.root])
def test_spki_is_read_from_the_certificate_as_cryptography_encodes_it(made) -> None:
    assert spki_of(made.der) == _spki(made)


def test_dane_ee_records_match_the_leaf_whatever_its_names() -> None:
    leaf = SERVED.leaf
    records = {
        (1, 1): hashlib.sha256(_spki(leaf)).digest(),
        (1, 2): hashlib.sha512(_spki(leaf)).digest(),
        (1, 0): _spki(leaf),
        (0, 1): hashlib.sha256(leaf.der).digest(),
        (0, 0): leaf.der,
    }
    for (selector, mtype), data in records.items():
        got = match_record(3, selector, mtype, data, SERVED.sent_der, names=("other.example",))
        assert got.matched and got.depth == 0, (selector, mtype, got)
        assert not match_record(3, selector, mtype, data, OTHER.sent_der).matched
    # The intermediate's key is no DANE-EE match.
    ca = hashlib.sha256(_spki(SERVED.intermediate)).digest()
    assert not match_record(3, 1, 1, ca, SERVED.sent_der).matched


def test_dane_ta_records_match_a_ca_of_the_chain_and_need_the_names() -> None:
    inter = hashlib.sha256(_spki(SERVED.intermediate)).digest()
    got = match_record(2, 1, 1, inter, SERVED.sent_der, names=(MX,))
    assert got.matched and got.depth == 1 and "depth 1" in got.how
    wrong_name = match_record(2, 1, 1, inter, SERVED.sent_der, names=("mx2.example.com",))
    assert not wrong_name.matched and "needs the leaf to name mx2.example.com" in wrong_name.problem
    # The leaf's own key under usage 2 is no match: DANE-TA names a CA.
    leaf = hashlib.sha256(_spki(SERVED.leaf)).digest()
    assert not match_record(2, 1, 1, leaf, SERVED.sent_der).matched
    # The root is not sent: "2 1 1" of it cannot match, "2 1 0" (its full key) can.
    root = _spki(SERVED.root)
    assert not match_record(2, 1, 1, hashlib.sha256(root).digest(), SERVED.sent_der).matched
    full = match_record(2, 1, 0, root, SERVED.sent_der, names=(MX,))
    assert full.matched and full.depth == 2 and "issuer of the chain's top" in full.how
    assert not match_record(2, 1, 0, _spki(OTHER.root), SERVED.sent_der).matched


def test_dane_ta_needs_the_chain_signatures() -> None:
    # An intermediate that did not sign the leaf: matching it proves nothing.
    stray = (SERVED.leaf.der, OTHER.intermediate.der)
    inter = hashlib.sha256(_spki(OTHER.intermediate)).digest()
    got = match_record(2, 1, 1, inter, stray, names=(MX,))
    assert not got.matched and got.problem == (
        "the certificate at depth 0 is not signed by the next one"
    )


@pytest.mark.parametrize(
    ("fields", "data", "problem"),
    [
        ((0, 1, 1), bytes(32), "usage 0 (PKIX-TA) is unusable for SMTP"),
        ((1, 1, 1), bytes(32), "usage 1 (PKIX-EE) is unusable for SMTP"),
        ((4, 1, 1), bytes(32), "unknown certificate usage 4"),
        ((3, 2, 1), bytes(32), "unknown selector 2"),
        ((3, 1, 3), bytes(32), "unknown matching type 3"),
        ((3, 1, 1), bytes(31), "SHA-256 data must be 32 bytes (64 hex digits), this one has 31"),
        ((3, 1, 2), bytes(32), "SHA-512 data must be 64 bytes"),
        ((3, 1, 0), b"\x30\x03\x02\x01\x00", "not a DER public key"),
        ((3, 0, 0), b"junk", "not a DER certificate"),
    ],
)
def test_unusable_and_malformed_records(fields, data, problem) -> None:
    usable, why = record_problem(*fields, data)
    assert not usable and problem in why
    assert not match_record(*fields, data, SERVED.sent_der).matched


def _dns(tlsa: list[str], *, secure=True, extra=(), **kw) -> FakeDns:
    lines = [f"{MX}. A 192.0.2.25", *(f"{TLSA_NAME}. TLSA {t}" for t in tlsa), *extra]
    names = {MX, TLSA_NAME, "mx-alias.example.com", "_25._tcp.mx-alias.example.com"}
    return FakeDns(lines, secure=names if secure else (), **kw)


def _check(dns: FakeDns, chains, mx: str = MX):
    return asyncio.run(check_dane(dns, mx, chains))


def test_a_matching_dane_ee_record() -> None:
    record = f"3 1 1 {tlsa_311(SERVED.leaf.der)}"
    result = _check(_dns([record]), {"192.0.2.25": SERVED.sent_der})
    assert result.applies and result.dane_ee_match and result.dane_match == {"192.0.2.25": True}
    assert [r.matches["192.0.2.25"].matched for r in result.records] == [True]
    # One record only: rollover advice, nothing worse.
    assert [f.id for f in result.findings] == ["domain.dane-rollover"]
    assert "publish the new key's '3 1 1' record beside it" in result.rollover[0]
    assert result.to_json()["records"][0]["usage_name"] == "DANE-EE"


def test_no_record_matches_the_served_chain() -> None:
    record = f"3 1 1 {tlsa_311(OTHER.leaf.der)}"
    result = _check(_dns([record]), {"192.0.2.25": SERVED.sent_der})
    assert result.applies and not result.dane_ee_match
    found = [f for f in result.findings if f.id == "domain.dane-no-match"]
    assert len(found) == 1 and "Postfix with DANE will defer mail" in found[0].title
    assert found[0].subject == f"{MX} (192.0.2.25)"
    assert f"'{TLSA_NAME}. IN TLSA 3 1 1 {tlsa_311(SERVED.leaf.der)}'" in found[0].detail


def test_a_pair_of_ee_and_ta_records_gives_no_rollover_advice() -> None:
    ee = f"3 1 1 {tlsa_311(SERVED.leaf.der)}"
    ta = f"2 1 1 {association(SERVED.intermediate.der, 1, 1).hex()}"
    result = _check(_dns([ee, ta]), {"192.0.2.25": SERVED.sent_der})
    assert result.dane_ee_match and result.rollover == () and result.findings == ()


def test_ta_only_matches_but_is_not_an_ee_match() -> None:
    ta = f"2 1 1 {association(SERVED.intermediate.der, 1, 1).hex()}"
    result = _check(_dns([ta]), {"192.0.2.25": SERVED.sent_der})
    assert result.dane_match == {"192.0.2.25": True} and not result.dane_ee_match
    assert any("Only DANE-TA records" in line for line in result.rollover)


def test_usage_1_only_is_reported_and_does_not_apply() -> None:
    result = _check(_dns([f"1 1 1 {tlsa_311(SERVED.leaf.der)}"]), {"a": SERVED.sent_der})
    assert not result.applies and not result.dane_ee_match
    assert [f.id for f in result.findings] == ["domain.dane-unusable-usage"]


def test_insecure_bogus_failed_and_absent_tlsa() -> None:
    record = f"3 1 1 {tlsa_311(SERVED.leaf.der)}"
    chains = {"192.0.2.25": SERVED.sent_der}
    insecure = _check(_dns([record], secure=False), chains)
    assert not insecure.applies and not insecure.dane_ee_match
    assert [f.id for f in insecure.findings] == ["domain.dane-not-dnssec"]
    bogus = _check(_dns([record], bogus={TLSA_NAME}), chains)
    assert [f.id for f in bogus.findings] == ["domain.dane-tlsa-bogus"]
    failed = _check(_dns([record], failures={(TLSA_NAME, "TLSA"): DnsStatus.SERVFAIL}), chains)
    assert [f.id for f in failed.findings] == ["domain.dane-lookup-failed"]
    servfail = {(MX, "A"): DnsStatus.SERVFAIL, (MX, "AAAA"): DnsStatus.SERVFAIL}
    no_address = _check(_dns([record], failures=servfail), chains)
    assert [f.id for f in no_address.findings] == ["domain.dane-address-lookup-failed"]
    assert not no_address.applies
    absent = _check(_dns([]), chains)
    assert absent.tlsa_status is DnsStatus.NXDOMAIN
    assert [f.id for f in absent.findings] == ["domain.dane-no-tlsa"]


def test_a_cname_mx_uses_the_target_tlsa_first() -> None:
    record = f"3 1 1 {tlsa_311(SERVED.leaf.der)}"
    # No TLSA at the target: the alias' own name is asked next.
    dns = FakeDns(
        [
            "mx-alias.example.com. CNAME mx1.example.com.",
            f"{MX}. A 192.0.2.25",
            f"_25._tcp.mx-alias.example.com. TLSA {record}",
        ],
        secure={MX, "mx-alias.example.com", "_25._tcp.mx-alias.example.com", TLSA_NAME},
    )
    result = _check(dns, {"192.0.2.25": SERVED.sent_der}, mx="mx-alias.example.com")
    assert result.tlsa_name == "_25._tcp.mx-alias.example.com" and result.dane_ee_match
    assert ("_25._tcp.mx1.example.com", "TLSA") in dns.asked
    assert dns.asked.index(("_25._tcp.mx1.example.com", "TLSA")) < dns.asked.index(
        ("_25._tcp.mx-alias.example.com", "TLSA")
    )


def test_without_chains_records_are_judged_only() -> None:
    record = f"3 1 1 {tlsa_311(SERVED.leaf.der)}"
    result = _check(_dns([record, "0 0 1 " + "00" * 32]), None)
    assert result.applies and not result.dane_ee_match and result.dane_match == {}
    assert [r.text[:5] for r in result.records] == ["0 0 1", "3 1 1"]  # in one order
    assert [r.usable for r in result.records] == [False, True]


# --- properties ----------------------------------------------------------------------------

CERTS = [SERVED.leaf.der, SERVED.intermediate.der, OTHER.leaf.der, certificate("x").der]


@given(
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=80),
    st.lists(st.one_of(st.binary(max_size=200), st.sampled_from(CERTS)), max_size=4),
)
def test_the_matcher_never_raises(usage, selector, mtype, data, served) -> None:
    got = match_record(usage, selector, mtype, data, served, names=(MX,))
    usable, _ = record_problem(usage, selector, mtype, data)
    assert not got.matched or usable


@given(st.sampled_from([0, 1]), st.sampled_from([0, 1, 2]), st.sampled_from(CERTS))
def test_a_record_made_from_a_leaf_matches_it_as_dane_ee(selector, mtype, der) -> None:
    data = association(der, selector, mtype)
    assert data is not None
    assert match_record(3, selector, mtype, data, [der]).matched


@given(st.binary(max_size=300))
def test_spki_of_garbage_is_none_or_a_prefix_free_slice(data: bytes) -> None:
    got = spki_of(data)
    assert got is None or (got in data and got[0] == 0x30)


@given(st.integers(0, 3), st.integers(0, 1), st.integers(0, 2), st.binary(min_size=1, max_size=70))
def test_tlsa_text_parsed_by_dnspython_is_judged(usage, selector, mtype, data) -> None:
    import dns.rdata
    import dns.rdatatype

    # dnspython refuses digest data of the wrong length outright (see check_dane's handling
    # of such an answer); other garbage reaches the judge.
    if mtype in (1, 2):
        data = (data * 64)[: 32 * mtype]
    rd = dns.rdata.from_text(1, dns.rdatatype.TLSA, f"{usage} {selector} {mtype} {data.hex()}")
    dns_lookup = FakeDns([f"{MX}. A 192.0.2.25"], secure={MX, TLSA_NAME})
    dns_lookup.records[(TLSA_NAME, "TLSA")] = [rd]
    dns_lookup.owners.add(TLSA_NAME)
    result = asyncio.run(check_dane(dns_lookup, MX, {"192.0.2.25": SERVED.sent_der}))
    assert len(result.records) == 1 and result.to_json()["records"][0]["usage"] == usage


_RECORD_FIELDS = st.tuples(
    st.integers(0, 3), st.integers(0, 1), st.integers(0, 2), st.sampled_from(CERTS)
)


@given(st.lists(_RECORD_FIELDS, min_size=1, max_size=4))
def test_any_record_set_gives_consistent_verdicts_and_plain_json(fields) -> None:
    # Records made from certificates of the served chain or others, in any usage.
    records = [f"{u} {s} {m} {association(der, s, m).hex()}" for u, s, m, der in fields]
    result = _check(_dns(records), {"192.0.2.25": SERVED.sent_der})
    out = json.loads(json.dumps(result.to_json()))
    assert out == result.to_json()  # plain JSON types only
    matched = [r for r in out["records"] if r["matches"]["192.0.2.25"]["matched"]]
    assert all(r["usable_for_smtp"] and r["usage"] in (2, 3) for r in matched)
    assert out["dane_match"] == {"192.0.2.25": bool(matched)}
    assert out["dane_ee_match"] == any(r["usage"] == 3 for r in matched)
    ids = {f["id"] for f in out["findings"]}
    assert ("domain.dane-no-match" in ids) == (out["applies"] and not matched)
    assert ("domain.dane-unusable-usage" in ids) == any(u in (0, 1) for u, *_ in fields)
    assert all(f["title"] and f["remediation"] for f in out["findings"])
