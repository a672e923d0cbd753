"""What every command shares: argument types, output options, the analyse-store-report path.

A command is a module of ``vedette.commands`` with ``NAME``, ``add_arguments(parser)`` and
``run(args) -> int``, listed with its one-line help in ``vedette.cli.COMMANDS``. Keep
command-specific code in the command's module; put here only what two commands or more use.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from vedette.errors import StoreError
from vedette.model import Observation, ScanReport, Severity
from vedette.probe.limits import Limits
from vedette.targets import quoted

if TYPE_CHECKING:
    # Imported where used: building a command's parser (and a fleet scan, which analyses
    # later from the store) needs neither rich nor the checks, nor the trust data.
    from rich.console import Console


DEFAULT_LIMITS = Limits()


def bounded(text: str, high: int, unit: str = "") -> float:
    """An argument that is a number above 0 and at most ``high`` (``unit`` names it in the
    error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {quoted(text)}") from None
    if not 0 < value <= high:
        raise argparse.ArgumentTypeError(f"must be between 0 and {high}{unit}: {quoted(text)}")
    return value


def positive(text: str) -> float:
    """A duration argument: seconds, above 0 and at most an hour."""
    return bounded(text, 3600, " seconds")


def count(text: str) -> int:
    # ASCII digits only, and few: int() takes other scripts' digits and refuses 5,000 of them.
    if not (text.isascii() and text.isdigit() and len(text) <= 5) or not 0 < int(text) <= 10000:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 10000: {quoted(text)}")
    return int(text)


def severity(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_format_options(p: argparse.ArgumentParser) -> None:
    """``--format`` and ``-o FILE``, the same on ``report`` and ``scan``."""
    from vedette.plan import FORMATS

    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="text (default), json (as --json), or csv, jsonl, html, summary (aggregates) "
        "streamed from the store",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the report to FILE instead of standard output (any format; written "
        "atomically, replacing FILE)",
    )


def report_format(args: argparse.Namespace) -> str:
    """The format asked for: ``--format``, else ``json`` for ``--json``, else ``text``."""
    return str(args.format or ("json" if args.json else "text"))


def add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the versioned JSON document")
    p.add_argument("-v", "--verbose", action="store_true", help="show full capabilities, chains")
    p.add_argument(
        "--fail-on",
        type=severity,
        default=None,
        metavar="SEVERITY",
        help="exit 1 when a finding reaches this severity (info|low|medium|high|critical; "
        "default high; for --targets, a CIDR or --resume only when given)",
    )
    p.add_argument(
        "--db",
        metavar="URL",
        help="result store (default: $VEDETTE_DB or sqlite:///~/.local/share/vedette/vedette.db)",
    )


def console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def file_console(out: TextIO) -> Console:
    """A console writing plain text (no colour, no terminal codes) to a report file."""
    from rich.console import Console

    return Console(file=out, highlight=False, soft_wrap=False, no_color=True, color_system=None)


def err(message: str) -> None:
    sys.stderr.write(f"vedette: {message}\n")


def emit(report: ScanReport, args: argparse.Namespace) -> int:
    """Write ``report`` as text or JSON, to standard output or ``-o FILE`` (atomically); the
    exit status (:func:`exit_status`)."""
    from vedette.report.output import report_output

    with report_output(getattr(args, "output", None)) as out:
        if args.json or getattr(args, "format", None) == "json":
            from vedette.report.json import report_to_json

            out.write(json.dumps(report_to_json(report), indent=2) + "\n")
        else:
            from vedette.report.terminal import render_terminal

            render_terminal(report, console() if out is sys.stdout else file_console(out),
                            verbose=args.verbose)  # fmt: skip
    return exit_status(report, args.fail_on)


def exit_status(report: ScanReport, fail_on: Severity | None) -> int:
    """2 when no endpoint could be scanned (said on standard error), 1 when a finding reaches
    ``fail_on`` (default high), else 0."""
    if not any(o.scanned for o in report.observations):
        err("no endpoint could be scanned")
        return 2
    threshold = Severity.HIGH if fail_on is None else fail_on
    return 1 if any(f.severity >= threshold for f in report.findings) else 0


def db_url(args: argparse.Namespace) -> str:
    from vedette.store.db import default_db_url

    return str(args.db) if args.db else default_db_url()


def store_scan(
    args: argparse.Namespace,
    targets: Sequence[str],
    options: dict[str, Any],
    started: datetime,
    finished: datetime,
    observations: Sequence[Observation],
) -> int | None:
    """Record the scan; a store failure is reported but never loses the printed results."""
    if args.no_store:
        return None
    from vedette.store.db import Store

    try:
        with Store.open(db_url(args)) as store:
            scan_id = store.begin_scan(targets, options, started)
            store.add_observations(scan_id, observations)
            store.finish_scan(scan_id, finished)
            return scan_id
    except StoreError as exc:
        err(f"warning: scan not stored: {exc}")
        return None
