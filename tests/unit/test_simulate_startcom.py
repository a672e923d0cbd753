"""The StartCom/WoSign distrust, date-precise: the iOS 10.2 rule, --as-of, the real 2010 chain."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from vedette.model import ClientOutcome
from vedette.pki import CertificateAuthority
from vedette.trust._data import TrustData, sha256_hex, trust_data
from vedette.trust.simulate import simulate

from .trust_helpers import der, leaf

STARTCOM_CHAIN = Path(__file__).parents[1] / "data" / "startcom-chain.pem"
STARTCOM_ROOT = "c766a9bef2d4071c863a31aa4920e813b2d198608cb7b7cfe21143b836df09ea"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def by_id(matrix):
    return {v.profile: v for v in matrix.verdicts}


@pytest.fixture(scope="module")
def fake_startcom() -> tuple[CertificateAuthority, CertificateAuthority, TrustData]:
    """vedette's test CA, named like StartCom, declared in the data with StartCom's rules.

    The real StartCom keys are not available, so the test root's own fingerprint is added to
    the root groups of every StartCom distrust event (and to Apple's store, as StartCom was).
    """
    root = CertificateAuthority.create_root(
        "StartCom Certification Authority",
        organization="StartCom Ltd.",
        not_before=at("2006-09-17T00:00:00"),
        days=365 * 30,
    )
    inter = root.issue_intermediate(
        "StartCom Class 1 DV Server CA", not_before=at("2015-12-16T00:00:00"), days=365 * 10
    )
    base = trust_data()
    fp = sha256_hex(der(root))
    events = tuple(
        dataclasses.replace(e, roots=e.roots | {fp}) if STARTCOM_ROOT in e.roots else e
        for e in base.events
    )
    data = dataclasses.replace(base.with_root(der(root), ("apple", "mozilla")), events=events)
    return root, inter, data


def chain_for(inter: CertificateAuthority, not_before: datetime) -> tuple[bytes, ...]:
    cert = leaf(inter, not_before=not_before, days=365, sct=False)
    return (der(cert), der(inter))


def test_ios_10_2_accepts_a_november_2016_leaf_and_refuses_one_from_2016_12_05(fake_startcom):
    _, inter, data = fake_startcom
    profiles = [p for p in data.profiles if p.id in ("ios-10.1", "ios-10.2", "ios-9")]
    november = chain_for(inter, at("2016-11-20T10:00:00"))
    december = chain_for(inter, at("2016-12-05T10:00:00"))
    jan_2017 = at("2017-01-15T12:00:00")

    ok = by_id(
        simulate(
            november,
            host="mail.example.test",
            as_of=jan_2017,
            data=data,
            profiles=profiles,
            check_handshake=False,
        )
    )
    assert ok["ios-10.2"].outcome is ClientOutcome.WORKS, ok["ios-10.2"].reasons
    bad = by_id(
        simulate(
            december,
            host="mail.example.test",
            as_of=jan_2017,
            data=data,
            profiles=profiles,
            check_handshake=False,
        )
    )
    verdict = bad["ios-10.2"]
    assert verdict.outcome is ClientOutcome.FAILS
    assert [r.code for r in verdict.reasons] == ["cert.distrusted-ca"]
    assert "2016-12-05" in verdict.reasons[0].text and "2016-12-01" in verdict.reasons[0].text
    assert "WoSign/StartCom" in verdict.reasons[0].text
    # A device still on iOS 10.1 (its store frozen before the rule) accepts both.
    assert bad["ios-10.1"].outcome is ClientOutcome.WORKS
    assert bad["ios-9"].outcome is ClientOutcome.WORKS


def test_as_of_replays_the_day_the_rule_shipped(fake_startcom):
    _, inter, data = fake_startcom
    current = [p for p in data.profiles if p.id == "ios-current"]
    current = [dataclasses.replace(current[0], released=at("2016-01-01T00:00:00").date())]
    december = chain_for(inter, at("2016-12-05T10:00:00"))
    before = simulate(
        december,
        host="mail.example.test",
        as_of=at("2016-12-11T00:00:00"),
        data=data,
        profiles=current,
        check_handshake=False,
    )
    after = simulate(
        december,
        host="mail.example.test",
        as_of=at("2016-12-13T00:00:00"),
        data=data,
        profiles=current,
        check_handshake=False,
    )
    assert before.verdicts[0].outcome is ClientOutcome.WORKS
    assert after.verdicts[0].outcome is ClientOutcome.FAILS


def test_firefox_rule_uses_its_own_cutoff(fake_startcom):
    """Mozilla's cutoff is 2016-10-21 (Firefox 51): a November 2016 leaf fails in Thunderbird 52."""
    _, inter, data = fake_startcom
    tb = [p for p in data.profiles if p.id == "thunderbird-52"]
    november = chain_for(inter, at("2016-11-20T10:00:00"))
    october = chain_for(inter, at("2016-10-01T10:00:00"))
    when = at("2017-06-01T00:00:00")
    assert (
        simulate(
            october,
            host="mail.example.test",
            as_of=when,
            data=data,
            profiles=tb,
            check_handshake=False,
        )
        .verdicts[0]
        .outcome
        is ClientOutcome.WORKS
    )
    v = simulate(
        november,
        host="mail.example.test",
        as_of=when,
        data=data,
        profiles=tb,
        check_handshake=False,
    ).verdicts[0]
    assert v.outcome is ClientOutcome.FAILS and "2016-10-21" in v.reasons[0].text


def real_chain() -> tuple[bytes, ...]:
    certs = x509.load_pem_x509_certificates(STARTCOM_CHAIN.read_bytes())
    return tuple(c.public_bytes(Encoding.DER) for c in certs)


def test_real_startcom_chain_was_trusted_in_2011():
    data = trust_data()
    profiles = [p for p in data.profiles if p.id in ("android-2.3", "outlook-2010-win7", "java-6")]
    m = by_id(
        simulate(
            real_chain(),
            host="www.dnssec-exp.org",
            as_of=at("2011-01-15T00:00:00"),
            data=data,
            profiles=profiles,
            check_handshake=False,
        )
    )
    assert m["android-2.3"].outcome is ClientOutcome.WORKS, m["android-2.3"].reasons
    assert m["outlook-2010-win7"].outcome is ClientOutcome.WORKS, m["outlook-2010-win7"].reasons
    # StartCom was never in Java's cacerts.
    assert m["java-6"].outcome is ClientOutcome.FAILS
    assert m["java-6"].reasons[0].code == "cert.root-not-trusted"


def test_real_startcom_chain_fails_everywhere_today_with_every_reason():
    data = trust_data()
    profiles = [p for p in data.profiles if not p.opportunistic]
    m = by_id(
        simulate(
            real_chain(),
            host="www.dnssec-exp.org",
            as_of=at("2026-11-01T00:00:00"),
            data=data,
            profiles=profiles,
            check_handshake=False,
        )
    )
    # Every client that checks the certificate fails; a script that does not check it
    # connects, with the reasons as warnings.
    verifying = {p.id for p in profiles if p.rules.verify}
    released = [v for v in m.values() if v.outcome is not ClientOutcome.NOT_RELEASED]
    assert all(v.outcome is ClientOutcome.FAILS for v in released if v.profile in verifying)
    assert m["python-stdlib-mail"].outcome is ClientOutcome.WARNING
    codes = {v.profile: {r.code for r in v.reasons} for v in m.values()}
    # Every reason, not only the first: distrusted root, SHA-1 where refused, expiry.
    assert {"cert.distrusted-ca", "cert.sha1", "cert.expired"} <= codes["chrome-current"]
    assert {"cert.distrusted-ca", "cert.expired"} <= codes["outlook-win11"]
    assert "cert.sha1" not in codes["outlook-win11"]  # SChannel still accepts SHA-1 chains
    texts = " ".join(r.text for r in m["outlook-win11"].reasons)
    assert "disallowed by Microsoft's root list since 2019-02-01" in texts
    texts = " ".join(r.text for r in m["android-current"].reasons)
    assert "Android 9" in texts
