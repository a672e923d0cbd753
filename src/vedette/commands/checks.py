"""``vedette checks``: list every check, or print docs/checks.md."""

from __future__ import annotations

import argparse
import sys

from vedette.checks import load_checks

NAME = "checks"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--markdown", action="store_true", help="print docs/checks.md")


def run(args: argparse.Namespace) -> int:
    checks = load_checks()
    if args.markdown:
        from vedette.report.checks_doc import checks_markdown

        sys.stdout.write(checks_markdown(checks))
        return 0
    for c in checks:
        sev = c.severity.label
        if c.relay_severity != c.severity:
            sev += f" (port 25: {c.relay_severity.label})"
        sys.stdout.write(f"{c.id:34} {sev:24} {c.title}\n")
    return 0
