"""Domain checks in the store: recorded as they finish, resumed, judged again from the store.

A ``vedette domain check`` run (unless ``--no-store``) is a scan in the store whose targets are
the domains and whose options say how it ran (:func:`settings_to_stored`). Each domain, once
checked, leaves two things, stored in batches (:class:`Recorder`): the MX scans as ordinary
observations of the scan (an endpoint shared by several domains stored once), and the domain's
observation document (:class:`vedette.domain.check.Observed`) as a ``domain_checks`` row.
Findings are not stored: :func:`rejudge_stored` computes them again from those rows, without a
packet, which is also how ``--resume`` reports the domains a stopped run had already checked.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vedette.domain.check import DomainReport, DomainSettings, Observed, rejudge
from vedette.errors import StoreError
from vedette.model import Observation
from vedette.plan import ScanMode
from vedette.probe.limits import Limits
from vedette.store.db import Store

__all__ = ["KIND", "Recorder", "rejudge_stored", "settings_from_stored", "settings_to_stored"]

#: ``kind`` in the stored options of a domain-check scan.
KIND = "domain-check"


def settings_to_stored(settings: DomainSettings) -> dict[str, Any]:
    """The settings as JSON, stored with the scan (``--resume`` reads them back)."""
    lim = settings.limits
    return {
        "kind": KIND,
        "resolver": list(settings.resolver) if settings.resolver else None,
        "trust_ad": settings.trust_ad,
        "trust_anchors": settings.trust_anchors,
        "dkim_selectors": list(settings.dkim_selectors),
        "sending_ips": list(settings.sending_ips),
        "all_ports": settings.all_ports,
        "dns_timeout": settings.dns_timeout,
        "limits": [lim.connect_timeout, lim.read_timeout, lim.tls_timeout, lim.endpoint_timeout],
        "mode": settings.mode.value,
        "ca_roots_der_hex": [r.hex() for r in settings.extra_roots],
        "ehlo": settings.ehlo_name,
    }


def settings_from_stored(options: Mapping[str, Any]) -> DomainSettings:
    """The inverse of :func:`settings_to_stored`; :class:`StoreError` (one line) when the scan
    is not a domain check or its options are damaged."""
    if options.get("kind") != KIND:
        raise StoreError("that scan is not a domain check (vedette domain check --resume)")
    try:
        resolver = options.get("resolver")
        connect, read, tls, endpoint = (float(x) for x in options["limits"])
        return DomainSettings(
            resolver=(str(resolver[0]), int(resolver[1])) if resolver else None,
            trust_ad=bool(options.get("trust_ad")),
            trust_anchors=options.get("trust_anchors"),
            dkim_selectors=tuple(str(x) for x in options.get("dkim_selectors") or ()),
            sending_ips=tuple(str(x) for x in options.get("sending_ips") or ()),
            all_ports=bool(options.get("all_ports")),
            dns_timeout=float(options["dns_timeout"]),
            limits=Limits(
                connect_timeout=connect,
                read_timeout=read,
                tls_timeout=tls,
                endpoint_timeout=endpoint,
            ),
            mode=ScanMode(options.get("mode", "quick")),
            extra_roots=tuple(bytes.fromhex(h) for h in options.get("ca_roots_der_hex") or ()),
            ehlo_name=str(options.get("ehlo") or "vedette.invalid"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"the stored domain-check options are damaged: {exc}") from None


def _key(o: Observation) -> tuple[str | None, str | None, int, str]:
    ep = o.endpoint
    return ep.host, ep.ip, ep.port, ep.service.value


@dataclass(slots=True)
class Recorder:
    """Stores the domains as they finish (``put``), a batch at a time: every
    :data:`BATCH` domains or :data:`BATCH_SECONDS`, and at ``flush`` (the end of the run). An
    endpoint's observation is stored once a scan. A run stopped between two batches loses only
    the unstored batch: ``--resume`` checks those domains again."""

    store: Store
    scan_id: int
    stored: set[tuple[str | None, str | None, int, str]] = field(default_factory=set)
    _observations: list[Observation] = field(default_factory=list)
    _checks: list[tuple[str, str, Mapping[str, Any]]] = field(default_factory=list)
    _since: float = field(default_factory=time.monotonic)

    def put(self, report: DomainReport) -> None:
        fresh = [o for o in report.scan.observations if _key(o) not in self.stored]
        self.stored.update(_key(o) for o in fresh)
        self._observations.extend(fresh)
        self._checks.append((report.domain, "ok", report.observed.to_json()))
        if len(self._checks) >= BATCH or time.monotonic() - self._since >= BATCH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Store what is pending: the observations first, so that a stored domain check never
        names an MX scan that is not stored."""
        observations, checks = self._observations, self._checks
        self._observations, self._checks = [], []
        self._since = time.monotonic()
        self.store.add_observations(self.scan_id, observations)
        self.store.add_domain_checks(self.scan_id, checks)


#: Domains stored in one transaction, at most; and the longest a finished one waits.
BATCH = 100
BATCH_SECONDS = 2.0


async def rejudge_stored(
    store: Store,
    scan_id: int,
    settings: DomainSettings,
    roots: tuple[bytes, ...],
    *,
    only: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[DomainReport]:
    """Every domain check stored in ``scan_id`` (or those in ``only``), judged again from the
    stored observations (see the module docstring)."""
    observations = store.load_scan(scan_id).observations
    wanted = None if only is None else set(only)
    reports: list[DomainReport] = []
    for row in store.iter_domain_checks(scan_id):
        if row.status != "ok" or (wanted is not None and row.domain not in wanted):
            continue
        try:
            observed = Observed.from_json(row.observation)
        except ValueError as exc:
            raise StoreError(f"scan {scan_id}, domain {row.domain}: {exc}") from None
        reports.append(await rejudge(observed, observations, settings, roots, now=now))
    return reports
