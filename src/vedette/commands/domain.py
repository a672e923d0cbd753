"""``vedette domain check DOMAIN...``: the mail domain as senders see it.

MX discovery, a quick scan of every MX on port 25, MTA-STS with its policy fetched over HTTPS
and its certificate judged, and the other mail-domain rules, tied to the chains the MX serve
(:mod:`vedette.domain`). Exit status as ``vedette scan``: 1 when a finding reaches
``--fail-on`` (default high), 2 on an error (one line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from vedette.commands import _common as c
from vedette.errors import UsageError
from vedette.model import Severity
from vedette.probe.limits import Limits
from vedette.resolve import parse_resolver
from vedette.targets import normalise_host, parse_address, quoted

NAME = "domain"

#: Most domains one command line checks (``--targets`` for fleets is a later step).
MAX_DOMAINS = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = sub.add_parser(
        "check",
        help="check mail domains: MX, their port-25 TLS, MTA-STS, DANE, SPF, DKIM, DMARC...",
        description="Discover each domain's MX, scan them on port 25, and judge the domain's "
        "mail records and policies against the certificates the MX actually serve.",
    )
    check.add_argument("domains", nargs="+", metavar="DOMAIN")
    check.add_argument(
        "--resolver",
        metavar="ADDRESS[:PORT]",
        help="DNS server to ask (default: the nameservers of /etc/resolv.conf)",
    )
    check.add_argument(
        "--trust-ad",
        action="store_true",
        help="take DNSSEC validation from the AD flag of the --resolver (a validating resolver "
        "you trust, on a path you trust)",
    )
    check.add_argument(
        "--trust-anchor",
        type=Path,
        metavar="FILE",
        help="DNSSEC trust anchors (DNSKEY or DS lines) instead of the built-in IANA root key",
    )
    check.add_argument(
        "--dkim-selector",
        action="append",
        default=[],
        metavar="NAME",
        help="a DKIM selector to check (repeatable; default: a documented list of common ones)",
    )
    check.add_argument(
        "--sending-ip",
        action="append",
        default=[],
        metavar="IP",
        help="an address the domain sends mail from, checked against SPF (repeatable)",
    )
    check.add_argument(
        "--all-ports",
        action="store_true",
        help="also scan the submission/IMAP/POP3 servers named by SRV records (RFC 6186) and "
        "the autoconfig/autodiscover names",
    )
    check.add_argument("--format", choices=("terminal", "json"), default="terminal")
    check.add_argument(
        "--timeout",
        type=c.positive,
        default=None,
        metavar="S",
        help="seconds for each DNS question, connection, reply and policy fetch (default 5 for "
        "DNS and connect, 10 for replies); an endpoint gets three times this in all",
    )
    check.add_argument(
        "--ca",
        action="append",
        default=[],
        type=Path,
        metavar="FILE|DIR",
        help="extra trusted root(s) for the MX and the MTA-STS policy host; repeatable",
    )
    check.add_argument(
        "--fail-on",
        type=c.severity,
        default=None,
        metavar="SEVERITY",
        help="exit 1 when a finding reaches this severity (default high)",
    )
    check.add_argument("-v", "--verbose", action="store_true", help="whole remediations")
    check.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")


def _domain(text: str) -> str:
    name, is_ip = normalise_host(text.strip(), text)
    if is_ip:
        raise UsageError(f"{quoted(text)} is an address, not a mail domain")
    return name


def _read_anchors(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--trust-anchor {quoted(str(path))}: {exc.strerror}") from None
    if len(data) > 1_000_000:
        raise UsageError(f"--trust-anchor {quoted(str(path))}: larger than 1 MB")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise UsageError(f"--trust-anchor {quoted(str(path))}: not a text file") from None


def run(args: argparse.Namespace) -> int:
    from vedette import trust
    from vedette.domain.check import DomainSettings, check_domains
    from vedette.domain.output import render_terminal, severities, to_json
    from vedette.report.output import report_output

    domains = list(dict.fromkeys(_domain(d) for d in args.domains))
    if len(domains) > MAX_DOMAINS:
        raise UsageError(f"at most {MAX_DOMAINS} domains on one command line")
    if args.trust_ad and not args.resolver:
        raise UsageError("--trust-ad needs --resolver (the validating resolver trusted)")
    timeout = args.timeout
    limits = (
        Limits()
        if timeout is None
        else Limits(
            connect_timeout=timeout,
            read_timeout=timeout,
            tls_timeout=timeout,
            endpoint_timeout=timeout * 3,
        )
    )
    settings = DomainSettings(
        resolver=parse_resolver(args.resolver) if args.resolver else None,
        trust_ad=args.trust_ad,
        trust_anchors=_read_anchors(args.trust_anchor),
        dkim_selectors=tuple(args.dkim_selector),
        sending_ips=tuple(parse_address(a, "--sending-ip") for a in args.sending_ip),
        all_ports=args.all_ports,
        dns_timeout=5.0 if timeout is None else timeout,
        limits=limits,
        extra_roots=trust.load_extra_roots(args.ca),
    )
    reports = asyncio.run(check_domains(domains, settings))
    with report_output(args.output) as out:
        if args.format == "json":
            out.write(json.dumps(to_json(reports), indent=2) + "\n")
        else:
            console = c.console() if out is sys.stdout else c.file_console(out)
            render_terminal(reports, console, verbose=args.verbose)
    threshold = Severity.HIGH if args.fail_on is None else args.fail_on
    return 1 if any(s >= threshold for s in severities(reports)) else 0
