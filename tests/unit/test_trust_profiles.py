"""Client profiles: coverage, sources, and the hellos checked against real recorded ClientHellos.

The Debian ``testssl.sh`` package ships ``/etc/testssl/client-simulation.txt``: the ClientHello
bytes of about 160 real clients (recorded by SSL Labs and testssl.sh's authors). It is GPL, so
vedette does not copy it; this test reads it from the installed package and checks that every
profile hello with a ``reference`` offers what the real client offered: the same TLS versions,
and only suites, groups and signature algorithms the real hello had. Where a profile differs on
purpose (``reference_differs``) the test checks the stated difference instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.tools import unavailable
from vedette.trust._data import GROUP_CODES, SIGALG_CODES, VERSIONS, trust_data

TESTSSL = Path("/etc/testssl/client-simulation.txt")
_TLS_VERSIONS = {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
_SHA512_SCHEMES = {"rsa_pkcs1_sha512", "ecdsa_secp521r1_sha512"}


def _u16s(data: bytes, start: int = 0) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(start, len(data) - 1, 2)]


def parse_client_hello(record: bytes) -> dict[str, list[int]]:
    """Suites, groups and signature schemes of a TLS ClientHello record (RFC 8446 4.1.2)."""
    assert record[0] == 0x16 and record[5] == 0x01, "not a handshake record with a ClientHello"
    p = 9 + 2 + 32  # record header, handshake header, legacy_version, random
    p += 1 + record[p]  # session id
    n = int.from_bytes(record[p : p + 2], "big")
    suites = _u16s(record[p + 2 : p + 2 + n])
    p += 2 + n
    p += 1 + record[p]  # compression methods
    groups: list[int] = []
    sigalgs: list[int] = []
    sigalgs_cert: list[int] = []
    versions: list[int] = []
    if p + 2 <= len(record):
        end = p + 2 + int.from_bytes(record[p : p + 2], "big")
        p += 2
        while p + 4 <= min(end, len(record)):
            ext = int.from_bytes(record[p : p + 2], "big")
            size = int.from_bytes(record[p + 2 : p + 4], "big")
            body = record[p + 4 : p + 4 + size]
            if ext == 10:
                groups = _u16s(body, 2)
            elif ext == 13:
                sigalgs = _u16s(body, 2)
            elif ext == 50:  # signature_algorithms_cert
                sigalgs_cert = _u16s(body, 2)
            elif ext == 43:  # supported_versions: a 1-byte length, then the versions
                versions = _u16s(body, 1)
            p += 4 + size
    return {
        "suites": suites,
        "groups": groups,
        "sigalgs": sigalgs,
        "sigalgs_cert": sigalgs_cert,
        "versions": versions,
    }


def _testssl_clients() -> dict[str, dict[str, object]]:
    if not TESTSSL.exists():
        unavailable("testssl.sh is not installed")
    out: dict[str, dict[str, object]] = {}
    for block in TESTSSL.read_text(encoding="utf-8", errors="replace").split("names+=(")[1:]:
        name = block.split('"')[1]
        hello = re.search(r'handshakebytes\+=\("([0-9a-f]*)"\)', block)
        low = re.search(r'lowest_protocol\+=\("0x([0-9a-f]+)"\)', block)
        high = re.search(r'highest_protocol\+=\("0x([0-9a-f]+)"\)', block)
        if hello is None or low is None or high is None:
            continue
        out[name] = {
            "hello": bytes.fromhex(hello.group(1)),
            "versions": {
                _TLS_VERSIONS[v]
                for v in range(int(low.group(1), 16), int(high.group(1), 16) + 1)
                if v in _TLS_VERSIONS
            },
        }
    return out


def _referenced():
    return [h for h in {p.hello.id: p.hello for p in trust_data().profiles}.values() if h.reference]


@pytest.mark.parametrize("hello", _referenced(), ids=lambda h: h.id)
def test_profile_hello_matches_the_recorded_client(hello):
    clients = _testssl_clients()
    assert hello.reference in clients, f"{hello.reference!r} not in testssl.sh's clients"
    real = clients[hello.reference]
    parsed = parse_client_hello(real["hello"])  # type: ignore[arg-type]
    ours = {v for v in hello.versions if v != "SSLv3"}
    if parsed["versions"]:  # TLS 1.3 hellos say it exactly; else testssl's recorded range
        real["versions"] = {_TLS_VERSIONS[v] for v in parsed["versions"] if v in _TLS_VERSIONS}
    if "versions" in hello.reference_differs:
        assert ours != real["versions"]  # the stated difference exists
        assert max(ours, key=VERSIONS.index) <= max(real["versions"], key=VERSIONS.index)
    else:
        assert ours == real["versions"]
    missing = [f"{c:04x}" for c in hello.suites if c not in parsed["suites"]]
    assert missing == [], f"suites the real {hello.reference} does not offer: {missing}"
    groups = [g for g in hello.groups if GROUP_CODES[g] not in parsed["groups"]]
    if "groups" in hello.reference_differs:  # a later build than the recording adds these
        assert groups and all(g in hello.reference_differs["groups"] for g in groups), groups
    else:
        assert groups == [], f"groups the real client does not offer: {groups}"
    # signature_algorithms_cert decides which chain the server may send: the profile has it
    # exactly when the real client sends it, and with the same SHA-1 and SHA-512 schemes.
    real_cert = {name for name, code in SIGALG_CODES.items() if code in parsed["sigalgs_cert"]}
    assert bool(hello.sigalgs_cert) == bool(real_cert)
    assert set(hello.sigalgs_cert) <= real_cert
    decisive_cert = {
        s for s in real_cert if s.endswith(("sha512", "sha1")) and not s.startswith("dsa_")
    }
    assert decisive_cert <= set(hello.sigalgs_cert)
    real_sigalgs = {name for name, code in SIGALG_CODES.items() if code in parsed["sigalgs"]}
    assert set(hello.sigalgs) <= real_sigalgs
    if "sigalgs" in hello.reference_differs and "KB2973337" in hello.reference_differs["sigalgs"]:
        # The recording was made with KB2973337: exactly the SHA-512 schemes are extra.
        assert real_sigalgs - set(hello.sigalgs) == _SHA512_SCHEMES
    elif hello.sigalgs:
        # A profile may leave out legacy schemes (DSA, SHA-224, RSA-PSS-PSS) that no
        # certificate it meets uses; it must keep every SHA-512 and SHA-1 scheme the client has,
        # since those decide the SChannel and SHA-1 rules.
        decisive = {
            s for s in real_sigalgs if s.endswith(("sha512", "sha1")) and not s.startswith("dsa_")
        }
        assert decisive <= set(hello.sigalgs), decisive - set(hello.sigalgs)


def test_at_least_30_profiles_cover_the_mail_and_uc_world():
    data = trust_data()
    assert len(data.profiles) >= 30
    families = {p.family for p in data.profiles}
    assert {"ios", "macos-mail", "android", "outlook", "lync", "skype", "teams"} <= families
    assert {"thunderbird", "java", "mta"} <= families
    ids = {p.id for p in data.profiles}
    assert {"ios-10.1", "ios-10.2", "ios-12", "ios-13", "ios-current"} <= ids
    assert {"android-4.4", "android-7", "android-11", "android-current"} <= ids
    assert {"outlook-2010-win7", "outlook-2016-win10", "outlook-win11", "outlook-mac"} <= ids
    assert {"lync-2013-win7", "lync-2013-win81", "lync-2013-server2012"} <= ids
    assert {"java-8", "java-11", "java-17", "postfix-debian12", "exim-debian12"} <= ids
    assert {"exchange-2016", "exchange-online"} <= ids
    assert all(p.opportunistic for p in data.profiles if p.family == "mta")


def test_every_profile_hello_and_rule_set_names_its_sources():
    for p in trust_data().profiles:
        assert p.sources, p.id
        assert p.hello.sources, p.hello.id
        assert p.hello.suites and p.hello.versions, p.hello.id
        assert p.rules.sources, p.rules.id


def test_hellos_from_cryptodatahub_are_real_browser_hellos():
    chrome = next(p for p in trust_data().profiles if p.id == "chrome-current")
    assert "TLSv1.3" in chrome.hello.versions
    assert 0x1301 in chrome.hello.suites  # TLS_AES_128_GCM_SHA256
    assert "x25519" in chrome.hello.groups
