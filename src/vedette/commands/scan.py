"""``vedette scan TARGET...``: probe mail services and report what is wrong."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vedette import analysis
from vedette.commands import _common as c
from vedette.commands._cert_clients import (
    add_matrix_arguments,
    options_for_report,
    options_from_args,
)
from vedette.commands._issuers import add_issuer_arguments, fetch_missing_issuers
from vedette.errors import UsageError
from vedette.model import Service
from vedette.probe.limits import Limits
from vedette.resolve import parse_resolver
from vedette.scan import ScanOptions, scan
from vedette.targets import (
    normalise_host,
    parse_address,
    parse_ports,
    parse_resolve,
    parse_target,
)

NAME = "scan"
HELP = "probe the mail services of hosts and report what is wrong"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="host, host:port or scheme://host[:port] (smtp submission smtps imap "
        "imaps pop3 pop3s https sips); IPv6 in brackets; a CIDR makes a fleet scan",
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
        help="connections at once to one address",
    )
    p.add_argument("--no-store", action="store_true", help="do not record the scan")
    p.add_argument(
        "--mode",
        choices=("quick", "full"),
        default=None,
        help="quick: connect, dialogue, STARTTLS, one handshake, certificate; full: "
        "everything vedette knows (default: quick for --targets and CIDRs, else full)",
    )
    c.add_output_options(p)
    add_matrix_arguments(p)
    from vedette.scale.fleet import add_fleet_arguments

    add_fleet_arguments(p)


def _xmpp_domain(text: str | None) -> str | None:
    if text is None:
        return None
    name, _ = normalise_host(text, "--xmpp-domain")
    return name


def _scan_options(args: argparse.Namespace) -> ScanOptions:
    return ScanOptions(
        ports=parse_ports(args.ports) if args.ports else None,
        service=Service(args.service) if args.service else None,
        pinned=tuple(parse_address(a, "--ip") for a in args.ip),
        pins=tuple(parse_resolve(p) for p in args.resolve),
        resolver=parse_resolver(args.resolver) if args.resolver else None,
        ehlo_name=_ehlo(args.ehlo),
        mode=getattr(args, "mode", None) or "full",
        xmpp_domain=_xmpp_domain(getattr(args, "xmpp_domain", None)),
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
    if not name or any(ch.isspace() or not ch.isprintable() for ch in name) or len(name) > 255:
        raise UsageError(f"--ehlo: {name!r} is not a usable host name")
    return name


def run(args: argparse.Namespace) -> int:
    from vedette import trust
    from vedette.scale import fleet

    if fleet.wanted(args):
        if args.intermediates or args.fetch:
            raise UsageError("--intermediates and --fetch are for scans of named targets")
        if args.xmpp_domain:
            raise UsageError("--xmpp-domain is for scans of named targets, not fleet scans (yet)")
        return fleet.run_fleet(args, lambda stored: options_for_report(args, stored))
    if not args.targets:
        raise UsageError("no targets given")
    specs = [parse_target(t) for t in args.targets]
    options = _scan_options(args)
    extra = trust.load_extra_roots(args.ca)
    known = trust.load_extra_roots(args.intermediates)
    clients, stored_clients = options_from_args(args)  # bad options fail before the scan
    started = datetime.now(UTC)
    observations = asyncio.run(scan(specs, options))
    if args.fetch:
        known += fetch_missing_issuers(
            observations,
            trust.mozilla_roots_der() + extra,
            known,
            resolver=options.resolver,
            timeout=args.connect_timeout + args.read_timeout,
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
    return c.emit(report, args)
