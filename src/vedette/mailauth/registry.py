"""The registry of mail-domain checks: a stable id, a title, a severity and a remediation.

Domain findings are about a domain or one of its names (an MX, a DKIM selector, the MTA-STS
policy host), not about a TLS endpoint, so they are :class:`DomainFinding` values rather than
endpoint findings. Each module of :mod:`vedette.mailauth` registers its checks at import::

    TOO_MANY_LOOKUPS = domain_check(
        "domain.spf-too-many-lookups", "SPF needs more than 10 DNS lookups",
        Severity.HIGH, "Flatten the includes ...", references=("RFC 7208 4.6.4",))
    ...
    findings.append(TOO_MANY_LOOKUPS.hit("example.com", "13 lookups: ..."))

Ids are unique (registering one twice is an error) and listed by ``vedette checks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vedette.model import Severity


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainFinding:
    """A problem (or a notable fact) found on a mail domain.

    Attributes:
        id: the check's stable id (``domain.spf-plus-all``...).
        severity: the registered one, or the occurrence's own.
        title: one line in plain words.
        subject: what it is about: the domain, or a name under it (``mx1.example.com``,
            ``selector1._domainkey.example.com``, ``mta-sts.example.com``).
        detail: the specifics of this occurrence.
        remediation: how to fix it.
        evidence: verbatim DNS or server data (escaped later, at output).
        references: RFC sections or URLs.
    """

    id: str
    severity: Severity
    title: str
    subject: str
    detail: str
    remediation: str
    evidence: tuple[str, ...] = ()
    references: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The finding as plain JSON types (every result's and report's ``findings``)."""
        return {
            "id": self.id,
            "severity": self.severity.label,
            "title": self.title,
            "subject": self.subject,
            "detail": self.detail,
            "remediation": self.remediation,
            "evidence": list(self.evidence),
            "references": list(self.references),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainCheck:
    """A registered mail-domain check."""

    id: str
    title: str
    severity: Severity
    remediation: str
    references: tuple[str, ...] = ()

    def hit(
        self,
        subject: str,
        detail: str,
        *,
        evidence: tuple[str, ...] = (),
        severity: Severity | None = None,
        remediation: str | None = None,
    ) -> DomainFinding:
        """One occurrence of this check's problem on ``subject``."""
        return DomainFinding(
            id=self.id,
            severity=self.severity if severity is None else severity,
            title=self.title,
            subject=subject,
            detail=detail,
            remediation=self.remediation if remediation is None else remediation,
            evidence=evidence,
            references=self.references,
        )


#: Every registered check, by id, in registration order.
DOMAIN_CHECKS: dict[str, DomainCheck] = {}


def domain_check(
    check_id: str,
    title: str,
    severity: Severity,
    remediation: str,
    *,
    references: tuple[str, ...] = (),
) -> DomainCheck:
    """Register a check once; its id starts with ``domain.``."""
    if not check_id.startswith("domain."):
        raise ValueError(f"domain check ids start with 'domain.': {check_id!r}")
    if check_id in DOMAIN_CHECKS:
        raise ValueError(f"domain check {check_id!r} is registered twice")
    check = DomainCheck(
        id=check_id, title=title, severity=severity, remediation=remediation, references=references
    )
    DOMAIN_CHECKS[check_id] = check
    return check
