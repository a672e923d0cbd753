"""The message reader of ``vedette eml``: bounded, tolerant, never raising."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vedette.mailauth import message as m
from vedette.mailauth.message import parse_authentication_results, read_message


def test_fields_received_from_and_return_path() -> None:
    raw = (
        b"Received: from a.example (a.example [IPv6:2001:db8::1]) by mx.r.test; x\n"
        b"Received: from b (b [192.0.2.7]) by relay.example; y\n"
        b"Return-Path: <bounce@lists.example.org>\n"
        b'From: "A, B" <a@Example.COM>, c@other.example\n'
        b"Subject: hi\n\nbody\n"
    )
    msg = read_message(raw)
    assert msg.errors == ()
    assert msg.from_domains == ("example.com", "other.example")
    assert msg.mail_from_domain == "lists.example.org"
    hops = msg.received
    assert [(h.by_host, h.ip) for h in hops] == [
        ("mx.r.test", "2001:db8::1"),
        ("relay.example", "192.0.2.7"),
    ]
    assert msg.hop_by("r.test") == hops[0]
    assert msg.hop_by("nowhere.test") is None
    assert msg.body == b"body\n"


def test_authentication_results_with_comments_and_quotes() -> None:
    ar = parse_authentication_results(
        b" spf.protection.outlook.com (Exchange); spf=pass (sender IP is 192.0.2.1)\r\n"
        b" smtp.mailfrom=example.com; dkim=fail (body hash did not verify) header.d=example.com;"
        b' dmarc=fail action=oreject header.from=example.com; compauth=fail reason="001"'
    )
    assert ar.authserv_id == "spf.protection.outlook.com"
    assert [(r.method, r.result) for r in ar.results] == [
        ("spf", "pass"),
        ("dkim", "fail"),
        ("dmarc", "fail"),
        ("compauth", "fail"),
    ]
    assert ar.results[0].props == {"smtp.mailfrom": "example.com"}
    assert ar.results[3].reason == "001"


def test_injection_8bit_and_duplicates_are_errors_not_crashes() -> None:
    raw = (
        b"From: a@example.com\r\nFrom: b@evil.test\r\n"
        b"Subject: caf\xc3\xa9 \xff\r\n"
        b"X-Bad: one\rBcc: injected@evil.test\r\n"
        b"not a header line\r\n"
        b" orphan\r\n\r\nbody"
    )
    msg = read_message(raw)
    text = " | ".join(msg.errors)
    assert "2 From fields" in text
    assert "8-bit" in text
    assert "bare CR" in text
    assert msg.from_domains == ("example.com", "evil.test")


def test_gigantic_header_block_is_cut_and_marked_incomplete() -> None:
    raw = b"From: a@example.com\r\n" + b"X-Pad: " + b"a" * (11 << 20) + b"\r\n\r\nbody"
    msg = read_message(raw)
    assert not msg.complete
    assert any("header block" in e for e in msg.errors)


def test_too_many_fields() -> None:
    raw = b"From: a@example.com\r\n" + b"X-A: 1\r\n" * (m.MAX_FIELDS + 5) + b"\r\nbody"
    msg = read_message(raw)
    assert len(msg.fields) == m.MAX_FIELDS
    assert not msg.complete


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_any_bytes_give_a_message(data: bytes) -> None:
    msg = read_message(data)
    for f in msg.fields:
        assert f.name and ":" not in f.name
    assert all("@" not in d for d in msg.from_domains)
    assert msg.mail_from_domain is None or "@" not in msg.mail_from_domain
    for hop in msg.received:
        assert hop.ip is None or hop.ip.count(".") == 3 or ":" in hop.ip
    assert all(ar.index >= 0 for ar in msg.authentication_results)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_any_authentication_results_parse(text: str) -> None:
    ar = parse_authentication_results(text.encode("utf-8", "surrogatepass"))
    assert len(ar.results) <= m.MAX_RESULTS
