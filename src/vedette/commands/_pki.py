"""What the PKI commands (``key``, ``cert``, ``ca``) share: options, inputs, outputs, display.

Everything a certificate or a server says is printed through :func:`line`, which wraps it in a
rich ``Text`` after ``safe_text`` escaping, like the scan report: a certificate fetched from a
server is server data, and its subject may carry terminal escape sequences.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import UnsupportedAlgorithm
from rich.text import Text

from vedette.commands import _common as c
from vedette.errors import PkiError
from vedette.pki import atomic_write, read_input
from vedette.pki.formats import Material, read_material
from vedette.pki.keys import load_private_key
from vedette.pki.passphrase import PassSource, parse_source, read_passphrase
from vedette.report.escape import safe_text

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from rich.console import Console

    from vedette.model import Observation
    from vedette.pki.ca import PrivateKey
    from vedette.pki.fetch import Observe
    from vedette.scan import ScanOptions
    from vedette.targets import TargetSpec


@contextlib.contextmanager
def certificate_errors() -> Iterator[None]:
    """Turn what cryptography raises on a malformed field it parses lazily (a subject, an
    extension) into the one-line PkiError of the CLI, instead of a traceback."""
    try:
        yield
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"cannot use this certificate data: {' '.join(str(exc).split())}") from None


def pass_source(text: str) -> PassSource:
    try:
        return parse_source(text)
    except Exception as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_passin(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--passin",
        type=pass_source,
        metavar="SOURCE",
        help=f"passphrase for {what}: file:PATH, env:NAME, fd:N or prompt (never on the "
        "command line)",
    )


def add_passout(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--passout",
        type=pass_source,
        metavar="SOURCE",
        help=f"encrypt {what} with a passphrase from file:PATH, env:NAME, fd:N or prompt",
    )


def add_clients(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--clients",
        action="append",
        metavar="FAMILY[,FAMILY]",
        help="client families or profile ids in play, as in vedette scan (default: all but "
        "MTAs): the default key is ECDSA P-256 only if all of them support it, else RSA 2048; "
        "SHA-512 is refused if legacy SChannel (Lync 2013) is among them",
    )


def add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true", help="replace output files that exist")


def add_target_options(p: argparse.ArgumentParser) -> None:
    """The scan's options for reaching a TARGET (``--ip``, ``--resolve``, ``--resolver``)."""
    p.add_argument(
        "--ip",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="connect to ADDRESS instead of resolving the target's name (SNI keeps the name)",
    )
    p.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="HOST:PORT:ADDRESS",
        help="like curl: pin HOST:PORT (PORT may be *) to ADDRESS[,ADDRESS...]",
    )
    p.add_argument("--resolver", metavar="ADDRESS[:PORT]", help="DNS server to ask")
    p.add_argument(
        "--connect-timeout", type=c.positive, default=c.DEFAULT_LIMITS.connect_timeout, metavar="S"
    )


def scan_options(args: argparse.Namespace) -> ScanOptions:
    from vedette.probe.limits import Limits
    from vedette.resolve import parse_resolver
    from vedette.scan import ScanOptions
    from vedette.targets import parse_address, parse_resolve

    return ScanOptions(
        pinned=tuple(parse_address(a, "--ip") for a in args.ip),
        pins=tuple(parse_resolve(p) for p in args.resolve),
        resolver=parse_resolver(args.resolver) if args.resolver else None,
        limits=Limits(connect_timeout=args.connect_timeout),
    )


def observe_target(args: argparse.Namespace) -> Observe:
    """The scan engine with the command's options, for :func:`vedette.pki.fetch.fetch_chain`."""
    options = scan_options(args)

    async def observe(spec: TargetSpec) -> Sequence[Observation]:
        from vedette.scan import scan  # the probe stack: imported only when a server is asked

        return await scan([spec], options)

    return observe


def secret_fn(source: PassSource | None, purpose: str) -> Callable[[], bytes | None]:
    """A callable giving the passphrase once (cached), ``None`` when no source was given."""
    cache: list[bytes | None] = []

    def get() -> bytes | None:
        if not cache:
            cache.append(None if source is None else read_passphrase(source, purpose=purpose))
        return cache[0]

    return get


def new_secret(source: PassSource | None, purpose: str) -> bytes | None:
    return None if source is None else read_passphrase(source, purpose=purpose, confirm=True)


def read_file(path: Path, passin: PassSource | None, *, what: str = "file") -> Material:
    data = read_input(path, what=what)
    return read_material(data, source=str(path), password=secret_fn(passin, str(path)))


def read_key(path: Path, passin: PassSource | None) -> PrivateKey:
    data = read_input(path, what="private key")
    material = read_material(data, source=str(path), password=secret_fn(passin, str(path)))
    if len(material.keys) != 1:
        raise PkiError(
            f"{path}: expected one private key, found {len(material.keys)}"
            + (" (this is a certificate or request)" if not material.keys else "")
        )
    return material.keys[0]


def load_key_bytes(data: bytes, passin: PassSource | None, source: str) -> PrivateKey:
    secret = secret_fn(passin, source)() if b"ENCRYPTED" in data else None
    return load_private_key(data, secret, source=source)


def check_outputs(*paths: Path | None, force: bool) -> None:
    """Before any work: every output can be written (its directory exists, and it does not
    exist unless ``force``), so a command never stops with some outputs written and not
    others (a new key without its request, an issued certificate without its file)."""
    for path in paths:
        if path is None:
            continue
        if path.exists() and not force:
            raise PkiError(f"{path}: already exists (use --force to replace it)")
        parent = path.parent if str(path.parent) else Path()
        if not parent.is_dir():
            raise PkiError(f"{path}: the directory {parent} does not exist")


def write(path: Path, data: bytes, *, force: bool, secret: bool = False) -> None:
    atomic_write(path, data, mode=0o600 if secret else 0o644, overwrite=force)


def line(console: Console, *parts: tuple[str, str] | str, indent: int = 0) -> None:
    """One line; every part is escaped (``safe_text``) and never parsed as markup."""
    text = Text(" " * indent)
    for part in parts:
        if isinstance(part, str):
            text.append(safe_text(part))
        else:
            text.append(safe_text(part[0]), style=part[1])
    console.print(text, highlight=False, markup=False, emoji=False, soft_wrap=True)


def field(console: Console, label: str, value: str, *, indent: int = 2, style: str = "") -> None:
    line(console, (f"{label}:".ljust(20), "bold"), (value, style), indent=indent)


def note(message: str) -> None:
    """One line on stderr; escaped, since notes quote file names, URLs and certificate names."""
    sys.stderr.write(f"vedette: {safe_text(message)}\n")


def _validity_state(not_before: str, not_after: str) -> tuple[str, str]:
    now = datetime.now(UTC)
    start, end = datetime.fromisoformat(not_before), datetime.fromisoformat(not_after)
    if now < start:
        return "not valid yet", "bold red"
    if end < now:
        return f"expired {(now - end).days} days ago", "bold red"
    left = (end - now).days
    return f"{left} days left", "yellow" if left < 30 else "green"


def render_item(console: Console, item: dict[str, Any], *, verbose: bool, title: str) -> None:
    """A described certificate / request / CRL (``pki.describe``) in the terminal."""
    line(console, (title, "bold cyan"))
    kind = item.get("type")
    if kind == "certificate":
        field(console, "subject", str(item["subject"]))
        field(console, "issuer", str(item["issuer"]))
        field(console, "names", ", ".join(item["sans"]) or "none (no subjectAltName)")
        state, style = _validity_state(str(item["not_before"]), str(item["not_after"]))
        field(
            console, "valid", f"{item['not_before']} to {item['not_after']} ({state})", style=style
        )
        field(console, "key", str(item["key"]))
        field(console, "signature", str(item["signature_algorithm"]))
        field(console, "serial", str(item["serial"]))
        field(console, "sha256", str(item["sha256"]))
        if verbose:
            field(console, "sha1", str(item["sha1"]))
            field(console, "spki sha256", str(item["spki_sha256"]))
    elif kind == "request":
        field(console, "subject", str(item["subject"]))
        field(console, "names", ", ".join(item["sans"]) or "none")
        field(console, "key", str(item["key"]))
        field(console, "signature", str(item["signature_algorithm"]))
        ok = bool(item["signature_valid"])
        field(
            console,
            "self-signature",
            "verifies" if ok else "DOES NOT VERIFY",
            style="green" if ok else "bold red",
        )
    elif kind == "crl":
        field(console, "issuer", str(item["issuer"]))
        field(console, "number", str(item["crl_number"]))
        field(console, "updated", f"{item['last_update']} (next {item['next_update']})")
        field(console, "revoked", str(len(item["revoked"])))
        if verbose:
            for r in item["revoked"]:
                line(console, f"serial {r['serial']} on {r['date']}", indent=4)
    elif kind == "key":
        field(console, "key", str(item["key"]))
    for ext in item.get("extensions", []) if verbose else []:
        crit = " (critical)" if ext.get("critical") else ""
        field(console, f"  {ext.get('name', '?')}{crit}", str(ext.get("value", ext)), indent=2)
