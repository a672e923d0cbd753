"""``vedette eml``'s verdict over messages signed here by dkimpy, with keys made here, read
through FakeDns: every DKIM signature, ARC, SPF for the client address, DMARC alignment, and
the comparison with the receiver's Authentication-Results."""

from __future__ import annotations

import asyncio
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.eml_helpers import Key, arc_seal, message, sign
from tests.unit.fake_dns import FakeDns
from vedette.mailauth.message import read_message
from vedette.mailauth.msgauth import MessageVerdict, check_message

K1, K2, K3 = Key(), Key(), Key()
NOW = int(time.time())


def dns(*extra: str) -> FakeDns:
    return FakeDns(
        [
            K1.zone_line("s1", "example.com"),
            K1.zone_line("old", "example.com"),
            'gone._domainkey.example.com. TXT "v=DKIM1; k=rsa; p="',
            K2.zone_line("s2", "esp.test"),
            K3.zone_line("arc", "forwarder.test"),
            K3.zone_line("arc", "list.test"),
            'example.com. TXT "v=spf1 ip4:192.0.2.0/24 -all"',
            '_dmarc.example.com. TXT "v=DMARC1; p=reject; adkim=s"',
            *extra,
        ]
    )


def judge(raw: bytes, lookup: FakeDns | None = None, **kw: object) -> MessageVerdict:
    return asyncio.run(check_message(lookup or dns(), read_message(raw), **kw))  # type: ignore[arg-type]


def results(v: MessageVerdict) -> list[tuple[str, str, str]]:
    return [(d.domain, d.selector, d.result) for d in v.dkim]


def test_every_signature_is_judged_with_its_reason() -> None:
    raw = message()
    raw = sign(raw, K1, "example.com", "s1")
    raw = sign(raw, K2, "esp.test", "s2")
    raw = sign(raw, K1, "example.com", "old", expires=NOW - 86400)
    raw = sign(raw, K1, "example.com", "gone")
    raw = sign(raw, K1, "example.com", "missing")
    v = judge(raw)
    assert results(v) == [
        ("example.com", "missing", "permerror"),
        ("example.com", "gone", "permerror"),
        ("example.com", "old", "permerror"),
        ("esp.test", "s2", "pass"),
        ("example.com", "s1", "pass"),
    ]
    why = [d.why for d in v.dkim]
    assert "no key" in why[0] and "nxdomain" in why[0]
    assert "revoked" in why[1]
    assert "expired" in why[2]
    # strict DKIM alignment: only example.com aligns with From
    assert v.dkim_aligned == ("example.com",)
    assert v.dmarc == "pass"


def test_as_of_decides_whether_x_has_passed() -> None:
    raw = sign(message(), K1, "example.com", "old", expires=NOW - 86400)
    assert judge(raw).dkim[0].result == "permerror"
    earlier = judge(raw, as_of=NOW - 2 * 86400).dkim[0]
    assert earlier.result == "pass", earlier.why
    assert earlier.expires == NOW - 86400


def test_body_and_header_changes_are_told_apart() -> None:
    raw = sign(message(), K1, "example.com", "s1")
    body = judge(raw.replace(b"quarterly", b"monthly")).dkim[0]
    assert (body.result, body.why) == ("fail", "body hash mismatch: the body changed after signing")
    header = judge(raw.replace(b"Subject: figures", b"Subject: FIGURES")).dkim[0]
    assert header.result == "fail"
    assert "header" in header.why


def test_garbage_tags_are_a_per_signature_error() -> None:
    raw = sign(message(), K1, "example.com", "s1")
    bad = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1; h=from; bh=!!; b=%%\r\n"
    worse = b"DKIM-Signature: \x00\xff;;;===; d\r\n"
    v = judge(worse + bad + raw)
    assert [d.result for d in v.dkim] == ["permerror", "permerror", "pass"]
    assert all(d.why for d in v.dkim)


def test_key_dns_failure_is_temperror() -> None:
    from vedette.mailauth.answers import DnsStatus

    lookup = dns()
    lookup.failures[("s1._domainkey.example.com", "TXT")] = DnsStatus.SERVFAIL
    v = judge(sign(message(), K1, "example.com", "s1"), lookup)
    assert v.dkim[0].result == "temperror"


def test_spf_from_the_trusted_hop_and_alignment() -> None:
    received = (
        b"Received: from out.example.com (out.example.com [192.0.2.10])\r\n"
        b"\tby mx1.receiver.test (Postfix) with ESMTPS id 1; Mon, 7 Dec 2026 10:00:01 +0000"
    )
    forged = b"Received: from evil (evil [198.51.100.66]) by relay.elsewhere.test; x"
    raw = message(extra=[received, forged])
    v = judge(raw, trust_receiver="receiver.test")
    assert (v.client_ip, v.spf, v.spf_aligned) == ("192.0.2.10", "pass", True)
    assert v.dmarc == "pass"
    other = judge(raw, client_ip="198.51.100.66")
    assert (other.spf, other.dmarc, other.dmarc_policy) == ("fail", "fail", "reject")


def test_relaxed_alignment_uses_the_organisational_domain() -> None:
    lookup = dns(
        'mail.example.com. TXT "v=spf1 ip4:203.0.113.0/24 -all"',
        '_dmarc.example.net. TXT "v=DMARC1; p=quarantine"',
    )
    raw = message(sender="news@example.net", return_path="b@mail.example.net")
    raw = sign(raw, K1, "example.com", "s1")
    v = judge(raw, lookup)
    assert v.dkim[0].result == "pass"
    assert v.dkim_aligned == ()  # example.com does not align with example.net
    assert (v.dmarc, v.dmarc_policy) == ("fail", "quarantine")


def test_disagreement_with_the_receiver_is_shown() -> None:
    raw = sign(message(), K1, "example.com", "s1").replace(b"quarterly", b"monthly")
    ar = (
        b"Authentication-Results: mx1.receiver.test; dkim=pass (signature was verified)\r\n"
        b" header.d=example.com header.s=s1; spf=none; dmarc=pass header.from=example.com\r\n"
    )
    v = judge(ar + raw, trust_receiver="receiver.test")
    got = {(d.method, d.receiver, d.vedette) for d in v.disagreements}
    assert ("dkim", "pass", "fail") in got
    assert ("dmarc", "pass", "fail") in got


def test_agreement_gives_no_disagreement() -> None:
    raw = sign(message(), K1, "example.com", "s1")
    ar = (
        b"Authentication-Results: mx1.receiver.test; dkim=pass header.d=example.com;"
        b" dmarc=pass header.from=example.com\r\n"
    )
    v = judge(ar + raw, trust_receiver="mx1.receiver.test")
    assert v.receiver is not None and v.receiver.authserv_id == "mx1.receiver.test"
    assert v.disagreements == ()


def _two_hops(raw: bytes) -> bytes:
    hop1 = b"Authentication-Results: forwarder.test; dkim=pass header.d=example.com\r\n" + raw
    sealed1 = arc_seal(hop1, K3, "forwarder.test", "forwarder.test")
    hop2 = b"Authentication-Results: list.test; arc=pass\r\n" + sealed1
    return arc_seal(hop2, K3, "list.test", "list.test")


def test_arc_chain_over_two_hops_names_the_sealers() -> None:
    v = judge(_two_hops(sign(message(), K1, "example.com", "s1")))
    assert v.arc.result == "pass", v.arc.why
    assert [(h.instance, h.cv, h.sealer, h.seal_valid) for h in v.arc.hops] == [
        (2, "pass", "list.test", True),
        (1, "none", "forwarder.test", True),
    ]


def test_broken_arc_seal_fails_the_chain() -> None:
    sealed = _two_hops(sign(message(), K1, "example.com", "s1"))
    # the first hop's seal signature altered (keep it valid base64)
    start = sealed.index(b"ARC-Seal: i=1")
    b_at = sealed.index(b" b=", start) + 3
    flipped = (
        sealed[:b_at] + (b"B" if sealed[b_at : b_at + 1] != b"B" else b"C") + sealed[b_at + 1 :]
    )
    v = judge(flipped)
    assert v.arc.result == "fail"
    # the first seal no longer verifies, and the second, which signs it, neither
    assert [(h.instance, h.seal_valid, h.ams_valid) for h in v.arc.hops] == [
        (2, False, True),
        (1, False, True),
    ]


SIGNED = sign(sign(message(), K1, "example.com", "s1"), K2, "esp.test", "s2")
RESULTS = {"pass", "fail", "permerror", "temperror"}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(SIGNED) - 1), st.binary(max_size=8)), max_size=6))
def test_any_damage_to_a_signed_message_gives_verdicts(edits: list[tuple[int, bytes]]) -> None:
    raw = SIGNED
    for at, chunk in edits:
        raw = raw[:at] + chunk + raw[at + len(chunk) :]
    v = judge(raw)
    assert all(d.result in RESULTS and d.why for d in v.dkim)
    assert v.arc.result in ("none", "pass", "fail")
    assert v.dmarc in ("pass", "fail", "none", "temperror")
