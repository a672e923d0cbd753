"""The one way the integration tests run vedette as a user does: ``python -m vedette ARGS``.

Every run gets a bounded time (a hang fails the test with ``TimeoutExpired``), no terminal on
standard input unless ``stdin`` text is given (nothing can wait on the keyboard), an
environment without the user's ``VEDETTE_DB`` (a test never touches the user's own store), and
the check that a traceback never reaches the user.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["run_vedette", "vedette_argv", "vedette_env"]


def vedette_argv(*args: str | Path) -> list[str]:
    """The command line of ``python -m vedette ARGS`` with this interpreter."""
    return [sys.executable, "-m", "vedette", *map(str, args)]


def vedette_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment less ``VEDETTE_DB``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "VEDETTE_DB"}
    env.update(extra or {})
    return env


def run_vedette(
    *args: str | Path,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
    allow_traceback: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run vedette in a subprocess and return what it printed and its exit status.

    ``env`` is added to the environment; ``timeout`` is a hang detector, not a speed goal.
    """
    proc = subprocess.run(
        vedette_argv(*args),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=vedette_env(env),
        cwd=cwd,
    )
    if not allow_traceback:
        assert "Traceback" not in proc.stderr, proc.stderr
    return proc
