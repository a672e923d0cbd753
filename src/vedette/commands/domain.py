"""``vedette domain check DOMAIN...``: the mail domain as senders see it.

MX discovery, a quick scan of every MX on port 25, MTA-STS with its policy fetched over HTTPS
and its certificate judged, and the other mail-domain rules, tied to the chains the MX serve
(:mod:`vedette.domain`). Exit status as ``vedette scan``: 1 when a finding reaches
``--fail-on`` (default high), 2 on an error (one line).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vedette.commands import _common as c
from vedette.errors import StoreError, UsageError
from vedette.inputfiles import read_regular_file
from vedette.model import Severity
from vedette.probe.limits import Limits
from vedette.resolve import parse_resolver
from vedette.targets import normalise_host, parse_address, quoted

if TYPE_CHECKING:
    from vedette.domain.check import DomainReport, DomainSettings

NAME = "domain"

#: Most domains one check takes (they are the stored scan's targets).
MAX_DOMAINS = 100_000
#: Largest ``--targets`` file.
MAX_FILE = 16 << 20
#: Output formats.
FORMATS = ("terminal", "json", "csv", "html")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = sub.add_parser(
        "check",
        help="check mail domains: MX, their port-25 TLS, MTA-STS, DANE, SPF, DKIM, DMARC...",
        description="Discover each domain's MX, scan them on port 25, and judge the domain's "
        "mail records and policies against the certificates the MX actually serve.",
    )
    check.add_argument("domains", nargs="*", metavar="DOMAIN")
    check.add_argument(
        "--targets",
        dest="targets_file",
        type=Path,
        metavar="FILE",
        help="a file of domains, one a line ('#' starts a comment); stored as it goes",
    )
    check.add_argument(
        "--resume",
        type=_scan_id,
        metavar="SCAN_ID",
        help="finish a stopped domain check: the domains not stored yet are checked with the "
        "stored settings, the others judged again from the store",
    )
    check.add_argument(
        "--concurrency",
        type=c.count,
        default=None,
        metavar="N",
        help="domains checked at once (default 100); an MX that several domains name is "
        "scanned once a run whatever N is",
    )
    check.add_argument("--no-store", action="store_true", help="do not record the check")
    check.add_argument(
        "--db",
        metavar="URL",
        help="result store (default: $VEDETTE_DB or sqlite:///~/.local/share/vedette/vedette.db)",
    )
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
    check.add_argument("--format", choices=FORMATS, default="terminal")
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


def _scan_id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 12) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a scan id: {quoted(text)}")
    return int(text)


def _read_anchors(path: Path | None) -> str | None:
    if path is None:
        return None
    data = read_regular_file(path, what="trust anchor file", limit=1 << 20)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise UsageError(f"--trust-anchor {quoted(str(path))}: not a text file") from None


def _read_domains(path: Path) -> list[str]:
    data = read_regular_file(path, what="list of domains", limit=MAX_FILE)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"--targets {quoted(str(path))}: not UTF-8 text") from None
    domains: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            domains.append(_domain(entry))
        except UsageError as exc:
            raise UsageError(f"--targets {quoted(str(path))} line {number}: {exc}") from None
    if not domains:
        raise UsageError(f"--targets {quoted(str(path))}: no domain in it")
    return domains


def _settings(args: argparse.Namespace) -> DomainSettings:
    from vedette import trust
    from vedette.domain.check import DomainSettings

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
    return DomainSettings(
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


def run(args: argparse.Namespace) -> int:
    from vedette.domain.check import CONCURRENT_DOMAINS

    if args.concurrency is None:
        args.concurrency = CONCURRENT_DOMAINS
    given = [_domain(d) for d in args.domains]
    if args.resume is not None:
        if given or args.targets_file:
            raise UsageError("--resume takes no domains: they are read from the stored check")
        if args.no_store:
            raise UsageError("--resume reads the store: --no-store does not go with it")
        reports = asyncio.run(_resume(args))
    else:
        domains = given + (_read_domains(args.targets_file) if args.targets_file else [])
        domains = list(dict.fromkeys(domains))
        if not domains:
            raise UsageError("no domain given (DOMAIN..., or --targets FILE)")
        if len(domains) > MAX_DOMAINS:
            raise UsageError(f"at most {MAX_DOMAINS} domains in one check")
        reports = asyncio.run(_check(args, domains, _settings(args)))
    return _emit(args, reports)


async def _check(
    args: argparse.Namespace, domains: list[str], settings: DomainSettings
) -> list[DomainReport]:
    from datetime import UTC, datetime

    from vedette.domain.check import check_domains
    from vedette.domain.stored import Recorder, settings_to_stored
    from vedette.store.db import Store

    if args.no_store:
        return await check_domains(domains, settings, concurrency=args.concurrency)
    started = datetime.now(UTC)
    try:
        store = Store.open(c.db_url(args))
        scan_id = store.begin_scan(domains, settings_to_stored(settings), started)
    except StoreError as exc:
        c.err(f"warning: check not stored: {exc}")
        return await check_domains(domains, settings, concurrency=args.concurrency)
    with store:
        recorder = Recorder(store, scan_id)
        try:
            reports = await check_domains(
                domains, settings, on_done=recorder.put, concurrency=args.concurrency
            )
        finally:  # stopped (Ctrl-C) or not, the domains done so far are kept for --resume
            recorder.flush()
        store.finish_scan(scan_id, datetime.now(UTC))
    c.err(f"stored as scan {scan_id}")
    return reports


async def _resume(args: argparse.Namespace) -> list[DomainReport]:
    from datetime import UTC, datetime

    from vedette import trust
    from vedette.domain.check import check_domains
    from vedette.domain.stored import Recorder, rejudge_stored, settings_from_stored
    from vedette.store.db import Store

    with Store.open(c.db_url(args), create=False) as store:
        scan_id = args.resume
        summary = store.scan_summary(scan_id)
        settings = settings_from_stored(store.scan_options(scan_id))
        roots = trust.mozilla_roots_der() + settings.extra_roots
        done = {row.domain for row in store.iter_domain_checks(scan_id)}
        todo = [d for d in summary.targets if d not in done]
        if summary.finished_at is not None and todo:
            raise UsageError(f"scan {scan_id} is finished; nothing to resume")
        recorder = Recorder(store, scan_id)
        recorder.stored.update(
            (o.endpoint.host, o.endpoint.ip, o.endpoint.port, o.endpoint.service.value)
            for o in store.load_scan(scan_id).observations
        )
        fresh = []
        if todo:
            try:
                fresh = await check_domains(
                    todo, settings, on_done=recorder.put, concurrency=args.concurrency
                )
            finally:
                recorder.flush()
        if summary.finished_at is None:
            store.finish_scan(scan_id, datetime.now(UTC))
        earlier = await rejudge_stored(store, scan_id, settings, roots, only=sorted(done))
    by_domain = {r.domain: r for r in [*earlier, *fresh]}
    c.err(f"scan {scan_id}: {len(done)} domain(s) from the store, {len(fresh)} checked now")
    return [by_domain[d] for d in summary.targets if d in by_domain]


def _emit(args: argparse.Namespace, reports: list[DomainReport]) -> int:
    from vedette.domain.output import (
        render_terminal,
        severities,
        write_csv,
        write_html,
        write_json,
    )
    from vedette.report.output import report_output

    with report_output(args.output) as out:
        if args.format == "json":
            write_json(reports, out)
        elif args.format == "csv":
            write_csv(reports, out)
        elif args.format == "html":
            write_html(reports, out)
        else:
            console = c.console() if out is sys.stdout else c.file_console(out)
            render_terminal(reports, console, verbose=args.verbose)
    threshold = Severity.HIGH if args.fail_on is None else args.fail_on
    return 1 if any(s >= threshold for s in severities(reports)) else 0
