"""``vedette eml`` end to end on the DNS lab, beside an independent verifier.

* DNS: the lab (Knot serving ``eml15.test`` and ``esp15.test`` with the DKIM keys made here, a
  revoked selector, SPF and DMARC; Unbound in front); ``--resolver`` points at it, nothing asks
  the system resolver.
* Messages signed here by dkimpy (good, body changed, header changed, expired ``x=``, revoked
  key, an unknown selector, several on one message) and ARC-sealed over two hops.
* The independent verifier is Perl's Mail::DKIM (Debian libmail-dkim-perl), given a Net::DNS
  resolver pointed at the lab: its result for every signature and for the ARC chain must be
  vedette's. OpenDKIM's opendkim-testmsg cannot take part: it has no option or configuration
  for a nameserver and reads /etc/resolv.conf, which the tests never use.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.dns_lab import DnsLab, Zone, dns_lab
from tests.tools import unavailable
from tests.unit.eml_helpers import Key, arc_seal, message, sign, txt

K_GOOD, K_ESP, K_ARC = Key(), Key(), Key()
NOW = int(time.time())
CLIENT = "192.0.2.25"

ZONES = [
    Zone(
        "eml15.test.",
        [
            f"s1._domainkey 300 TXT {txt(K_GOOD.record())}",
            f"old._domainkey 300 TXT {txt(K_GOOD.record())}",
            'gone._domainkey 300 TXT "v=DKIM1; k=rsa; p="',
            '@ 300 TXT "v=spf1 ip4:192.0.2.0/24 -all"',
            '_dmarc 300 TXT "v=DMARC1; p=reject"',
        ],
    ),
    Zone(
        "esp15.test.",
        [
            f"s2._domainkey 300 TXT {txt(K_ESP.record())}",
            f"arc._domainkey 300 TXT {txt(K_ARC.record())}",
        ],
    ),
]

#: Mail::DKIM through a resolver on the lab: one line per DKIM signature, then the ARC result.
PERL = r"""
use strict; use warnings;
use Mail::DKIM::Verifier; use Mail::DKIM::ARC::Verifier; use Net::DNS::Resolver;
my ($ns, $port) = @ARGV;
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(
    nameservers => [$ns], port => $port, recurse => 1, defnames => 0, dnsrch => 0,
    searchlist => [], udp_timeout => 5, tcp_timeout => 5));
local $/; my $msg = <STDIN>; $msg =~ s/\r?\n/\r\n/g;
my $v = Mail::DKIM::Verifier->new(); $v->PRINT($msg); $v->CLOSE;
for my $sig ($v->signatures) {
    print join("\t", "dkim", $sig->domain, $sig->selector, $sig->result,
        $sig->result_detail // ""), "\n";
}
my $a = Mail::DKIM::ARC::Verifier->new(); $a->PRINT($msg); $a->CLOSE;
print join("\t", "arc", $a->result, $a->result_detail // ""), "\n";
"""

#: Mail::DKIM's words for the RFC 8601 results vedette gives.
PERL_WORDS = {"pass": "pass", "fail": "fail", "invalid": "permerror", "temperror": "temperror"}


@pytest.fixture(scope="module")
def lab(realservers_lock: None) -> Iterator[DnsLab]:
    with dns_lab(ZONES) as running:
        yield running


def _perl_ready() -> None:
    probe = subprocess.run(
        ["perl", "-MMail::DKIM::ARC::Verifier", "-MNet::DNS::Resolver", "-e", "1"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        unavailable("Perl's Mail::DKIM (libmail-dkim-perl) is not installed")


def vedette(lab: DnsLab, path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    argv = [
        sys.executable, "-m", "vedette", "eml", str(path), "--resolver", lab.resolver_arg,
        "--format", "json", *extra,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def mail_dkim(lab: DnsLab, raw: bytes) -> tuple[list[tuple[str, str, str]], str]:
    done = subprocess.run(
        ["perl", "-e", PERL, lab.resolver[0], str(lab.resolver[1])],
        input=raw,
        capture_output=True,
        timeout=60,
        check=True,
    )
    sigs: list[tuple[str, str, str]] = []
    arc = ""
    for line in done.stdout.decode().splitlines():
        parts = line.split("\t")
        if parts[0] == "dkim":
            sigs.append((parts[1].lower(), parts[2], PERL_WORDS.get(parts[3], parts[3])))
        elif parts[0] == "arc":
            arc = parts[1]
    return sigs, arc


def several() -> bytes:
    raw = message(sender="alice@eml15.test", return_path="bounce@eml15.test")
    raw = sign(raw, K_GOOD, "eml15.test", "s1")
    raw = sign(raw, K_ESP, "esp15.test", "s2")
    raw = sign(raw, K_GOOD, "eml15.test", "old", expires=NOW - 86400)
    raw = sign(raw, K_GOOD, "eml15.test", "gone")
    return sign(raw, K_GOOD, "eml15.test", "nokey")


CASES = {
    "several": several,
    "body-changed": lambda: several().replace(b"quarterly", b"monthly"),
    "header-changed": lambda: several().replace(b"Subject: figures", b"Subject: Figures!"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_signature_as_mail_dkim_judges_it(lab: DnsLab, tmp_path: Path, case: str) -> None:
    _perl_ready()
    raw = CASES[case]()
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    _, doc = vedette(lab, path, "--client-ip", CLIENT)
    assert doc["schema"] == "vedette.eml/1"
    ours = sorted((d["d"], d["s"], d["result"]) for d in doc["dkim"])
    theirs, _ = mail_dkim(lab, raw)
    assert ours == sorted(theirs), (ours, theirs)
    # the keys read are in the JSON, as evidence
    names = {a["name"] for a in doc["dns"]}
    assert "s1._domainkey.eml15.test" in names and "gone._domainkey.eml15.test" in names


def test_verdict_of_a_good_message(lab: DnsLab, tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(several())
    code, doc = vedette(lab, path, "--client-ip", CLIENT)
    assert code == 0
    by_selector = {d["s"]: d for d in doc["dkim"]}
    assert by_selector["s1"]["result"] == "pass"
    assert "revoked" in by_selector["gone"]["why"]
    assert "expired" in by_selector["old"]["why"]
    assert doc["spf"]["result"] == "pass"
    assert (doc["dmarc"]["result"], doc["dmarc"]["policy"]) == ("pass", "reject")
    # --as-of before x= makes the expired signature good
    _, earlier = vedette(
        lab, path, "--as-of", time.strftime("%Y-%m-%d", time.gmtime(NOW - 3 * 86400))
    )
    assert {d["s"]: d["result"] for d in earlier["dkim"]}["old"] == "pass"


def test_spoofed_message_fails_dmarc_and_disagrees_with_a_lying_receiver(
    lab: DnsLab, tmp_path: Path
) -> None:
    raw = several().replace(b"quarterly", b"monthly")
    ar = (
        b"Authentication-Results: mx.receiver15.test; dkim=pass header.d=eml15.test;"
        b" spf=pass smtp.mailfrom=eml15.test; dmarc=pass header.from=eml15.test\r\n"
        b"Received: from evil (evil [198.51.100.7]) by mx.receiver15.test; Mon, 7 Dec 2026\r\n"
    )
    path = tmp_path / "m.eml"
    path.write_bytes(ar + raw)
    code, doc = vedette(lab, path, "--trust-receiver", "receiver15.test")
    assert code == 1
    assert doc["spf"]["client_ip"] == "198.51.100.7"
    assert (doc["spf"]["result"], doc["dmarc"]["result"]) == ("fail", "fail")
    assert {d["method"] for d in doc["disagreements"]} == {"dkim", "spf", "dmarc"}
    argv = [
        sys.executable, "-m", "vedette", "eml", str(path), "--resolver", lab.resolver_arg,
        "--trust-receiver", "receiver15.test",
    ]  # fmt: skip
    text = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert "DISAGREE dmarc: receiver pass, vedette fail" in text.stdout


def test_arc_chain_as_mail_dkim_judges_it(lab: DnsLab, tmp_path: Path) -> None:
    _perl_ready()
    raw = sign(message(sender="alice@eml15.test"), K_GOOD, "eml15.test", "s1")
    hop1 = arc_seal(
        b"Authentication-Results: fwd.esp15.test; dkim=pass header.d=eml15.test\r\n" + raw,
        K_ARC, "esp15.test", "fwd.esp15.test",
    )  # fmt: skip
    hop2 = arc_seal(
        b"Authentication-Results: list.esp15.test; arc=pass\r\n" + hop1,
        K_ARC, "esp15.test", "list.esp15.test",
    )  # fmt: skip
    start = hop2.index(b"ARC-Seal: i=1")
    at = hop2.index(b" b=", start) + 3
    broken = hop2[:at] + (b"B" if hop2[at : at + 1] != b"B" else b"C") + hop2[at + 1 :]
    for sealed, expected in ((hop2, "pass"), (broken, "fail")):
        path = tmp_path / "m.eml"
        path.write_bytes(sealed)
        _, doc = vedette(lab, path)
        assert doc["arc"]["result"] == expected, doc["arc"]
        assert [h["instance"] for h in doc["arc"]["hops"]] == [2, 1]
        assert mail_dkim(lab, sealed)[1] == expected


def test_hostile_messages_get_errors_not_tracebacks(lab: DnsLab, tmp_path: Path) -> None:
    garbage = b"DKIM-Signature: v=1; a=rsa-sha256; d=eml15.test; s=s1; h=from; bh=%%; b=!!\r\n"
    longer = b"DKIM-Signature: v=1; a=rsa-sha256; d=eml15.test; s=s1; l=999999; h=from;" + (
        b" bh=AAAA; b=AAAA\r\n"
    )
    huge = b"X-Pad: " + b"a" * (10 << 20) + b"\r\n"
    for raw in (garbage + several(), longer + several(), huge + several(), b"\xff\x00\r\n\r\n"):
        path = tmp_path / "m.eml"
        path.write_bytes(raw)
        code, doc = vedette(lab, path)
        assert code in (0, 1)
        if raw.startswith(b"DKIM"):
            assert doc["dkim"][0]["result"] in ("permerror", "fail")
            assert doc["dkim"][0]["why"]
        if raw.startswith(b"X-Pad"):
            assert any("header block" in e for e in doc["errors"])
