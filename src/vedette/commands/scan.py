"""``vedette scan TARGET...``: probe mail services and report what is wrong."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vedette import analysis
from vedette import scan as engine
from vedette.commands import _common as c
from vedette.commands._cert_clients import (
    add_matrix_arguments,
    merge_client_options,
    options_from_stored,
    options_to_stored,
)
from vedette.commands._issuers import add_issuer_arguments, fetch_missing_issuers
from vedette.errors import UsageError
from vedette.model import Observation, Service
from vedette.plan import (
    STREAMED_FORMATS,
    Output,
    PlanLimits,
    Resolution,
    ScanMode,
    ScanPlan,
    TargetSource,
)
from vedette.resolve import parse_resolver
from vedette.scan import MemorySink, RunSettings
from vedette.targets import (
    normalise_host,
    parse_address,
    parse_ports,
    parse_resolve,
    parse_target,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from vedette.targets import TargetSpec
    from vedette.trust.simulate import ClientOptions

NAME = "scan"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="host, host:port or scheme://host[:port] (schemes: "
        f"{' '.join(s.value for s in Service)}); IPv6 in brackets; a CIDR makes a fleet scan",
    )
    p.add_argument("--ports", type=str, help="comma-separated ports for targets without a port")
    p.add_argument(
        "--service",
        choices=[v.value for v in Service],
        help="the service on non-standard ports given without a scheme",
    )
    p.add_argument(
        "--ip",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="connect to ADDRESS instead of resolving names (SNI and name checks "
        "keep the name); repeatable",
    )
    p.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="HOST:PORT:ADDRESS",
        help="like curl: pin HOST:PORT (PORT may be *) to ADDRESS[,ADDRESS...]",
    )
    p.add_argument(
        "--resolver",
        metavar="ADDRESS[:PORT]",
        help="DNS server to ask (default: the nameservers of /etc/resolv.conf)",
    )
    p.add_argument(
        "--xmpp-domain",
        metavar="NAME",
        help="the XMPP domain of xmpp/xmpps/xmpp-server targets (stream 'to', SNI, certificate "
        "name) when it differs from the target host; default: the target name, whose servers "
        "are found through SRV when no port is given",
    )
    p.add_argument(
        "--ca",
        action="append",
        default=[],
        type=Path,
        metavar="FILE|DIR",
        help="extra trusted root(s): PEM bundle, DER file or directory; repeatable",
    )
    add_issuer_arguments(p)
    p.add_argument(
        "--ehlo",
        default="vedette.invalid",
        metavar="NAME",
        help="the name vedette gives in SMTP EHLO (default vedette.invalid)",
    )
    p.add_argument(
        "--connect-timeout", type=c.positive, default=c.DEFAULT_LIMITS.connect_timeout, metavar="S"
    )
    p.add_argument(
        "--read-timeout",
        type=c.positive,
        default=c.DEFAULT_LIMITS.read_timeout,
        metavar="S",
        help="deadline for each complete reply, TLS handshake included",
    )
    p.add_argument(
        "--endpoint-timeout",
        type=c.positive,
        default=c.DEFAULT_LIMITS.endpoint_timeout,
        metavar="S",
        help="deadline for everything on one endpoint",
    )
    p.add_argument("--concurrency", type=c.count, default=c.DEFAULT_LIMITS.concurrency, metavar="N")
    p.add_argument(
        "--per-host",
        type=c.count,
        default=c.DEFAULT_LIMITS.per_host,
        metavar="N",
        help="the most connections at once to one address (default %(default)s); a scan "
        "starts with 4 and opens more while the server answers without defending itself",
    )
    p.add_argument("--no-store", action="store_true", help="do not record the scan")
    p.add_argument(
        "--mode",
        choices=[m.value for m in ScanMode],
        default=None,
        help="quick: connect, dialogue, STARTTLS, one handshake, certificate; clients: "
        "quick plus two hellos (TLS 1.2 suites, TLS 1.0), enough for most client verdicts, "
        "three connections an endpoint; full: everything vedette knows (default: full for "
        "explicit targets, quick for --targets, a CIDR or --resume)",
    )
    c.add_output_options(p)
    c.add_format_options(p)
    add_matrix_arguments(p)
    from vedette.commands._fleet import add_fleet_arguments

    add_fleet_arguments(p)


def _xmpp_domain(text: str | None) -> str | None:
    if text is None:
        return None
    name, _ = normalise_host(text, "--xmpp-domain")
    return name


def plan_from_args(args: argparse.Namespace) -> ScanPlan:
    """The scan's plan, from its command line: every option parsed and every file (roots,
    exclusions, client profiles) read here, once."""
    from vedette import trust
    from vedette.commands._fleet import read_exclusions

    source = TargetSource(
        targets=tuple(args.targets),
        file=args.targets_file or None,
        resume=args.resume,
        max_cidr=args.max_cidr,
        allow_reserved=args.allow_reserved,
    )
    return ScanPlan(
        source=source,
        mode=ScanMode(args.mode) if args.mode else ScanPlan.default_mode(source),
        limits=PlanLimits(
            connect_timeout=args.connect_timeout,
            read_timeout=args.read_timeout,
            endpoint_timeout=args.endpoint_timeout,
            concurrency=args.concurrency,
            per_host=args.per_host,
            rate=args.rate,
        ),
        resolution=Resolution(
            ports=parse_ports(args.ports) if args.ports else None,
            service=Service(args.service) if args.service else None,
            pinned=tuple(parse_address(a, "--ip") for a in args.ip),
            pins=tuple(parse_resolve(p) for p in args.resolve),
            resolver=parse_resolver(args.resolver) if args.resolver else None,
            ehlo_name=_ehlo(args.ehlo),
            exclusions=read_exclusions(args.exclude).entries,
            xmpp_domain=_xmpp_domain(args.xmpp_domain),
        ),
        clients=options_to_stored(args),
        # Read and checked for shape here; parsed in full by ``confirm_roots``.
        extra_roots=trust.load_extra_roots(args.ca, parse=False),
        intermediates=trust.load_extra_roots(args.intermediates, parse=False),
        fetch_issuers=bool(args.fetch),
        deep=args.deep or frozenset(),
        cluster=args.cluster,
        output=Output(
            fail_on=args.fail_on,
            quiet=args.quiet,
            json=c.report_format(args) == "json",
            verbose=args.verbose,
            store=not args.no_store,
            db=args.db,
            format=c.report_format(args),
            file=args.output,
        ),
    )


def confirm_roots(plan: ScanPlan, args: argparse.Namespace) -> ScanPlan:
    """Parse the ``--ca`` and ``--intermediates`` certificates in full: the error a file that
    only looks like a certificate deserves (``plan_from_args`` checked the shape alone), and
    a directory's files that only looked like certificates left out."""
    from vedette import trust

    return dataclasses.replace(
        plan,
        extra_roots=trust.load_extra_roots(args.ca),
        intermediates=trust.load_extra_roots(args.intermediates),
    )


def _prepare(plan: ScanPlan, args: argparse.Namespace) -> tuple[ScanPlan, ClientOptions]:
    """What the analysis needs and the probes do not: the roots parsed in full, and the
    client options (profiles read, ``--clients`` and the inventory checked)."""
    return confirm_roots(plan, args), options_from_stored(plan.clients)


async def _probe_preparing(
    plan: ScanPlan, args: argparse.Namespace, settings: RunSettings, specs: Sequence[TargetSpec]
) -> tuple[ScanPlan, ClientOptions, tuple[Observation, ...]]:
    """Probe, and meanwhile prepare the analysis in a thread (``_prepare``): the first
    connections do not wait for cryptography and the client profiles; a bad root or client
    option stops the scan at once with its one-line error."""
    sink = MemorySink()
    probing = asyncio.ensure_future(engine.run(settings, engine.listed(specs), sink))
    try:
        plan, clients = await asyncio.to_thread(_prepare, plan, args)
    except BaseException:
        probing.cancel()
        await asyncio.gather(probing, return_exceptions=True)
        raise
    await probing
    return plan, clients, sink.observations()


def _clients_for(
    plan: ScanPlan, stored: Mapping[str, Any] | None
) -> tuple[ClientOptions, dict[str, Any]]:
    """The plan's client options over those stored with a scan (none for a new one)."""
    merged = merge_client_options(stored, plan.clients)
    return options_from_stored(merged), merged


def _ehlo(name: str) -> str:
    if not name or any(ch.isspace() or not ch.isprintable() for ch in name) or len(name) > 255:
        raise UsageError(f"--ehlo: {name!r} is not a usable host name")
    return name


def run(args: argparse.Namespace) -> int:
    from vedette import trust
    from vedette.commands import _fleet as fleet

    plan = plan_from_args(args)
    if fleet.wanted(plan):
        plan = confirm_roots(plan, args)
        if plan.intermediates or plan.fetch_issuers:
            raise UsageError("--intermediates and --fetch are for scans of named targets")
        return fleet.run_fleet(plan, lambda stored: _clients_for(plan, stored))
    if not plan.source.targets:
        raise UsageError("no targets given")
    specs = [parse_target(t) for t in plan.source.targets]
    exclusions = None
    if plan.resolution.exclusions:
        from vedette.scale.targets import exclusions_from_entries

        exclusions = exclusions_from_entries(plan.resolution.exclusions)
    settings = dataclasses.replace(RunSettings.from_plan(plan, exclusions), unique=True, ptr=False)
    options = settings.options
    stored_clients = dict(plan.clients)
    started = datetime.now(UTC)
    plan, clients, observations = asyncio.run(_probe_preparing(plan, args, settings, specs))
    extra = plan.extra_roots
    known = plan.intermediates
    if plan.fetch_issuers:
        known += fetch_missing_issuers(
            observations,
            trust.mozilla_roots_der() + extra,
            known,
            resolver=options.resolver,
            timeout=plan.limits.connect_timeout + plan.limits.read_timeout,
            note=c.err,
        )
    finished = datetime.now(UTC)
    stored_options: dict[str, Any] = {
        "ca_roots_der_hex": [r.hex() for r in extra],
        "ehlo": options.ehlo_name,
        "clients": stored_clients,
    }
    if known:
        stored_options["intermediates_der_hex"] = [d.hex() for d in known]
    scan_id = c.store_scan(args, args.targets, stored_options, started, finished, observations)
    report = analysis.make_report(
        scan_id=scan_id,
        targets=args.targets,
        started=started,
        finished=finished,
        observations=observations,
        ctx=analysis.context(finished, extra, clients, known),
    )
    if plan.output.format in STREAMED_FORMATS:
        # Streamed formats read the stored scan; with --no-store (or a store that failed), a
        # private temporary store holds it for as long as the report takes.
        _write_streamed(plan, args, stored_options, started, finished, observations, scan_id)
        return c.exit_status(report, plan.output.fail_on)
    return c.emit(report, args)


def _write_streamed(
    plan: ScanPlan,
    args: argparse.Namespace,
    stored_options: dict[str, Any],
    started: datetime,
    finished: datetime,
    observations: Sequence[Observation],
    scan_id: int | None,
) -> None:
    import tempfile

    from vedette.report.stored import write_format
    from vedette.store.db import Store

    clients = options_from_stored(plan.clients)
    with contextlib.ExitStack() as stack:
        if scan_id is None:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="vedette-"))
            store = stack.enter_context(Store.open(f"sqlite:///{directory}/scan.db"))
            scan_id = store.begin_scan(args.targets, stored_options, started)
            store.add_observations(scan_id, observations)
            store.finish_scan(scan_id, finished)
        else:
            store = stack.enter_context(Store.open(c.db_url(args), create=False))
        write_format(store, scan_id, plan.output.format, plan.output.file, clients)
