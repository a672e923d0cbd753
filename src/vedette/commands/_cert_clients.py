"""``vedette cert clients CHAIN.pem --host NAME``, and the client-matrix options of scan/report.

``cert clients`` runs the trust half of the client simulation on a chain file, without a
server: which clients (iOS, Outlook, Lync, Android, Java, Thunderbird...) accept this chain for
this name, as of a date, and why not. ``commands/cert.py`` mounts it as a subcommand.

The options shared with ``scan``, ``report`` and ``demo`` (``--clients``, ``--client-profile``,
``--as-of``, ``--inventory``, ``--expect-issuer``, ``--pin``, ``--ca-for``) are defined here too,
with their conversion to a :class:`ClientOptions` and to the JSON kept with a stored scan, so
that ``vedette report`` re-computes the same matrix offline.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import dataclasses
import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vedette.errors import PkiError, UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from vedette.model import Finding
    from vedette.trust import Profile

    # The trust data and the simulation are imported where used: the parsers of scan,
    # report and demo take these options without loading them.
    from vedette.trust.simulate import ClientOptions

__all__ = [
    "add_clients_subcommand",
    "add_matrix_arguments",
    "merge_client_options",
    "options_from_args",
    "options_from_stored",
    "options_to_stored",
    "run_clients",
]

_MAX_FILE = 4 * 1024 * 1024


def add_matrix_arguments(p: argparse.ArgumentParser) -> None:
    """The client-matrix options, for scan, report, demo and cert clients."""
    g = p.add_argument_group("client compatibility matrix")
    g.add_argument(
        "--clients",
        action="append",
        default=[],
        metavar="FAMILY[,FAMILY]",
        help="client families or profile ids to judge (ios, outlook, lync, skype, teams, "
        "android, java, thunderbird, macos-mail, browser, scripts, mta; default: all that "
        "fit the service); see vedette cert clients --list",
    )
    g.add_argument(
        "--client-profile",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="your own client profiles (JSON, layout of vedette's profiles.json)",
    )
    g.add_argument(
        "--as-of",
        metavar="DATE",
        help="judge the clients' stores, distrust rules and certificate dates at DATE "
        "(YYYY-MM-DD or ISO time) instead of now",
    )
    g.add_argument(
        "--inventory",
        type=Path,
        metavar="FILE",
        help="CSV client,version,count: how many devices of each client you have",
    )
    g.add_argument(
        "--expect-issuer",
        action="append",
        default=[],
        metavar="NAME",
        help="a name expected in the chain's issuers (e.g. \"Let's Encrypt\"); another "
        "issuer is a finding (cert.unexpected-issuer)",
    )
    g.add_argument(
        "--pin",
        action="append",
        default=[],
        metavar="sha256:HASH",
        help="SHA-256 of the leaf's SubjectPublicKeyInfo (hex or base64, as in HPKP); "
        "another key is a finding (cert.pin-mismatch)",
    )
    g.add_argument(
        "--ca-for",
        action="append",
        default=[],
        metavar="FAMILY[,FAMILY]",
        help="the client families on which the --ca roots are installed (default: all)",
    )


def _split(values: list[str]) -> tuple[str, ...]:
    return tuple(v.strip().lower() for item in values for v in item.split(",") if v.strip())


def parse_as_of(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--as-of: {text!r} is not a date (YYYY-MM-DD)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def parse_pin(text: str) -> str:
    """``sha256:HEX``, ``sha256:BASE64`` or ``pin-sha256="BASE64"`` -> lowercase hex."""
    m = re.fullmatch(r'\s*(?:sha256[:/]|pin-sha256=)"?([^"\s]+)"?\s*', text, re.IGNORECASE)
    if m is None:
        raise UsageError(f"--pin: expected sha256:HASH, not {text!r}")
    value = m.group(1)
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise UsageError(f"--pin: {text!r} is not a SHA-256 hash in hex or base64")
    return raw.hex()


def _read_text(path: Path, what: str) -> str:
    """A profile or inventory file: a regular file (a FIFO is refused, not waited on)."""
    from vedette.inputfiles import read_regular_file

    data = read_regular_file(path, what=what, limit=_MAX_FILE, error=PkiError)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: {what} must be UTF-8 text") from None


def options_to_stored(args: argparse.Namespace) -> dict[str, Any]:
    """The client options as JSON, read from the files now, for the stored scan."""
    profiles = []
    for path in args.client_profile:
        try:
            profiles.append(json.loads(_read_text(path, "a profile file")))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: not a JSON profile file ({exc})") from None
    return {
        "families": list(_split(args.clients)),
        "profiles": profiles,
        "as_of": args.as_of,
        "inventory": _read_text(args.inventory, "an inventory") if args.inventory else None,
        "expect_issuer": list(args.expect_issuer),
        "pins": [parse_pin(p) for p in args.pin],
        "ca_for": list(_split(args.ca_for)),
    }


def options_from_stored(stored: Mapping[str, Any]) -> ClientOptions:
    """A :class:`ClientOptions` from :func:`options_to_stored`'s JSON (or ``{}``)."""
    from vedette.trust import profiles_from_document, trust_data
    from vedette.trust.simulate import ClientOptions, parse_inventory, select_profiles

    data = trust_data()
    extra: list[Profile] = []
    for i, doc in enumerate(stored.get("profiles") or []):
        if not isinstance(doc, dict):
            raise UsageError(f"stored client profile #{i + 1} is not an object")
        extra.extend(profiles_from_document(doc, f"client profile #{i + 1}"))
    as_of = stored.get("as_of")
    inventory = stored.get("inventory")
    opts = ClientOptions(
        families=tuple(stored.get("families") or ()),
        as_of=parse_as_of(as_of) if as_of else None,
        extra_profiles=tuple(extra),
        ca_applies_to=tuple(stored.get("ca_for") or ()),
        inventory=parse_inventory(inventory, "--inventory") if inventory else (),
        expect_issuer=tuple(stored.get("expect_issuer") or ()),
        pins=tuple(stored.get("pins") or ()),
    )
    profiles = data.with_profiles(opts.extra_profiles).profiles
    if opts.families:
        select_profiles(profiles, opts.families, relay=None)  # unknown names: one-line error
    return opts


def options_from_args(args: argparse.Namespace) -> tuple[ClientOptions, dict[str, Any]]:
    stored = options_to_stored(args)
    return options_from_stored(stored), stored


# --- vedette cert clients ------------------------------------------------------------------------


def add_clients_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "clients",
        help="which clients accept a certificate chain for a name, and why not (no server)",
        description="Run the trust half of vedette's client simulation on a chain file: for "
        "each client profile (iOS, Outlook, Lync, Android, Java, Thunderbird, MTAs...), does "
        "the chain validate for --host as of --as-of, with every reason and its fix.",
    )
    p.add_argument("chain", nargs="?", type=Path, metavar="CHAIN.pem", help="leaf first (PEM/DER)")
    p.add_argument("--host", metavar="NAME", help="the name clients connect to")
    p.add_argument(
        "--ca",
        action="append",
        default=[],
        type=Path,
        metavar="FILE|DIR",
        help="private root(s) the clients have (see --ca-for)",
    )
    p.add_argument("--list", action="store_true", help="list the client profiles and exit")
    p.add_argument(
        "--check-revocation",
        action="store_true",
        help="ask the leaf's OCSP responder (network: sends the serial to the CA)",
    )
    p.add_argument(
        "--resolver",
        metavar="ADDRESS[:PORT]",
        help="DNS server for the OCSP responder's name (default: /etc/resolv.conf's)",
    )
    p.add_argument("--mta", action="store_true", help="include MTAs (SMTP clients) by default")
    p.add_argument("--json", action="store_true", help="print JSON (vedette.clients/1)")
    p.add_argument("-v", "--verbose", action="store_true", help="show the reasons of every client")
    add_matrix_arguments(p)


def _list_profiles(json_out: bool) -> int:
    from vedette.trust import PROFILE_ALIASES, trust_data, unverified_facts

    data = trust_data()
    if json_out:
        profiles = [
            {
                "id": p.id,
                "family": p.family,
                "name": p.name,
                "released": p.released.isoformat(),
                "store": p.store,
                "platform": p.platform,
                "opportunistic": p.opportunistic,
                "aliases": sorted(old for old, new in PROFILE_ALIASES.items() if new == p.id),
                "unverified": unverified_facts(data, (p,)),
            }
            for p in data.profiles
        ]
        doc = {"profiles": profiles, "unverified_facts": len(unverified_facts(data))}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    width = max(len(p.id) for p in data.profiles)
    for p in data.profiles:
        sys.stdout.write(f"{p.id:{width}} {p.family:12} {p.released}  {p.name}\n")
    return 0


def run_clients(args: argparse.Namespace) -> int:
    from vedette.trust import load_extra_roots, trust_data
    from vedette.trust.simulate import select_profiles, simulate

    if args.list:
        return _list_profiles(args.json)
    if args.chain is None:
        raise UsageError("cert clients: give a chain file (or --list)")
    chain = _read_chain(args.chain)
    options, _ = options_from_args(args)
    extra = load_extra_roots(args.ca)
    data = trust_data().with_profiles(options.extra_profiles)
    relay = None if not args.mta else False
    profiles = select_profiles(data.profiles, options.families, relay=relay)
    if args.mta and not options.families:
        profiles = data.profiles
    as_of = options.as_of or dt.datetime.now(dt.UTC)
    matrix = simulate(
        chain,
        host=args.host,
        as_of=as_of,
        data=data,
        profiles=profiles,
        extra_roots=extra,
        options=options,
        check_handshake=False,
    )
    if args.check_revocation:
        matrix = dataclasses.replace(matrix, notes=(*matrix.notes, _revocation_note(chain, args)))
    findings = _expectation_findings(chain, args.host, as_of, options)
    if args.json:
        from vedette.report.clients_section import matrix_to_json

        doc = {"schema": "vedette.clients/1", "chain": str(args.chain), "host": args.host}
        doc.update(matrix_to_json(matrix))
        doc["findings"] = [
            {
                "id": f.id,
                "severity": f.severity.label,
                "title": f.title,
                "detail": f.detail,
                "remediation": f.remediation,
                "evidence": list(f.evidence),
            }
            for f in findings
        ]
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        from rich.console import Console
        from rich.text import Text

        from vedette.report.clients_section import render_matrix
        from vedette.report.escape import safe_text

        console = Console(highlight=False, soft_wrap=False)
        render_matrix(console, matrix, indent=0, verbose=args.verbose)
        if args.host is None:
            console.print("(no --host given: names were not checked)", markup=False)
        for f in findings:
            head = Text(f"{f.severity.label.upper()} ", style="bold red")
            head.append(f.id, style="bold").append(f"  {safe_text(f.title)}")
            console.print(head, markup=False)
            console.print(Text("  " + safe_text(f.detail)), markup=False)
            console.print(Text("  fix: " + safe_text(f.remediation)), markup=False)
    failing = any(v.outcome.value == "fails" for v in matrix.verdicts)
    revoked = any(n.startswith("Revocation: REVOKED") for n in matrix.notes)
    return 1 if failing or revoked or findings else 0


#: The scan's checks of what the user said to expect (``--expect-issuer``, ``--pin``).
_EXPECTATION_CHECKS = ("cert.unexpected-issuer", "cert.pin-mismatch")


def _expectation_findings(
    chain: tuple[bytes, ...], host: str | None, when: dt.datetime, options: ClientOptions
) -> list[Finding]:
    """``--expect-issuer`` and ``--pin`` on a chain file: the very checks ``scan`` runs
    (``cert.unexpected-issuer``, ``cert.pin-mismatch``), over the chain as if a server had
    sent it, so that the two commands cannot disagree."""
    if not (options.expect_issuer or options.pins):
        return []
    from vedette.checks import CheckContext, get_check, load_checks
    from vedette.model import Endpoint, Observation, Service, TlsObservation

    load_checks()
    endpoint = Endpoint(host=host, ip=None, port=Service.HTTPS.default_port, service=Service.HTTPS)
    obs = Observation(
        endpoint=endpoint,
        started_at=when,
        duration_s=0.0,
        tls=TlsObservation(version="", cipher="", sni=host, chain_der=chain),
    )
    ctx = CheckContext(now=when, clients=options)
    findings: list[Finding] = []
    for check_id in _EXPECTATION_CHECKS:
        check = get_check(check_id)
        assert check.fn is not None
        findings.extend(check.finding(endpoint, hit) for hit in check.fn(ctx, obs))
    return findings


def _read_chain(path: Path) -> tuple[bytes, ...]:
    """The certificates of a PEM or DER chain file, read by the PKI toolkit's bounded reader
    (a regular file only: a FIFO or a device is refused, not waited on)."""
    from vedette.inputfiles import read_regular_file
    from vedette.trust import pem_certificates
    from vedette.x509.chain import load_der

    data = read_regular_file(path, what="certificate chain", error=PkiError)
    if b"-----BEGIN" not in data:
        try:
            load_der(data)
        except ValueError:
            raise UsageError(f"{path}: not a PEM or DER certificate") from None
        return (data,)
    chain = pem_certificates(data, source=path, strict=True)
    if not chain:
        raise UsageError(f"{path}: no certificate in this file")
    return chain


def _revocation_note(chain: tuple[bytes, ...], args: argparse.Namespace) -> str:
    """One line on the leaf's revocation status (the only network I/O of cert clients)."""
    from vedette.resolve import parse_resolver
    from vedette.trust.revocation import check_revocation
    from vedette.x509.chain import parse_sent, signed_by

    sent = [s.cert for s in parse_sent(chain) if s.cert is not None]
    if not sent:
        return "Revocation: not checked (the server certificate does not parse)"
    leaf = sent[0]
    issuer = next((c for c in sent[1:] if signed_by(leaf, c)), None)
    if issuer is None:
        return "Revocation: not checked (the issuer of the server certificate is not in the file)"
    resolver = parse_resolver(args.resolver) if args.resolver else None
    result = check_revocation(leaf, issuer, dt.datetime.now(dt.UTC), resolver=resolver)
    where = f" ({result.url})" if result.url and result.url not in result.detail else ""
    if result.status == "revoked":
        return f"Revocation: {result.detail}{where}"
    return f"Revocation: {result.status}: {result.detail}{where}"


def options_for_report(
    args: argparse.Namespace, stored: dict[str, Any] | None
) -> tuple[ClientOptions, dict[str, Any]]:
    """``vedette report``: the options stored with the scan, overridden field by field by the
    ones given now (``--as-of`` on the command line replaces the stored one, and so on)."""
    merged = merge_client_options(stored, options_to_stored(args))
    return options_from_stored(merged), merged


def merge_client_options(
    stored: Mapping[str, Any] | None, given: Mapping[str, Any]
) -> dict[str, Any]:
    """Client options stored with a scan, overridden field by field by those given now (each
    as ``options_to_stored`` makes them); a field given empty keeps the stored one."""
    merged = dict(stored or {})
    for key, value in given.items():
        if value:
            merged[key] = value
    return merged
