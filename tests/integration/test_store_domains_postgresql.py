"""Mail-domain checks in a real PostgreSQL store: the same behaviour as SQLite's."""

from __future__ import annotations

from datetime import UTC, datetime

from vedette.store.db import MIGRATIONS, Store

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_domain_checks_on_postgresql(postgresql) -> None:  # type: ignore[no-untyped-def]
    url = postgresql.database()
    with Store.open(url, migrations=MIGRATIONS[:4]) as store:
        old = store.begin_scan(["example.com"], {}, T0)
    with Store.open(url) as store:
        assert store.schema_version() == len(MIGRATIONS) == 5
        first = [("example.com", "ok", {"dns": ["\x00 nul", "\u2028"]})]
        assert store.add_domain_checks(old, first) == 1
        again = [("example.com", "error", {}), ("example.net", "ok", {"n": 2})]
        assert store.add_domain_checks(old, again) == 1
        got = [(c.domain, c.status, dict(c.observation)) for c in store.iter_domain_checks(old)]
        assert got == [
            ("example.com", "ok", {"dns": ["\x00 nul", "\u2028"]}),
            ("example.net", "ok", {"n": 2}),
        ]
        store.delete_scan(old)
