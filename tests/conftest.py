"""Suite-wide test configuration.

Tests in ``tests/integration/test_real_*.py`` run against real Dovecot, Postfix and dnsmasq
instances (see ``tests/integration/realservers.py``); they carry the ``realserver`` marker so
``pytest -m "not realserver"`` runs everything else on a machine without those packages.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def private_default_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every vedette run of the session, in this process or a child, whose store is the
    default one gets a private ``$XDG_DATA_HOME``: never the user's own database, nor another
    session's (a shared one once held a scan written by a newer branch and broke a test)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data-home")))
    patch.delenv("VEDETTE_DB", raising=False)
    yield
    patch.undo()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name.startswith("test_real_") and item.path.parent.name == "integration":
            item.add_marker(pytest.mark.realserver)
