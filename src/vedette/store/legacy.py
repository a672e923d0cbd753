"""The options a fleet scan stored before schema version 4, turned into a ``ScanPlan`` once.

Up to schema version 3, a fleet scan stored its probe settings in ``scans.options_json`` as
the command-line strings (``"ports": "993,995"``, ``"resolve": ["mx.example:25:192.0.2.7"]``),
and ``--resume`` ran the argument parser again over them. Migration 3 -> 4 converts the options
of every unfinished fleet scan with :func:`plan_from_v3_options`, so those scans resume from a
stored plan like any other; nothing reads these options afterwards.

A value missing from the record (a scan stored before its option existed) takes the default
the command line has, as the old resume did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vedette.errors import StoreError, UsageError
from vedette.model import Service
from vedette.plan import (
    DEFAULT_EHLO,
    PlanLimits,
    Resolution,
    ScanMode,
    ScanPlan,
    TargetSource,
)
from vedette.resolve import parse_resolver
from vedette.targets import parse_address, parse_ports, parse_resolve

__all__ = ["plan_from_v3_options"]

_DEFAULT_LIMITS = PlanLimits()


def _get(options: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise StoreError(f"stored option {key!r} has the wrong type ({type(value).__name__})")
    return value


def _strings(options: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = _get(options, key, list) or []
    if not all(isinstance(v, str) for v in value):
        raise StoreError(f"stored option {key!r} is not a list of strings")
    return tuple(value)


def _number(options: Mapping[str, Any], key: str, default: float) -> float:
    value = _get(options, key, (int, float))
    return default if value is None else float(value)


def _count(options: Mapping[str, Any], key: str, default: int) -> int:
    value = _get(options, key, int)
    return default if value is None else int(value)


def _hex_list(options: Mapping[str, Any], key: str) -> tuple[bytes, ...]:
    try:
        return tuple(bytes.fromhex(h) for h in _strings(options, key))
    except ValueError:
        raise StoreError(f"stored option {key!r} is not hex") from None


def plan_from_v3_options(
    options: Mapping[str, Any], *, mode: str, targets: Sequence[str]
) -> ScanPlan:
    """The plan of a fleet scan stored by schema version 3 (its ``options_json``, ``mode`` and
    ``targets_json``). ``StoreError`` (one line) when the options cannot be understood."""
    try:
        return _plan(options, mode, targets)
    except UsageError as err:  # the command-line parsers' verdict on a stored string
        raise StoreError(f"stored option: {err}") from None


def _plan(options: Mapping[str, Any], mode: str, shown: Sequence[str]) -> ScanPlan:
    try:
        scan_mode = ScanMode(mode)
    except ValueError:
        raise StoreError(f"stored mode {mode!r} is neither quick nor full") from None
    ports = _get(options, "ports", str)
    service = _get(options, "service", str)
    resolver = _get(options, "resolver", str)
    seed = _get(options, "seed", str)
    clients = _get(options, "clients", dict) or {}
    try:
        service_value = None if service is None else Service(service)
        seed_bytes = None if seed is None else bytes.fromhex(seed)
    except ValueError:
        raise StoreError("stored option 'service' or 'seed' is not valid") from None
    files = [t.removeprefix("--targets ") for t in shown if t.startswith("--targets ")]
    limits = PlanLimits(
        connect_timeout=_number(options, "connect_timeout", _DEFAULT_LIMITS.connect_timeout),
        read_timeout=_number(options, "read_timeout", _DEFAULT_LIMITS.read_timeout),
        endpoint_timeout=_number(options, "endpoint_timeout", _DEFAULT_LIMITS.endpoint_timeout),
        concurrency=_count(options, "concurrency", _DEFAULT_LIMITS.concurrency),
        per_host=_count(options, "per_host", _DEFAULT_LIMITS.per_host),
        rate=None if _get(options, "rate", (int, float)) is None else float(options["rate"]),
    )
    return ScanPlan(
        source=TargetSource(
            targets=tuple(t for t in shown if not t.startswith("--targets ")),
            file=files[0] if files else None,
        ),
        mode=scan_mode,
        limits=limits,
        resolution=Resolution(
            ports=parse_ports(ports) if ports else None,
            service=service_value,
            pinned=tuple(parse_address(a, "--ip") for a in _strings(options, "ip")),
            pins=tuple(parse_resolve(p) for p in _strings(options, "resolve")),
            resolver=parse_resolver(resolver) if resolver else None,
            ehlo_name=_get(options, "ehlo", str) or DEFAULT_EHLO,
            exclusions=_strings(options, "exclude"),
        ),
        clients=clients,
        extra_roots=_hex_list(options, "ca_roots_der_hex"),
        deep=frozenset(_strings(options, "deep")),
        seed=seed_bytes,
    )
