"""Plain values exchanged between the fleet runner and the store.

They live apart from ``store.db`` so that modules which only build or read them (the fleet
runner, the CLI's parser) do not import SQLAlchemy at start-up: ``vedette --help`` and every
non-store command stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from vedette.model import Observation
from vedette.plan import ScanMode


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingTarget:
    """A spooled target whose results are not stored yet."""

    target_id: int
    target: str
    pin: str
    order_key: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetResult:
    """What probing one spooled target gave, written with ``record_results``.

    Attributes:
        observations: one per endpoint the target expanded to (after exclusions; may be
            empty when every address was excluded).
        ptr: reverse name of a bare-IP target, ``None`` when not looked up or absent.
        depth: the mode of the pass; a ``--deep`` re-scan stores its full pass beside the
            quick one.
        excluded: endpoints (or the whole target, by its name) left out by the exclusion
            list after resolution; counted, not stored.
    """

    target_id: int
    observations: tuple[Observation, ...]
    ptr: str | None = None
    depth: ScanMode = ScanMode.QUICK
    excluded: int = 0
