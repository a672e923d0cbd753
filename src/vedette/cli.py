"""The command line: ``vedette scan | report | checks | demo``.

Exit status (every command): 0 when no finding reaches ``--fail-on`` (default ``high``), 1 when
one does, 2 on a usage error or when no endpoint could be scanned at all. Errors are one line on
stderr; a traceback is a bug.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from cryptography.hazmat.primitives import serialization
from rich.console import Console

from vedette import trust
from vedette._version import __version__
from vedette.checks import CheckContext, analyse, load_checks
from vedette.errors import StoreError, UsageError, VedetteError
from vedette.model import Observation, ScanReport, Service, Severity
from vedette.probe.limits import Limits
from vedette.resolve import parse_resolver
from vedette.scan import ScanOptions, scan
from vedette.targets import parse_address, parse_ports, parse_resolve, parse_target


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"vedette: error: {message} (see: {self.prog} --help)\n")
        raise SystemExit(2)


_DEFAULTS = Limits()


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600 seconds: {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= 10000:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 10000: {text!r}")
    return int(text)


def _severity(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the versioned JSON document")
    p.add_argument("-v", "--verbose", action="store_true", help="show full capabilities, chains")
    p.add_argument(
        "--fail-on",
        type=_severity,
        default=Severity.HIGH,
        metavar="SEVERITY",
        help="exit 1 when a finding reaches this severity (info|low|medium|high|critical; "
        "default high)",
    )
    p.add_argument(
        "--db",
        metavar="URL",
        help="result store (default: $VEDETTE_DB or sqlite:///~/.local/share/vedette/vedette.db)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vedette",
        description="A lookout for mail servers: TLS, certificates, plaintext logins, and fixes.",
    )
    parser.add_argument("--version", action="version", version=f"vedette {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("scan", help="probe the mail services of hosts and report what is wrong")
    s.add_argument(
        "targets",
        nargs="+",
        metavar="TARGET",
        help="host, host:port or scheme://host[:port] (smtp submission smtps imap "
        "imaps pop3 pop3s https sips); IPv6 in brackets",
    )
    s.add_argument("--ports", type=str, help="comma-separated ports for targets without a port")
    s.add_argument(
        "--service",
        choices=[v.value for v in Service],
        help="the service on non-standard ports given without a scheme",
    )
    s.add_argument(
        "--ip",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="connect to ADDRESS instead of resolving names (SNI and name checks "
        "keep the name); repeatable",
    )
    s.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="HOST:PORT:ADDRESS",
        help="like curl: pin HOST:PORT (PORT may be *) to ADDRESS[,ADDRESS...]",
    )
    s.add_argument(
        "--resolver",
        metavar="ADDRESS[:PORT]",
        help="DNS server to ask (default: the nameservers of /etc/resolv.conf)",
    )
    s.add_argument(
        "--ca",
        action="append",
        default=[],
        type=Path,
        metavar="FILE|DIR",
        help="extra trusted root(s): PEM bundle, DER file or directory; repeatable",
    )
    s.add_argument(
        "--ehlo",
        default="vedette.invalid",
        metavar="NAME",
        help="the name vedette gives in SMTP EHLO (default vedette.invalid)",
    )
    s.add_argument(
        "--connect-timeout", type=_positive, default=_DEFAULTS.connect_timeout, metavar="S"
    )
    s.add_argument(
        "--read-timeout",
        type=_positive,
        default=_DEFAULTS.read_timeout,
        metavar="S",
        help="deadline for each complete reply, TLS handshake included",
    )
    s.add_argument(
        "--endpoint-timeout",
        type=_positive,
        default=_DEFAULTS.endpoint_timeout,
        metavar="S",
        help="deadline for everything on one endpoint",
    )
    s.add_argument("--concurrency", type=_count, default=_DEFAULTS.concurrency, metavar="N")
    s.add_argument(
        "--per-host",
        type=_count,
        default=_DEFAULTS.per_host,
        metavar="N",
        help="connections at once to one address",
    )
    s.add_argument("--no-store", action="store_true", help="do not record the scan")
    _add_output_options(s)

    r = sub.add_parser("report", help="analyse a stored scan again, without the network")
    r.add_argument("scan", nargs="?", default="last", help="scan id or 'last' (default)")
    r.add_argument("--list", action="store_true", help="list stored scans")
    r.add_argument(
        "--at",
        default="now",
        metavar="now|scan|DATE",
        help="judge certificate dates now (default), at the scan's time, or at an ISO date",
    )
    _add_output_options(r)

    c = sub.add_parser("checks", help="list every check vedette runs")
    c.add_argument("--markdown", action="store_true", help="print docs/checks.md")

    d = sub.add_parser("demo", help="start the built-in lab servers and scan them")
    d.add_argument("--no-store", action="store_true", help="do not record the scan")
    _add_output_options(d)
    return parser


# --------------------------------------------------------------------------- helpers


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _err(message: str) -> None:
    sys.stderr.write(f"vedette: {message}\n")


def _context(now: datetime, extra_roots: tuple[bytes, ...]) -> CheckContext:
    return CheckContext(
        now=now,
        trust_roots_der=trust.mozilla_roots_der() + extra_roots,
        extra_roots_der=extra_roots,
    )


def _make_report(
    *,
    scan_id: int | None,
    targets: Sequence[str],
    started: datetime,
    finished: datetime,
    observations: Sequence[Observation],
    ctx: CheckContext,
) -> ScanReport:
    return ScanReport(
        scan_id=scan_id,
        targets=tuple(targets),
        started_at=started,
        finished_at=finished,
        analysed_at=ctx.now,
        observations=tuple(observations),
        findings=analyse(observations, ctx),
    )


def _emit(report: ScanReport, args: argparse.Namespace) -> int:
    if args.json:
        from vedette.report.json import report_to_json

        sys.stdout.write(json.dumps(report_to_json(report), indent=2) + "\n")
    else:
        from vedette.report.terminal import render_terminal

        render_terminal(report, _console(), verbose=args.verbose)
    if not any(o.scanned for o in report.observations):
        _err("no endpoint could be scanned")
        return 2
    return 1 if any(f.severity >= args.fail_on for f in report.findings) else 0


def _db_url(args: argparse.Namespace) -> str:
    from vedette.store.db import default_db_url

    return str(args.db) if args.db else default_db_url()


def _store_scan(
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
        with Store.open(_db_url(args)) as store:
            scan_id = store.begin_scan(targets, options, started)
            store.add_observations(scan_id, observations)
            store.finish_scan(scan_id, finished)
            return scan_id
    except StoreError as exc:
        _err(f"warning: scan not stored: {exc}")
        return None


# --------------------------------------------------------------------------- commands


def _scan_options(args: argparse.Namespace) -> ScanOptions:
    return ScanOptions(
        ports=parse_ports(args.ports) if args.ports else None,
        service=Service(args.service) if args.service else None,
        pinned=tuple(parse_address(a, "--ip") for a in args.ip),
        pins=tuple(parse_resolve(p) for p in args.resolve),
        resolver=parse_resolver(args.resolver) if args.resolver else None,
        ehlo_name=_ehlo(args.ehlo),
        limits=Limits(
            connect_timeout=args.connect_timeout,
            read_timeout=args.read_timeout,
            tls_timeout=args.read_timeout,
            endpoint_timeout=args.endpoint_timeout,
            concurrency=args.concurrency,
            per_host=args.per_host,
        ),
    )


def _ehlo(name: str) -> str:
    if not name or any(c.isspace() or not c.isprintable() for c in name) or len(name) > 255:
        raise UsageError(f"--ehlo: {name!r} is not a usable host name")
    return name


def cmd_scan(args: argparse.Namespace) -> int:
    specs = [parse_target(t) for t in args.targets]
    options = _scan_options(args)
    extra = trust.load_extra_roots(args.ca)
    started = datetime.now(UTC)
    observations = asyncio.run(scan(specs, options))
    finished = datetime.now(UTC)
    stored_options = {"ca_roots_der_hex": [r.hex() for r in extra], "ehlo": options.ehlo_name}
    scan_id = _store_scan(args, args.targets, stored_options, started, finished, observations)
    report = _make_report(
        scan_id=scan_id,
        targets=args.targets,
        started=started,
        finished=finished,
        observations=observations,
        ctx=_context(finished, extra),
    )
    return _emit(report, args)


def _parse_at(text: str, scan_time: datetime) -> datetime:
    if text == "now":
        return datetime.now(UTC)
    if text == "scan":
        return scan_time
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--at: {text!r} is not 'now', 'scan' or an ISO date") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cmd_report(args: argparse.Namespace) -> int:
    from vedette.store.db import Store

    with Store.open(_db_url(args)) as store:
        if args.list:
            for s in store.list_scans():
                sys.stdout.write(
                    f"{s.scan_id}\t{s.started_at.isoformat()}\t"
                    f"{s.endpoints}\t{' '.join(s.targets)}\n"
                )
            return 0
        if args.scan == "last":
            scan_id = store.last_scan_id()
            if scan_id is None:
                raise UsageError("no scan stored yet; run vedette scan first")
        elif args.scan.isdigit():
            scan_id = int(args.scan)
        else:
            raise UsageError(f"scan must be a number or 'last', not {args.scan!r}")
        stored = store.load_scan(scan_id)
    extra = tuple(bytes.fromhex(h) for h in stored.options.get("ca_roots_der_hex", []))
    finished = stored.finished_at or stored.started_at
    report = _make_report(
        scan_id=stored.scan_id,
        targets=stored.targets,
        started=stored.started_at,
        finished=finished,
        observations=stored.observations,
        ctx=_context(_parse_at(args.at, finished), extra),
    )
    return _emit(report, args)


def cmd_checks(args: argparse.Namespace) -> int:
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


def cmd_demo(args: argparse.Namespace) -> int:
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

    started = datetime.now(UTC)
    servers, root_pem, observations = asyncio.run(run())
    finished = datetime.now(UTC)
    extra = tuple(
        c.public_bytes(serialization.Encoding.DER)
        for c in x509.load_pem_x509_certificates(root_pem)
    )
    targets = [srv.target for srv in servers]
    stored = {"ca_roots_der_hex": [r.hex() for r in extra], "demo": True}
    scan_id = _store_scan(args, targets, stored, started, finished, observations)
    report = _make_report(
        scan_id=scan_id,
        targets=targets,
        started=started,
        finished=finished,
        observations=observations,
        ctx=_context(finished, extra),
    )
    _emit(report, args)
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


_COMMANDS = {"scan": cmd_scan, "report": cmd_report, "checks": cmd_checks, "demo": cmd_demo}


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        if isinstance(action, argparse._SubParsersAction):
            sub: argparse.ArgumentParser = action.choices[name]
            return sub
    raise KeyError(name)  # pragma: no cover - every command has a subparser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # Options may come between targets (`scan a.example --json b.example`): argparse only
    # supports that through parse_intermixed_args, which refuses subparsers, so parse the
    # command's own arguments with its own parser.
    if argv and argv[0] in _COMMANDS:
        args = _subparser(parser, argv[0]).parse_intermixed_args(argv[1:])
        args.command = argv[0]
    else:
        args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except UsageError as exc:
        _err(f"error: {exc}")
        return 2
    except VedetteError as exc:
        _err(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
