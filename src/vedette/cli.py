"""The command line: ``vedette scan | report | checks | demo``.

Each command is a module of ``vedette.commands`` (``NAME``, ``add_arguments``, ``run``),
listed with its one-line help in ``COMMANDS``; adding a command means adding a module and a
line here. ``vedette COMMAND ...`` imports that command's module only (start-up time: ``cert``
and ``ca`` pull in the PKI code, ``scan`` the probes); ``vedette --help``, ``--version`` and
usage errors before a command name import none of them.

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
from typing import NoReturn

from vedette import __version__
from vedette.errors import VedetteError
from vedette.report.escape import safe_text

#: Command name -> (its module, whose ``NAME`` is that name; its one-line help), in the order
#: ``--help`` lists them. The help lives here so that ``vedette --help`` and ``--version``
#: import no command module at all.
COMMANDS: dict[str, tuple[str, str]] = {
    "scan": (
        "vedette.commands.scan",
        "probe the mail services of hosts and report what is wrong",
    ),
    "domain": (
        "vedette.commands.domain",
        "check mail domains: MX, MTA-STS, DANE, SPF, DKIM, DMARC, tied to the MX certificates",
    ),
    "report": ("vedette.commands.report", "analyse a stored scan again, without the network"),
    "checks": ("vedette.commands.checks", "list every check vedette runs"),
    "demo": ("vedette.commands.demo", "start the built-in lab servers and scan them"),
    "key": ("vedette.commands.key", "make private keys (RSA, ECDSA, Ed25519), written 0600"),
    "cert": (
        "vedette.commands.cert",
        "inspect, request, convert, bundle and lint certificates (any format, or a server's)",
    ),
    "ca": (
        "vedette.commands.ca",
        "run a small internal CA: init, sign requests, revoke, publish CRLs",
    ),
    "smime": (
        "vedette.commands.smime",
        "sign, verify, encrypt and decrypt S/MIME messages (trust: the issuing CAs you give)",
    ),
    "eml": (
        "vedette.commands.eml",
        "judge a received message: every DKIM signature, ARC, SPF, DMARC, vs the receiver's",
    ),
    "store": (
        "vedette.commands.store",
        "check exports of Windows certificate stores (Root, CA, My) and print the fixes",
    ),
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


def build_parser(
    only: str | None = None, *, light: bool = False
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser of every command, or of command ``only`` alone (its module alone imported).

    ``light``: the commands are listed with their help but their modules are not imported
    and their arguments not declared (``vedette --help``, ``--version``, a usage error before
    any command name).
    """
    parser = _Parser(
        prog="vedette",
        description="A lookout for mail servers: TLS, certificates, plaintext logins, and fixes.",
    )
    parser.add_argument("--version", action="version", version=f"vedette {__version__}")
    parser.add_argument(
        "--print-completion",
        choices=COMPLETION_SHELLS,
        metavar="SHELL",
        help="print the shell completion script for SHELL (bash, zsh, tcsh) and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    subparsers: dict[str, argparse.ArgumentParser] = {}
    for name in [only] if only is not None else list(COMMANDS):
        module_name, help_text = COMMANDS[name]
        p = sub.add_parser(name, help=help_text, description=help_text)
        if not light:
            mod = importlib.import_module(module_name)
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


#: Shells ``--print-completion`` writes a script for.
COMPLETION_SHELLS = ("bash", "zsh", "tcsh")


def _print_completion(rest: Sequence[str]) -> int:
    """``vedette --print-completion SHELL``: the completion script of every command, generated
    from the same parsers the commands use (so it never lists an option that does not exist)."""
    if len(rest) != 1 or rest[0] not in COMPLETION_SHELLS:
        shells = ", ".join(COMPLETION_SHELLS)
        sys.stderr.write(f"vedette: error: --print-completion takes one shell: {shells}\n")
        return 2
    import shtab

    parser, _ = build_parser()
    sys.stdout.write(shtab.complete(parser, shell=rest[0]))
    return 0


def _main(argv: Sequence[str]) -> int:
    args_list = list(argv)
    if args_list[:1] == ["--print-completion"]:
        return _print_completion(args_list[1:])
    command = args_list[0] if args_list and args_list[0] in COMMANDS else None
    # No command name first: --help, --version or a usage error, none of which needs a
    # command's module (the parse below exits before ``run`` is read).
    parser, subparsers = build_parser(command, light=command is None)
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
