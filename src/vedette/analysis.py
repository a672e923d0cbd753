"""Analysis: observations and a check context in, findings and client matrices out.

The one place where a scan's observations become a :class:`~vedette.model.ScanReport`:
``vedette scan``, ``report``, ``demo``, the diff, the streamed stored reports and the fleet
runners all build their :class:`~vedette.checks.CheckContext` with :func:`context` and their
report with :func:`make_report`. Library code (``report/``, ``scale/``) uses it without
reaching up into ``commands/``. Pure apart from reading the packaged trust data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from vedette.errors import StoreError
from vedette.model import Observation, ScanReport

if TYPE_CHECKING:
    # Imported where used: a command's parser and a fleet scan (which analyses later, from
    # the store) need neither the checks nor the trust data.
    from vedette.checks import CheckContext
    from vedette.trust.simulate import ClientOptions

__all__ = ["context", "make_report", "stored_certificates"]


def context(
    now: datetime,
    extra_roots: tuple[bytes, ...],
    clients: ClientOptions | None = None,
    intermediates: tuple[bytes, ...] = (),
) -> CheckContext:
    from vedette import trust
    from vedette.checks import CheckContext

    # One date for the whole analysis: --as-of, when given, is the date certificate dates
    # are judged at too, not only the client matrix's.
    if clients is not None and clients.as_of is not None:
        now = clients.as_of
    return CheckContext(
        now=now,
        trust_roots_der=trust.mozilla_roots_der() + extra_roots,
        extra_roots_der=extra_roots,
        intermediates_der=intermediates,
        clients=clients,
    )


def stored_certificates(options: Mapping[str, Any], key: str) -> tuple[bytes, ...]:
    """DER certificates stored with a scan as hex (``ca_roots_der_hex``,
    ``intermediates_der_hex``); an entry that is not hex is a damaged store, said plainly."""
    try:
        return tuple(bytes.fromhex(h) for h in options.get(key) or [])
    except (TypeError, ValueError):
        raise StoreError(f"the stored scan options have a damaged {key!r}") from None


def make_report(
    *,
    scan_id: int | None,
    targets: Sequence[str],
    started: datetime,
    finished: datetime,
    observations: Sequence[Observation],
    ctx: CheckContext,
) -> ScanReport:
    from vedette.checks import analyse
    from vedette.checks.matrix import report_matrices

    return ScanReport(
        scan_id=scan_id,
        targets=tuple(targets),
        started_at=started,
        finished_at=finished,
        analysed_at=ctx.now,
        observations=tuple(observations),
        findings=analyse(observations, ctx),
        clients=report_matrices(observations, ctx),
    )
