"""CA/Browser Forum limits on TLS server certificate validity, loaded from data.

The limits live in ``vedette/data/validity_limits.json`` (effective date, maximum, source), so a
new ballot is a data change. A certificate is judged by the limit in force at its
``notBefore`` (the closest thing to an issuance date a certificate carries).

The Baseline Requirements count the validity period inclusively, "notBefore through notAfter
inclusive", i.e. ``notAfter - notBefore + 1 second`` (BR 1.6.1 "Validity Period"): a 398-day
certificate ends one second before ``notBefore + 398 days``. :func:`validity_period` returns
that inclusive duration.

These limits bind only *publicly-trusted* certificates; a private CA may issue what it likes,
which is why the check reports them with a lower severity when the chain ends at a ``--ca``
root.
"""

from __future__ import annotations

import calendar
import functools
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "ValidityLimit",
    "limit_at",
    "max_validity_days",
    "validity_limits",
    "validity_period",
]

_DATA = Path(__file__).resolve().parent.parent / "data" / "validity_limits.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidityLimit:
    """One step of the CA/B Forum timeline.

    Attributes:
        effective: certificates issued on or after this date (00:00 UTC) are bound by it.
        max_days: the limit in days, or ``None`` when it is given in months.
        max_months: the limit in calendar months, or ``None`` when it is given in days.
        source: the ballot or Baseline Requirements section.
    """

    effective: date
    max_days: int | None
    max_months: int | None
    source: str

    def days_from(self, start: datetime) -> int:
        """The limit in days for a certificate starting at ``start`` (months are calendar)."""
        if self.max_days is not None:
            return self.max_days
        assert self.max_months is not None
        return (_add_months(start, self.max_months) - start).days


def _add_months(d: datetime, months: int) -> datetime:
    month0 = d.month - 1 + months
    year, month = d.year + month0 // 12, month0 % 12 + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return d.replace(year=year, month=month, day=day)


@functools.cache
def validity_limits() -> tuple[ValidityLimit, ...]:
    """The timeline, oldest first (read once)."""
    raw = json.loads(_DATA.read_text(encoding="utf-8"))
    out: list[ValidityLimit] = []
    for entry in raw["limits"]:
        days, months = entry.get("max_days"), entry.get("max_months")
        if (days is None) == (months is None):
            raise ValueError(f"{_DATA.name}: each limit needs exactly one of max_days/max_months")
        out.append(
            ValidityLimit(
                effective=date.fromisoformat(entry["effective"]),
                max_days=int(days) if days is not None else None,
                max_months=int(months) if months is not None else None,
                source=str(entry["source"]),
            )
        )
    out.sort(key=lambda limit: limit.effective)
    return tuple(out)


def _utc(d: datetime) -> datetime:
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def limit_at(issued: datetime) -> ValidityLimit | None:
    """The limit in force for a certificate issued at ``issued``; ``None`` before the first."""
    when = _utc(issued)
    current: ValidityLimit | None = None
    for limit in validity_limits():
        start = datetime(
            limit.effective.year, limit.effective.month, limit.effective.day, tzinfo=UTC
        )
        if when >= start:
            current = limit
    return current


def max_validity_days(issued: datetime) -> int | None:
    """Maximum validity in days for a certificate issued at ``issued`` (naive means UTC)."""
    limit = limit_at(issued)
    return limit.days_from(_utc(issued)) if limit is not None else None


def validity_period(cert: x509.Certificate) -> timedelta:
    """``notAfter - notBefore + 1 second``: the BR's inclusive validity period."""
    return cert.not_valid_after_utc - cert.not_valid_before_utc + timedelta(seconds=1)
