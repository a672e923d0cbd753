"""``vedette eml FILE|-``: the authentication of one received message, re-judged.

Every DKIM signature, the ARC chain, SPF for the connecting address (``--client-ip``, or the
address in the Received field written by ``--trust-receiver``), DMARC alignment with the From
domain and the policy that applies, compared with the receiver's Authentication-Results
(:mod:`vedette.mailauth.msgauth`). Exit status: 0 when DMARC passes (or the domain has no
DMARC record) and vedette agrees with the receiver, 1 when DMARC fails or vedette and the
receiver disagree, 2 on an error (one line).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from vedette.errors import UsageError
from vedette.inputfiles import read_regular_file
from vedette.report.escape import safe_text
from vedette.resolve import parse_resolver
from vedette.targets import parse_address

if TYPE_CHECKING:
    from vedette.mailauth.answers import DnsAnswer
    from vedette.mailauth.message import Message
    from vedette.mailauth.msgauth import MessageVerdict

NAME = "eml"

#: Version of the JSON ``vedette eml --format json`` writes.
SCHEMA = "vedette.eml/1"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE|-", help="the message (.eml, RFC 5322); - reads stdin")
    p.add_argument(
        "--client-ip",
        metavar="ADDRESS",
        help="the address that handed the message to your server, for SPF",
    )
    p.add_argument(
        "--trust-receiver",
        metavar="NAME",
        help="your receiving host (or its domain): its Received field gives the client address "
        "and its Authentication-Results are compared with vedette's verdict",
    )
    p.add_argument(
        "--as-of",
        metavar="DATE",
        help="judge the signatures' x= expiry at this date (YYYY-MM-DD or ISO 8601; default now)",
    )
    p.add_argument(
        "--resolver",
        metavar="ADDRESS[:PORT]",
        help="DNS server to ask (default: the nameservers of /etc/resolv.conf)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds for each DNS question (default 5)",
    )
    p.add_argument("--format", choices=("terminal", "json"), default="terminal")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")


def _as_of(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--as-of: {text!r} is not a date (YYYY-MM-DD)") from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def _read(name: str) -> bytes:
    from vedette.mailauth.message import MAX_MESSAGE

    if name == "-":
        data = sys.stdin.buffer.read(MAX_MESSAGE + 1)
        if len(data) > MAX_MESSAGE:
            raise UsageError(f"stdin: message larger than {MAX_MESSAGE >> 20} MiB")
        return data
    return read_regular_file(Path(name), what="message", limit=MAX_MESSAGE)


def run(args: argparse.Namespace) -> int:
    from vedette.mailauth.message import read_message

    if not 0 < args.timeout <= 120:
        raise UsageError("--timeout: between 0 and 120 seconds")
    client_ip = parse_address(args.client_ip, "--client-ip") if args.client_ip else None
    as_of = _as_of(args.as_of)
    resolver = parse_resolver(args.resolver) if args.resolver else None
    message = read_message(_read(args.file))
    verdict, answers = asyncio.run(_check(message, resolver, args, client_ip, as_of))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            _emit(args, verdict, answers, out)
    else:
        _emit(args, verdict, answers, sys.stdout)
    bad = verdict.dmarc == "fail" or bool(verdict.disagreements)
    return 1 if bad else 0


async def _check(
    message: Message,
    resolver: tuple[str, int] | None,
    args: argparse.Namespace,
    client_ip: str | None,
    as_of: float | None,
) -> tuple[MessageVerdict, tuple[DnsAnswer, ...]]:
    from vedette.mailauth.dnsclient import DnsClient
    from vedette.mailauth.msgauth import check_message
    from vedette.mailauth.recording import RecordingLookup

    lookup = RecordingLookup(DnsClient(resolver, timeout=args.timeout))
    verdict = await check_message(
        lookup,
        message,
        client_ip=client_ip,
        trust_receiver=args.trust_receiver,
        as_of=as_of,
        timeout=args.timeout * 6,
    )
    return verdict, lookup.answers


def _emit(
    args: argparse.Namespace,
    verdict: MessageVerdict,
    answers: tuple[DnsAnswer, ...],
    out: TextIO,
) -> None:
    from vedette.mailauth.recording import answers_to_json

    if args.format == "json":
        doc = {"schema": SCHEMA, **verdict.to_json(), "dns": answers_to_json(answers)}
        json.dump(doc, out, indent=2)
        out.write("\n")
        return
    w = out.write

    def line(text: str) -> None:
        w(safe_text(text) + "\n")

    line(f"From domain: {verdict.from_domain or '(none)'}")
    if not verdict.dkim:
        line("DKIM: no signature")
    for d in verdict.dkim:
        line(f"DKIM #{d.index + 1} d={d.domain} s={d.selector}: {d.result} ({d.why})")
    arc = verdict.arc
    line(f"ARC: {arc.result} ({arc.why})")
    for hop in arc.hops:
        seal = "seal ok" if hop.seal_valid else "SEAL BROKEN"
        ams = "AMS ok" if hop.ams_valid else "AMS fails"
        line(f"  i={hop.instance} cv={hop.cv} by {hop.sealer} (s={hop.selector}): {seal}, {ams}")
    where = f" from {verdict.client_ip_source}" if verdict.client_ip_source else ""
    line(
        f"SPF {verdict.spf_domain or '(no envelope sender)'} for {verdict.client_ip or '?'}"
        f"{where}: {verdict.spf} ({verdict.spf_why})"
    )
    line(f"DMARC: {verdict.dmarc} ({verdict.dmarc_why})")
    if verdict.receiver is None:
        line(
            "Receiver: no Authentication-Results"
            + (f" by {args.trust_receiver}" if args.trust_receiver else "")
        )
    else:
        said = ", ".join(f"{r.method}={r.result}" for r in verdict.receiver.results)
        line(f"Receiver {verdict.receiver.authserv_id} said: {said or 'nothing'}")
        if not verdict.disagreements:
            line("vedette agrees with the receiver")
        for dis in verdict.disagreements:
            detail = f" ({dis.detail})" if dis.detail else ""
            line(f"DISAGREE {dis.method}{detail}: receiver {dis.receiver}, vedette {dis.vedette}")
    for error in verdict.errors:
        line(f"problem: {error}")
