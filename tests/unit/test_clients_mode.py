"""``--mode clients`` (issue 13): the two hellos, their folding into a partial TlsScan, what the
simulation and the checks make of it, and its storage."""

from __future__ import annotations

import dataclasses

from tests.unit.test_simulate_chains import codes, judge, pki  # noqa: F401 (fixture)
from tests.unit.test_tls_plan import SimServer, run
from tests.unit.trust_helpers import der, leaf
from vedette.checks.matrix import server_tls
from vedette.model import ClientOutcome
from vedette.scan import profile_suites
from vedette.store._tls_codec import tls_scan_from_dict, tls_scan_to_dict
from vedette.tls.plan import Answered, Refused, Unanswered, client_hellos, clients_scan
from vedette.tls.registry import SSL3, TLS10, TLS11, TLS12, TLS13, legacy_suites
from vedette.tls.server import ServerAnswer, ServerHello
from vedette.trust import trust_data

ECDHE_GCM = 0xC02F
ECDHE_CBC = 0xC013
AES256 = 0x1302


def _hello(version: int, pick: int) -> Answered:
    return Answered(
        ServerAnswer(
            hello=ServerHello(
                version=version,
                legacy_version=min(version, TLS12),
                random=bytes(32),
                session_id=b"",
                suite=pick,
                compression=0,
                extensions=(),
                retry=False,
                group=None,
            )
        )
    )


PROTOCOL_VERSION = Answered(ServerAnswer(alert=(2, 70)))


def test_the_hellos_offer_the_profiles_suites_most_offered_first():
    order = profile_suites()
    counts = {c: sum(c in p.hello.suites for p in trust_data().profiles) for c in order}
    assert set(order) <= set(legacy_suites())
    assert [counts[c] for c in order] == sorted(counts.values(), reverse=True)
    # Every TLS <= 1.2 suite any profile offers is asked about.
    offered = {c for p in trust_data().profiles for c in p.hello.suites}
    assert offered & set(legacy_suites()) == set(order)
    first, second = client_hellos("mail.example.test", order)
    assert first.hello is not None and second.hello is not None
    assert (first.hello.version, second.hello.version) == (TLS12, TLS10)
    assert first.hello.suites == second.hello.suites == order
    assert first.hello.sni == "mail.example.test"


def test_a_modern_server_settles_every_version_but_tls11():
    scan = clients_scan(
        (TLS13, AES256), (_hello(TLS12, ECDHE_GCM), PROTOCOL_VERSION), connections=2
    )
    assert scan.versions == (TLS12, TLS13)
    assert scan.suites_for(TLS12) == (ECDHE_GCM,)
    assert scan.suites_for(TLS13) == (AES256,)
    assert scan.tested_versions == (SSL3, TLS10, TLS12, TLS13)
    assert scan.refused_versions() == {SSL3, TLS10}
    assert scan.incomplete and scan.incomplete_reason.startswith("clients mode:")


def test_a_tls10_only_server_refuses_everything_above():
    scan = clients_scan(
        (TLS10, ECDHE_CBC), (_hello(TLS10, ECDHE_CBC), _hello(TLS10, 0x002F)), connections=2
    )
    assert scan.versions == (TLS10,)
    assert scan.suites_for(TLS10) == (ECDHE_CBC, 0x002F)
    assert scan.refused_versions() == {TLS11, TLS12, TLS13}


def test_a_refusal_that_is_not_about_the_version_settles_nothing():
    scan = clients_scan(
        (TLS13, AES256),
        (Answered(ServerAnswer(alert=(2, 40))), Answered(ServerAnswer(alert=(2, 80)))),
        connections=2,
    )
    assert scan.tested_versions == (TLS13,)
    assert not scan.refused_versions()
    # A close without an answer is a refusal, as in the enumeration (asyncio servers send
    # no alert).
    closed = clients_scan(
        (TLS13, AES256),
        (_hello(TLS12, ECDHE_GCM), Refused("closed", hung_up=True)),
        connections=2,
    )
    assert closed.refused_versions() == {SSL3, TLS10}
    unanswered = clients_scan((TLS12, None), (Unanswered("421"),), connections=1)
    assert "hello: 421" in (unanswered.incomplete_reason or "")
    assert unanswered.refused_versions() == {TLS13}


def test_a_full_enumeration_lists_the_versions_it_finished():
    result, _ = run(SimServer(suites={TLS12: [ECDHE_GCM], TLS13: [AES256]}))
    assert set(result.tested_versions) >= {SSL3, TLS10, TLS11, TLS12, TLS13}
    assert result.refused_versions() >= {SSL3, TLS10, TLS11}
    cut, _ = run(SimServer(suites={TLS12: [ECDHE_GCM], TLS13: [AES256]}, fail_after=0))
    assert cut.tested_versions == ()  # nothing answered: nothing refused


def test_tested_versions_are_stored_and_old_rows_load():
    scan = clients_scan((TLS12, ECDHE_GCM), (PROTOCOL_VERSION, PROTOCOL_VERSION), connections=2)
    stored = tls_scan_to_dict(scan)
    assert tls_scan_from_dict(stored) == scan
    old = {k: v for k, v in stored.items() if k != "tested_versions"}
    assert tls_scan_from_dict(old).tested_versions == ()


def _server(obs_version: str, obs_suite: str, scan):
    from tests.builders import observed_tls

    obs = observed_tls((), version=obs_version, cipher=obs_suite, tls_scan=scan)
    return server_tls(obs)


def test_a_tls10_only_client_fails_decisively_on_a_refused_tls10(pki):  # noqa: F811
    _, inter, data = pki
    chain = (der(leaf(inter, key_spec="rsa:2048")), der(inter))
    scan = clients_scan(
        (TLS13, AES256), (_hello(TLS12, ECDHE_GCM), PROTOCOL_VERSION), connections=2
    )
    server = _server("TLSv1.3", "TLS_AES_256_GCM_SHA384", scan)
    assert server is not None and server.refused == {"SSLv3", "TLSv1"}
    profile = next(p for p in data.profiles if p.id == "android-4.4")
    tls10 = dataclasses.replace(
        profile, id="tls10-only", hello=dataclasses.replace(profile.hello, versions=("TLSv1",))
    )
    tls11 = dataclasses.replace(
        profile, id="tls11", hello=dataclasses.replace(profile.hello, versions=("TLSv1", "TLSv1.1"))
    )
    data = dataclasses.replace(data, profiles=(*data.profiles, tls10, tls11))
    vs, _ = judge(chain, data, ids={"tls10-only", "tls11", "android-11"}, server=server)
    assert vs["tls10-only"].outcome is ClientOutcome.FAILS
    assert codes(vs["tls10-only"]) == {"tls.version"}
    # TLS 1.1 was not asked about: unknown, never a failure.
    assert vs["tls11"].outcome is ClientOutcome.UNKNOWN
    # Android 11 offers the suite the server chose at TLS 1.3: it works.
    assert vs["android-11"].outcome is ClientOutcome.WORKS


def test_a_client_without_the_chosen_suite_stays_unknown(pki):  # noqa: F811
    _, inter, data = pki
    chain = (der(leaf(inter, key_spec="rsa:2048")), der(inter))
    scan = clients_scan(
        (TLS12, ECDHE_GCM), (_hello(TLS12, ECDHE_GCM), PROTOCOL_VERSION), connections=2
    )
    server = _server("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", scan)
    profile = next(p for p in data.profiles if p.id == "android-11")
    cbc = dataclasses.replace(
        profile,
        id="cbc-only",
        hello=dataclasses.replace(profile.hello, versions=("TLSv1.2",), suites=(ECDHE_CBC,)),
    )
    gcm = dataclasses.replace(
        cbc, id="gcm", hello=dataclasses.replace(cbc.hello, suites=(ECDHE_GCM,))
    )
    data = dataclasses.replace(data, profiles=(*data.profiles, cbc, gcm))
    vs, _ = judge(chain, data, ids={"cbc-only", "gcm"}, server=server)
    assert vs["cbc-only"].outcome is ClientOutcome.UNKNOWN
    assert codes(vs["cbc-only"]) == {"tls.suite"}
    assert vs["gcm"].outcome is ClientOutcome.WORKS


def _findings(scan) -> set[str]:
    from datetime import UTC, datetime

    from tests.builders import endpoint_for, observed
    from vedette.checks import CheckContext, analyse
    from vedette.model import Service

    now = datetime(2026, 5, 1, tzinfo=UTC)
    ep = endpoint_for(Service.IMAP, host="imap.example.org", ip="192.0.2.1")
    return {f.id for f in analyse((observed(ep, at=now, tls_scan=scan),), CheckContext(now=now))}


def test_checks_report_a_missing_version_only_when_it_was_tested():
    # TLS 1.3 refused (the quick probe offered it and got TLS 1.2), TLS 1.0 accepted.
    old = clients_scan(
        (TLS12, ECDHE_GCM), (_hello(TLS12, ECDHE_GCM), _hello(TLS10, ECDHE_CBC)), connections=2
    )
    found = _findings(old)
    assert {"tls.no-tls13", "tls.tls10"} <= found
    assert "tls.no-tls12" not in found
    # TLS 1.3 accepted, TLS 1.2 never answered: no claim about TLS 1.2, none about features.
    modern = clients_scan(
        (TLS13, AES256), (Unanswered("reset"), Unanswered("reset")), connections=2
    )
    found = _findings(modern)
    assert not found & {"tls.no-tls13", "tls.no-tls12", "tls.no-forward-secrecy"}
    assert not found & {"tls.no-fallback-scsv", "tls.no-resumption", "tls.tls10"}
    # A TLS 1.0-only server: TLS 1.2 and 1.3 were refused.
    tls10 = clients_scan(
        (TLS10, ECDHE_CBC), (_hello(TLS10, ECDHE_CBC), _hello(TLS10, ECDHE_CBC)), connections=2
    )
    assert {"tls.no-tls12", "tls.no-tls13", "tls.tls10"} <= _findings(tls10)


def test_the_negotiated_old_version_is_reported_once():
    tls10 = clients_scan(
        (TLS10, ECDHE_CBC), (_hello(TLS10, ECDHE_CBC), _hello(TLS10, ECDHE_CBC)), connections=2
    )
    from datetime import UTC, datetime

    from tests.builders import observed_tls
    from vedette.checks import CheckContext, analyse

    now = datetime(2026, 5, 1, tzinfo=UTC)
    chain = (der(leaf(_ca(), key_spec="rsa:2048")),)
    obs = observed_tls(chain, version="TLSv1", cipher="ECDHE-RSA-AES128-SHA", tls_scan=tls10)
    found = {f.id for f in analyse((obs,), CheckContext(now=now))}
    assert "tls.tls10" in found and "tls.old-version" not in found
    quick = {
        f.id for f in analyse((dataclasses.replace(obs, tls_scan=None),), CheckContext(now=now))
    }
    assert "tls.old-version" in quick


def _ca():
    from vedette.pki import CertificateAuthority

    return CertificateAuthority.create_root("clients mode test root")
