"""Spooling targets into the store: parsed, expanded, excluded, deduplicated and permuted.

The input may be millions of lines (or a /8 sweep). Nothing here holds it: lines are parsed
and expanded lazily and go to ``Store.spool_targets`` in batches, where the unique constraint
on ``(scan_id, target, pin)`` drops repeats and the index on ``order_key`` is the permutation.
Each target is stored in canonical form, so ``IMAPS://Mail.Example.org`` and
``imaps://mail.example.org:993`` are one target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from vedette.errors import UsageError
from vedette.scale.targets import TargetLine, expand_line, order_key
from vedette.scan import RunSettings
from vedette.targets import TargetSpec, plan_ports

if TYPE_CHECKING:
    from vedette.store.db import Store

__all__ = ["canonical", "spool"]

#: ``(target, pin, order_key)``: one row of a scan's target list.
Row = tuple[str, str, int]


def canonical(spec: TargetSpec) -> str:
    """One spelling per target: ``scheme://host:port``, ``host:port`` or ``host``."""
    host = f"[{spec.host}]" if ":" in spec.host else spec.host
    if spec.service is not None:
        if spec.port is None and spec.service.srv and not spec.is_ip:
            # A domain whose servers SRV records give (XMPP): no port, or none is looked up.
            return f"{spec.service.value}://{host}"
        return f"{spec.service.value}://{host}:{spec.port or spec.service.default_port}"
    if spec.port is not None:
        return f"{host}:{spec.port}"
    return spec.host


def spooled_rows(
    lines: Iterable[TargetLine],
    *,
    seed: bytes,
    settings: RunSettings,
    max_cidr: int,
    allow_reserved: bool,
) -> Iterator[Row]:
    """``(target, pin, order_key)`` for every target of ``lines`` not excluded."""
    options = settings.options
    exclusions = settings.exclusions
    for line in lines:
        for spec, pin in expand_line(line, max_cidr=max_cidr, allow_reserved=allow_reserved):
            # A port without a known service is a usage error now, not a failure per endpoint.
            try:
                plan_ports(spec, ports=options.ports, service=options.service)
            except UsageError as err:
                raise UsageError(f"{line.where}: {err}") from None
            if spec.is_ip and exclusions.address_excluded(spec.host):
                continue
            if not spec.is_ip and exclusions.name_excluded(spec.host):
                continue
            if pin and exclusions.address_excluded(pin):
                continue
            yield canonical(spec), pin, order_key(seed, spec, pin)


def spool(
    store: Store,
    scan_id: int,
    lines: Iterable[TargetLine],
    *,
    seed: bytes,
    settings: RunSettings,
    max_cidr: int,
    allow_reserved: bool,
    batch: int = 5000,
    guard: Callable[[Iterable[Row]], Iterator[Row]] | None = None,
) -> int:
    """Spool ``lines`` into scan ``scan_id``; the number of distinct targets stored.
    ``guard`` wraps the rows on their way to the store (the CLI's Ctrl-C handling)."""
    rows: Iterable[Row] = spooled_rows(
        lines, seed=seed, settings=settings, max_cidr=max_cidr, allow_reserved=allow_reserved
    )
    if guard is not None:
        rows = guard(rows)
    return store.spool_targets(scan_id, rows, batch=batch)
