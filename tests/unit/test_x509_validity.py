"""CA/B Forum validity limits, from data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vedette.pki import CertificateAuthority
from vedette.x509.validity import limit_at, max_validity_days, validity_limits, validity_period


@pytest.mark.parametrize(
    ("issued", "expected"),
    [
        (datetime(2010, 1, 1, tzinfo=UTC), None),
        (datetime(2013, 1, 1, tzinfo=UTC), 1826),  # 60 months from 2013-01-01
        (datetime(2016, 1, 1, tzinfo=UTC), 1186),  # 39 months: to 2019-04-01
        (datetime(2018, 2, 28, 23, 59, tzinfo=UTC), 1185),  # to 2021-05-28, before 825 days
        (datetime(2018, 3, 1, tzinfo=UTC), 825),
        (datetime(2020, 8, 31, 23, 59, tzinfo=UTC), 825),
        (datetime(2020, 9, 1, tzinfo=UTC), 398),
        (datetime(2026, 3, 14, 23, 59, tzinfo=UTC), 398),
        (datetime(2026, 3, 15, tzinfo=UTC), 200),
        (datetime(2027, 3, 15, tzinfo=UTC), 100),
        (datetime(2029, 3, 14, tzinfo=UTC), 100),
        (datetime(2029, 3, 15, tzinfo=UTC), 47),
        (datetime(2040, 1, 1, tzinfo=UTC), 47),
    ],
)
def test_max_validity_days(issued: datetime, expected: int | None) -> None:
    assert max_validity_days(issued) == expected


def test_every_limit_has_a_source():
    limits = validity_limits()
    assert len(limits) >= 6
    assert all("CA/B Forum" in limit.source for limit in limits)
    assert [limit.effective for limit in limits] == sorted(limit.effective for limit in limits)
    assert "SC-081" in (limit_at(datetime(2030, 1, 1, tzinfo=UTC)) or limits[0]).source


def test_validity_period_is_inclusive():
    root = CertificateAuthority.create_root("Validity Root")
    leaf = root.issue_server(["v.example.test"], days=90)
    assert validity_period(leaf.cert) == timedelta(days=90, seconds=1)
