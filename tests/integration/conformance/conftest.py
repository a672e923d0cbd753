"""Prints the conformance table at the end of the run (whether or not pytest captures output)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.integration.conformance.table import RESULTS, load_accepted, render

if TYPE_CHECKING:
    import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS.rows:
        return
    terminalreporter.section("client conformance: real clients vs vedette's verdicts")
    try:
        accepted = load_accepted()
    except (OSError, ValueError) as exc:
        terminalreporter.write_line(f"(accepted.toml unreadable: {exc})")
        accepted = {}
    verbose = terminalreporter.config.get_verbosity() > 0
    for line in render(RESULTS, accepted, every_row=verbose):
        terminalreporter.write_line(line)
