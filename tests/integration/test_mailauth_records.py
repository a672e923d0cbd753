"""SPF, DKIM, DMARC, TLS-RPT, BIMI and CAA records served by real Knot through real Unbound,
read by vedette's DnsClient, and judged against independent implementations on the same zones:

* SPF: every check_host() verdict of vedette (pyspf) equals Mail::SPF's (``spfquery``, Debian
  spf-tools-perl), pointed at the lab's Unbound with Net::DNS's ``RES_NAMESERVERS``;
* DKIM: whether each selector holds a usable key equals OpenDKIM's ``opendkim-testkey``
  verdict, OpenDKIM resolving through libunbound forwarded to the lab;
* DMARC: the tags vedette parses equal what OpenDMARC's ``opendmarc-check`` prints, run in a
  private mount namespace whose /etc/resolv.conf names a forwarder on 127.0.0.57:53 (libresolv
  takes no port), the forwarder being one more Unbound sending everything to the lab's Knot.

Nothing leaves loopback: pyspf resolves only through vedette's Lookup (asserted), and the
other implementations only through the lab.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import spf  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from tests.integration.dns_lab import DnsLab, Zone, dns_lab
from tests.integration.realservers import ServerUnavailable, find_binary
from tests.tools import unavailable
from vedette.mailauth.bimi import check_bimi
from vedette.mailauth.caa import check_caa
from vedette.mailauth.dkim import check_dkim
from vedette.mailauth.dmarc import check_dmarc
from vedette.mailauth.dnsclient import DnsClient
from vedette.mailauth.spf import _pyspf_lookup, check_spf
from vedette.mailauth.tlsrpt import check_tlsrpt

FORWARDER = ("127.0.0.57", 53)
IPS = ("192.0.2.10", "198.51.100.9", "203.0.113.7", "198.18.0.25", "2001:db8::1")


def _txt(owner: str, record: str) -> str:
    parts = " ".join(f'"{record[i : i + 255]}"' for i in range(0, len(record), 255))
    return f"{owner} 300 TXT {parts}"


class _Keys:
    """Key pairs made once per run: a selector's record and the private key that matches it."""

    def __init__(self) -> None:
        self.private: dict[str, bytes] = {}

    def rsa(self, selector: str, bits: int) -> str:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        self.private[selector] = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def ed25519(self) -> str:
        raw = (
            ed25519.Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        return base64.b64encode(raw).decode()


KEYS = _Keys()


# --- the zones ----------------------------------------------------------------------------------

SPF_CASES = {
    "good": "v=spf1 mx ip4:192.0.2.0/24 include:_spf.rec.test -all",
    "plusall": "v=spf1 +all",
    "neutral": "v=spf1 ip4:192.0.2.0/24 ?all",
    "syntax": "v=spf1 ip4:192.0.2.300 -all",
    "nodomain": "v=spf1 include:_spf -all",
    "badinclude": "v=spf1 include:missing.rec.test ip4:192.0.2.0/24 -all",
    "redirect": "v=spf1 redirect=_spf.rec.test",
    "void2": "v=spf1 a:nx1.rec.test a:nx2.rec.test ip4:198.51.100.0/24 -all",
    "void3": "v=spf1 a:nx1.rec.test a:nx2.rec.test a:nx3.rec.test ip4:198.51.100.0/24 -all",
    "ten": "v=spf1 " + " ".join(f"include:t{n}.rec.test" for n in range(10)) + " -all",
    "eleven": "v=spf1 " + " ".join(f"include:t{n}.rec.test" for n in range(11)) + " -all",
    "tree30": "v=spf1 " + " ".join(f"include:m{n}.rec.test" for n in range(5)) + " -all",
    "tempfail": "v=spf1 include:spf.bogus.test ip4:192.0.2.0/24 -all",
    "cname": "v=spf1 include:alias.rec.test -all",
    "macro": "v=spf1 exists:%{i}.allow.rec.test ~all",
}


def _spf_lines() -> list[str]:
    lines = [_txt(name, record) for name, record in SPF_CASES.items()]
    lines += [
        _txt("dup", "v=spf1 -all"),
        _txt("dup", "v=spf1 ip4:192.0.2.0/24 -all"),
        "good 300 MX 10 mx1.good",
        "mx1.good 300 A 198.18.0.25",
        _txt("_spf", "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 ~all"),
        "alias 300 CNAME _spf",
        "192.0.2.10.allow 300 A 127.0.0.2",
    ]
    # t0..t10: each one lookup; the last one lists 203.0.113.0/24.
    lines += [_txt(f"t{n}", f"v=spf1 ip4:10.{n}.0.0/16 -all") for n in range(10)]
    lines.append(_txt("t10", "v=spf1 ip4:203.0.113.0/24 -all"))
    # tree30: 5 includes of 5 includes each = 30 DNS lookups; the last leaf lists 2001:db8::/32.
    for m in range(5):
        leaves = " ".join(f"include:l{m}x{n}.rec.test" for n in range(5))
        lines.append(_txt(f"m{m}", f"v=spf1 {leaves} -all"))
        for n in range(5):
            net = "ip6:2001:db8::/32" if (m, n) == (4, 4) else f"ip4:10.{m}.{n}.0/24"
            lines.append(_txt(f"l{m}x{n}", f"v=spf1 {net} -all"))
    return lines


DKIM_CASES = {
    "rsa2048": f"v=DKIM1; k=rsa; p={KEYS.rsa('rsa2048', 2048)}",
    "rsa1024": f"v=DKIM1; k=rsa; p={KEYS.rsa('rsa1024', 1024)}",
    "ed": f"v=DKIM1; k=ed25519; p={KEYS.ed25519()}",
    "testing": f"v=DKIM1; t=y; p={KEYS.rsa('testing', 2048)}",
    "sha1": f"v=DKIM1; h=sha1; p={KEYS.rsa('sha1', 1024)}",
    "revoked": "v=DKIM1; k=rsa; p=",
    "notbase64": "v=DKIM1; k=rsa; p=!!!!",
    "notakey": "v=DKIM1; k=rsa; p=AAAAAAAA",
    "version": f"v=DKIM2; k=rsa; p={KEYS.rsa('version', 1024)}",
    "keytype": f"v=DKIM1; k=dsa; p={KEYS.rsa('keytype', 1024)}",
    "service": f"v=DKIM1; s=tlsrpt; p={KEYS.rsa('service', 1024)}",
    "duptag": f"v=DKIM1; p={KEYS.rsa('duptag', 1024)}; k=rsa; k=rsa",
}
#: Where OpenDKIM and vedette (dkimpy, RFC 6376 3.2) disagree, and why: OpenDKIM accepts a
#: record with a tag twice; RFC 6376 3.2 says the whole tag list is then invalid.
DKIM_ACCEPTED_DIFFERENCES = {"duptag"}


def _dkim_lines() -> list[str]:
    lines = [_txt(f"{s}._domainkey", record) for s, record in DKIM_CASES.items()]
    lines.append("selector1._domainkey 300 CNAME selector1-rec-test._domainkey.tenant.ms.test.")
    return lines


DMARC_CASES = {
    "reject": "v=DMARC1; p=reject; sp=quarantine; adkim=s; rua=mailto:agg@rec.test,"
    "mailto:agg@ext.test; ruf=mailto:f@rec.test",
    "none": "v=DMARC1; p=none; pct=50; aspf=s",
    "badp": "v=DMARC1; p=maybe",
    "unauth": "v=DMARC1; p=quarantine; rua=mailto:agg@noauth.ext.test",
}


def _dmarc_lines() -> list[str]:
    lines = [_txt(f"_dmarc.{name}", record) for name, record in DMARC_CASES.items()]
    lines += [
        _txt("_dmarc", "v=DMARC1; p=reject; sp=none; rua=mailto:agg@rec.test"),
        "host.sub 300 A 192.0.2.1",
        _txt("_smtp._tls", "v=TLSRPTv1; rua=mailto:tls@rec.test,https://r.rec.test/tlsrpt"),
        _txt("_smtp._tls.reject", "v=TLSRPTv1; rua=http://r.rec.test/tlsrpt"),
        _txt("default._bimi.reject", "v=BIMI1; l=https://rec.test/logo.svg; a="),
        _txt("default._bimi.none", "v=BIMI1; l=https://rec.test/logo.svg"),
        '@ 300 CAA 0 issue "letsencrypt.org"',
        '@ 300 CAA 0 iodef "mailto:caa@rec.test"',
        'mx 300 CAA 0 issue "digicert.com"',
        'odd 300 CAA 128 future "x"',
    ]
    return lines


ZONES = [
    Zone("rec.test.", [*_spf_lines(), *_dkim_lines(), *_dmarc_lines()], signed=True),
    Zone(
        "ext.test.",
        [_txt("reject.rec.test._report._dmarc", "v=DMARC1"), "noauth 300 A 192.0.2.1"],
    ),
    Zone("bogus.test.", [_txt("spf", "v=spf1 -all")], bogus=True),
    Zone(
        "brand.test.",
        [
            _txt("_dmarc", "v=DMARC1; p=reject; rua=mailto:d@brand.test"),
            _txt(
                "default._bimi", "v=BIMI1; l=https://brand.test/l.svg; a=https://brand.test/v.pem"
            ),
        ],
    ),
    Zone("ms.test.", [_txt("selector1-rec-test._domainkey.tenant", DKIM_CASES["rsa2048"])]),
]


@pytest.fixture(scope="module")
def lab() -> Iterator[DnsLab]:
    with dns_lab(ZONES) as running:
        yield running


def _tool(name: str) -> str:
    try:
        return find_binary(name)
    except ServerUnavailable as exc:
        unavailable(str(exc))
        raise


# --- SPF ------------------------------------------------------------------------------------------


def _spfquery(lab: DnsLab, domain: str, ip: str) -> str:
    host, port = lab.resolver
    env = dict(os.environ, RES_NAMESERVERS=host, RES_OPTIONS=f"port:{port}")
    done = subprocess.run(
        [_tool("spfquery"), "--scope", "mfrom", "--id", f"postmaster@{domain}", "--ip", ip],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout.split("\n", 1)[0].strip()


def _spf_domains() -> list[str]:
    return [f"{name}.rec.test" for name in (*SPF_CASES, "dup", "absent")]


def test_spf_verdicts_equal_mail_spf(lab: DnsLab) -> None:
    client = DnsClient(lab.resolver, timeout=5.0)

    async def ours() -> dict[str, object]:
        return {d: await check_spf(client, d, sending_ips=IPS) for d in _spf_domains()}

    results = asyncio.run(ours())
    differences = []
    for domain in _spf_domains():
        result = results[domain]
        for verdict in result.verdicts:  # type: ignore[attr-defined]
            theirs = _spfquery(lab, domain, verdict.address)
            if theirs != verdict.result:
                differences.append((domain, verdict.address, verdict.result, theirs))
    assert differences == []
    # The verdicts the zones were built for, so that the comparison covers every branch.
    by = {d: {v.address: v.result for v in r.verdicts} for d, r in results.items()}  # type: ignore[attr-defined]
    assert by["good.rec.test"] == {
        "192.0.2.10": "pass",
        "198.51.100.9": "pass",
        "203.0.113.7": "fail",
        "198.18.0.25": "pass",
        "2001:db8::1": "pass",
    }
    assert by["plusall.rec.test"]["203.0.113.7"] == "pass"
    assert by["neutral.rec.test"]["203.0.113.7"] == "neutral"
    assert by["redirect.rec.test"]["203.0.113.7"] == "softfail"
    assert by["void2.rec.test"]["198.51.100.9"] == "pass"
    assert by["ten.rec.test"]["203.0.113.7"] == "fail"
    assert by["absent.rec.test"]["192.0.2.10"] == "none"
    assert by["cname.rec.test"]["198.51.100.9"] == "pass"
    assert by["macro.rec.test"] == {
        "192.0.2.10": "pass",
        "198.51.100.9": "softfail",
        "203.0.113.7": "softfail",
        "198.18.0.25": "softfail",
        "2001:db8::1": "softfail",
    }
    # A DNSSEC-bogus include: the validating resolver answers SERVFAIL, both say temperror.
    assert set(by["tempfail.rec.test"].values()) == {"temperror"}
    for broken in ("syntax", "nodomain", "badinclude", "void3", "eleven", "tree30", "dup"):
        assert set(by[f"{broken}.rec.test"].values()) == {"permerror"}, broken


def test_spf_lookup_counts_and_findings_from_the_lab(lab: DnsLab) -> None:
    client = DnsClient(lab.resolver, timeout=5.0)

    async def run(domain: str) -> object:
        return await check_spf(client, f"{domain}.rec.test", sending_ips=("2001:db8::1",))

    tree = asyncio.run(run("tree30"))
    assert tree.lookup_count == 30 and not tree.truncated  # type: ignore[attr-defined]
    finding = next(f for f in tree.findings if f.id == "domain.spf-too-many-lookups")  # type: ignore[attr-defined]
    assert finding.detail.startswith("30 lookups: include:m0.rec.test (tree30.rec.test)")
    assert "include:l4x4.rec.test (m4.rec.test)" in finding.detail
    ten = asyncio.run(run("ten"))
    assert ten.lookup_count == 10 and not any(  # type: ignore[attr-defined]
        f.id == "domain.spf-too-many-lookups"
        for f in ten.findings  # type: ignore[attr-defined]
    )
    void3 = asyncio.run(run("void3"))
    assert void3.void_lookups == 3  # type: ignore[attr-defined]
    assert [t.status for t in void3.lookups] == ["nxdomain"] * 3  # type: ignore[attr-defined]
    assert "domain.spf-too-many-void-lookups" in {f.id for f in void3.findings}  # type: ignore[attr-defined]
    assert "domain.spf-include-unresolved" in {
        f.id
        for f in asyncio.run(run("badinclude")).findings  # type: ignore[attr-defined]
    }


def test_pyspf_asks_only_vedettes_lookup(lab: DnsLab) -> None:
    class Recording(DnsClient):
        def __init__(self) -> None:
            super().__init__(lab.resolver, timeout=5.0)
            self.names: list[str] = []

        async def query(self, name: str, rdtype: str):  # type: ignore[no-untyped-def]
            self.names.append(name.lower().rstrip("."))
            return await super().query(name, rdtype)

    client = Recording()
    assert spf.DNSLookup is _pyspf_lookup
    result = asyncio.run(check_spf(client, "tree30.rec.test", sending_ips=IPS))
    asked = {name for name, _ in result.asked}
    # Every name pyspf and the walk asked went to the Lookup, and all are lab names.
    assert asked <= set(client.names)
    assert all(n.endswith(".rec.test") for n in asked), asked
    assert len(asked) >= 31


# --- DKIM ---------------------------------------------------------------------------------------


def _testkey(lab: DnsLab, selector: str) -> tuple[int, str]:
    host, port = lab.resolver
    directory = lab.directory
    conf = directory / "libunbound.conf"
    conf.write_text(
        'server:\n  do-not-query-localhost: no\n  local-zone: "test." nodefault\n'
        '  module-config: "iterator"\nforward-zone:\n  name: "."\n'
        f"  forward-addr: {host}@{port}\n"
    )
    opendkim = directory / "opendkim.conf"
    opendkim.write_text(f"ResolverConfiguration {conf}\n")
    # With the private key (-k) OpenDKIM decodes the published key and compares the two; the
    # broken records get the rsa2048 selector's key (so that they too are decoded).
    private = directory / f"{selector}.pem"
    private.write_bytes(KEYS.private.get(selector, KEYS.private["rsa2048"]))
    private.chmod(0o600)
    with_key = ["-k", str(private)] if selector != "ed" else []
    domain = "rec.test"
    done = subprocess.run(
        [
            _tool("opendkim-testkey"),
            *("-d", domain, "-s", selector, "-vvv", "-x", str(opendkim)),
            *with_key,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stderr + done.stdout


def test_dkim_key_verdicts_equal_opendkim_testkey(lab: DnsLab) -> None:
    selectors = [*DKIM_CASES, "selector1", "absent"]
    client = DnsClient(lab.resolver, timeout=5.0)
    result = asyncio.run(check_dkim(client, "rec.test", selectors))
    differences = []
    for key in result.keys:
        usable = (
            key.status == "found"
            and not key.revoked
            and not key.errors
            and not any(
                f.id == "domain.dkim-not-for-email" and f.subject == key.name
                for f in result.findings
            )
        )
        code, text = _testkey(lab, key.selector)
        if usable != (code == 0):
            differences.append(key.selector)
            print(key.selector, usable, code, text)
    assert set(differences) == DKIM_ACCEPTED_DIFFERENCES
    keys = {k.selector: k for k in result.keys}
    assert (keys["rsa2048"].bits, keys["rsa1024"].bits, keys["ed"].bits) == (2048, 1024, 256)
    assert keys["selector1"].cname == "selector1-rec-test._domainkey.tenant.ms.test"
    assert keys["selector1"].bits == 2048
    assert keys["absent"].status == "absent" and keys["revoked"].revoked
    ids = {(f.id, f.subject.split(".", 1)[0]) for f in result.findings}
    assert {
        ("domain.dkim-rsa-short", "rsa1024"),
        ("domain.dkim-testing", "testing"),
        ("domain.dkim-revoked", "revoked"),
        ("domain.dkim-syntax", "notbase64"),
        ("domain.dkim-syntax", "notakey"),
        ("domain.dkim-syntax", "version"),
        ("domain.dkim-syntax", "keytype"),
        ("domain.dkim-selector-missing", "absent"),
        ("domain.dkim-sha1-only", "sha1"),
        ("domain.dkim-not-for-email", "service"),
        ("domain.dkim-syntax", "duptag"),
    } <= ids


# --- DMARC --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def forwarder(lab: DnsLab) -> Iterator[Path]:
    """An Unbound on 127.0.0.57:53 forwarding to the lab's Knot, and a resolv.conf naming it
    (libresolv, which OpenDMARC uses, cannot be given a port)."""
    unbound = _tool("unbound")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(FORWARDER)
        except OSError as exc:
            pytest.fail(f"{FORWARDER[0]}:{FORWARDER[1]} is taken ({exc}); the test needs it")
    host, port = lab.authoritative
    directory = lab.directory
    conf = directory / "forwarder.conf"
    conf.write_text(
        "\n".join(
            [
                "server:",
                f"  interface: {FORWARDER[0]}@{FORWARDER[1]}",
                f"  port: {FORWARDER[1]}",
                "  do-ip6: no",
                "  do-not-query-localhost: no",
                "  access-control: 127.0.0.0/8 allow",
                '  username: ""',
                '  chroot: ""',
                f'  directory: "{directory}"',
                f'  pidfile: "{directory / "forwarder.pid"}"',
                f'  logfile: "{directory / "forwarder.log"}"',
                "  use-syslog: no",
                '  local-zone: "test." nodefault',
                '  module-config: "iterator"',
                "remote-control:",
                "  control-enable: no",
                "forward-zone:",
                '  name: "."',
                f"  forward-addr: {host}@{port}",
                "",
            ]
        )
    )
    process = subprocess.Popen(
        [unbound, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                probe.settimeout(1)
                if probe.connect_ex(FORWARDER) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the forwarding Unbound did not start")
            time.sleep(0.05)
        resolv = directory / "resolv.conf"
        resolv.write_text(f"nameserver {FORWARDER[0]}\n")
        yield resolv
    finally:
        process.terminate()
        process.wait(timeout=10)


def _opendmarc(resolv: Path, domain: str) -> tuple[int, str]:
    tool = _tool("opendmarc-check")
    done = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            'mount --bind "$1" /etc/resolv.conf && exec "$2" "$3"',
            "sh",
            str(resolv),
            tool,
            domain,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _opendmarc_facts(text: str) -> dict[str, object]:
    def field(label: str) -> str:
        m = re.search(rf"{label}: (\S+)", text)
        return m.group(1) if m else ""

    def uris(label: str) -> list[str]:
        m = re.search(rf"{label}:\n((?:\t\t.*\n)*)", text)
        found = [u.strip() for u in (m.group(1) if m else "").splitlines()]
        return [u for u in found if u and u != "(none)"]

    return {
        "p": field("Domain policy"),
        "sp": field("Subdomain policy"),
        "adkim": field("DKIM alignment")[0],
        "aspf": field("SPF alignment")[0],
        "pct": field("Sample percentage"),
        "rua": uris("Aggregate report URIs"),
        "ruf": uris("Failure report URIs"),
    }


def test_dmarc_records_read_as_opendmarc_reads_them(lab: DnsLab, forwarder: Path) -> None:
    client = DnsClient(lab.resolver, timeout=5.0)
    for name in ("reject", "none", "rec"):
        domain = "rec.test" if name == "rec" else f"{name}.rec.test"
        ours = asyncio.run(check_dmarc(client, domain))
        code, text = _opendmarc(forwarder, domain)
        assert code == 0, text
        assert ours.record is not None and ours.policy_domain == domain
        tags = ours.record.tags
        assert _opendmarc_facts(text) == {
            "p": ours.record.policy,
            "sp": tags.get("sp", "unspecified"),
            "adkim": ours.record.adkim,
            "aspf": ours.record.aspf,
            "pct": tags.get("pct", "100"),
            "rua": list(ours.record.rua),
            "ruf": list(ours.record.ruf),
        }
    # A bad p= value: OpenDMARC refuses the record, vedette reports the syntax error.
    code, text = _opendmarc(forwarder, "badp.rec.test")
    assert code != 0 and "bad token" in text
    bad = asyncio.run(check_dmarc(client, "badp.rec.test"))
    assert "domain.dmarc-syntax" in {f.id for f in bad.findings}


def test_dmarc_walk_and_report_authorisation_in_the_lab(lab: DnsLab) -> None:
    client = DnsClient(lab.resolver, timeout=5.0)

    async def run(domain: str):  # type: ignore[no-untyped-def]
        return await check_dmarc(client, domain)

    reject = asyncio.run(run("reject.rec.test"))
    assert reject.authorised == {"ext.test": True} and reject.applied == "reject"
    unauth = asyncio.run(run("unauth.rec.test"))
    assert unauth.authorised == {"noauth.ext.test": False}
    assert "domain.dmarc-external-destination-unauthorised" in {f.id for f in unauth.findings}
    inherited = asyncio.run(run("host.sub.rec.test"))
    assert inherited.policy_domain == "rec.test" and inherited.applied == "none"
    assert inherited.walk[:3] == (
        "_dmarc.host.sub.rec.test",
        "_dmarc.sub.rec.test",
        "_dmarc.rec.test",
    )
    none = asyncio.run(run("none.rec.test"))
    assert {"domain.dmarc-obsolete-tag", "domain.dmarc-policy-none"} <= {
        f.id for f in none.findings
    }


# --- TLS-RPT, BIMI, CAA ---------------------------------------------------------------------------


def test_tlsrpt_bimi_and_caa_from_the_lab(lab: DnsLab) -> None:
    client = DnsClient(lab.resolver, timeout=5.0)
    key = ec.generate_private_key(ec.SECP256R1())

    def cert(org: str, name: str) -> bytes:
        now = datetime.datetime.now(datetime.UTC)
        issuer = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.DER)
        )

    async def run():  # type: ignore[no-untyped-def]
        return (
            await check_tlsrpt(client, "rec.test"),
            await check_tlsrpt(client, "reject.rec.test"),
            await check_bimi(client, "reject.rec.test"),
            await check_bimi(client, "brand.test"),
            await check_bimi(client, "none.rec.test"),
            await check_caa(
                client,
                "rec.test",
                [cert("Let's Encrypt", "mx1.rec.test"), cert("Let's Encrypt", "a.mx.rec.test")],
            ),
            await check_caa(client, "odd.rec.test", []),
        )

    good_rpt, bad_rpt, bimi_sp, bimi_ok, bimi_none, caa, odd = asyncio.run(run())
    assert good_rpt.destinations == ("mailto:tls@rec.test", "https://r.rec.test/tlsrpt")
    assert good_rpt.findings == ()
    assert [f.id for f in bad_rpt.findings] == ["domain.tlsrpt-bad-destination"]
    assert bimi_ok.dmarc_enforcing and bimi_ok.logo_url == "https://brand.test/l.svg"
    assert bimi_ok.findings == ()
    # reject.rec.test rejects, but its organisational domain rec.test has sp=none.
    assert not bimi_sp.dmarc_enforcing and bimi_sp.logo_url == "https://rec.test/logo.svg"
    assert [(f.id, f.detail) for f in bimi_sp.findings] == [
        ("domain.bimi-no-mark-certificate", "a= is absent or empty"),
        ("domain.bimi-dmarc-not-enforcing", "the organisational domain rec.test has sp=none"),
    ]
    assert "domain.bimi-dmarc-not-enforcing" in {f.id for f in bimi_none.findings}
    assert caa.record_name == "rec.test" and caa.issue == ("letsencrypt.org",)
    assert [c.allowed for c in caa.certificates] == [
        {"mx1.rec.test": True},
        {"a.mx.rec.test": False},
    ]
    assert [f.id for f in caa.findings] == ["domain.caa-issuer-not-authorised"]
    assert [f.id for f in odd.findings] == ["domain.caa-critical-unknown"]


def test_dkim_common_selectors_and_the_empty_non_terminal_shortcut(lab: DnsLab) -> None:
    client = DnsClient(lab.resolver, timeout=5.0)
    # _domainkey.rec.test has names below it: Knot answers NODATA (an empty non-terminal), so
    # every common selector is asked, and Microsoft 365's selector1 CNAME is found.
    found = asyncio.run(check_dkim(client, "rec.test", None))
    assert [(k.selector, k.provider, k.bits) for k in found.found] == [
        ("selector1", "Microsoft 365", 2048)
    ]
    # brand.test has nothing under _domainkey: NXDOMAIN (RFC 8020), one question.
    before = client.asked
    nothing = asyncio.run(check_dkim(client, "brand.test", None))
    assert nothing.keys == () and client.asked == before + 1
    assert [f.id for f in nothing.findings] == ["domain.dkim-none-found"]
