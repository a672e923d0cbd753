"""The simulation, pure: chains from the test CA with one problem each, judged per profile.

The test root is declared public (in every store) so the public-only rules (CT, 398 days) apply;
a chain ending at a ``--ca`` root is private and exempt from them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes

from tests.builders import endpoint_for, observed_tls
from tests.chains import abusive_chain, linear_chain, private_pki
from tests.chains import der as chains_der
from vedette.checks import CheckContext, analyse
from vedette.errors import UsageError
from vedette.model import ClientOutcome, Service
from vedette.pki import CertificateAuthority
from vedette.trust._data import load_profile_file, trust_data
from vedette.trust.simulate import (
    ClientOptions,
    ServerTls,
    parse_inventory,
    select_profiles,
    simulate,
    spki_sha256,
)

from .trust_helpers import HOST, der, leaf


def now() -> datetime:
    # Called at use, not at import: a long suite runs tests minutes after collecting them, and
    # certificates minted then must not look "not yet valid" against an import-time clock.
    return datetime.now(UTC)


STORES = ("apple", "microsoft", "mozilla", "chrome", "android", "openjdk", "oracle")


@pytest.fixture(scope="module")
def pki():
    # Backdated like a real public root: a frozen store (iOS 10, Android 7) can only hold a
    # root that existed when the OS shipped.
    root = CertificateAuthority.create_root(
        "Sim Public Root",
        key_spec="rsa:2048",
        not_before=datetime(2005, 1, 1, tzinfo=UTC),
        days=365 * 30,
    )
    inter = root.issue_intermediate("Sim Issuing CA", key_spec="rsa:2048")
    data = trust_data().with_root(der(root), STORES)
    return root, inter, data


def judge(chain, data, *, ids=None, server=None, extra=(), options=None, host=HOST, as_of=None):
    profiles = [p for p in data.profiles if ids is None or p.id in ids]
    as_of = as_of or now()
    m = simulate(
        chain,
        host=host,
        as_of=as_of,
        data=data,
        profiles=profiles,
        server=server,
        extra_roots=extra,
        options=options,
        check_handshake=server is not None,
    )
    return {v.profile: v for v in m.verdicts}, m


def codes(v):
    return {r.code for r in v.reasons}


def test_clean_public_chain_works_for_every_user_client(pki):
    _, inter, data = pki
    chain = (der(leaf(inter)), der(inter))
    vs, m = judge(chain, data, ids=None)
    failing = {
        p: [r.text for r in v.reasons]
        for p, v in vs.items()
        if v.outcome is not ClientOutcome.WORKS
    }
    assert failing == {}
    assert m.notes == ()


def test_no_sct_fails_only_clients_requiring_ct(pki):
    _, inter, data = pki
    chain = (der(leaf(inter, sct=False)), der(inter))
    vs, _ = judge(chain, data)
    assert {p for p, v in vs.items() if "cert.no-sct" in codes(v)} >= {
        "chrome-current",
        "ios-13",
        "ios-current",
        "ios-12",
    }
    assert vs["outlook-2016-win10"].outcome is ClientOutcome.WORKS
    assert vs["thunderbird-current"].outcome is ClientOutcome.WORKS
    # Private chains are not held to CT.
    root, inter2, _ = pki
    private = trust_data()
    vs2, m = judge(chain, private, extra=(der(root),))
    assert all("cert.no-sct" not in codes(v) for v in vs2.values())
    assert any("--ca" in n for n in m.notes)


def test_long_validity_public_vs_private(pki):
    root, inter, data = pki
    chain = (der(leaf(inter, days=500)), der(inter))
    vs, _ = judge(chain, data, ids={"ios-current", "chrome-current", "outlook-win11"})
    assert (
        "cert.validity" in codes(vs["ios-current"]) and "398" in vs["ios-current"].reasons[0].text
    )
    assert "cert.validity" in codes(vs["chrome-current"])
    assert vs["outlook-win11"].outcome is ClientOutcome.WORKS
    # Private root: 825 days still apply on Apple, 398 do not.
    vs, _ = judge(chain, trust_data(), ids={"ios-current"}, extra=(der(root),))
    assert vs["ios-current"].outcome is ClientOutcome.WORKS


def test_missing_intermediate_is_a_warning_only_where_the_client_fetches_it(pki):
    _, inter, data = pki
    # The leaf names where its issuer can be downloaded (caIssuers), as public CAs do.
    from cryptography import x509

    cert = leaf(inter)
    builder = x509.CertificateBuilder(
        issuer_name=cert.issuer,
        subject_name=cert.subject,
        public_key=cert.public_key(),
        serial_number=cert.serial_number,
        not_valid_before=cert.not_valid_before_utc,
        not_valid_after=cert.not_valid_after_utc,
        extensions=[
            *cert.extensions,
            x509.Extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier("http://ca.example.test/issuing.crt"),
                        )
                    ]
                ).oid,
                False,
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier("http://ca.example.test/issuing.crt"),
                        )
                    ]
                ),
            ),
        ],
    )
    with_aia = builder.sign(inter.issued.key, hashes.SHA256())
    vs, _ = judge((der(with_aia),), data, ids={"outlook-2016-win10", "android-11", "ios-current"})
    assert vs["outlook-2016-win10"].outcome is ClientOutcome.WARNING
    assert "http://ca.example.test/issuing.crt" in vs["outlook-2016-win10"].reasons[0].text
    assert vs["android-11"].outcome is ClientOutcome.FAILS
    assert codes(vs["android-11"]) == {"chain.incomplete"}


def test_name_mismatch_and_cn_only(pki):
    _, inter, data = pki
    cn_only = leaf(inter, san=False)
    vs, _ = judge((der(cn_only), der(inter)), data, ids={"outlook-2016-win10", "ios-13"})
    assert vs["outlook-2016-win10"].outcome is ClientOutcome.WARNING
    assert codes(vs["outlook-2016-win10"]) == {"cert.cn-only"}
    assert "cert.name-mismatch" in codes(vs["ios-13"])
    vs, _ = judge((der(leaf(inter)), der(inter)), data, ids={"ios-13"}, host="other.example.test")
    assert codes(vs["ios-13"]) == {"cert.name-mismatch"}


def test_every_failing_reason_is_listed(pki):
    _, inter, data = pki
    bad = leaf(inter, sct=False, eku=False, days=1000, not_before=now() - timedelta(days=999))
    vs, _ = judge((der(bad), der(inter)), data, ids={"ios-current"}, host="other.example.test")
    assert codes(vs["ios-current"]) >= {
        "cert.no-sct",
        "cert.no-eku",
        "cert.validity",
        "cert.name-mismatch",
    }
    assert all(r.fix for r in vs["ios-current"].reasons)


def test_handshake_with_an_enumeration_is_exact(pki):
    _, inter, data = pki
    chain = (der(leaf(inter, key_spec="rsa:2048")), der(inter))
    tls12_only = ServerTls(
        negotiated_version="TLSv1.2",
        negotiated_suite="ECDHE-RSA-AES128-GCM-SHA256",
        accepted={"TLSv1.2": frozenset({0xC02F, 0xC030})},
    )
    vs, _ = judge(
        chain, data, ids={"android-4.4", "android-11", "outlook-2013-win7"}, server=tls12_only
    )
    assert codes(vs["android-4.4"]) == {"tls.version"}
    assert vs["android-11"].outcome is ClientOutcome.WORKS
    # Windows 7 IE11-style SChannel offers no ECDHE-RSA-GCM suite: no common suite at 1.2.
    assert codes(vs["outlook-2013-win7"]) == {"tls.suite"}
    partial = dataclasses.replace(tls12_only, incomplete=True)
    vs, _ = judge(chain, data, ids={"android-4.4"}, server=partial)
    assert vs["android-4.4"].outcome is ClientOutcome.UNKNOWN


def test_quick_scan_leaves_old_clients_unknown_not_failing(pki):
    _, inter, data = pki
    chain = (der(leaf(inter)), der(inter))
    quick = ServerTls(negotiated_version="TLSv1.3", negotiated_suite="TLS_AES_256_GCM_SHA384")
    vs, _ = judge(chain, data, ids={"android-4.4", "ios-current"}, server=quick)
    assert vs["android-4.4"].outcome is ClientOutcome.UNKNOWN
    assert "vedette scan --mode full" in vs["android-4.4"].reasons[0].fix
    assert vs["ios-current"].outcome is ClientOutcome.WORKS


def test_opportunistic_mta_only_warns_on_trust(pki):
    _, inter, data = pki
    chain = (der(leaf(inter)), der(inter))
    vs, _ = judge(chain, trust_data(), ids={"postfix-debian12", "exchange-2016"})
    for v in vs.values():
        assert v.outcome is ClientOutcome.WARNING
        assert all("depends on DANE/MTA-STS, not checked" in r.text for r in v.reasons)


def test_select_profiles_by_family_and_role():
    profiles = trust_data().profiles
    ios = select_profiles(profiles, ("ios",), relay=False)
    assert ios and all(p.family == "ios" for p in ios)
    assert all(p.opportunistic for p in select_profiles(profiles, (), relay=True))
    assert not any(p.opportunistic for p in select_profiles(profiles, (), relay=False))
    with pytest.raises(UsageError, match="unknown client nokia"):
        select_profiles(profiles, ("nokia",), relay=False)


def test_inventory_counts_devices_per_outcome(pki):
    _, inter, data = pki
    chain = (
        der(leaf(inter, hash_alg=hashes.SHA256())),
        der(inter.issue_intermediate("x") if False else inter),
    )
    rows = parse_inventory(
        "client,version,count\nios,10.3,380\nlync-2013-win7,,32\nandroid,12,7\nnokia,1,3\n",
        "inv.csv",
    )
    sha512_inter = pki[0].issue_intermediate(
        "Sim SHA-512 CA", key_spec="rsa:2048", hash_alg="sha512"
    )
    chain = (der(leaf(sha512_inter)), der(sha512_inter))
    data_ = data
    profiles = [p for p in data_.profiles if not p.opportunistic]
    m = simulate(
        chain,
        host=HOST,
        as_of=now(),
        data=data_,
        profiles=profiles,
        options=ClientOptions(inventory=rows),
        check_handshake=False,
    )
    assert m.inventory[0] == "32 devices will fail: 32 lync-2013-win7 (as lync-2013-win7)"
    assert any(
        line.startswith(
            "387 devices work: 380 ios 10.3 (as ios-10.2), 7 android 12 (as android-11)"
        )
        for line in m.inventory
    )
    assert m.inventory[-1].startswith("3 devices match no client profile")
    with pytest.raises(UsageError, match="inv.csv:2"):
        parse_inventory("client,version,count\nios,10,many\n", "inv.csv")


def test_user_profile_file(tmp_path):
    f = tmp_path / "mine.json"
    f.write_text(
        json.dumps(
            {
                "profiles": [
                    {
                        "id": "kiosk-mail",
                        "family": "kiosk",
                        "name": "Kiosk mail client",
                        "released": "2020-01-01",
                        "platform": "android",
                        "store": "android",
                        "store_frozen": True,
                        "hello": "android-7",
                        "rules": {"sha1": False, "min_rsa": 4096},
                        "sources": {"all": "our lab"},
                    }
                ]
            }
        )
    )
    (p,) = load_profile_file(f)
    assert p.family == "kiosk" and p.rules.min_rsa == 4096 and p.hello.id == "android-7"
    f.write_text(
        json.dumps(
            {
                "profiles": [
                    {
                        "id": "x",
                        "family": "f",
                        "name": "n",
                        "released": "2020-01-01",
                        "platform": "android",
                        "store": "nowhere",
                        "hello": "android-7",
                        "rules": "android",
                    }
                ]
            }
        )
    )
    with pytest.raises(UsageError, match="unknown store 'nowhere'"):
        load_profile_file(f)
    f.write_text("{not json")
    with pytest.raises(UsageError, match="not a JSON profile file"):
        load_profile_file(f)


# --- the checks built on the matrix --------------------------------------------------------------


def _obs(chain, host=HOST, service=Service.IMAPS):
    return observed_tls(
        chain,
        endpoint=endpoint_for(service, host=host, ip="127.0.0.1"),
        version="TLSv1.2",
        cipher="ECDHE-RSA-AES128-GCM-SHA256",
        at=now(),
    )


def _ids(findings):
    return {f.id for f in findings}


def test_checks_pin_and_expected_issuer(pki):
    root, inter, _ = pki
    cert = leaf(inter)
    chain = (der(cert), der(inter))
    good_pin = spki_sha256(cert)
    ctx = CheckContext(
        now=now(),
        trust_roots_der=(der(root),),
        extra_roots_der=(der(root),),
        clients=ClientOptions(pins=(good_pin,), expect_issuer=("Sim Issuing",)),
    )
    assert not _ids(analyse([_obs(chain)], ctx)) & {"cert.pin-mismatch", "cert.unexpected-issuer"}
    ctx = CheckContext(
        now=now(),
        trust_roots_der=(der(root),),
        extra_roots_der=(der(root),),
        clients=ClientOptions(pins=("00" * 32,), expect_issuer=("Let's Encrypt",)),
    )
    found = _ids(analyse([_obs(chain)], ctx))
    assert {"cert.pin-mismatch", "cert.unexpected-issuer"} <= found


def test_checks_interception_and_sha512(pki):
    zs = CertificateAuthority.create_root("Zscaler Root CA", organization="Zscaler Inc.")
    z_inter = zs.issue_intermediate("Zscaler Intermediate Root CA")
    chain = (der(leaf(z_inter)), der(z_inter))
    ctx = CheckContext(now=now())
    findings = analyse([_obs(chain)], ctx)
    (f,) = [f for f in findings if f.id == "cert.interception-proxy"]
    assert "Zscaler" in f.detail
    root, _, _ = pki
    s512 = root.issue_intermediate("SHA-512 CA", key_spec="rsa:2048", hash_alg="sha512")
    findings = analyse(
        [_obs((der(leaf(s512)), der(s512)))],
        CheckContext(now=now(), extra_roots_der=(der(root),), trust_roots_der=(der(root),)),
    )
    (f,) = [f for f in findings if f.id == "cert.sha512-legacy-schannel"]
    assert "Lync 2013 on Windows 7 SP1" in f.detail and "sha512WithRSAEncryption" in f.detail
    assert "cert.interception-proxy" not in _ids(findings)
    # The client matrix's own reason carries what admins search for, and the fix command.
    m = simulate(
        (der(leaf(s512)), der(s512)),
        host=HOST,
        as_of=now(),
        data=trust_data(),
        profiles=trust_data().profiles,
        extra_roots=(der(root),),
        check_handshake=False,
    )
    reasons = [
        r
        for v in m.verdicts
        for r in v.reasons
        if v.profile == "lync-2013-win7" and r.code == "cert.sha512-legacy-schannel"
    ]
    assert reasons, [v.profile for v in m.verdicts]
    for word in ("SEC_E_ALGORITHM_MISMATCH", "0x80090331", "KB2973337"):
        assert word in reasons[0].text
    assert "vedette ca sign --hash sha256" in reasons[0].fix


def test_distrusted_ca_finding_from_the_matrix():
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = (Path(__file__).parents[1] / "data" / "startcom-chain.pem").read_bytes()
    chain = tuple(c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(pem))
    ctx = CheckContext(now=now())
    findings = analyse([_obs(chain, host="www.dnssec-exp.org")], ctx)
    (f,) = [f for f in findings if f.id == "cert.distrusted-ca"]
    assert "StartCom" in f.detail and "refuse it" in f.detail


def test_matrix_rendering_escapes_server_text_and_groups_clients():
    import io

    from rich.console import Console

    from vedette.model import ClientMatrix, ClientReason, ClientVerdict
    from vedette.report.clients_section import matrix_to_json, render_matrix

    evil = ClientReason(
        code="cert.expired",
        outcome=ClientOutcome.FAILS,
        text="CN=\x1b[2Jevil [bold]x[/bold] expired",
        fix="renew",
    )
    verdicts = tuple(
        ClientVerdict(
            profile=f"p{i}",
            name=f"Client {i}",
            family="f",
            outcome=ClientOutcome.FAILS,
            reasons=(evil,),
        )
        for i in range(3)
    )
    works = ClientVerdict(profile="ok", name="Fine client", family="f", outcome=ClientOutcome.WORKS)
    matrix = ClientMatrix(endpoint=None, as_of=now(), verdicts=(*verdicts, works), notes=("note",))
    out = io.StringIO()
    render_matrix(Console(file=out, width=200, color_system=None), matrix, indent=0)
    text = out.getvalue()
    assert "\x1b" not in text and "\\x1b[2J" in text
    assert "[bold]x[/bold]" in text  # not interpreted as markup
    assert "Client 0, Client 1, Client 2" in text and text.count("expired") == 1
    assert "3 fail, 1 work" in text and "Fine client" in text
    doc = matrix_to_json(matrix)
    assert doc["summary"] == {"fails": 3, "unknown": 0, "warning": 0, "works": 1, "not_released": 0}
    assert doc["verdicts"][0]["reasons"][0]["text"] == evil.text  # JSON keeps data verbatim


def test_snapshot_only_store_is_honest_about_old_devices():
    """ISRG Root X2 (2020-09) is in today's OpenJDK store, but entered Mozilla's only in 2022:
    for a Java frozen in mid-2021 vedette cannot know (one snapshot of Java's store), and says
    unknown rather than works. Android's history is known (per version): Android 11 lacks it."""
    base = trust_data()
    java = next(p for p in base.profiles if p.id == "java-11")
    data = base.with_profiles((dataclasses.replace(java, released=dt.date(2021, 6, 1)),))
    x2 = "69729b8e15a86efc177a57afb7171dfc64add28c2fca8cf1507e34453ccb1470"
    (root,) = [d for d in data.roots_der if hashlib.sha256(d).hexdigest() == x2]
    vs, _ = judge((root,), data, ids={"java-11", "android-11", "android-current"}, host=None)
    assert vs["java-11"].outcome is ClientOutcome.UNKNOWN
    assert codes(vs["java-11"]) == {"cert.root-membership-unknown"}
    assert "2022-05-18" in vs["java-11"].reasons[0].text
    assert codes(vs["android-11"]) == {"cert.root-not-trusted"}
    assert "added to the android store only on 2023-10-04" in vs["android-11"].reasons[0].text
    assert vs["android-current"].outcome is ClientOutcome.WORKS


def test_ecdhe_needs_a_common_curve_at_tls12(pki):
    _, inter, data = pki
    chain = (der(leaf(inter, key_spec="rsa:2048")), der(inter))
    x25519_only = ServerTls(
        negotiated_version="TLSv1.2",
        # ECDHE-RSA-AES128-GCM-SHA256, ECDHE-RSA-AES128-SHA
        accepted={"TLSv1.2": frozenset({0xC02F, 0xC013})},
        groups_tls12=frozenset({29}),
    )
    vs, _ = judge(
        chain, data, ids={"lync-2013-win81", "outlook-2016-win10", "android-11"}, server=x25519_only
    )
    assert codes(vs["lync-2013-win81"]) == {"tls.group"}  # SChannel on 8.1: P-256/P-384 only
    # SChannel from Windows 10 1607 offers curve25519 first (Microsoft's TLS elliptic curves page)
    assert vs["outlook-2016-win10"].outcome is ClientOutcome.WORKS
    assert vs["android-11"].outcome is ClientOutcome.WORKS
    with_rsa_kx = dataclasses.replace(
        x25519_only, accepted={"TLSv1.2": frozenset({0xC02F, 0xC013, 0x009C, 0x002F})}
    )
    vs, _ = judge(chain, data, ids={"lync-2013-win81"}, server=with_rsa_kx)
    assert vs["lync-2013-win81"].outcome is ClientOutcome.WORKS


def test_compact_matrix_counts_unknown_and_working_clients():
    import io

    from rich.console import Console

    from vedette.model import ClientMatrix, ClientReason, ClientVerdict
    from vedette.report.clients_section import render_matrix

    why = ClientReason(
        code="tls.version-untested",
        outcome=ClientOutcome.UNKNOWN,
        text="TLSv1.2 was not tested",
        fix="run vedette scan --mode full",
    )
    unknown = tuple(
        ClientVerdict(
            profile=f"u{i}",
            name=f"Old client {i}",
            family="f",
            outcome=ClientOutcome.UNKNOWN,
            reasons=(why,),
        )
        for i in range(4)
    )
    works = ClientVerdict(profile="ok", name="Fine client", family="f", outcome=ClientOutcome.WORKS)
    matrix = ClientMatrix(endpoint=None, as_of=now(), verdicts=(*unknown, works))

    def render(**kw: bool) -> str:
        out = io.StringIO()
        render_matrix(Console(file=out, width=200, color_system=None), matrix, indent=0, **kw)
        return out.getvalue()

    compact = render(compact=True)
    assert "4 unknown, 1 work" in compact
    assert "4 clients" in compact and "TLSv1.2 was not tested" in compact
    assert "Old client" not in compact and "Fine client" not in compact
    full = render(compact=True, verbose=True)
    assert "Old client 3" in full and "Fine client" in full


# --- where the chain ends: the same rule as the checks (issue 10) ------------------------------


def _texts(v):
    return [r.text for r in v.reasons]


def _render(m) -> str:
    import io

    from rich.console import Console

    from vedette.report.clients_section import render_matrix

    out = io.StringIO()
    render_matrix(Console(file=out, width=400, color_system=None), m, indent=0)
    return out.getvalue()


def test_private_root_not_given_is_an_unknown_root_for_every_client():
    # Leaf + intermediate under an internal root: the chain is whole, the root is unknown. The
    # matrix said "intermediate CN=... Root not sent" before.
    p = private_pki(host=HOST)
    vs, m = judge((chains_der(p.leaf), chains_der(p.inter)), trust_data(), ids=None)
    for v in vs.values():
        if v.family == "mta":
            continue
        unverified = v.profile == "python-stdlib-mail"  # does not check the certificate
        assert v.outcome is (ClientOutcome.WARNING if unverified else ClientOutcome.FAILS), v
        assert "cert.unknown-root" in codes(v)
        assert not any("not sent" in t for t in _texts(v)), _texts(v)
    reason = next(r for r in vs["ios-current"].reasons if r.code == "cert.unknown-root")
    assert "issued by CN=Private Root" in reason.text
    assert "--ca" in reason.fix and "sending it does not help" in reason.fix
    assert any("an unknown root" in n and "with --ca" in n for n in m.notes)
    text = _render(m)
    assert "an unknown root" in text and "not sent" not in text
    # The same chain with the root given: works.
    vs, m = judge(
        (chains_der(p.leaf), chains_der(p.inter)),
        trust_data(),
        ids={"ios-current"},
        extra=(chains_der(p.root),),
    )
    assert vs["ios-current"].outcome is ClientOutcome.WORKS


def test_leaf_alone_probably_misses_an_intermediate_unless_it_is_known():
    p = private_pki(host=HOST)
    leaf_only = (chains_der(p.leaf),)
    extra = (chains_der(p.root),)
    vs, _ = judge(leaf_only, trust_data(), ids={"android-11"}, extra=extra)
    assert codes(vs["android-11"]) == {"chain.incomplete"}
    assert "an intermediate is probably missing" in _texts(vs["android-11"])[0]
    # With --intermediates/--fetch the missing one is named, and the client still fails.
    m = simulate(
        leaf_only,
        host=HOST,
        as_of=now(),
        data=trust_data(),
        profiles=[p_ for p_ in trust_data().profiles if p_.id == "android-11"],
        extra_roots=extra,
        intermediates=(chains_der(p.inter),),
        check_handshake=False,
    )
    (v,) = m.verdicts
    assert v.outcome is ClientOutcome.FAILS
    assert _texts(v)[0].startswith("intermediate Private Root Issuing CA not sent")


def test_too_long_and_abusive_chains_have_their_own_reason():
    long = linear_chain(150, host=HOST)
    vs, _ = judge(long.sent_der, trust_data(), ids={"ios-current"}, extra=(long.root_der,))
    assert codes(vs["ios-current"]) == {"chain.too-long"}
    assert "longer than 8 certificates (151 sent)" in _texts(vs["ios-current"])[0]
    abusive = abusive_chain(7, 8, host=HOST)
    vs, _ = judge(abusive.sent_der, trust_data(), ids={"ios-current"}, extra=(abusive.root_der,))
    assert codes(vs["ios-current"]) == {"chain.abusive"}
    assert vs["ios-current"].outcome is ClientOutcome.FAILS


def test_quick_scan_of_a_tls10_only_server_fails_clients_without_tls10(pki):
    # Issue 13: vedette's quick probe offers every version up to TLS 1.3, so a server that
    # negotiated TLS 1.0 accepts nothing newer: TLS 1.2+-only clients cannot connect.
    _, inter, data = pki
    chain = (der(leaf(inter, key_spec="rsa:2048")), der(inter))
    tls10 = ServerTls(negotiated_version="TLSv1", negotiated_suite="ECDHE-RSA-AES128-SHA")
    ids = {"thunderbird-current", "java-17", "chrome-current", "outlook-win11", "android-4.4"}
    vs, _ = judge(chain, data, ids=ids, server=tls10)
    for profile in ("thunderbird-current", "java-17", "chrome-current", "outlook-win11"):
        assert vs[profile].outcome is ClientOutcome.FAILS, profile
        assert codes(vs[profile]) == {"tls.version"}
        assert "the server's highest is TLSv1" in vs[profile].reasons[0].text
    assert vs["android-4.4"].outcome is not ClientOutcome.FAILS  # it speaks TLS 1.0


def test_quick_scan_leaves_a_client_with_only_older_versions_unknown(pki):
    # The server chose TLS 1.2; a client offering TLS 1.0/1.1 besides 1.3 but not 1.2 might
    # still meet it lower down: not tested, so unknown, never "works".
    _, inter, data = pki
    chain = (der(leaf(inter, key_spec="rsa:2048")), der(inter))
    tls12 = ServerTls(negotiated_version="TLSv1.2", negotiated_suite="ECDHE-RSA-AES128-GCM-SHA256")
    profile = next(p for p in data.profiles if p.id == "ios-current")
    odd = dataclasses.replace(
        profile,
        id="odd",
        hello=dataclasses.replace(profile.hello, versions=("TLSv1", "TLSv1.3")),
    )
    data = dataclasses.replace(data, profiles=(*data.profiles, odd))
    vs, _ = judge(chain, data, ids={"odd"}, server=tls12)
    assert vs["odd"].outcome is ClientOutcome.UNKNOWN
    assert codes(vs["odd"]) == {"tls.version-untested"}
