"""Certificate checks: each finding appears on a chain with the problem and not on a good one."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st

import vedette.checks.certificate as certificate_checks
from tests.builders import endpoint_for, observed, observed_tls
from tests.chains import abusive_chain, linear_chain
from vedette.checks import CheckContext, analyse
from vedette.checks.registry import get_check
from vedette.model import Finding, Observation, Service, Severity
from vedette.pki import CertificateAuthority, Issued, self_signed_server
from vedette.trust import mozilla_roots_der

STARTCOM = Path(__file__).parents[1] / "data" / "startcom-chain.pem"
HOST = "mail.example.test"
NOW = datetime.now(UTC)


@pytest.fixture(autouse=True, scope="module")
def _clock_when_the_module_runs() -> None:
    # The certificates below are minted when the module's tests start; a long suite starts
    # them minutes after importing this file, so read the clock then, not at import.
    global NOW
    NOW = datetime.now(UTC)


CERT_IDS = (
    "cert.none",
    "cert.unparseable",
    "cert.self-signed",
    "cert.expired",
    "cert.not-yet-valid",
    "cert.expiring-soon",
    "cert.name-mismatch",
    "cert.chain-incomplete",
    "cert.chain-too-long",
    "cert.chain-abusive",
    "cert.unknown-root",
    "cert.chain-order",
    "cert.chain-root-sent",
    "cert.weak-rsa-key",
    "cert.sha1-signature",
    "cert.missing-server-auth-eku",
    "cert.wrong-key-usage",
    "cert.validity-too-long",
    "cert.untrusted",
)


def der(cert: x509.Certificate | Issued | CertificateAuthority) -> bytes:
    if not isinstance(cert, x509.Certificate):
        cert = cert.cert
    return cert.public_bytes(Encoding.DER)


def observe(
    chain: tuple[bytes, ...], *, host: str | None = HOST, service: Service = Service.IMAPS
) -> Observation:
    return observed_tls(chain, endpoint=endpoint_for(service, host=host, ip="127.0.0.1"), at=NOW)


def run(
    chain: tuple[bytes, ...],
    *,
    anchors: tuple[bytes, ...] = (),
    extra: tuple[bytes, ...] = (),
    now: datetime | None = None,
    host: str | None = HOST,
    service: Service = Service.IMAPS,
    intermediates: tuple[bytes, ...] = (),
) -> dict[str, list[Finding]]:
    now = now or NOW
    known = {"intermediates_der": intermediates} if intermediates else {}
    ctx = CheckContext(now=now, trust_roots_der=anchors + extra, extra_roots_der=extra, **known)
    out: dict[str, list[Finding]] = defaultdict(list)
    for f in analyse([observe(chain, host=host, service=service)], ctx):
        assert f.id != "vedette.check-error", f.detail
        if f.id.startswith("cert."):
            out[f.id].append(f)
    return dict(out)


@pytest.fixture(scope="module")
def root() -> CertificateAuthority:
    return CertificateAuthority.create_root("Checks Root", organization="Vedette Tests")


@pytest.fixture(scope="module")
def inter(root: CertificateAuthority) -> CertificateAuthority:
    return root.issue_intermediate("Checks Intermediate")


@pytest.fixture(scope="module")
def good(inter: CertificateAuthority) -> tuple[bytes, ...]:
    return (der(inter.issue_server([HOST, "127.0.0.1"])), der(inter))


@pytest.fixture(scope="module")
def anchors(root: CertificateAuthority) -> tuple[bytes, ...]:
    return (der(root),)


@pytest.fixture(scope="module")
def startcom() -> tuple[bytes, ...]:
    return tuple(der(c) for c in x509.load_pem_x509_certificates(STARTCOM.read_bytes()))


def test_every_check_is_registered():
    for check_id in CERT_IDS:
        check = get_check(check_id)
        assert check.title
        assert check.explanation
        assert check.remediation
        assert check.fn is not None
    assert certificate_checks.EXPIRING_SOON_DAYS == 30


def test_good_chain_has_no_finding(good, anchors):
    assert run(good, anchors=anchors) == {}
    assert run(good, extra=anchors) == {}  # the same root given with --ca


def test_no_tls_no_certificate_findings(good, anchors):
    obs = observed(endpoint_for(Service.IMAPS, host=HOST, ip="127.0.0.1"), at=NOW)
    ctx = CheckContext(now=NOW, trust_roots_der=anchors)
    assert not [f for f in analyse([obs], ctx) if f.id.startswith("cert.")]


def test_cert_none():
    found = run(())
    assert list(found) == ["cert.none"]
    assert found["cert.none"][0].severity is Severity.HIGH
    assert "TLS_AES_128_GCM_SHA256" in found["cert.none"][0].detail
    assert run((), service=Service.SMTP)["cert.none"][0].severity is Severity.LOW


def test_unparseable(good, anchors):
    found = run((good[0], b"\x30\x82\x01\x00garbage", good[1]), anchors=anchors)
    assert list(found) == ["cert.unparseable"]
    assert "#2 of 3" in found["cert.unparseable"][0].detail
    assert found["cert.unparseable"][0].severity is Severity.MEDIUM


def test_self_signed_not_also_untrusted():
    ss = der(self_signed_server([HOST]))
    found = run((ss,), anchors=mozilla_roots_der())
    assert set(found) == {"cert.self-signed"}
    assert HOST in found["cert.self-signed"][0].detail
    assert found["cert.self-signed"][0].severity is Severity.HIGH
    assert run((ss,), service=Service.SMTP, host=HOST)["cert.self-signed"][0].severity == (
        Severity.LOW
    )
    # Pinned with --ca: nothing to say.
    assert run((ss,), extra=(ss,)) == {}


def test_expired_leaf_and_intermediate(root, anchors):
    old = root.issue_intermediate(
        "Old Intermediate", not_before=NOW - timedelta(days=400), days=200
    )
    leaf = old.issue_server([HOST], not_before=NOW - timedelta(days=300), days=90)
    found = run((der(leaf), der(old)), anchors=anchors)
    assert set(found) == {"cert.expired"}
    details = sorted(f.detail for f in found["cert.expired"])
    assert any(
        "server certificate CN=mail.example.test" in d and "210 days ago" in d for d in details
    )
    assert any("intermediate CN=Old Intermediate" in d for d in details)
    assert all(f.severity is Severity.CRITICAL for f in found["cert.expired"])
    relay = run((der(leaf), der(old)), anchors=anchors, service=Service.SMTP)
    assert all(f.severity is Severity.MEDIUM for f in relay["cert.expired"])
    assert "DANE/MTA-STS" in get_check("cert.expired").explanation


def test_not_yet_valid(inter, root, anchors):
    leaf = inter.issue_server([HOST], not_before=NOW + timedelta(days=3))
    found = run((der(leaf), der(inter)), anchors=anchors)
    assert set(found) == {"cert.not-yet-valid"}
    assert "in 2 days" in found["cert.not-yet-valid"][0].detail or "in 3 days" in (
        found["cert.not-yet-valid"][0].detail
    )


@pytest.mark.parametrize(
    ("days_left", "service", "severity"),
    [
        (20, Service.IMAPS, Severity.LOW),
        (3, Service.IMAPS, Severity.MEDIUM),
        (3, Service.SMTP, Severity.LOW),
    ],
)
def test_expiring_soon(inter, anchors, days_left, service, severity):
    leaf = inter.issue_server([HOST], not_before=NOW - timedelta(days=60), days=60 + days_left)
    found = run((der(leaf), der(inter)), anchors=anchors, service=service)
    assert set(found) == {"cert.expiring-soon"}
    f = found["cert.expiring-soon"][0]
    assert f.severity is severity
    assert f"in {days_left - 1} days" in f.detail or f"in {days_left} days" in f.detail


def test_not_expiring_soon_at_31_days(inter, anchors):
    leaf = inter.issue_server([HOST], days=32)
    assert run((der(leaf), der(inter)), anchors=anchors) == {}


def test_name_mismatch(good, anchors):
    found = run(good, anchors=anchors, host="imap.example.test")
    assert set(found) == {"cert.name-mismatch"}
    detail = found["cert.name-mismatch"][0].detail
    assert "imap.example.test" in detail
    assert HOST in detail
    assert "DNS:mail.example.test" in found["cert.name-mismatch"][0].evidence
    # Trailing dot and case do not matter.
    assert run(good, anchors=anchors, host="MAIL.example.test.") == {}


def test_no_name_check_for_bare_ip(good, anchors):
    assert run(good, anchors=anchors, host=None) == {}
    assert run(good, anchors=anchors, host="192.0.2.99") == {}


def test_chain_incomplete_not_untrusted(good, anchors):
    found = run(good[:1], anchors=anchors)
    assert set(found) == {"cert.chain-incomplete"}
    detail = found["cert.chain-incomplete"][0].detail
    assert "CN=Checks Intermediate" in detail
    assert "an intermediate is probably missing" in detail
    assert found["cert.chain-incomplete"][0].severity is Severity.HIGH


def test_private_root_not_given_is_an_unknown_root_not_a_missing_intermediate(good, root):
    # Issue 10: leaf + intermediate (a correct chain) under an internal root vedette was not
    # given was HIGH cert.chain-incomplete "an intermediate certificate is missing".
    found = run(good)
    assert set(found) == {"cert.unknown-root"}
    (finding,) = found["cert.unknown-root"]
    assert finding.severity is Severity.HIGH
    assert "CN=Checks Intermediate" in finding.detail
    assert "issued by CN=Checks Root" in finding.detail
    assert "an unknown root" in finding.detail
    assert "give it to vedette with --ca; sending it does not help" in finding.detail
    # Given with --ca, the same chain is clean.
    assert run(good, extra=(der(root),)) == {}
    # On port 25 the severity is low, as for every trust finding there.
    relay = run(good, service=Service.SMTP)
    assert relay["cert.unknown-root"][0].severity is Severity.LOW


def test_intermediates_name_the_missing_intermediate(good, inter, root, anchors):
    # scan --intermediates DIR (or --fetch): the missing certificate is named, and the chain
    # the server sends is still incomplete.
    found = run(good[:1], anchors=anchors, intermediates=(der(inter), der(root)))
    assert set(found) == {"cert.chain-incomplete"}
    detail = found["cert.chain-incomplete"][0].detail
    assert detail.startswith("The intermediate CN=Checks Intermediate,O=Vedette Tests, which ")
    assert "is missing: the server does not send it" in detail
    assert "probably" not in detail
    # Nothing trusted: the intermediate is still the missing piece, and the root above it is
    # said to be unknown.
    found = run(good[:1], intermediates=(der(inter), der(root)))
    detail = found["cert.chain-incomplete"][0].detail
    assert "above it, the root CN=Checks Root,O=Vedette Tests is not among" in detail


def test_intermediates_show_an_unknown_root(good, root):
    found = run(good, intermediates=(der(root),))
    assert set(found) == {"cert.unknown-root"}
    assert "its issuer is the root CN=Checks Root,O=Vedette Tests" in (
        found["cert.unknown-root"][0].detail
    )


def test_too_long_chain_is_not_a_missing_issuer():
    # Issue 10: a 150-certificate chain was "missing CN=chain-8", which was sent.
    built = linear_chain(150, host=HOST)
    found = run(built.sent_der, anchors=(built.root_der,))
    assert set(found) == {"cert.chain-too-long"}
    detail = found["cert.chain-too-long"][0].detail
    assert "The server sent 151 certificates" in detail
    assert "longer than 8" in detail and "CN=chain-8" in detail and "still has its issuer" in detail


def test_abusive_chain_is_reported_fast():
    built = abusive_chain(7, 8, host=HOST)
    started = time.monotonic()
    found = run(built.sent_der, anchors=(built.root_der,))
    assert time.monotonic() - started < 30  # hang detector: about 0.1 s quiet; was endless
    # The look-alikes are also out of order (each follows a sibling, not its issuer); no
    # missing issuer, no chain too long: one finding says what the list is.
    assert set(found) == {"cert.chain-abusive", "cert.chain-order"}
    detail = found["cert.chain-abusive"][0].detail
    assert "The server sent 57 certificates: 8 different certificates sent" in detail
    assert found["cert.chain-abusive"][0].severity is Severity.HIGH


def test_chain_incomplete_startcom_names_aia(startcom):
    found = run(
        startcom[:1],
        anchors=(startcom[2],),
        now=datetime(2011, 1, 1, tzinfo=UTC),
        host="www.dnssec-exp.org",
    )
    detail = found["cert.chain-incomplete"][0].detail
    assert "StartCom Class 1 Primary Intermediate Server CA" in detail
    assert "http://www.startssl.com/certs/sub.class1.server.ca.crt" in detail


def test_chain_order(root, anchors):
    upper = root.issue_intermediate("Upper", path_length=1)
    lower = upper.issue_intermediate("Lower")
    leaf = lower.issue_server([HOST])
    found = run((der(leaf), der(upper), der(lower)), anchors=anchors)
    assert set(found) == {"cert.chain-order"}
    assert "Upper" in found["cert.chain-order"][0].detail
    assert found["cert.chain-order"][0].severity is Severity.LOW
    assert run((der(leaf), der(lower), der(upper)), anchors=anchors) == {}


def test_root_sent(good, anchors):
    found = run((*good, anchors[0]), anchors=anchors)
    assert set(found) == {"cert.chain-root-sent"}
    assert "#3 CN=Checks Root" in found["cert.chain-root-sent"][0].detail
    assert found["cert.chain-root-sent"][0].severity is Severity.INFO


def test_weak_rsa_key(inter, anchors):
    leaf = inter.issue_server([HOST], key_spec="rsa:1024")
    found = run((der(leaf), der(inter)), anchors=anchors)
    assert set(found) == {"cert.weak-rsa-key"}
    assert "RSA 1024 bits" in found["cert.weak-rsa-key"][0].detail
    ok = inter.issue_server([HOST], key_spec="rsa:2048")
    assert run((der(ok), der(inter)), anchors=anchors) == {}


def test_sha1_signature_but_not_on_root(anchors):
    root = CertificateAuthority.create_root("SHA-1 Root", hash_alg="sha1", key_spec="rsa:2048")
    inter = root.issue_intermediate("SHA-2 Intermediate", key_spec="rsa:2048")
    leaf = inter.issue_server([HOST], hash_alg="sha1")
    found = run((der(leaf), der(inter), der(root)), anchors=(der(root),))
    assert set(found) == {"cert.sha1-signature", "cert.chain-root-sent"}
    [hit] = found["cert.sha1-signature"]
    assert "#1 CN=mail.example.test" in hit.detail
    assert "SHA-1" in hit.detail


def test_missing_server_auth_eku(inter, anchors):
    leaf = inter.issue_server([HOST], server_auth_eku=False)
    found = run((der(leaf), der(inter)), anchors=anchors)
    assert set(found) == {"cert.missing-server-auth-eku"}
    assert "clientAuth" in found["cert.missing-server-auth-eku"][0].detail


def test_wrong_key_usage(inter, anchors):
    leaf = inter.issue_server([HOST], key_usage="wrong")
    found = run((der(leaf), der(inter)), anchors=anchors)
    assert set(found) == {"cert.wrong-key-usage"}
    assert "key_cert_sign" in found["cert.wrong-key-usage"][0].detail
    assert found["cert.wrong-key-usage"][0].severity is Severity.MEDIUM


def test_validity_too_long_public_and_private(inter, anchors):
    start = datetime(2021, 1, 1, tzinfo=UTC)
    leaf = inter.issue_server([HOST], not_before=start, days=800)
    chain = (der(leaf), der(inter))
    when = datetime(2021, 6, 1, tzinfo=UTC)
    public = run(chain, anchors=anchors, now=when)["cert.validity-too-long"][0]
    assert public.severity is Severity.MEDIUM
    assert "398 days" in public.detail
    assert "800 days" in public.detail
    private = run(chain, extra=anchors, now=when)["cert.validity-too-long"][0]
    assert private.severity is Severity.INFO
    assert "advisory" in private.detail
    ok = inter.issue_server([HOST], not_before=start, days=397)
    assert "cert.validity-too-long" not in run((der(ok), der(inter)), anchors=anchors, now=when)


def test_startcom_in_2011_is_untrusted_and_sha1(startcom):
    # StartCom is long gone from Mozilla's store; the server sent its root.
    found = run(
        startcom,
        anchors=mozilla_roots_der(),
        now=datetime(2011, 1, 1, tzinfo=UTC),
        host="www.dnssec-exp.org",
    )
    assert set(found) == {"cert.untrusted", "cert.sha1-signature", "cert.chain-root-sent"}
    assert "StartCom Certification Authority" in found["cert.untrusted"][0].detail
    assert len(found["cert.sha1-signature"]) == 2  # leaf and intermediate, not the root


def test_startcom_today_is_expired(startcom):
    found = run(startcom[:2], anchors=(startcom[2],), host="www.dnssec-exp.org")
    assert {"cert.expired", "cert.sha1-signature"} <= set(found)
    assert "cert.untrusted" not in found
    assert any("2011-07-05" in f.detail for f in found["cert.expired"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=3))
def test_garbage_never_breaks_a_check(blobs):
    found = run(tuple(blobs))  # run() asserts that no check raised
    # No 200-byte blob is a certificate: every entry is reported, and nothing else is judged.
    assert set(found) == {"cert.unparseable"}
    assert f"of {len(blobs)}" in found["cert.unparseable"][0].detail
