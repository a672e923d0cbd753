"""One rule for tests that need an external program (openssl, java, testssl.sh, curl...):
missing, it fails the test when ``VEDETTE_REQUIRE_REAL_SERVERS`` is set (CI sets it) and skips
it, with the reason, elsewhere. Never a silent skip in CI."""

from __future__ import annotations

import os
import shutil

import pytest


def required_in_ci() -> bool:
    return os.environ.get("VEDETTE_REQUIRE_REAL_SERVERS", "") not in ("", "0")


def unavailable(reason: str) -> None:
    """Fail in CI, skip elsewhere."""
    if required_in_ci():
        pytest.fail(f"{reason} (./scripts/install-deps installs it)", pytrace=False)
    pytest.skip(reason)


def require_program(name: str) -> str:
    """The path of ``name`` on PATH, or fail/skip per the rule above."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed")
    assert path is not None
    return path
