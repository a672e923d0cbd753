"""Start-up cost of the command line: what a command imports before it does anything.

``vedette COMMAND`` imports that command's module only, and the parsers of scan, report and
checks need neither the result store (SQLAlchemy), the terminal renderer (rich), certificate
parsing (cryptography) nor DNS (dnspython): those are imported by the code that uses them.
Asserted on the modules loaded, in a fresh interpreter, never on timings.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from vedette.cli import COMMAND_MODULES, build_parser

HEAVY = ("sqlalchemy", "rich", "cryptography", "dns")


def _loaded_after(argv: list[str]) -> tuple[int, set[str], str]:
    """Run ``vedette argv`` in a fresh interpreter; its exit status, heavy packages, stdout."""
    code = (
        "import json, sys\n"
        "from vedette.cli import main\n"
        "try:\n"
        f"    status = main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    status = exc.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & set(%r))\n"
        "sys.stderr.write(json.dumps([status, heavy]) + '\\n')\n" % (HEAVY,)
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    status, heavy = json.loads(proc.stderr.strip().splitlines()[-1])
    return status, set(heavy), proc.stdout


def test_every_command_module_has_the_name_it_is_listed_under() -> None:
    for name, module in COMMAND_MODULES.items():
        assert name == importlib.import_module(module).NAME


def test_the_full_parser_still_lists_every_command() -> None:
    _, subparsers = build_parser()
    assert list(subparsers) == list(COMMAND_MODULES)
    _, only = build_parser("scan")
    assert list(only) == ["scan"]


@pytest.mark.parametrize("command", ["scan", "report", "checks"])
def test_a_command_help_imports_no_heavy_dependency(command: str) -> None:
    status, heavy, out = _loaded_after([command, "--help"])
    assert status == 0
    assert f"usage: vedette {command}" in out
    assert heavy == set()


def test_top_level_help_lists_every_command() -> None:
    status, _, out = _loaded_after(["--help"])
    assert status == 0
    for name in COMMAND_MODULES:
        assert name in out
