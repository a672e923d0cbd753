"""The command line: ``vedette scan | report | checks | demo``.

Each command is a module of ``vedette.commands`` (``NAME``, ``HELP``, ``add_arguments``,
``run``), listed in ``COMMAND_MODULES``; adding a command means adding a module and a line here.
``vedette COMMAND ...`` imports that command's module only (start-up time: ``cert`` and ``ca``
pull in the PKI code, ``scan`` the probes); ``vedette --help`` and usage errors before a
command name import them all, to list them.

Exit status (every command): 0 when no finding reaches ``--fail-on`` (default ``high``), 1 when
one does, 2 on a usage error or when no endpoint could be scanned at all. A scan of a fleet
source (``--targets``, a CIDR, ``--resume``) has no default threshold: it exits 1 only when
``--fail-on`` is given (``vedette.plan``). Errors are one line on stderr; a traceback is a bug.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import NoReturn

from vedette import __version__
from vedette.errors import VedetteError
from vedette.report.escape import safe_text

#: Command name -> its module (whose ``NAME`` is that name), in the order ``--help`` lists them.
COMMAND_MODULES: dict[str, str] = {
    "scan": "vedette.commands.scan",
    "report": "vedette.commands.report",
    "checks": "vedette.commands.checks",
    "demo": "vedette.commands.demo",
    "key": "vedette.commands.key",
    "cert": "vedette.commands.cert",
    "ca": "vedette.commands.ca",
}


#: While a command runs, the cyclic garbage collector's youngest generation is collected every
#: this many allocations instead of Python's 700: importing the store, the checks and the PKI
#: code and probing thousands of endpoints allocate millions of objects, nearly all freed by
#: reference counting, and with the default each older-generation pass walks the whole,
#: mostly long-lived heap again (a tenth of a fleet scan's CPU time, measured).
GC_THRESHOLD0 = 20_000


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's youngest-generation threshold for the block; restore it after."""
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], GC_THRESHOLD0), old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)


#: Longest error line written (characters, before the ``vedette: error:`` prefix): an argument,
#: a file name or a server string inside a message cannot flood the terminal.
ERROR_LINE_MAX = 1000


def error_line(message: str) -> str:
    """``message`` as one safe terminal line: every control or invisible character shown as a
    visible escape (a message that quotes a hostile name cannot retitle or clear the terminal,
    nor add lines), cut to :data:`ERROR_LINE_MAX` characters with the full length said."""
    text = safe_text(message)
    if len(text) > ERROR_LINE_MAX:
        text = f"{text[:ERROR_LINE_MAX]}... (error message cut, {len(text)} characters)"
    return text


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"vedette: error: {error_line(message)} (see: {self.prog} --help)\n")
        raise SystemExit(2)


def _commands(only: str | None = None) -> dict[str, ModuleType]:
    names = [only] if only is not None else list(COMMAND_MODULES)
    return {name: importlib.import_module(COMMAND_MODULES[name]) for name in names}


def build_parser(
    only: str | None = None,
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser of every command, or of command ``only`` alone (its module alone imported)."""
    parser = _Parser(
        prog="vedette",
        description="A lookout for mail servers: TLS, certificates, plaintext logins, and fixes.",
    )
    parser.add_argument("--version", action="version", version=f"vedette {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    subparsers: dict[str, argparse.ArgumentParser] = {}
    for name, mod in _commands(only).items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(run=mod.run)
        subparsers[name] = p
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. ``argv=None`` (the console script, ``python -m vedette``) means this
    process's arguments, and that the process exits when this returns."""
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    finally:
        if argv is None:
            # Exiting next: move every object to the collector's permanent generation, so the
            # interpreter's shutdown collections do not walk the whole heap once more (they
            # took 0.06 s after a 1,000-endpoint sweep; the memory goes back to the OS anyway).
            gc.freeze()


def _main(argv: Sequence[str]) -> int:
    args_list = list(argv)
    command = args_list[0] if args_list and args_list[0] in COMMAND_MODULES else None
    parser, subparsers = build_parser(command)
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
    # cryptography's notices about a certificate's own defects stay off the terminal (vedette
    # reports those defects itself); imported here, after parsing, so --help stays light.
    from vedette.x509.legacy_algorithms import silence_input_warnings

    silence_input_warnings()
    try:
        with fewer_collections():
            return run(args)
    except VedetteError as exc:
        sys.stderr.write(f"vedette: error: {error_line(str(exc))}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("vedette: interrupted\n")
        return 130
