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

from vedette.cli import COMMANDS, build_parser

HEAVY = ("sqlalchemy", "rich", "cryptography", "dns")


def _loaded_after(argv: list[str], watch: tuple[str, ...] = HEAVY) -> tuple[int, set[str], str]:
    """Run ``vedette argv`` in a fresh interpreter; its exit status, the packages of ``watch``
    it loaded (top-level names, or dotted prefixes), stdout."""
    code = (
        "import json, sys\n"
        "from vedette.cli import main\n"
        "try:\n"
        f"    status = main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    status = exc.code\n"
        "watch = %r\n"
        "heavy = sorted({w for w in watch for m in sys.modules\n"
        "                if m == w or m.startswith(w + '.')})\n"
        "sys.stderr.write(json.dumps([status, heavy]) + '\\n')\n" % (watch,)
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    status, heavy = json.loads(proc.stderr.strip().splitlines()[-1])
    return status, set(heavy), proc.stdout


def test_every_command_module_has_the_name_it_is_listed_under() -> None:
    for name, (module, _) in COMMANDS.items():
        assert name == importlib.import_module(module).NAME


def test_the_full_parser_still_lists_every_command() -> None:
    _, subparsers = build_parser()
    assert list(subparsers) == list(COMMANDS)
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
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("argv", [["--help"], ["--version"], [], ["no-such-command"]])
def test_help_version_and_usage_errors_import_no_command(argv: list[str]) -> None:
    # What `vedette --help` needs is the command names and their one-line help: no command
    # module, and not even the data model.
    watch = ("vedette.commands", "vedette.model", *HEAVY)
    status, loaded, out = _loaded_after(argv, watch)
    assert loaded == set()
    assert status == (0 if argv in (["--help"], ["--version"]) else 2)
    if argv == ["--help"]:
        for name, (_, help_text) in COMMANDS.items():
            assert name in out and help_text in " ".join(out.split())


def test_a_scan_reads_its_roots_without_the_profiles_certifi_or_http() -> None:
    # Before its first connection a scan reads --ca (the anchors module), never the client
    # profiles, certifi or the --fetch downloader; a target that cannot connect ends there.
    watch = ("vedette.trust._data", "certifi", "http.client", "vedette.store.codec")
    not_a_root = importlib.import_module("vedette.lab").__file__  # the scan stops at --ca
    assert not_a_root is not None
    status, heavy, _ = _loaded_after(["scan", "smtp://127.0.0.1:1", "--ca", not_a_root], watch)
    assert status == 2 and heavy == set()


def test_every_name_the_trust_package_exports_resolves() -> None:
    import vedette.trust as trust

    for name in trust.__all__:
        assert getattr(trust, name) is not None
