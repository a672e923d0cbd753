"""``vedette domain check`` with DANE and MTA-STS together: the one view against real peers.

* DNS: the lab (Knot, a signed zone ``dane14.test`` with TLSA records made from the keys the
  MX really serve; Unbound validating it from the lab's anchor). ``--trust-ad`` and
  ``--trust-anchor`` (the lab's anchor, vedette walking the chain itself) both say secure.
* MX: two real Postfix instances. MX1 (127.0.0.65) serves a certificate that names another
  host but whose key a ``3 1 1`` TLSA record pins; MX2 (127.0.0.66) serves a certificate that
  names another host and matches no TLSA record.
* MTA-STS: ``mode: enforce`` for ``*.dane14.test``, served over HTTPS on 127.0.0.67.

What a sender does, per MX (the issue's "one view"): MX1 — DANE senders deliver (DANE-EE
matches), MTA-STS senders refuse (the certificate lacks the name): the name mismatch matters,
DANE senders aside. MX2 — neither accepts it: ONE finding, ``domain.mx-certificate-rejected``,
with one fix, in place of the DANE and MTA-STS findings it stands for.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.dns_lab import DnsLab, Zone, dns_lab
from tests.integration.realservers import WORK_ROOT, RunningServer
from tests.integration.test_domain_check import https_server, issue_files, postfix_mx
from vedette.pki import CertificateAuthority

MX1, MX2, STS = "127.0.0.65", "127.0.0.66", "127.0.0.67"
POLICY = b"version: STSv1\nmode: enforce\nmx: *.dane14.test\nmax_age: 604800\n"


def _tlsa_311(cert_der_spki: bytes) -> str:
    return f"3 1 1 {hashlib.sha256(cert_der_spki).hexdigest()}"


@pytest.fixture(scope="module")
def world(realservers_lock: None) -> Iterator[tuple[DnsLab, Path, Path]]:
    directory = WORK_ROOT / "domain14-dane"
    directory.mkdir(parents=True, exist_ok=True)
    root = CertificateAuthority.create_root("Vedette DANE Domain Root")
    issuing = root.issue_intermediate("Vedette DANE Domain Issuing CA")
    root_pem = directory / "root.pem"
    root_pem.write_bytes(root.issued.cert_pem())
    keys: dict[str, bytes] = {}
    servers: list[RunningServer] = []
    try:
        for name, address in (("mx1", MX1), ("mx2", MX2)):
            chain, key, keys[name] = issue_files(
                directory, issuing, name, [f"elsewhere-{name}.example"]
            )
            servers.append(postfix_mx(f"d14dane-{name}", address, chain, key))
        # A key no server has: MX2's TLSA record pins it.
        keys["unused"] = issue_files(directory, issuing, "unused", ["mx2.dane14.test"])[2]
        zone = Zone(
            "dane14.test.",
            [
                "@ 300 MX 10 mx1",
                "@ 300 MX 20 mx2",
                f"mx1 300 A {MX1}",
                f"mx2 300 A {MX2}",
                f"_25._tcp.mx1 300 TLSA {_tlsa_311(keys['mx1'])}",
                f"_25._tcp.mx2 300 TLSA {_tlsa_311(keys['unused'])}",
                '_mta-sts 300 TXT "v=STSv1; id=1"',
                f"mta-sts 300 A {STS}",
            ],
            signed=True,
        )
        sts = issue_files(directory, issuing, "sts", ["mta-sts.dane14.test"])
        https = https_server(STS, *sts[:2], POLICY)
        try:
            with dns_lab([zone]) as lab:
                anchors = directory / "anchors.txt"
                anchors.write_text("".join(f"{a}\n" for a in lab.anchors.values()))
                yield lab, root_pem, anchors
        finally:
            https.shutdown()
            https.server_close()
    finally:
        for s in servers:
            s.stop()


def _check(lab: DnsLab, root: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    argv = [sys.executable, "-m", "vedette", "domain", "check", "dane14.test", "--no-store",
            "--resolver", lab.resolver_arg, "--ca", str(root), "--format", "json",
            "--timeout", "5", *extra]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    try:
        (domain,) = json.loads(result.stdout)["domains"]
    except (json.JSONDecodeError, KeyError, ValueError):
        pytest.fail(f"exit {result.returncode}\n{result.stderr}\n{result.stdout}")
    return result.returncode, domain


@pytest.mark.parametrize("how", ["trust-ad", "trust-anchor"])
def test_dane_and_mta_sts_in_one_view(world: tuple[DnsLab, Path, Path], how: str) -> None:
    lab, root, anchors = world
    extra = ("--trust-ad",) if how == "trust-ad" else ("--trust-anchor", str(anchors))
    code, d = _check(lab, root, *extra)
    assert code == 1
    assert d["dnssec_source"] == ("trust-ad" if how == "trust-ad" else "trust-anchor-file")
    assert d["rules"]["dane"]["mx1.dane14.test"]["applies"] is True
    assert d["rules"]["dnssec"]["dane14.test"]["security"] == "secure"
    views = {v["host"]: v for v in d["mx_view"]}
    mx1, mx2 = views["mx1.dane14.test"], views["mx2.dane14.test"]
    assert (mx1["dane"], mx1["mta_sts"]) == ("dane-ee-match", "enforce-fails")
    assert (mx2["dane"], mx2["mta_sts"]) == ("mismatch", "enforce-fails")
    says = {h: {s["profile"].split(" ")[0]: s for s in v["senders"]} for h, v in views.items()}
    assert says["mx1.dane14.test"]["DANE"]["delivers"] is True
    assert says["mx1.dane14.test"]["MTA-STS"]["delivers"] is False
    assert says["mx2.dane14.test"]["DANE"]["reason"] == (
        "Postfix with DANE will defer: no TLSA matches the served chain"
    )
    assert says["mx2.dane14.test"]["MTA-STS"]["reason"] == (
        "Exchange Online will not deliver: MTA-STS enforce and the certificate lacks "
        "mx2.dane14.test"
    )
    # MX2: one finding with one fix, in place of DANE's and MTA-STS's own; it keeps the
    # '3 1 1' record DANE proposes for the key the MX serves.
    mx2_findings = [
        f
        for f in d["findings"]
        if f["subject"].startswith("mx2.dane14.test")
        and f["id"].startswith(("domain.dane", "domain.mta-sts", "domain.mx"))
        and f["id"] != "domain.dane-rollover"
    ]
    assert [f["id"] for f in mx2_findings] == ["domain.mx-certificate-rejected"]
    assert "3 1 1 " in mx2_findings[0]["detail"]
    assert not [f for f in d["findings"] if f["id"] == "domain.dane-no-match"]
    weighed = {(f["host"], f["id"]): f for f in d["endpoint_findings"]}
    assert weighed[("mx2.dane14.test", "cert.name-mismatch")]["severity"] == "info"
    # MX1: the name mismatch matters to MTA-STS senders, not to DANE senders.
    mx1_name = weighed[("mx1.dane14.test", "cert.name-mismatch")]
    assert mx1_name["severity"] == "high" and "DANE senders are unaffected" in mx1_name["note"]


def test_terminal_says_what_each_sender_does(world: tuple[DnsLab, Path, Path]) -> None:
    lab, root, anchors = world
    argv = [sys.executable, "-m", "vedette", "domain", "check", "dane14.test", "--no-store",
            "--resolver", lab.resolver_arg, "--ca", str(root), "--timeout", "5",
            "--trust-anchor", str(anchors)]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    out = " ".join(result.stdout.split())  # the terminal wraps at 80 columns in a pipe
    assert result.returncode == 1, result.stderr
    assert "dnssec: dane14.test secure, mx1.dane14.test secure, mx2.dane14.test secure" in out
    assert (
        "dane: mx1.dane14.test a DANE-EE record matches, mx2.dane14.test NO TLSA record matches"
    ) in out
    assert "Postfix with DANE will defer: no TLSA matches the served chain" in out
    assert "Exchange Online will not deliver: MTA-STS enforce and the certificate lacks" in out
    assert "domain.mx-certificate-rejected" in out and "DNSSEC from: trust-anchor-file" in out
