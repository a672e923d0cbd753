"""``vedette demo``: start the built-in lab servers, scan them, check the verdicts."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from rich.console import Console

from vedette import analysis
from vedette.commands import _common as c
from vedette.commands._cert_clients import add_matrix_arguments, options_from_args
from vedette.model import Observation, ScanReport, Severity
from vedette.probe.limits import Limits
from vedette.scan import ScanOptions, scan
from vedette.targets import parse_target

NAME = "demo"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-store", action="store_true", help="do not record the scan")
    c.add_output_options(p)
    add_matrix_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Start the lab, scan every lab server, print the report, then check vedette found
    exactly the problem each server was built with."""
    import time

    from cryptography import x509

    from vedette.lab import Lab, LabServer
    from vedette.targets import Pin

    t0 = time.monotonic()

    async def run() -> tuple[tuple[LabServer, ...], bytes, tuple[Observation, ...]]:
        async with Lab() as lab:
            specs = [parse_target(srv.target) for srv in lab.servers]
            options = ScanOptions(
                pins=tuple(Pin(host=s.host, port=s.port, addresses=(s.ip,)) for s in lab.servers),
                limits=Limits(connect_timeout=3.0, read_timeout=5.0, endpoint_timeout=15.0),
            )
            return lab.servers, lab.root_ca_pem, await scan(specs, options)

    clients, stored_clients = options_from_args(args)
    started = datetime.now(UTC)
    servers, root_pem, observations = asyncio.run(run())
    finished = datetime.now(UTC)
    extra = tuple(
        c.public_bytes(serialization.Encoding.DER)
        for c in x509.load_pem_x509_certificates(root_pem)
    )
    targets = [srv.target for srv in servers]
    stored = {"ca_roots_der_hex": [r.hex() for r in extra], "demo": True}
    stored["clients"] = stored_clients
    scan_id = c.store_scan(args, targets, stored, started, finished, observations)
    report = analysis.make_report(
        scan_id=scan_id,
        targets=targets,
        started=started,
        finished=finished,
        observations=observations,
        ctx=analysis.context(finished, extra, clients),
    )
    c.emit(report, args)
    ok = _demo_verdict(servers, report, time.monotonic() - t0, quiet=args.json)
    return 0 if ok else 1


def _demo_verdict(
    servers: Sequence[Any], report: ScanReport, elapsed: float, *, quiet: bool
) -> bool:
    """Compare what each lab server was built with to what the scan found."""
    from rich.table import Table

    table = Table(title="vedette demo: did the scan find what each lab server was built with?")
    for col in ("lab server", "built with", "vedette found", ""):
        table.add_column(col)
    all_ok = True
    for srv in servers:
        found = {
            f.id
            for f in report.findings
            if f.endpoint.port == srv.port and f.severity > Severity.INFO
        }
        ok = found == set(srv.expected_findings)
        all_ok &= ok
        table.add_row(
            srv.name,
            ", ".join(sorted(srv.expected_findings)) or "nothing wrong",
            ", ".join(sorted(found)) or "nothing",
            "[green]ok[/]" if ok else "[red]MISMATCH[/]",
        )
    console = Console(stderr=quiet, highlight=False)
    console.print(table)
    verdict = "all as expected" if all_ok else "MISMATCH: see the table"
    console.print(f"demo finished in {elapsed:.1f} s: {verdict}")
    if report.scan_id is not None:
        console.print(f"stored as scan {report.scan_id}: `vedette report last` shows it again")
    return all_ok
