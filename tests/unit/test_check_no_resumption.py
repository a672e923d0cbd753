"""tls.no-resumption: only a tested, refused resumption is reported (None means not learnt)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.builders import endpoint_for, observed
from vedette.checks import CheckContext, analyse
from vedette.model import Service
from vedette.tls.result import TlsScan

EP = endpoint_for(Service.IMAP, host="imap.example.org", ip="192.0.2.1")
NOW = datetime(2026, 5, 1, tzinfo=UTC)


def hit(scan: TlsScan) -> str | None:
    obs = observed(EP, at=NOW, tls_scan=scan)
    found = [f for f in analyse((obs,), CheckContext(now=NOW)) if f.id == "tls.no-resumption"]
    return found[0].detail if found else None


@pytest.mark.parametrize("resumption", [True, None])
def test_resumed_or_untested_is_silent(resumption):
    assert hit(TlsScan(versions=(0x0303,), resumption=resumption)) is None


def test_not_resumed_is_info_and_says_what_was_tested():
    detail = hit(TlsScan(versions=(0x0303,), resumption=False))
    assert detail == (
        "a TLS 1.2 session from a full handshake was not resumed on a second connection"
    )
    untested_13 = hit(TlsScan(versions=(0x0303, 0x0304), resumption=False))
    assert untested_13 is not None and "TLS 1.3 resumption could not be tested" in untested_13


def test_tls13_tickets_count_too():
    both = hit(TlsScan(versions=(0x0303, 0x0304), resumption=False, resumption_tls13=False))
    assert both is not None and "TLS 1.2" in both and "TLS 1.3 ticket" in both
    only_13 = hit(TlsScan(versions=(0x0303, 0x0304), resumption=True, resumption_tls13=False))
    assert only_13 is not None and "clients that use TLS 1.3 pay" in only_13
    assert only_13.startswith("no TLS 1.3 ticket")
    only_12 = hit(TlsScan(versions=(0x0303, 0x0304), resumption=False, resumption_tls13=True))
    assert only_12 is not None and "only TLS 1.2 clients pay" in only_12
    assert hit(TlsScan(versions=(0x0303, 0x0304), resumption=True, resumption_tls13=True)) is None
    assert hit(TlsScan(versions=(0x0304,), resumption_tls13=None)) is None
