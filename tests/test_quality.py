"""The code standards are part of the suite: lint, formatting and strict typing.

Run from the virtualenv's own binaries (next to ``sys.executable``), over the same paths and
with the same configuration (pyproject.toml) a developer uses, so "the tests pass" also means
"ruff and mypy --strict are clean".
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    tool = BIN / argv[0]
    if not tool.exists():
        pytest.fail(f"{tool} is missing: install the test extras (pip install -e '.[test]')")
    return subprocess.run(
        [str(tool), *argv[1:]],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"$ {' '.join(result.args)}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_ruff_check() -> None:
    result = _run("ruff", "check", "--no-cache", "src", "tests")
    assert result.returncode == 0, _explain(result)


def test_ruff_format() -> None:
    result = _run("ruff", "format", "--no-cache", "--check", "src", "tests")
    assert result.returncode == 0, _explain(result)


@pytest.mark.timeout(300)
def test_mypy_strict() -> None:
    # No arguments: pyproject's [tool.mypy] (strict, strict_bytes, files = ["src"]) decides.
    result = _run("mypy")
    assert result.returncode == 0, _explain(result)


def test_the_licence_file_is_the_licence_pyproject_declares() -> None:
    import tomllib
    from importlib import metadata

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text
    # The installed distribution says the same (what pip show and PyPI display).
    assert metadata.metadata("vedette")["License-Expression"] == declared
