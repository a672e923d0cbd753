"""The command line: ``vedette scan | report | checks | demo``.

Each command is a module of ``vedette.commands`` (``NAME``, ``HELP``, ``add_arguments``,
``run``), listed in ``COMMAND_MODULES``; adding a command means adding a module and a line here.

Exit status (every command): 0 when no finding reaches ``--fail-on`` (default ``high``), 1 when
one does, 2 on a usage error or when no endpoint could be scanned at all. Errors are one line on
stderr; a traceback is a bug.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import NoReturn

from vedette._version import __version__
from vedette.errors import VedetteError

COMMAND_MODULES: tuple[str, ...] = (
    "vedette.commands.scan",
    "vedette.commands.report",
    "vedette.commands.checks",
    "vedette.commands.demo",
    "vedette.commands.key",
    "vedette.commands.cert",
    "vedette.commands.ca",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"vedette: error: {message} (see: {self.prog} --help)\n")
        raise SystemExit(2)


def _commands() -> dict[str, ModuleType]:
    modules = (importlib.import_module(m) for m in COMMAND_MODULES)
    return {mod.NAME: mod for mod in modules}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = _Parser(
        prog="vedette",
        description="A lookout for mail servers: TLS, certificates, plaintext logins, and fixes.",
    )
    parser.add_argument("--version", action="version", version=f"vedette {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    subparsers: dict[str, argparse.ArgumentParser] = {}
    for name, mod in _commands().items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(run=mod.run)
        subparsers[name] = p
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> int:
    parser, subparsers = build_parser()
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Options may come between targets (`scan a.example --json b.example`): argparse only
    # supports that through parse_intermixed_args, which refuses subparsers, so parse the
    # command's own arguments with its own parser.
    if args_list and args_list[0] in subparsers:
        own = subparsers[args_list[0]]
        # Commands with sub-commands of their own (`cert inspect`, `ca sign`) cannot be parsed
        # intermixed; their sub-parsers take options anywhere after the sub-command anyway.
        if any(isinstance(a, argparse._SubParsersAction) for a in own._actions):
            args = own.parse_args(args_list[1:])
        else:
            args = own.parse_intermixed_args(args_list[1:])
        args.command = args_list[0]
    else:
        args = parser.parse_args(args_list)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except VedetteError as exc:
        sys.stderr.write(f"vedette: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("vedette: interrupted\n")
        return 130
