"""``vedette demo``: start the built-in lab servers, scan them, check the verdicts.

The scan is a full one by default (``--mode quick`` for the quick probe): with the versions
each server accepts, every client verdict is decided. After the report come the scenario
table (what each lab server was built with against what the scan found) and "who breaks
where" (the client families that fail on each server, and why).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from rich.console import Console

from vedette import analysis
from vedette.commands import _common as c
from vedette.commands._cert_clients import add_matrix_arguments, options_from_args
from vedette.model import ClientMatrix, ClientOutcome, Observation, ScanReport, Severity
from vedette.plan import ScanMode
from vedette.probe.limits import Limits
from vedette.scan import ScanOptions, scan
from vedette.targets import parse_target

if TYPE_CHECKING:
    from rich.text import Text

NAME = "demo"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-store", action="store_true", help="do not record the scan")
    p.add_argument(
        "--mode",
        choices=[m.value for m in ScanMode],
        default=ScanMode.FULL.value,
        help="full (default): every TLS version and suite, so that every client verdict is "
        "decided; clients: the handshake and two hellos, most verdicts decided; quick: one "
        "handshake per server",
    )
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
                mode=ScanMode(args.mode),
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
    ok = _demo_verdict(
        servers, report, time.monotonic() - t0, quiet=args.json, quick=args.mode == "quick"
    )
    return 0 if ok else 1


def _demo_verdict(
    servers: Sequence[Any], report: ScanReport, elapsed: float, *, quiet: bool, quick: bool
) -> bool:
    """Compare what each lab server was built with to what the scan found, then say which
    clients fail where."""
    from vedette.report.lines import put

    console = Console(stderr=quiet, highlight=False)
    console.print()
    put(console, ("Did the scan find what each lab server was built with?", "bold"))
    width = max(len(srv.name) for srv in servers) + 2
    all_ok = True
    for srv in servers:
        found = {
            f.id
            for f in report.findings
            if f.endpoint.port == srv.port and f.severity > Severity.INFO
        }
        expected = srv.quick_findings if quick else srv.expected_findings
        ok = found == set(expected)
        all_ok &= ok
        built = ", ".join(sorted(expected)) or "nothing wrong"
        if ok:
            put(console, ("ok        ", "green"), srv.name.ljust(width), built, indent=2, hang=10)
        else:
            seen = ", ".join(sorted(found)) or "nothing"
            text = f"built with {built}; vedette found {seen}"
            put(console, ("MISMATCH  ", "bold red"), srv.name.ljust(width), text, indent=2, hang=10)
    console.print()
    put(console, ("Who breaks where: which clients fail on which lab server, and why", "bold"))
    verdicts = unknown = 0
    for srv in servers:
        matrix = _matrix(report, srv)
        if matrix is not None:
            verdicts += len(matrix.verdicts)
            unknown += sum(1 for v in matrix.verdicts if v.outcome is ClientOutcome.UNKNOWN)
    for line in who_breaks_where(servers, report):
        put(console, line, indent=2, hang=2)
    console.print()
    verdict = "all as expected" if all_ok else "MISMATCH: see the table"
    put(
        console,
        f"demo finished in {elapsed:.1f} s: {verdict}; {verdicts} client verdicts, "
        f"{unknown} unknown",
    )
    if report.scan_id is not None:
        put(console, f"stored as scan {report.scan_id}: `vedette report last` shows it again")
    return all_ok


def _matrix(report: ScanReport, srv: Any) -> ClientMatrix | None:
    return next((m for m in report.clients if m.endpoint == srv.endpoint), None)


def who_breaks_where(servers: Sequence[Any], report: ScanReport) -> list[Text]:
    """One line per (reason, set of failing clients), with the servers where it happens:
    ``lync 3, outlook 1, skype 1 fail on imaps-sha512 (cert.sha512-legacy-schannel)``.
    Everything comes from the scan's client matrices; nothing is written in advance."""
    from rich.text import Text

    everyone: list[str] = []
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    families: dict[str, str] = {}
    fine: list[str] = []
    no_tls: list[str] = []
    for srv in servers:
        matrix = _matrix(report, srv)
        if matrix is None:
            no_tls.append(srv.name)
            continue
        judged = [v for v in matrix.verdicts if v.outcome is not ClientOutcome.NOT_RELEASED]
        failing = [v for v in judged if v.outcome is ClientOutcome.FAILS]
        families.update((v.profile, v.family) for v in judged)
        if not failing:
            fine.append(srv.name)
            continue
        by_code: dict[str, list[str]] = {}
        for v in failing:
            for r in v.reasons:
                if r.outcome is ClientOutcome.FAILS:
                    by_code.setdefault(r.code, []).append(v.profile)
        for code, profiles in by_code.items():
            if len(profiles) == len(judged):
                everyone.append(f"{srv.name} ({code})")
            else:
                groups.setdefault((code, tuple(profiles)), []).append(srv.name)
    out = []
    if everyone:
        line = Text()
        line.append("every client fails on ", style="bold red")
        line.append(", ".join(everyone))
        out.append(line)
    for (code, failed), names in groups.items():
        counts: dict[str, int] = {}
        for p in failed:
            counts[families[p]] = counts.get(families[p], 0) + 1
        line = Text()
        line.append(", ".join(f"{fam} {n}" for fam, n in counts.items()), style="bold")
        where = ", ".join(names) if len(names) <= 3 else f"{len(names)} servers"
        line.append(f" fail on {where} ({code})")
        out.append(line)
    if fine:
        out.append(Text("no client fails on " + ", ".join(fine), style="green"))
    if no_tls:
        out.append(Text("no TLS, so no client matrix: " + ", ".join(no_tls), style="dim"))
    return out
