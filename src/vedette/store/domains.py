"""Mail-domain checks in the store: what each check observed, one row a domain.

``vedette domain check --db`` records, per domain, the observation document of
:mod:`vedette.domain` (the DNS answers its rules read, the policies it fetched); the MX scans
of the same check are ordinary rows of ``observations`` in the same scan. Findings are not
stored: they are recomputed from these observations (``vedette report``), so a newer vedette
judges an old check by its newer rules.

A domain appears once in a scan (a unique constraint): a resumed fleet check that records a
domain again keeps the first record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from vedette.errors import StoreError
from vedette.store._base import (
    StoreBase,
    column_text,
    insert_ignoring_conflicts,
    json_object,
    mapped,
)
from vedette.store.schema import domain_checks as _domains

__all__ = ["DomainStore", "StoredDomainCheck"]

#: Largest observation document one domain may store (a check of a domain with 20 DKIM
#: selectors, a 30-include SPF tree and 10 MX stays far below a megabyte).
MAX_DOCUMENT = 8 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredDomainCheck:
    """One domain's stored check: ``status`` is ``ok`` or ``error``."""

    seq: int
    domain: str
    status: str
    observation: Mapping[str, Any]


class DomainStore(StoreBase):
    """The ``domain_checks`` rows of a scan."""

    def add_domain_checks(
        self, scan_id: int, checks: Sequence[tuple[str, str, Mapping[str, Any]]]
    ) -> int:
        """Store ``(domain, status, observation)`` for each check, in one transaction, after
        the scan's last stored one; a domain already stored in this scan is skipped. Returns
        how many rows were added."""
        if not checks:
            return 0
        rows = []
        for domain, status, observation in checks:
            try:
                text = json.dumps(dict(observation), ensure_ascii=True, sort_keys=True)
            except (TypeError, ValueError) as err:
                raise StoreError(f"domain check of {domain!r} cannot be stored: {err}") from err
            if len(text) > MAX_DOCUMENT:
                raise StoreError(
                    f"domain check of {domain!r} is larger than {MAX_DOCUMENT >> 20} MiB"
                )
            rows.append({"domain": column_text(domain) or "", "status": status, "text": text})
        with mapped(f"cannot store domain checks in {self._url}"), self._writer.begin() as conn:
            if self._scan_row(conn, scan_id).finished_at is not None:
                raise StoreError(f"scan {scan_id} is finished; it takes no more domain checks")
            last = conn.execute(
                sa.select(sa.func.max(_domains.c.seq)).where(_domains.c.scan_id == scan_id)
            ).scalar_one()
            start = 0 if last is None else int(last) + 1
            before = self._count(conn, scan_id)
            conn.execute(
                insert_ignoring_conflicts(conn, _domains),
                [
                    {
                        "scan_id": scan_id,
                        "seq": start + i,
                        "domain": row["domain"],
                        "status": row["status"],
                        "observation_json": row["text"],
                    }
                    for i, row in enumerate(rows)
                ],
            )
            return self._count(conn, scan_id) - before

    def iter_domain_checks(self, scan_id: int, *, batch: int = 200) -> Iterator[StoredDomainCheck]:
        """The scan's domain checks in the order they were stored, ``batch`` rows a query."""
        after = -1
        while True:
            with (
                mapped(f"cannot read scan {scan_id} from {self._url}"),
                self._engine.begin() as conn,
            ):
                self._scan_row(conn, scan_id)
                page = conn.execute(
                    sa.select(
                        _domains.c.seq,
                        _domains.c.domain,
                        _domains.c.status,
                        _domains.c.observation_json,
                    )
                    .where(_domains.c.scan_id == scan_id, _domains.c.seq > after)
                    .order_by(_domains.c.seq)
                    .limit(batch)
                ).all()
            for seq, domain, status, text in page:
                value = json_object(text, f"scan {scan_id}, domain check {seq} ({domain})")
                yield StoredDomainCheck(
                    seq=int(seq),
                    domain=str(domain),
                    status=str(status),
                    observation=MappingProxyType(value),
                )
            if len(page) < batch:
                return
            after = int(page[-1][0])

    def domain_check_count(self, scan_id: int) -> int:
        with mapped(f"cannot read scan {scan_id} from {self._url}"), self._engine.begin() as conn:
            self._scan_row(conn, scan_id)
            return self._count(conn, scan_id)

    @staticmethod
    def _count(conn: sa.Connection, scan_id: int) -> int:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(_domains)
                .where(_domains.c.scan_id == scan_id)
            ).scalar_one()
        )
