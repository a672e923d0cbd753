"""The rules table of ``vedette domain check``: what each rule is given, over FakeDns."""

from __future__ import annotations

import asyncio

from cryptography.hazmat.primitives.serialization import Encoding

from tests.unit.fake_dns import FakeDns
from vedette.domain.rules import RULES, Facts, Outcome
from vedette.mailauth.mtasts import PolicyFetch
from vedette.mailauth.mx import discover_mx
from vedette.pki import CertificateAuthority

ZONE = [
    "example.com. MX 10 mx1.example.com.",
    "mx1.example.com. A 192.0.2.1",
    'example.com. TXT "v=spf1 ip4:192.0.2.1 -all"',
    '_dmarc.example.com. TXT "v=DMARC1; p=reject"',
    'default._bimi.example.com. TXT "v=BIMI1; l=https://logo.example.com/l.svg; a="',
]
GOOD_LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps">'
    b"<title>Example</title></svg>"
)


#: The URLs the last rule run fetched.
fetched_urls: list[str] = []


def _run(name: str, fetched: dict[str, PolicyFetch] | None = None, **kw: object) -> Outcome:
    dns = FakeDns(ZONE)
    asked: list[str] = []

    async def fetch(url: str) -> PolicyFetch:
        asked.append(url)
        return (fetched or {}).get(url, PolicyFetch(body=None, error="connection refused"))

    async def go() -> Outcome:
        mx = await discover_mx(dns, "example.com")
        earlier: dict[str, Outcome] = {}
        if name == "bimi":
            earlier["dmarc"] = await next(r for r in RULES if r.name == "dmarc").run(
                Facts(domain="example.com", lookup=dns, mx=mx)
            )
        facts = Facts(domain="example.com", lookup=dns, mx=mx, fetch=fetch, earlier=earlier, **kw)  # type: ignore[arg-type]
        return await next(r for r in RULES if r.name == name).run(facts)

    outcome = asyncio.run(go())
    fetched_urls[:] = asked
    return outcome


def test_spf_is_evaluated_for_each_mx_address_and_the_sending_ips() -> None:
    out = _run("spf", options={"sending_ips": ("198.51.100.7",)})
    verdicts = {(v["host"], v["address"]): v["result"] for v in out.to_json()["verdicts"]}
    assert verdicts == {("mx1.example.com", "192.0.2.1"): "pass", ("", "198.51.100.7"): "fail"}


def test_bimi_logo_fetched_and_checked_or_reported_unreachable() -> None:
    url = "https://logo.example.com/l.svg"
    good = _run("bimi", {url: PolicyFetch(body=GOOD_LOGO)})
    assert fetched_urls == [url]
    assert good.to_json()["logo"] == {"status": "fetched", "error": ""}
    assert not [f for f in good.findings if f.id.startswith("domain.bimi-svg")]
    gone = _run("bimi")
    assert gone.to_json()["logo"]["status"] == "not-fetched"
    assert [(f.id, f.subject) for f in gone.findings if "logo" in f.id] == [
        ("domain.bimi-logo-unreachable", url)
    ]
    # The findings in the JSON are the record's and the logo's together.
    assert {f["id"] for f in gone.to_json()["findings"]} == {f.id for f in gone.findings}


def test_caa_is_given_the_leaf_each_mx_served_not_the_intermediates() -> None:
    root = CertificateAuthority.create_root("Test Root", organization="Let's Encrypt")
    issuing = root.issue_intermediate("Test Issuing")
    leaf = issuing.issue_server(["mx1.example.com"])
    chain = tuple(c.public_bytes(Encoding.DER) for c in (leaf.cert, issuing.cert))
    out = _run("caa", chains={"mx1.example.com": {"192.0.2.1": chain}})
    assert out.to_json()["certificates"] == [
        {
            "issuer": "Let's Encrypt",
            "caa_domains": ["letsencrypt.org"],
            "allowed": {"mx1.example.com": True},  # no CAA anywhere: any CA may issue
        }
    ]


def test_the_policy_is_fetched_once_while_the_mx_are_scanned() -> None:
    from vedette.domain.check import DomainSettings, check_one

    dns = FakeDns(
        [
            "example.com. MX 10 mx1.example.com.",
            "mx1.example.com. A 192.0.2.1",
            '_mta-sts.example.com. TXT "v=STSv1; id=1"',
        ]
    )
    policy = b"version: STSv1\nmode: testing\nmx: mx1.example.com\nmax_age: 86400\n"
    fetched: list[str] = []

    async def go() -> dict[str, object]:
        seen = asyncio.Event()

        async def fetch(url: str) -> PolicyFetch:
            fetched.append(url)
            seen.set()
            return PolicyFetch(body=policy, content_type="text/plain")

        async def scan(wanted: object) -> tuple[()]:
            # The scan ends only once the policy fetch has started: they run at once.
            await asyncio.wait_for(seen.wait(), timeout=5)
            return ()

        report = await check_one(
            "example.com", DomainSettings(), (), client=dns, scanner=scan, fetcher=fetch
        )
        return report.outcomes["mta_sts"].to_json()

    sts = asyncio.run(go())
    assert fetched == ["https://mta-sts.example.com/.well-known/mta-sts.txt"]
    assert sts["fetched"] is True and sts["mode_applied"] == "testing"
