"""The one registry of checks.

A check is a pure function over observations, registered once with everything a user needs to
know about it: a stable id, a title, the severity for each role, and a remediation. Nothing
else has to be edited to add a check: write the function in a module of ``vedette.checks``,
decorate it, and list the module in ``vedette.checks.CHECK_MODULES`` (a test asserts that
every module of the package is listed there and every listed module registers something).

Two shapes exist:

* ``@endpoint_check`` — ``fn(ctx, obs) -> Iterable[Hit]``: one observation at a time.
* ``@group_check`` — ``fn(ctx, observations) -> Iterable[Hit]``: all addresses of one
  ``name:port`` together, to report differences between the nodes behind one name.

A ``Hit`` carries the specifics; the registry turns it into a ``Finding`` with the severity for
the endpoint's role (a Hit may raise or lower it with ``severity=``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from vedette.model import Endpoint, Finding, Observation, Role, Severity

if TYPE_CHECKING:
    from vedette.trust.simulate import ClientOptions


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    """One occurrence of a check's problem.

    Attributes:
        detail: the specifics for this endpoint, one or two sentences.
        evidence: verbatim server data (escaped later, at output).
        severity: overrides the registered severity (e.g. expiring in 3 days vs 25 days).
        endpoint: for group checks, which endpoint to attach to (default: the first).
        fix_commands: vedette command lines fixing this occurrence (``Finding.fix_commands``).
        remediation: replaces the registered remediation for this occurrence, when the fix
            depends on what the endpoint is (an LDAP directory is not fixed like Dovecot).
    """

    detail: str
    evidence: tuple[str, ...] = ()
    severity: Severity | None = None
    endpoint: Endpoint | None = None
    fix_commands: tuple[str, ...] = ()
    remediation: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckContext:
    """What checks may consult besides the observation. No I/O is allowed through it.

    Attributes:
        now: the analysis time (UTC); certificate dates are judged against it.
        trust_roots_der: DER certificates of the trust anchors (Mozilla via certifi, plus
            the user's ``--ca`` roots).
        extra_roots_der: the subset of ``trust_roots_der`` given by the user with ``--ca``.
        intermediates_der: CA certificates known besides what servers send (``scan
            --intermediates``, issuers downloaded with ``scan --fetch``): they name a missing
            intermediate or show an unknown root, and never make a chain trusted.
        clients: the client-matrix options (``--clients``, ``--as-of``, ``--pin``...);
            ``None`` means the defaults.
    """

    now: datetime
    trust_roots_der: tuple[bytes, ...] = ()
    extra_roots_der: tuple[bytes, ...] = ()
    intermediates_der: tuple[bytes, ...] = ()
    cache: dict[str, object] = field(default_factory=dict, compare=False, hash=False)
    clients: ClientOptions | None = None


EndpointFn = Callable[[CheckContext, Observation], Iterable[Hit]]
GroupFn = Callable[[CheckContext, Sequence[Observation]], Iterable[Hit]]
F = TypeVar("F", EndpointFn, GroupFn)


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """A registered check.

    Attributes:
        id: stable identifier, ``area.name`` (``tls.plaintext-auth``).
        title: what is wrong, in one line of plain words.
        explanation: why it matters, one or two sentences.
        remediation: how to fix it.
        severity: severity on user-facing services (submission, IMAP, POP3, HTTPS, SIP).
        relay_severity: severity on server-to-server SMTP (port 25); defaults to ``severity``.
        references: RFCs, vendor documents.
    """

    id: str
    title: str
    explanation: str
    remediation: str
    severity: Severity
    relay_severity: Severity
    references: tuple[str, ...]
    fn: EndpointFn | None = None
    group_fn: GroupFn | None = None

    def severity_for(self, role: Role) -> Severity:
        return self.relay_severity if role is Role.RELAY else self.severity

    def finding(self, endpoint: Endpoint, hit: Hit) -> Finding:
        sev = hit.severity if hit.severity is not None else self.severity_for(endpoint.service.role)
        return Finding(
            id=self.id,
            severity=sev,
            title=self.title,
            detail=hit.detail,
            remediation=self.remediation if hit.remediation is None else hit.remediation,
            endpoint=hit.endpoint or endpoint,
            evidence=hit.evidence,
            references=self.references,
            fix_commands=hit.fix_commands,
        )


_REGISTRY: dict[str, Check] = {}


def _register(check: Check) -> None:
    if check.id in _REGISTRY:
        raise ValueError(f"check id {check.id!r} registered twice")
    if "." not in check.id or check.id != check.id.lower() or " " in check.id:
        raise ValueError(f"check id {check.id!r} must look like 'area.name'")
    _REGISTRY[check.id] = check


def _decorator(
    kind: str,
    check_id: str,
    *,
    title: str,
    explanation: str,
    remediation: str,
    severity: Severity,
    relay_severity: Severity | None,
    references: tuple[str, ...],
) -> Callable[[F], F]:
    def deco(fn: F) -> F:
        _register(
            Check(
                id=check_id,
                title=title,
                explanation=explanation,
                remediation=remediation,
                severity=severity,
                relay_severity=relay_severity if relay_severity is not None else severity,
                references=references,
                fn=fn if kind == "endpoint" else None,  # type: ignore[arg-type]
                group_fn=fn if kind == "group" else None,  # type: ignore[arg-type]
            )
        )
        return fn

    return deco


def endpoint_check(
    id: str,
    *,
    title: str,
    explanation: str,
    remediation: str,
    severity: Severity,
    relay_severity: Severity | None = None,
    references: tuple[str, ...] = (),
) -> Callable[[EndpointFn], EndpointFn]:
    """Register ``fn(ctx, obs) -> Iterable[Hit]`` under ``id``."""
    return _decorator(
        "endpoint",
        id,
        title=title,
        explanation=explanation,
        remediation=remediation,
        severity=severity,
        relay_severity=relay_severity,
        references=references,
    )


def group_check(
    id: str,
    *,
    title: str,
    explanation: str,
    remediation: str,
    severity: Severity,
    relay_severity: Severity | None = None,
    references: tuple[str, ...] = (),
) -> Callable[[GroupFn], GroupFn]:
    """Register ``fn(ctx, observations) -> Iterable[Hit]`` over all addresses of a name:port."""
    return _decorator(
        "group",
        id,
        title=title,
        explanation=explanation,
        remediation=remediation,
        severity=severity,
        relay_severity=relay_severity,
        references=references,
    )


def all_checks() -> tuple[Check, ...]:
    """Every registered check, sorted by id (importing ``vedette.checks`` registers them)."""
    return tuple(_REGISTRY[k] for k in sorted(_REGISTRY))


def get_check(check_id: str) -> Check:
    return _REGISTRY[check_id]
