"""The target grammar shared by every command."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vedette.errors import UsageError
from vedette.model import Service
from vedette.targets import (
    DEFAULT_PORTS,
    parse_ports,
    parse_resolve,
    parse_target,
    plan_ports,
)


@pytest.mark.parametrize(
    ("text", "host", "is_ip", "port", "service"),
    [
        ("mail.example.com", "mail.example.com", False, None, None),
        ("Mail.Example.COM.", "mail.example.com", False, None, None),
        ("mail.example.com:993", "mail.example.com", False, 993, None),
        ("imaps://mail.example.com", "mail.example.com", False, None, Service.IMAPS),
        ("SMTP://mail.example.com:2525", "mail.example.com", False, 2525, Service.SMTP),
        ("submission://mail.example.com/", "mail.example.com", False, None, Service.SUBMISSION),
        ("192.0.2.7", "192.0.2.7", True, None, None),
        ("192.0.2.7:25", "192.0.2.7", True, 25, None),
        ("[2001:db8::1]:993", "2001:db8::1", True, 993, None),
        ("[2001:DB8::1]", "2001:db8::1", True, None, None),
        ("2001:db8::1", "2001:db8::1", True, None, None),
        ("pop3s://[::1]:995", "::1", True, 995, Service.POP3S),
        ("bücher.example", "xn--bcher-kva.example", False, None, None),
        ("sips://lync.example.com", "lync.example.com", False, None, Service.SIPS),
        ("sieve://mail.example.com", "mail.example.com", False, None, Service.SIEVE),
    ],
)
def test_parse_target(text, host, is_ip, port, service):
    spec = parse_target(text)
    assert (spec.host, spec.is_ip, spec.port, spec.service) == (host, is_ip, port, service)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty target"),
        ("ftp://example.com", "unknown scheme 'ftp'"),
        ("mail.example.com:0", "bad port"),
        ("mail.example.com:70000", "bad port"),
        ("mail.example.com:abc", "bad port"),
        ("[2001:db8::1", "unclosed"),
        ("[192.0.2.1]:25", "IPv6"),
        ("imaps://user@mail.example.com", "path or user"),
        ("imaps://mail.example.com/INBOX", "path or user"),
        ("bad host.example.com", "invalid host name"),
        ("-bad.example.com", "invalid host name"),
        ("999.1.1.1", "invalid IP address"),
        ("2001:db8::zz", "IPv6"),
    ],
)
def test_bad_targets_give_one_line_errors(text, message):
    with pytest.raises(UsageError, match=message) as info:
        parse_target(text)
    assert "\n" not in str(info.value)


def test_bare_host_gets_every_default_port():
    plan = plan_ports(parse_target("mail.example.com"))
    assert [p for p, _ in plan] == list(DEFAULT_PORTS)
    assert dict(plan) == {
        25: Service.SMTP,
        587: Service.SUBMISSION,
        465: Service.SMTPS,
        143: Service.IMAP,
        993: Service.IMAPS,
        110: Service.POP3,
        995: Service.POP3S,
        443: Service.HTTPS,
        5061: Service.SIPS,
        4190: Service.SIEVE,
    }


def test_ports_replace_the_default_list_and_nonstandard_ports_need_a_service():
    spec = parse_target("mail.example.com")
    assert plan_ports(spec, ports=(993, 587)) == ((993, Service.IMAPS), (587, Service.SUBMISSION))
    with pytest.raises(UsageError, match="port 2525 .* no standard service"):
        plan_ports(spec, ports=(2525,))
    assert plan_ports(spec, ports=(2525,), service=Service.SMTP) == ((2525, Service.SMTP),)
    # A scheme fixes the service whatever --ports says.
    assert plan_ports(parse_target("imap://h.example:1143"), ports=(25,)) == ((1143, Service.IMAP),)
    assert plan_ports(parse_target("h.example:465")) == ((465, Service.SMTPS),)


def test_parse_ports_and_resolve():
    assert parse_ports("25, 587,25,993") == (25, 587, 993)
    with pytest.raises(UsageError):
        parse_ports(",")
    pin = parse_resolve("mail.example.com:993:192.0.2.1,[2001:db8::2]")
    assert (pin.host, pin.port, pin.addresses) == (
        "mail.example.com",
        993,
        ("192.0.2.1", "2001:db8::2"),
    )
    assert parse_resolve("mail.example.com:*:192.0.2.1").port is None
    for bad in ("mail.example.com:993", "mail.example.com:993:not-an-ip", ":993:192.0.2.1"):
        with pytest.raises(UsageError):
            parse_resolve(bad)


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@given(
    labels=st.lists(_label, min_size=2, max_size=4),
    service=st.sampled_from(list(Service)),
    port=st.none() | st.integers(1, 65535),
)
def test_scheme_host_port_round_trips(labels, service, port):
    host = ".".join(labels)
    if all(label.isdigit() for label in labels):
        return
    text = f"{service.value}://{host}" + (f":{port}" if port else "")
    spec = parse_target(text)
    assert (spec.host, spec.port, spec.service, spec.is_ip) == (host, port, service, False)
    assert plan_ports(spec) == ((port or service.default_port, service),)


@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_usage_error(text):
    try:
        parse_target(text)
    except UsageError as exc:
        assert "\n" not in str(exc)
