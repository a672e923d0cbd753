"""DANE for SMTP against real peers: Postfix serving chains from vedette's CA on port 25
(STARTTLS), TLSA records in a DNSSEC-signed Knot zone validated through Unbound, and each
record's match compared with OpenSSL's own DANE code (``openssl s_client -starttls smtp
-dane_tlsa_domain ... -dane_tlsa_rrdata ...``, the code Postfix's DANE uses).

GnuTLS's danetool makes the record vedette proposes for a mismatch.

Postfix "good" (127.0.0.71) serves leaf L (named after every MX that points at it) and the
intermediate I; Postfix "stray" (127.0.0.72) serves leaf W, from the same intermediate, named
only ``elsewhere.example``. The root R is never sent."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.integration.dns_lab import DnsLab, Zone, lab_for_fixture
from tests.integration.realservers import (
    PostfixSpec,
    RunningServer,
    ServerUnavailable,
    start_postfix,
)
from tests.tools import require_program, unavailable
from vedette.mailauth.dane import DaneResult, check_dane
from vedette.mailauth.dnsclient import DnsClient
from vedette.mailauth.dnssec import ValidatingLookup, parse_trust_anchors
from vedette.pki.ca import CertificateAuthority, Issued

GOOD, STRAY = "127.0.0.71", "127.0.0.72"
GOOD_NAMES = ["mx-ee.dane.test", "mx-ta.dane.test", "mx-root.dane.test", "mx-other.dane.test"]


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class Pki:
    root: CertificateAuthority
    inter: CertificateAuthority
    leaf: Issued
    stray: Issued
    other: Issued  # a key no server uses

    def record(self, usage: int, selector: int, mtype: int, cert: x509.Certificate) -> str:
        data = _spki(cert) if selector == 1 else cert.public_bytes(serialization.Encoding.DER)
        digest = {0: data, 1: hashlib.sha256(data).digest(), 2: hashlib.sha512(data).digest()}
        return f"{usage} {selector} {mtype} {digest[mtype].hex()}"


@pytest.fixture(scope="module")
def pki() -> Pki:
    root = CertificateAuthority.create_root("vedette DANE test root")
    inter = root.issue_intermediate("vedette DANE test issuing CA")
    return Pki(
        root,
        inter,
        inter.issue_server(GOOD_NAMES),
        inter.issue_server(["elsewhere.example"]),
        inter.issue_server(["mx-ee.dane.test"]),
    )


def _cases(pki: Pki) -> dict[str, tuple[str, list[str]]]:
    """MX name -> (address, TLSA records)."""
    leaf, stray, other = pki.leaf.cert, pki.stray.cert, pki.other.cert
    inter, root = pki.inter.cert, pki.root.cert
    return {
        "mx-ee.dane.test": (
            GOOD,
            [pki.record(3, s, m, leaf) for s, m in [(1, 1), (0, 1), (1, 2), (1, 0), (0, 0)]],
        ),
        "mx-ta.dane.test": (GOOD, [pki.record(2, 1, 1, inter), pki.record(2, 0, 1, inter)]),
        "mx-root.dane.test": (GOOD, [pki.record(2, 1, 0, root), pki.record(2, 1, 1, root)]),
        "mx-other.dane.test": (GOOD, [pki.record(3, 1, 1, other), pki.record(2, 1, 1, leaf)]),
        "mx-stray-ee.dane.test": (STRAY, [pki.record(3, 1, 1, stray)]),
        "mx-stray-ta.dane.test": (STRAY, [pki.record(2, 1, 1, inter)]),
        "mx-pkix.dane.test": (GOOD, [pki.record(1, 1, 1, leaf), pki.record(0, 1, 1, inter)]),
    }


@pytest.fixture(scope="module")
def lab(pki: Pki) -> Iterator[DnsLab]:
    records = []
    for name, (address, tlsa) in _cases(pki).items():
        host = name.removesuffix(".dane.test")
        records.append(f"{host} 300 A {address}")
        records += [f"_25._tcp.{host} 300 TLSA {t}" for t in tlsa]
    ee = _cases(pki)["mx-ee.dane.test"][1][0]
    records += ["mx-alias 300 CNAME mx-ee"]
    zones = [
        Zone("test.", (), signed=True),
        Zone("dane.test.", records, signed=True),
        Zone("plain.test.", [f"mx 300 A {GOOD}", f"_25._tcp.mx 300 TLSA {ee}"]),
        Zone(
            "mismatch.test.",
            [f"mx 300 A {GOOD}", f"_25._tcp.mx 300 TLSA {ee}"],
            signed=True,
            ds_mismatch=True,
        ),
        Zone("stale.test.", [f"mx 300 A {GOOD}", f"_25._tcp.mx 300 TLSA {ee}"], expired=True),
    ]
    yield from lab_for_fixture(zones)


def _postfix(name: str, address: str, issued: Issued, pki: Pki, directory: Path) -> RunningServer:
    chain = directory / f"{name}-chain.pem"
    key = directory / f"{name}-key.pem"
    chain.write_bytes(issued.cert_pem() + pki.inter.chain_pem())
    key.write_bytes(issued.key_pem())
    spec = PostfixSpec(
        name=f"dane-{name}",
        address=address,
        chain_pem=chain,
        key_pem=key,
        sasl_socket=str(directory / "no-sasl"),
        tls_auth_only=False,
        extra_config="smtpd_sasl_auth_enable = no\n",
    )
    return start_postfix(spec)


@pytest.fixture(scope="module")
def mtas(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    directory = tmp_path_factory.mktemp("dane-postfix")
    started: list[RunningServer] = []
    try:
        started.append(_postfix("good", GOOD, pki.leaf, pki, directory))
        started.append(_postfix("stray", STRAY, pki.stray, pki, directory))
        yield
    except ServerUnavailable as exc:
        unavailable(str(exc))
    finally:
        for server in started:
            server.stop()


def _openssl(address: str, mx: str, record: str) -> tuple[bool, str]:
    """OpenSSL's DANE verdict for one record: (verified, the lines that say so)."""
    openssl = require_program("openssl")
    out = subprocess.run(
        [
            openssl,
            "s_client",
            "-connect",
            f"{address}:25",
            "-starttls",
            "smtp",
            "-brief",
            "-dane_tlsa_domain",
            mx,
            "-dane_tlsa_rrdata",
            record,
            # What Postfix sets (DANE_FLAG_NO_DANE_EE_NAMECHECKS), as RFC 7672 3.1.1 says:
            # a DANE-EE match ignores the certificate's names.
            "-dane_ee_no_namechecks",
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    said = [ln for ln in (out.stdout + out.stderr).splitlines() if "erif" in ln or "DANE" in ln]
    assert said, out.stdout + out.stderr
    return "Verification: OK" in said, "\n".join(said)


def _served_chain(address: str) -> list[bytes]:
    """The chain Postfix serves, as OpenSSL received it."""
    openssl = require_program("openssl")
    out = subprocess.run(
        [openssl, "s_client", "-connect", f"{address}:25", "-starttls", "smtp", "-showcerts"],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    certs = x509.load_pem_x509_certificates(out.encode())
    return [c.public_bytes(serialization.Encoding.DER) for c in certs]


def _check(
    lab: DnsLab, mx: str, chains: dict[str, list[bytes]], *, trust_ad: bool = False
) -> DaneResult:
    """check_dane through vedette's own chain walk from the lab's anchors or, with
    ``trust_ad``, through Unbound's AD flag (vedette's --trust-ad)."""
    client = DnsClient(lab.resolver, timeout=5.0, trust_ad=trust_ad)
    if trust_ad:
        return asyncio.run(check_dane(client, mx, chains))
    anchors = parse_trust_anchors("\n".join(lab.anchors.values()), "lab")
    return asyncio.run(check_dane(ValidatingLookup(client, anchors), mx, chains))


#: MX -> whether each of its records matches the chain served, in the order of _cases.
EXPECTED = {
    "mx-ee.dane.test": [True, True, True, True, True],
    "mx-ta.dane.test": [True, True],
    "mx-root.dane.test": [True, False],  # the root is not sent: only its full key can match
    "mx-other.dane.test": [False, False],  # another key; the leaf's key as DANE-TA
    "mx-stray-ee.dane.test": [True],  # DANE-EE: names do not matter
    "mx-stray-ta.dane.test": [False],  # DANE-TA: the leaf must name the MX
}


@pytest.mark.parametrize("mx", sorted(EXPECTED))
def test_each_record_matches_as_openssl_says(lab: DnsLab, mtas: None, pki: Pki, mx: str) -> None:
    address, records = _cases(pki)[mx]
    chain = _served_chain(address)
    assert len(chain) == 2  # leaf and intermediate, no root
    result = _check(lab, mx, {address: chain})
    assert result.tlsa_security.value == "secure" and result.address_security.value == "secure"
    assert sorted(r.text for r in result.records) == sorted(
        f"{r.split()[0]} {r.split()[1]} {r.split()[2]} {r.split()[3]}" for r in records
    )
    by_text = {r.text: r for r in result.records}
    for record, expected in zip(records, EXPECTED[mx], strict=True):
        vedette = by_text[record].matches[address].matched
        openssl, said = _openssl(address, mx, record)
        assert vedette == openssl == expected, (record, said, by_text[record].matches[address])
    assert result.dane_match[address] == any(EXPECTED[mx])
    ee = any(m and r.split()[0] == "3" for r, m in zip(records, EXPECTED[mx], strict=True))
    assert result.dane_ee_match == ee
    no_match = [f for f in result.findings if f.id == "domain.dane-no-match"]
    assert bool(no_match) == (not any(EXPECTED[mx]))


def _danetool_311(mx: str, leaf_der: bytes, directory: Path) -> str:
    """GnuTLS's danetool's record for a server certificate, as 'usage selector type hex'."""
    danetool = require_program("danetool")
    pem = directory / "served-leaf.pem"
    pem.write_bytes(
        x509.load_der_x509_certificate(leaf_der).public_bytes(serialization.Encoding.PEM)
    )
    out = subprocess.run(
        [danetool, "--tlsa-rr", "--host", mx, "--port", "25", "--load-certificate", str(pem)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    owner, rest = out.split(" IN TLSA ", 1)
    assert owner == f"_25._tcp.{mx}.", out
    usage, selector, mtype, data = rest.strip().strip("()").split()
    return f"{int(usage)} {int(selector)} {int(mtype)} {data}"


def test_a_mismatch_says_postfix_defers_and_gives_the_record_to_publish(
    lab: DnsLab, mtas: None, tmp_path: Path
) -> None:
    chain = _served_chain(GOOD)
    result = _check(lab, "mx-other.dane.test", {GOOD: chain})
    (finding,) = [f for f in result.findings if f.id == "domain.dane-no-match"]
    assert "Postfix with DANE will defer mail" in finding.title
    # The record vedette proposes is the one GnuTLS's danetool makes from the served leaf...
    wanted = _danetool_311("mx-other.dane.test", chain[0], tmp_path)
    assert f"'_25._tcp.mx-other.dane.test. IN TLSA {wanted}'" in finding.detail
    # ... and one OpenSSL's DANE code accepts against the server.
    assert _openssl(GOOD, "mx-other.dane.test", wanted)[0]


def test_usages_0_and_1_are_unusable_for_smtp(lab: DnsLab, mtas: None, pki: Pki) -> None:
    result = _check(lab, "mx-pkix.dane.test", {GOOD: _served_chain(GOOD)})
    assert [r.usable for r in result.records] == [False, False]
    assert not result.applies and not result.dane_ee_match
    assert {f.id for f in result.findings} == {"domain.dane-unusable-usage"}


def test_a_cname_mx_and_the_standing_of_other_zones(lab: DnsLab, mtas: None, pki: Pki) -> None:
    chains = {GOOD: _served_chain(GOOD)}
    alias = _check(lab, "mx-alias.dane.test", chains)
    assert alias.tlsa_name == "_25._tcp.mx-ee.dane.test" and alias.dane_ee_match
    plain = _check(lab, "mx.plain.test", chains)
    assert not plain.applies and [f.id for f in plain.findings] == ["domain.dane-not-dnssec"]
    bogus = _check(lab, "mx.mismatch.test", chains)
    assert not bogus.applies and [f.id for f in bogus.findings] == ["domain.dane-tlsa-bogus"]
    assert "no DNSKEY of mismatch.test matches its DS" in bogus.findings[0].detail

    stale = _check(lab, "mx.stale.test", chains)
    assert not stale.applies and [f.id for f in stale.findings] == ["domain.dane-tlsa-bogus"]
    assert "the signature of stale.test DNSKEY expired on" in stale.findings[0].detail


@pytest.mark.parametrize("mx", ["mx-ee.dane.test", "mx-other.dane.test", "mx-stray-ta.dane.test"])
def test_trusting_unbounds_ad_flag_gives_the_same_verdicts(
    lab: DnsLab, mtas: None, mx: str
) -> None:
    address = _cases_address(mx)
    chains = {address: _served_chain(address)}
    own, ad = _check(lab, mx, chains), _check(lab, mx, chains, trust_ad=True)
    assert ad.tlsa_security.value == ad.address_security.value == "secure"
    # Unbound rotates the TLSA set between answers; vedette reports it in one order.
    assert ad.to_json() == own.to_json()


def test_trusting_ad_a_bogus_mx_is_a_failed_lookup_that_says_why_not_more(
    lab: DnsLab, mtas: None
) -> None:
    # Unbound answers SERVFAIL for the bogus zones: with --trust-ad, that is all there is to say.
    for mx in ("mx.mismatch.test", "mx.stale.test"):
        result = _check(lab, mx, {GOOD: _served_chain(GOOD)}, trust_ad=True)
        assert not result.applies
        assert [f.id for f in result.findings] == ["domain.dane-address-lookup-failed"]
        assert "SERVFAIL" in result.findings[0].detail
        assert "without --trust-ad it validates itself" in result.findings[0].detail


def _cases_address(mx: str) -> str:
    return GOOD if "stray" not in mx else STRAY
