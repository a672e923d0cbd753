"""``vedette ca init|sign|revoke|crl|seal|list``: a small internal CA kept in a directory.

See ``vedette.pki.cadir`` for the layout and the crash-safety rules. The CA directory of
``sign``/``revoke``/``crl``/``list`` is ``--ca-dir DIR`` or ``$VEDETTE_CA_DIR``.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from vedette.commands import _common as c
from vedette.commands import _pki as p
from vedette.errors import PkiError, UsageError, VedetteError
from vedette.pki import convert as conv
from vedette.pki.cadir import (
    MAC_KEY,
    REVOCATION_REASONS,
    CaDir,
    CaSettings,
    IndexEntry,
    init_ca,
)
from vedette.pki.clients import default_key_type, parse_clients, signature_hash
from vedette.pki.csr import general_name, name_text, verify_csr
from vedette.pki.issue import PROFILES
from vedette.pki.keys import KEY_TYPES
from vedette.report.escape import safe_text
from vedette.trust import Profile
from vedette.x509.validity import limit_at, max_validity_days

if TYPE_CHECKING:
    from rich.console import Console

NAME = "ca"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    init = sub.add_parser("init", help="create a CA directory (root, optional intermediate)")
    init.add_argument("directory", type=Path, metavar="DIR")
    init.add_argument("--name", required=True, help="the root's common name")
    init.add_argument("--org", help="organisation (O) of the CA certificates")
    init.add_argument(
        "--intermediate",
        action="store_true",
        help="also make an issuing CA under the root (the root then stays "
        "offline-able: only the intermediate signs)",
    )
    init.add_argument("--key-type", choices=KEY_TYPES, help="CA key type (default by --clients)")
    p.add_clients(init)
    init.add_argument("--hash", choices=("sha256", "sha384", "sha512"))
    init.add_argument("--root-days", type=_days, default=3650, metavar="N")
    init.add_argument("--intermediate-days", type=_days, default=1825, metavar="N")
    init.add_argument(
        "--days",
        type=_days,
        metavar="N",
        help="default lifetime of issued certificates (default: one day under the CA/Browser "
        "Forum limit in force on the day of signing, 199 days from 2026-03-15)",
    )
    init.add_argument(
        "--permit",
        action="append",
        default=[],
        metavar="DOMAIN|CIDR",
        help="name constraint: the CA may only certify DOMAIN and its subdomains (DNS names, "
        "e-mail addresses, URIs), and IP addresses only inside a CIDR given here; repeatable",
    )
    init.add_argument("--crl-url", metavar="URL", help="CRL distribution point to publish")
    init.add_argument("--aia-url", metavar="URL", help="caIssuers URL (the issuing CA's cert)")
    init.add_argument("--ocsp-url", metavar="URL", help="OCSP responder URL")
    p.add_passout(init, "the CA keys")

    sign = sub.add_parser("sign", help="issue a certificate for a request")
    sign.add_argument("csr", type=Path, metavar="CSR")
    _ca_dir(sign)
    sign.add_argument(
        "--profile",
        choices=PROFILES,
        default="server",
        help="what the certificate is for: server (serverAuth), server-client (serverAuth and "
        "clientAuth: Lync/Skype for Business servers, mutual TLS), client, smime, ocsp",
    )
    sign.add_argument("--days", type=_days, metavar="N", help="lifetime (default: the CA's)")
    sign.add_argument(
        "--public",
        action="store_true",
        help="cap the lifetime at the CA/Browser Forum limit in force",
    )
    sign.add_argument(
        "--san",
        action="append",
        default=[],
        metavar="NAME",
        help="names to certify instead of the request's; repeatable",
    )
    sign.add_argument("--hash", choices=("sha256", "sha384", "sha512"))
    p.add_clients(sign)
    sign.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help="the certificate followed by the CA chain (what a server sends)",
    )
    sign.add_argument("--leaf-only", action="store_true", help="write the certificate alone")
    p.add_passin(sign, "the CA key")
    p.add_force(sign)

    revoke = sub.add_parser("revoke", help="revoke a certificate and publish a new CRL")
    revoke.add_argument("certificate", metavar="SERIAL|FILE")
    _ca_dir(revoke)
    revoke.add_argument("--reason", choices=sorted(REVOCATION_REASONS), default="unspecified")
    p.add_passin(revoke, "the CA key")

    crl = sub.add_parser("crl", help="publish a new CRL (crl.pem, crl.der)")
    _ca_dir(crl)
    crl.add_argument("--out", type=Path, metavar="FILE", help="also write it here (PEM)")
    p.add_passin(crl, "the CA key")
    p.add_force(crl)

    seal = sub.add_parser(
        "seal",
        help="seal the index of a CA made by an older vedette (once, after checking it)",
        description="Check every index entry against its certificate in issued/ and against "
        "the last CRL, then protect index.json with an HMAC-SHA256 keyed by a new "
        "index-mac.key (0600). Needed once for a CA directory written before index seals.",
    )
    _ca_dir(seal)

    lst = sub.add_parser("list", help="list issued certificates")
    _ca_dir(lst)
    lst.add_argument(
        "--json",
        action="store_true",
        help="one JSON document: the CA's subject and every issued certificate with its state",
    )


# Lifetime when no CA/Browser Forum limit is known for today (398: the 2020-2026 limit).
_FALLBACK_DAYS = 398


def _days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 36500:
        raise argparse.ArgumentTypeError(f"a number of days from 1 to 36500: {text!r}")
    return int(text)


def _ca_dir(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--ca-dir", type=Path, metavar="DIR", help="the CA (default $VEDETTE_CA_DIR)")


def _dir(args: argparse.Namespace) -> Path:
    if args.ca_dir is not None:
        return Path(args.ca_dir)
    env = os.environ.get("VEDETTE_CA_DIR")
    if not env:
        raise UsageError("which CA? give --ca-dir DIR or set VEDETTE_CA_DIR")
    return Path(env)


def _open(path: Path) -> CaDir:
    ca = CaDir.open(path)
    for serial in ca.recovered:
        p.note(f"recovered issued/{serial:x}.pem into the index (an issue was interrupted)")
    return ca


def run(args: argparse.Namespace) -> int:
    try:
        with p.certificate_errors():
            return _run(args)
    except VedetteError as exc:
        # Error messages quote names and fields from requests, certificates and the CA's own
        # files: a request's SAN can carry ESC ] 0 ; ... BEL or a NUL. Escape them before the
        # CLI prints the message.
        exc.args = (safe_text(str(exc)),)
        raise


def _run(args: argparse.Namespace) -> int:
    if args.action == "init":
        return _init(args)
    if args.action == "sign":
        return _sign(args)
    if args.action == "revoke":
        return _revoke(args)
    if args.action == "crl":
        return _crl(args)
    if args.action == "seal":
        return _seal(args)
    return _list(args)


def _ca_key_type(clients: tuple[Profile, ...]) -> str:
    # A CA key lives for years: when the clients need RSA, use 3072 bits (NIST SP 800-57's
    # choice beyond 2030), which every client that takes RSA 2048 also takes.
    key_type = default_key_type(clients)
    return "rsa:3072" if key_type.startswith("rsa") else key_type


def _permits(
    values: list[str],
) -> tuple[list[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    """``--permit`` values: domains, and IP networks (``192.0.2.0/24``, ``2001:db8::/32``)."""
    domains: list[str] = []
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for text in values:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=True))
            continue
        except ValueError:
            if "/" in text or text.replace(".", "").replace(":", "").isdigit():
                raise UsageError(f"--permit {text!r}: not a network (e.g. 192.0.2.0/24)") from None
        if "*" in text:
            raise UsageError("--permit takes a domain (example.com covers its subdomains), no '*'")
        domains.append(str(general_name(f"DNS:{text}").value))
    if networks and not domains:
        raise UsageError(
            "--permit: give the domains the CA may certify too; networks only add IP addresses"
        )
    return domains, networks


def _init(args: argparse.Namespace) -> int:
    clients = parse_clients(args.clients)
    hash_alg = signature_hash(clients, args.hash)
    permitted, networks = _permits(args.permit)
    settings = CaSettings(
        issuer="intermediate" if args.intermediate else "root",
        crl_url=args.crl_url,
        aia_url=args.aia_url,
        ocsp_url=args.ocsp_url,
        default_days=args.days,
        hash=hash_alg,
    )
    secret = p.new_secret(args.passout, f"the CA keys in {args.directory}")
    root, inter = init_ca(
        args.directory,
        name=args.name,
        org=args.org,
        key_type=args.key_type or _ca_key_type(clients),
        intermediate=args.intermediate,
        root_days=args.root_days,
        intermediate_days=args.intermediate_days,
        permitted_dns=permitted,
        permitted_ip=networks,
        settings=settings,
        passphrase=secret,
        now=datetime.now(UTC),
    )
    console = c.console()
    p.line(console, f"created CA in {args.directory}")
    p.field(console, "root", f"{root.subject.rfc4514_string()} ({args.directory}/root.pem)")
    if inter is not None:
        p.field(console, "issuing CA", f"{inter.subject.rfc4514_string()}")
    if permitted:
        p.field(
            console,
            "name constraints",
            ", ".join(permitted + [str(n) for n in networks])
            + " (DNS, e-mail, URI"
            + ("; IP in the networks given)" if networks else "; no IP address)"),
        )
    p.field(
        console,
        "lifetime",
        f"{args.days} days"
        if args.days
        else "one day under the CA/Browser Forum limit in force when signing",
    )
    p.field(console, "keys", "encrypted (PKCS#8)" if secret else "NOT encrypted (mode 0600)")
    p.line(console, f"give {args.directory}/root.pem to clients and to vedette scan --ca")
    return 0


def _sign(args: argparse.Namespace) -> int:
    path = _dir(args)
    # Checked before issuing: an issued certificate whose --out cannot be written would be
    # recorded in the CA but not where the administrator looks for it.
    p.check_outputs(args.out, force=args.force)
    material = p.read_file(args.csr, None, what="certificate request")
    if len(material.csrs) != 1:
        raise PkiError(f"{args.csr}: expected one certificate request, found {len(material.csrs)}")
    csr = material.csrs[0]
    verify_csr(csr, str(args.csr))
    clients = parse_clients(args.clients)
    now = datetime.now(UTC)
    names = [general_name(s) for s in args.san] or None
    with CaDir.locked(path):
        ca = _open(path)
        hash_alg = signature_hash(clients, args.hash or ca.settings.hash)
        limit = max_validity_days(now)
        # SC-081v3 pairs each MUST NOT with a SHOULD NOT one day shorter ("SHOULD NOT exceed
        # 199 days and MUST NOT exceed 200"): follow the SHOULD.
        under_limit = _FALLBACK_DAYS if limit is None else limit - 1
        days = args.days or ca.settings.default_days or under_limit
        if args.public:
            source = limit_at(now)
            if limit is not None and args.days is not None and args.days > limit:
                raise UsageError(
                    f"--days {args.days} exceeds the CA/Browser Forum limit of {limit} days "
                    f"in force ({source.source if source else ''})"
                )
            if args.days is None:
                days = under_limit
        key = ca.issuer_key(p.secret_fn(args.passin, f"the CA key in {path}"))
        cert = ca.sign(
            csr, key=key, profile=args.profile, days=days, hash_alg=hash_alg, names=names, now=now
        )
        chain = [] if args.leaf_only else list(ca.chain)
    p.write(args.out, conv.to_pem([cert, *chain]), force=args.force)
    console = c.console()
    p.line(console, f"issued serial {cert.serial_number:x}, wrote {args.out}")
    p.field(console, "subject", cert.subject.rfc4514_string())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        p.field(console, "names", ", ".join(name_text(n) for n in san))
    except Exception:  # noqa: S110 - display only; smime/ocsp may have no SAN
        pass
    p.field(console, "valid until", f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC ({days} days)")
    p.field(console, "profile", f"{args.profile}, signed with {hash_alg.upper()}")
    return 0


def _serial_of(args: argparse.Namespace) -> int:
    text = args.certificate
    candidate = Path(text)
    if candidate.is_file():
        material = p.read_file(candidate, None)
        if not material.certificates:
            raise PkiError(f"{text}: no certificate in this file")
        return material.certificates[0].serial_number
    cleaned = text.lower().replace(":", "").removeprefix("0x")
    try:
        return int(cleaned, 16)
    except ValueError:
        raise UsageError(f"{text!r} is neither a file nor a hexadecimal serial") from None


def _revoke(args: argparse.Namespace) -> int:
    path = _dir(args)
    serial = _serial_of(args)
    now = datetime.now(UTC)
    with CaDir.locked(path):
        ca = _open(path)
        key = ca.issuer_key(p.secret_fn(args.passin, f"the CA key in {path}"))
        entry = ca.revoke(serial, args.reason, now)
        crl = ca.crl(key=key, now=now)
    console = c.console()
    p.line(console, f"revoked serial {entry.serial_hex} ({entry.subject}), reason {args.reason}")
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    p.field(console, "CRL", f"number {number}, {path}/crl.pem and crl.der")
    return 0


def _crl(args: argparse.Namespace) -> int:
    path = _dir(args)
    now = datetime.now(UTC)
    p.check_outputs(args.out, force=args.force)
    with CaDir.locked(path):
        ca = _open(path)
        key = ca.issuer_key(p.secret_fn(args.passin, f"the CA key in {path}"))
        crl = ca.crl(key=key, now=now)
        revoked = sum(1 for _ in crl)
    if args.out is not None:
        p.write(args.out, crl.public_bytes(serialization.Encoding.PEM), force=args.force)
    p.line(c.console(), f"CRL published: {revoked} revoked, {path}/crl.pem and crl.der")
    return 0


def _seal(args: argparse.Namespace) -> int:
    path = _dir(args)
    with CaDir.locked(path):
        ca = CaDir.open(path, unsealed=True)
        ca.seal()
    console = c.console()
    p.line(
        console,
        f"sealed {path}/index.json ({len(ca.entries)} certificates, each checked against "
        f"issued/ and crl.pem); key {path}/{MAC_KEY} (0600)",
    )
    _show_entries(console, ca.entries, datetime.now(UTC))
    return 0


def _state(e: IndexEntry, now: datetime) -> tuple[str, str]:
    """The entry's state as shown, and its colour."""
    if e.revoked_at is not None:
        return f"revoked ({e.reason})", "red"
    if e.not_after < now:
        return "expired", "yellow"
    return "valid", "green"


def _list(args: argparse.Namespace) -> int:
    path = _dir(args)
    with CaDir.locked(path):
        ca = _open(path)
    now = datetime.now(UTC)
    if args.json:
        doc = {
            "schema": "vedette.ca-list/1",
            "issuer": ca.issuer.subject.rfc4514_string(),
            "root": ca.root.subject.rfc4514_string(),
            "generated_at": now.isoformat(),
            "certificates": [
                {**e.to_json(), "state": _state(e, now)[0].split(" ")[0]} for e in ca.entries
            ],
        }
        # ASCII JSON: a subject's C1 control or bidi override stays a \u escape, inert in a
        # terminal that shows the document.
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=True) + "\n")
        return 0
    _show_entries(c.console(), ca.entries, now)
    return 0


def _show_entries(console: Console, entries: list[IndexEntry], now: datetime) -> None:
    for e in entries:
        state, style = _state(e, now)
        p.line(
            console,
            (e.serial_hex, "bold"),
            "  ",
            (state, style),
            f"  {e.profile}  until {e.not_after:%Y-%m-%d}  {e.subject}  {', '.join(e.names)}",
        )
    if not entries:
        p.line(console, "no certificate issued yet")
