"""Checks: pure rules over observations, producing findings.

``analyse()`` is the only entry point the rest of vedette needs. It runs every registered check
over every observation (and every group check over the addresses of each ``name:port``), then
sorts the findings most severe first. It does no I/O: the same stored observations analysed
again give the same findings, plus whatever checks were added since.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Iterable, Sequence

from vedette.checks.registry import Check, CheckContext, Hit, all_checks, get_check
from vedette.model import Finding, Observation, Severity

__all__ = ["CHECK_MODULES", "Check", "CheckContext", "Hit", "all_checks", "analyse", "get_check"]

#: Modules that register checks. A unit test asserts this equals the package's modules, less
#: ``registry`` and ``matrix`` (the client-matrix adapter shared with the reports).
CHECK_MODULES: tuple[str, ...] = (
    "vedette.checks.reachability",
    "vedette.checks.plaintext",
    "vedette.checks.certificate",
    "vedette.checks.consistency",
    "vedette.checks.tls_protocols",
    "vedette.checks.clients",
    "vedette.checks.smb",
)

_loaded = False


def load_checks() -> tuple[Check, ...]:
    global _loaded
    if not _loaded:
        for mod in CHECK_MODULES:
            importlib.import_module(mod)
        _loaded = True
    return all_checks()


def _run(check: Check, obs_for_error: Observation, hits: Iterable[Hit]) -> list[Finding]:
    try:
        return [check.finding(obs_for_error.endpoint, hit) for hit in hits]
    except Exception as exc:  # a check bug must not lose the rest of the scan
        return [
            Finding(
                id="vedette.check-error",
                severity=Severity.INFO,
                title="A vedette check failed on this endpoint",
                detail=f"check {check.id} raised {type(exc).__name__}: {exc}",
                remediation="Report this as a vedette bug, with the stored scan if possible.",
                endpoint=obs_for_error.endpoint,
            )
        ]


def analyse(observations: Sequence[Observation], ctx: CheckContext) -> tuple[Finding, ...]:
    """All findings for ``observations``, most severe first."""
    checks = load_checks()
    findings: list[Finding] = []
    for obs in observations:
        for check in checks:
            if check.fn is not None:
                findings.extend(_run(check, obs, _lazy(check.fn, ctx, obs)))
    groups: dict[tuple[str, int, object], list[Observation]] = defaultdict(list)
    for obs in observations:
        if obs.endpoint.ip is not None:
            groups[obs.endpoint.group_key].append(obs)
    for members in groups.values():
        for check in checks:
            if check.group_fn is not None:
                findings.extend(_run(check, members[0], _lazy_group(check, ctx, members)))
    findings.sort(key=lambda f: (-f.severity, f.endpoint.label, f.id, f.detail))
    return tuple(findings)


def _lazy(fn: object, ctx: CheckContext, obs: Observation) -> Iterable[Hit]:
    # Materialise inside _run's try-block so an exception in a generator is caught there.
    assert callable(fn)
    result: Iterable[Hit] = fn(ctx, obs)
    yield from result


def _lazy_group(check: Check, ctx: CheckContext, members: Sequence[Observation]) -> Iterable[Hit]:
    assert check.group_fn is not None
    yield from check.group_fn(ctx, members)
