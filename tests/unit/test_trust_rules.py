"""The client rules of issue 13, each against the simulation: Python with and without a
certificate check, JavaMail's host-name default, Android 9+ and SHA-1, NSS's SHA-1 rule for
public roots only, signature_algorithms_cert against the chain sent, Lync/Skype with and
without KB2973337, and the wording of the missing-intermediate and TLS 1.2 fixes.

The real clients behind these rules are driven in tests/integration/test_clients_python.py
and test_clients_java.py; the facts come with their source in profiles.json."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vedette.model import ClientOutcome, Endpoint, Service
from vedette.pki import CertificateAuthority
from vedette.trust._data import trust_data, unverified_facts
from vedette.trust.simulate import ServerTls, select_profiles, simulate
from vedette.x509.legacy_algorithms import resign_sha1

from .trust_helpers import HOST, der, leaf

STORES = ("apple", "microsoft", "mozilla", "chrome", "android", "openjdk", "oracle")


@pytest.fixture(scope="module")
def pki():
    root = CertificateAuthority.create_root(
        "Rules Root", key_spec="rsa:2048", not_before=datetime(2005, 1, 1, tzinfo=UTC), days=9000
    )
    inter = root.issue_intermediate("Rules Issuing CA", key_spec="rsa:2048")
    return root, inter, trust_data().with_root(der(root), STORES)


def judge(chain, data, ids, *, host=HOST, extra=(), server=None, endpoint=None):
    m = simulate(
        chain,
        host=host,
        as_of=datetime.now(UTC),
        data=data,
        profiles=[p for p in data.profiles if p.id in ids],
        extra_roots=extra,
        server=server,
        endpoint=endpoint,
        check_handshake=server is not None,
    )
    return {v.profile: v for v in m.verdicts}


def codes(v):
    return {r.code for r in v.reasons}


def test_python_stdlib_mail_works_but_does_not_check_the_certificate(pki):
    root, inter, data = pki
    expired = leaf(inter, not_before=datetime.now(UTC) - timedelta(days=100), days=10)
    vs = judge((der(expired), der(inter)), data, {"python-verifying", "python-stdlib-mail"},
               host="other.example.test")  # fmt: skip
    assert vs["python-verifying"].outcome is ClientOutcome.FAILS
    assert {"cert.expired", "cert.name-mismatch"} <= codes(vs["python-verifying"])
    mail = vs["python-stdlib-mail"]
    assert mail.outcome is ClientOutcome.WARNING
    assert all(r.text.startswith("works, but does not check the certificate") for r in mail.reasons)
    assert "ssl.create_default_context()" in mail.reasons[0].fix


def test_python_profiles_offer_tls_12_and_13_only():
    for pid in ("python-verifying", "python-stdlib-mail"):
        p = next(p for p in trust_data().profiles if p.id == pid)
        assert p.hello.versions == ("TLSv1.2", "TLSv1.3")
    server = ServerTls(accepted={"TLSv1": frozenset({0x002F, 0xC014})})
    root = CertificateAuthority.create_root("R", key_spec="rsa:2048")
    data = trust_data().with_root(der(root), STORES)
    vs = judge((der(leaf(root)),), data, {"python-stdlib-mail"}, server=server)
    assert vs["python-stdlib-mail"].outcome is ClientOutcome.FAILS
    assert "tls.version" in codes(vs["python-stdlib-mail"])


def test_python_certifi_still_names_the_verifying_profile():
    data = trust_data()
    (p,) = select_profiles(data.profiles, ["python-certifi"], relay=None)
    assert p.id == "python-verifying"


@pytest.mark.parametrize(("service", "prop"), [(Service.IMAPS, "mail.imaps."),
                                              (Service.SUBMISSION, "mail.smtp.")])  # fmt: skip
def test_javamail_before_angus_2_accepts_any_name(pki, service, prop):
    _, inter, data = pki
    endpoint = Endpoint(host=HOST, ip=None, port=service.default_port, service=service)
    vs = judge((der(leaf(inter)), der(inter)), data, {"java-8", "java-11", "java-17"},
               host="wrong.example.test", endpoint=endpoint)  # fmt: skip
    for pid in ("java-8", "java-11"):
        (r,) = vs[pid].reasons
        assert vs[pid].outcome is ClientOutcome.WARNING
        assert r.text.startswith("works, but accepts any name: a man-in-the-middle risk")
        assert f"{prop}ssl.checkserveridentity=true" in r.fix
    assert vs["java-17"].outcome is ClientOutcome.FAILS
    assert "cert.name-mismatch" in codes(vs["java-17"])


def test_android_9_plus_refuses_sha1_under_a_user_root_and_takes_rsa_1024():
    root = CertificateAuthority.create_root("User Root", key_spec="rsa:2048")
    inter = root.issue_intermediate("User CA", key_spec="rsa:2048")
    sha1 = resign_sha1(leaf(inter, key_spec="rsa:2048"), inter.issued.key)
    data = trust_data()
    ids = {"android-7", "android-11", "android-current"}
    vs = judge((der(sha1), der(inter)), data, ids, extra=(der(root),))
    assert vs["android-11"].outcome is ClientOutcome.FAILS
    assert "cert.sha1" in codes(vs["android-11"])
    assert "cert.sha1" in codes(vs["android-current"])
    assert vs["android-7"].outcome is ClientOutcome.WORKS
    weak = judge((der(leaf(inter, key_spec="rsa:1024")), der(inter)), data, ids, extra=(der(root),))
    assert all(v.outcome is ClientOutcome.WORKS for v in weak.values()), weak


def test_nss_refuses_sha1_under_public_roots_only(pki):
    root, inter, data = pki
    sha1 = resign_sha1(leaf(inter, key_spec="rsa:2048"), inter.issued.key)
    public = judge((der(sha1), der(inter)), data, {"thunderbird-current"})
    assert "cert.sha1" in codes(public["thunderbird-current"])
    own = CertificateAuthority.create_root("Imported Root", key_spec="rsa:2048")
    own_inter = own.issue_intermediate("Imported CA", key_spec="rsa:2048")
    sha1 = resign_sha1(leaf(own_inter, key_spec="rsa:2048"), own_inter.issued.key)
    private = judge((der(sha1), der(own_inter)), trust_data(), {"thunderbird-current"},
                    extra=(der(own),))  # fmt: skip
    assert private["thunderbird-current"].outcome is ClientOutcome.WORKS


def test_java_refuses_sha1_under_a_jdk_root_from_8u141_but_not_java_6(pki):
    """Oracle's release note JDK-8177285 (6u161, 7u151, 8u141; JEP 288 for JDK 9+): a TLS
    server chain with a SHA-1 certificate anchored by a cacerts root is refused; a chain to a
    private root is not affected. Java 6u45 predates it."""
    root, inter, data = pki
    sha1 = resign_sha1(leaf(inter, key_spec="rsa:2048"), inter.issued.key)
    ids = {"java-6", "java-8", "java-11"}
    vs = judge((der(sha1), der(inter)), data, ids)
    for pid in ("java-8", "java-11"):
        assert vs[pid].outcome is ClientOutcome.FAILS, vs[pid].reasons
        assert "cert.sha1" in codes(vs[pid])
    assert "cert.sha1" not in codes(vs["java-6"])
    own = CertificateAuthority.create_root("Private Java Root", key_spec="rsa:2048")
    own_inter = own.issue_intermediate("Private Java CA", key_spec="rsa:2048")
    sha1 = resign_sha1(leaf(own_inter, key_spec="rsa:2048"), own_inter.issued.key)
    private = judge((der(sha1), der(own_inter)), trust_data(), ids, extra=(der(own),))
    for pid in ids:
        assert "cert.sha1" not in codes(private[pid]), (pid, private[pid].reasons)


def test_thunderbird_before_gecko_101_matches_the_cn_under_an_imported_root():
    """Gecko's test_baseline_requirements_subject_common_name.js: older Gecko falls back to the
    subject CN under an imported root whatever security.pki.name_matching_mode says; current
    Gecko never does (SSL_ERROR_BAD_CERT_DOMAIN)."""
    own = CertificateAuthority.create_root("Exchange Root", key_spec="rsa:2048")
    own_inter = own.issue_intermediate("Exchange CA", key_spec="rsa:2048")
    cn_only = leaf(own_inter, san=False)
    ids = {"thunderbird-52", "thunderbird-60", "thunderbird-current"}
    vs = judge((der(cn_only), der(own_inter)), trust_data(), ids, extra=(der(own),))
    for pid in ("thunderbird-52", "thunderbird-60"):
        assert vs[pid].outcome is ClientOutcome.WARNING, vs[pid].reasons
        assert codes(vs[pid]) == {"cert.cn-only"}
    assert vs["thunderbird-current"].outcome is ClientOutcome.FAILS
    assert "cert.name-mismatch" in codes(vs["thunderbird-current"])


def test_java_17_0_3_fails_a_sha1_chain_through_signature_algorithms_cert():
    own = CertificateAuthority.create_root("Java Root", key_spec="rsa:2048")
    inter = own.issue_intermediate("Java CA", key_spec="rsa:2048")
    ids = {"java-11", "java-17"}
    server = ServerTls(accepted={"TLSv1.2": frozenset({0xC02F}), "TLSv1.3": frozenset({0x1301})})
    sha1_leaf = resign_sha1(leaf(inter, key_spec="rsa:2048"), inter.issued.key)
    vs = judge((der(sha1_leaf), der(inter)), trust_data(), ids, extra=(der(own),), server=server)
    assert vs["java-17"].outcome is ClientOutcome.FAILS
    (r,) = [r for r in vs["java-17"].reasons if r.code == "tls.sigalgs-cert"]
    assert "signature_algorithms_cert" in r.text and "rsa_pkcs1_sha1" in r.text
    assert vs["java-11"].outcome is ClientOutcome.WORKS, vs["java-11"].reasons
    sha1_inter = resign_sha1(inter.cert, own.issued.key)
    vs = judge((der(leaf(inter)), der(sha1_inter)), trust_data(), ids, extra=(der(own),),
               server=server)  # fmt: skip
    assert "cert.sigalg-not-offered" in codes(vs["java-17"])
    assert vs["java-11"].outcome is ClientOutcome.WORKS


def test_schannel_from_windows_10_1607_offers_x25519(pki):
    """MicrosoftDocs/win32 tls-elliptic-curves-in-windows-10-1607-and-later.md: curve25519,
    NistP256, NistP384 by default; a server doing ECDHE with X25519 only still meets them."""
    _, inter, data = pki
    server = ServerTls(accepted={"TLSv1.2": frozenset({0xC02F})}, groups_tls12=frozenset({29}))
    ids = {"outlook-2016-win10", "exchange-2016", "outlook-2010-win7"}
    vs = judge((der(leaf(inter)), der(inter)), data, ids, server=server)
    assert vs["outlook-2016-win10"].outcome is ClientOutcome.WORKS, vs["outlook-2016-win10"].reasons
    assert "tls.group" not in codes(vs["exchange-2016"])
    assert "tls.version" in codes(vs["outlook-2010-win7"])  # Windows 7 default: TLS 1.0 only


def test_windows_11_schannel_still_offers_3des():
    """MicrosoftDocs/win32 tls-cipher-suites-in-windows-11.md: TLS_RSA_WITH_3DES_EDE_CBC_SHA is
    enabled by default, last in the order."""
    root = CertificateAuthority.create_root("3DES Root", key_spec="rsa:2048")
    data = trust_data().with_root(der(root), STORES)
    server = ServerTls(accepted={"TLSv1.2": frozenset({0x000A})})
    vs = judge((der(leaf(root, key_spec="rsa:2048")),), data, {"outlook-win11"}, server=server)
    assert vs["outlook-win11"].outcome is ClientOutcome.WORKS, vs["outlook-win11"].reasons


def test_lync_and_skype_come_with_and_without_kb2973337(pki):
    root, _, data = pki
    inter = root.issue_intermediate("SHA-512 CA", key_spec="rsa:2048", hash_alg="sha512")
    ids = {p.id for p in data.profiles if p.family in ("lync", "skype")}
    vs = judge((der(leaf(inter)), der(inter)), data, ids)
    for pid in ("lync-2013-win7", "lync-2013-win81", "lync-2013-server2012", "sfb-2015-win7"):
        assert "KB2973337 missing" in vs[pid].name
        assert vs[pid].outcome is ClientOutcome.FAILS
        kb = vs[f"{pid}-kb2973337"]
        assert "with KB2973337" in kb.name and kb.outcome is ClientOutcome.WORKS, kb.reasons


def test_missing_intermediate_says_the_certificate_has_no_caissuers_url(pki):
    _, inter, data = pki
    vs = judge((der(leaf(inter)),), data, {"outlook-2016-win10", "android-11"})
    (r,) = vs["outlook-2016-win10"].reasons
    assert "has no caIssuers URL" in r.text and "does not fetch" not in r.text
    assert "does not fetch" in vs["android-11"].reasons[0].text


def test_the_tls_12_fix_for_windows_7_gives_the_schannel_client_keys(pki):
    _, inter, data = pki
    server = ServerTls(accepted={"TLSv1.2": frozenset({0xC02F})})
    vs = judge((der(leaf(inter)), der(inter)), data, {"outlook-2010-win7"}, server=server)
    (r,) = vs["outlook-2010-win7"].reasons
    assert "KB3140245" in r.fix
    assert "SCHANNEL\\Protocols\\TLS 1.2\\Client" in r.fix and "DisabledByDefault=0" in r.fix
    assert "WOW6432Node" in r.fix and "DefaultSecureProtocols" in r.fix


def test_unverified_facts_are_counted_once_each():
    data = trust_data()
    facts = unverified_facts(data)
    assert len(facts) == len(set(facts))
    assert all("unverified" in f.lower() or f.startswith("distrust ") for f in facts)
    events = {e.id: e for e in data.events}
    assert events["symantec-mozilla-all"].products.startswith("Firefox 64")
    assert "4.3.5+" not in events["diginotar-apple"].products
