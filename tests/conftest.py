"""Suite-wide test configuration.

Tests in ``tests/integration/test_real_*.py`` run against real Dovecot, Postfix and dnsmasq
instances (see ``tests/integration/realservers.py``); they carry the ``realserver`` marker so
``pytest -m "not realserver"`` runs everything else on a machine without those packages.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name.startswith("test_real_") and item.path.parent.name == "integration":
            item.add_marker(pytest.mark.realserver)
