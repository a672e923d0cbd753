"""``vedette cert inspect|csr|convert|bundle|lint``: certificates in any format, and requests.

FILE arguments are read in any format (``vedette.pki.formats``); TARGET arguments use the
scan's grammar (``imaps://mail.example.com``, ``mail.example.com:587``) and fetch the chain the
server sends, STARTTLS included. An argument that names an existing file is a file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from vedette import trust
from vedette.commands import _common as c
from vedette.commands import _pki as p
from vedette.errors import PkiError, UsageError
from vedette.pki import bundle as bundle_mod
from vedette.pki import convert as conv
from vedette.pki import read_input
from vedette.pki.clients import (
    default_key_type,
    key_type_reason,
    parse_clients,
    signature_hash,
)
from vedette.pki.csr import (
    build_csr,
    general_name,
    merge_names,
    name_text,
    names_like,
    parse_subject,
)
from vedette.pki.describe import (
    describe_certificate,
    describe_chain,
    describe_crl,
    describe_csr,
    describe_pkcs12,
    describe_windows,
)
from vedette.pki.fetch import fetch_chain, looks_like_target
from vedette.pki.formats import Material, read_material
from vedette.pki.keys import KEY_TYPES, describe_key, generate_key, key_matches, key_to_pem
from vedette.pki.lint import PROFILES as LINT_PROFILES
from vedette.pki.lint import ProfileChoice, choose_profile, lint_certificate
from vedette.pki.pkcs12 import (
    KEY_USAGE_BYTE,
    KeyAttributes,
    KeySpec,
    check_csp_name,
    key_attributes,
    parse_keyspec,
    parse_pfx,
)
from vedette.pki.windows_presets import EKUS, Preset, certreq_inf, preset, presets
from vedette.report.escape import safe_text

NAME = "cert"

INSPECT_SCHEMA = "vedette.cert-inspect/1"
LINT_SCHEMA = "vedette.cert-lint/1"

# `vedette cert clients` lives in the client-simulation work's own module.
from vedette.commands._cert_clients import add_clients_subcommand, run_clients  # noqa: E402


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_inspect(sub)
    _add_csr(sub)
    _add_convert(sub)
    _add_bundle(sub)
    _add_lint(sub)
    add_clients_subcommand(sub)


def run(args: argparse.Namespace) -> int:
    if args.action == "clients":
        return run_clients(args)
    with p.certificate_errors():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    action = args.action
    if action == "inspect":
        return _inspect(args)
    if action == "csr":
        return _csr(args)
    if action == "convert":
        return _convert(args)
    if action == "bundle":
        return _bundle(args)
    if action == "lint":
        return _lint(args)
    raise UsageError(f"unknown cert action {action!r}")


# --- sources -------------------------------------------------------------------------------------


def _load(args: argparse.Namespace, source: str) -> tuple[Material, str | None]:
    """(material, endpoint label when fetched from a server)."""
    if looks_like_target(source):
        fetched = fetch_chain(source, p.observe_target(args))
        certs = []
        for i, der in enumerate(fetched.chain_der):
            try:
                certs.append(x509.load_der_x509_certificate(der))
            except ValueError as exc:
                p.note(f"{fetched.endpoint.label}: certificate #{i + 1} does not parse: {exc}")
        if not certs:
            raise PkiError(f"{fetched.endpoint.label}: no certificate that parses")
        return Material(format="tls", certificates=tuple(certs)), fetched.endpoint.label
    return p.read_file(Path(source), getattr(args, "passin", None)), None


# --- inspect -------------------------------------------------------------------------------------


def _add_inspect(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser(
        "inspect",
        help="show what a file or a server's chain holds",
        description="Show certificates, requests, CRLs and keys from any file format, or the "
        "chain a server sends (TARGET as in vedette scan, STARTTLS included).",
    )
    sp.add_argument("source", metavar="FILE|TARGET")
    p.add_passin(sp, "a PKCS#12 file or an encrypted key")
    p.add_target_options(sp)
    sp.add_argument("--json", action="store_true", help=f"print a {INSPECT_SCHEMA} document")
    sp.add_argument("-v", "--verbose", action="store_true", help="extensions and more digests")
    sp.add_argument("--out", type=Path, metavar="FILE", help="save the certificates as PEM")
    p.add_force(sp)


def _inspect_source(
    args: argparse.Namespace,
) -> tuple[Material, str | None, Callable[[], bytes | None]]:
    """(material, endpoint, the passphrase as given, asked at most once). A PKCS#12 file
    opened without --passin still shows what is readable without the password (its
    structure, the key bag's Windows attributes)."""
    password = p.secret_fn(args.passin, args.source)
    if looks_like_target(args.source):
        material, endpoint = _load(args, args.source)
        return material, endpoint, password
    data = read_input(Path(args.source), what="file")
    asked: list[bool] = []

    def ask() -> bytes | None:
        asked.append(True)
        return password()

    try:
        return read_material(data, source=args.source, password=ask), None, password
    except PkiError as exc:
        if args.passin is not None or not asked:
            raise
        try:
            structure = parse_pfx(data)  # read once already, up to the password
        except PkiError:
            raise exc from None  # a PEM or base64 wrapping: the loader's words
    note = "the certificates and the key are encrypted: give --passin to read them"
    return Material(format="pkcs12", pkcs12=structure, notes=(note,)), None, password


def _windows_import(
    material: Material, password: Callable[[], bytes | None], source: str
) -> dict[str, Any] | None:
    """What ``describe_windows`` says of a PKCS#12's key, its KeySpec read when the key
    bag decrypts with the passphrase given (or none, for a file without one)."""
    pfx = material.pkcs12
    if pfx is None:
        return None
    bag = next((b for b in pfx.bags() if b.kind in ("shrouded-key", "key")), None)
    attrs: KeyAttributes | None = None
    note: str | None = None
    if bag is not None and not (material.certificates or material.keys):
        note = "the KeySpec is inside the encrypted key: give --passin to read it"
    elif bag is not None:
        try:  # the loader checked the MAC with this passphrase (none: an empty one)
            attrs = key_attributes(bag, password() or b"")
        except PkiError as exc:
            note = f"the KeySpec could not be read: {exc}"
    return describe_windows(pfx, attrs, source=source, key_note=note)


def _inspect(args: argparse.Namespace) -> int:
    p.check_outputs(args.out, force=args.force)
    material, endpoint, password = _inspect_source(args)
    certs = [describe_certificate(cert) for cert in material.certificates]
    keys: list[dict[str, Any]] = []
    for key in material.keys:
        match = next(
            (i for i, cert in enumerate(material.certificates) if key_matches(key, cert)), None
        )
        keys.append({"type": "key", "key": describe_key(key), "matches_certificate": match})
    doc: dict[str, Any] = {
        "schema": INSPECT_SCHEMA,
        "source": args.source,
        "endpoint": endpoint,
        "format": material.format,
        "friendly_name": material.friendly_name,
        "certificates": certs,
        "chain": describe_chain(material.certificates) if material.certificates else None,
        "requests": [describe_csr(r) for r in material.csrs],
        "crls": [describe_crl(r) for r in material.crls],
        "keys": keys,
        "pkcs12": None
        if material.pkcs12 is None
        else describe_pkcs12(
            material.pkcs12,
            material.certificates,
            key_certificate=keys[0]["matches_certificate"] if keys else None,
        ),
        "windows": _windows_import(material, password, args.source),
        "notes": list(material.notes),
    }
    if args.out is not None:
        if not material.certificates:
            raise PkiError(f"{args.source}: no certificate to save")
        p.write(args.out, conv.to_pem(material.certificates), force=args.force)
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    console = c.console()
    head = endpoint or args.source
    p.line(console, (f"{head}", "bold"), f"  ({material.format})")
    n = len(certs)
    for i, item in enumerate(certs):
        title = "Certificate" if n == 1 else f"Certificate {i + 1} of {n}"
        p.render_item(console, item, verbose=args.verbose, title=title)
    chain = doc["chain"]
    if chain is not None and n > 1:
        p.line(console, ("Chain", "bold cyan"))
        p.field(console, "path", " <- ".join(chain["path"]))
        for problem in chain["order_problems"]:
            p.field(console, "order", problem, style="yellow")
        if chain["missing_issuer"]:
            p.field(console, "missing", f"issuer {chain['missing_issuer']}", style="yellow")
    for i, item in enumerate(doc["requests"]):
        p.render_item(console, item, verbose=args.verbose, title=f"Request {i + 1}")
    for i, item in enumerate(doc["crls"]):
        p.render_item(console, item, verbose=args.verbose, title=f"CRL {i + 1}")
    for item in keys:
        m = item["matches_certificate"]
        where = f"matches certificate {m + 1}" if m is not None else "matches no certificate here"
        p.line(console, ("Private key", "bold cyan"), f"  {item['key']}, {where}")
    if material.friendly_name:
        p.field(console, "friendly name", material.friendly_name)
    if doc["pkcs12"] is not None:
        _render_pkcs12(console, doc["pkcs12"])
    if doc["windows"] is not None:
        _render_windows(console, doc["windows"])
    if material.format == "sst" and endpoint is None:
        _render_sst(console, Path(args.source))
    for note in material.notes:
        p.line(console, ("note: ", "dim"), note)
    return 0


def _render_sst(console: Any, path: Path) -> None:
    """Every element of a ``.sst`` and its properties, unknown ids named (``describe_sst``)."""
    from vedette.pki.sst import describe_sst

    lines = describe_sst(read_input(path, what="file"))
    p.line(console, ("Serialized store", "bold cyan"), f"  {lines[0]}")
    for text in lines[1:]:
        p.line(console, text, indent=2)


_PROFILE_TEXT = {
    "legacy": "legacy encryption (RC2/3DES with a SHA-1 KDF, HMAC-SHA1 MAC): what Windows "
    "Server 2012/2016, older Java and appliances import; weak protection for the key",
    "modern": "modern encryption (AES with PBKDF2, HMAC-SHA2 MAC): Windows Server 2016 and "
    "older, older Java and many appliances refuse it, saying the password is wrong "
    "(vedette cert convert IN OUT.pfx --legacy writes one they read)",
    "mixed": "mixed legacy and modern algorithms",
    "none": "no encryption: the certificates and any key are readable without the password",
}


def _legacy_tag(legacy: bool) -> tuple[str, str]:
    return (" (legacy)", "yellow") if legacy else (" (modern)", "green")


def _render_pkcs12(console: Any, info: dict[str, Any]) -> None:
    """The PKCS#12 structure of ``cert inspect`` (``describe_pkcs12``)."""
    p.line(console, ("PKCS#12", "bold cyan"), f"  {_PROFILE_TEXT[info['encryption_profile']]}")
    mac = info["mac"]
    if mac is not None:
        p.line(
            console,
            ("integrity:".ljust(20), "bold"),
            mac["text"],
            _legacy_tag(mac["legacy"]),
            indent=2,
        )
    else:
        p.field(console, "integrity", f"no MAC ({info['integrity']})", style="yellow")
    for n, container in enumerate(info["containers"], 1):
        label = f"container {n}:".ljust(20)
        enc = container["encryption"]
        if enc is not None:
            p.line(
                console,
                (label, "bold"),
                f"encrypted, {enc['text']}",
                _legacy_tag(enc["legacy"]),
                indent=2,
            )
        elif container["kind"] == "data":
            p.line(console, (label, "bold"), f"plain, {len(container['bags'])} bag(s)", indent=2)
        else:
            p.line(console, (label, "bold"), container["kind"], indent=2)
        for bag in container["bags"]:
            _render_bag(console, bag, indent=4)
    for dup in info["duplicates"]:
        certs = ", ".join(str(i) for i in dup["certificates"])
        p.field(
            console,
            "duplicated",
            f"{dup['subject']}: {dup['count']} copies (certificates {certs})",
            style="yellow",
        )
    for orphan in info["orphans"]:
        p.field(
            console,
            "on no chain",
            f"{orphan['subject']} (certificate {orphan['certificate']}): {info['orphans_rule']}",
            style="yellow",
        )


def _render_windows(console: Any, info: dict[str, Any]) -> None:
    """How Windows imports the key (``describe_windows``)."""
    csp, api = info["csp_name"], info["provider_api"]
    if csp is None:
        provider = "none named (the importing tool chooses)"
    elif api == "capi":
        provider = f"{csp} (CryptoAPI CSP, provider type {info['provider_type']})"
    elif api == "cng":
        provider = f"{csp} (CNG key storage provider)"
    else:
        provider = f"{csp} (not a Microsoft provider vedette knows)"
    p.line(console, ("Windows import", "bold cyan"))
    p.field(console, "provider", provider, style="" if api == "capi" else "yellow")
    if not info["keyspec_read"]:
        keyspec = "not read (needs --passin)"
    elif info["keyspec"] is not None:
        keyspec = f"{info['keyspec']} (key usage attribute {info['key_usage']})"
    elif info["key_usage"] is not None:
        keyspec = f"unknown (key usage attribute {info['key_usage']})"
    else:
        keyspec = "not set (no key usage attribute on the key)"
    p.field(console, "KeySpec", keyspec)
    p.field(console, "key set", "local machine" if info["local_machine_keyset"] else "not set")
    for advice in info["advice"]:
        p.line(console, ("note: ", "dim"), advice, indent=2)
    for command in info["commands"]:
        p.line(console, ("Run: ", "bold"), command, indent=2)


def _render_bag(console: Any, bag: dict[str, Any], *, indent: int) -> None:
    parts: list[tuple[str, str] | str] = [(f"{bag['kind']} bag:".ljust(18), "bold")]
    enc = bag["encryption"]
    if enc is not None:
        parts += [enc["text"], _legacy_tag(enc["legacy"])]
    if bag["subject"]:
        parts.append(str(bag["subject"]))
    if bag["friendly_name"] is not None:
        parts.append(f"; friendly name {bag['friendly_name']!r}")
    if bag["local_key_id"] is not None:
        parts.append(f"; localKeyId {bag['local_key_id'][:16]}")
    if bag["csp_name"] is not None:
        parts.append(f"; CSP {bag['csp_name']!r}")
    p.line(console, *parts, indent=indent)
    for nested in bag["nested"]:
        _render_bag(console, nested, indent=indent + 2)


# --- csr -----------------------------------------------------------------------------------------


def _add_csr(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser(
        "csr",
        help="make a certificate signing request (from names, or --like a certificate)",
        description="Make a PKCS#10 request. --like copies the subject and every name of the "
        "certificate being replaced, from a file or from a server; --san adds names.",
    )
    sp.add_argument("--like", metavar="FILE|TARGET", help="copy subject and names from this")
    sp.add_argument("--cn", help="subject common name (also put in the SAN list)")
    sp.add_argument("--subject", metavar="DN", help="whole subject, RFC 4514: CN=x,O=y,C=FR")
    sp.add_argument("--org", help="subject O")
    sp.add_argument("--ou", help="subject OU")
    sp.add_argument("--country", help="subject C (two letters)")
    sp.add_argument("--state", help="subject ST")
    sp.add_argument("--locality", help="subject L")
    sp.add_argument(
        "--san",
        action="append",
        default=[],
        metavar="NAME",
        help="a subjectAltName: host, IP, user@domain, or DNS:/IP:/email:/URI: prefixed; "
        "repeatable",
    )
    sp.add_argument("--key", type=Path, metavar="FILE", help="reuse this private key")
    sp.add_argument("--new-key", type=Path, metavar="FILE", help="generate a key into FILE")
    sp.add_argument("--type", choices=KEY_TYPES, help="type of --new-key (default by --clients)")
    p.add_clients(sp)
    sp.add_argument("--hash", choices=("sha256", "sha384", "sha512"), help="default sha256")
    _add_preset(sp)
    sp.add_argument(
        "--inf",
        action="store_true",
        help="write a certreq INF to --out instead (the key is made on the Windows server by "
        "certreq -new, with the --for preset's provider, KeySpec, key length and EKUs)",
    )
    sp.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="the request (PEM), or the INF"
    )
    p.add_passin(sp, "--key or a PKCS#12 given to --like")
    p.add_passout(sp, "the --new-key")
    p.add_target_options(sp)
    p.add_force(sp)


def _csr(args: argparse.Namespace) -> int:
    clients = parse_clients(args.clients)
    hash_alg = signature_hash(clients, args.hash)
    chosen = args.preset
    if args.inf:
        if args.key is not None or args.new_key is not None:
            raise UsageError("--inf: certreq makes the key on the server; drop --key/--new-key")
        if chosen is None:
            raise UsageError(f"--inf needs a product preset: --for {'|'.join(sorted(presets()))}")
    elif (args.key is None) == (args.new_key is None):
        raise UsageError("give --key FILE to reuse a key, or --new-key FILE to make one")
    p.check_outputs(args.out, args.new_key, force=args.force)
    parts = {
        "cn": args.cn,
        "org": args.org,
        "ou": args.ou,
        "country": args.country,
        "state": args.state,
        "locality": args.locality,
    }
    like_names: tuple[x509.GeneralName, ...] = ()
    if args.like:
        material, _endpoint = _load(args, args.like)
        if material.certificates:
            subject, like_names = names_like(material.certificates[0])
        elif material.csrs:
            subject = material.csrs[0].subject
            try:
                like_names = tuple(
                    material.csrs[0]
                    .extensions.get_extension_for_class(x509.SubjectAlternativeName)
                    .value
                )
            except x509.ExtensionNotFound:
                like_names = ()
        else:
            raise PkiError(f"{args.like}: no certificate or request to copy")
        if args.subject or any(v is not None for v in parts.values()):
            subject = parse_subject(subject=args.subject, **parts)
    else:
        subject = parse_subject(subject=args.subject, **parts)
    extra = [general_name(s) for s in args.san]
    names = merge_names(subject, like_names, extra)
    if args.inf:
        inf = certreq_inf(subject, names, chosen, hash_alg=hash_alg)
        p.write(args.out, inf.encode("utf-8"), force=args.force)
        console = c.console()
        p.line(console, f"wrote {args.out}: certreq INF for {subject.rfc4514_string()}")
        p.field(console, "names", ", ".join(name_text(n) for n in names) or "none")
        _render_preset(console, chosen)
        p.line(console, ("Run: ", "bold"), f"certreq -new {args.out.name} request.csr", indent=2)
        return 0
    secret: bytes | None = None
    if args.key is not None:
        key = p.read_key(args.key, args.passin)
    else:
        secret = p.new_secret(args.passout, str(args.new_key))
        key = generate_key(
            args.type or (chosen.key_type if chosen is not None else default_key_type(clients))
        )
    ekus = [x509.ObjectIdentifier(EKUS[e]) for e in chosen.ekus] if chosen is not None else []
    csr = build_csr(key, subject, names, hash_alg=hash_alg, ekus=ekus)
    if args.new_key is not None:
        p.write(args.new_key, key_to_pem(key, secret), force=args.force, secret=True)
    p.write(args.out, csr.public_bytes(serialization.Encoding.PEM), force=args.force)
    console = c.console()
    p.line(console, f"wrote {args.out}: request for {subject.rfc4514_string()}")
    p.field(console, "names", ", ".join(name_text(n) for n in names) or "none")
    p.field(
        console,
        "key",
        f"{describe_key(key)}" + (f" (new, {args.new_key})" if args.new_key else f" ({args.key})"),
    )
    reason = key_type_reason(clients) if args.new_key is not None and not args.type else None
    if chosen is not None:
        _render_preset(console, chosen, requested=True)
    elif reason is not None:
        p.field(console, "why", reason)
    return 0


# --- convert -------------------------------------------------------------------------------------

_EXT_FORMAT = {
    ".pem": "pem",
    ".der": "der",
    ".p7b": "p7b",
    ".p7c": "p7b",
    ".p12": "p12",
    ".pfx": "p12",
}


def _add_convert(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser(
        "convert",
        help="convert between PEM, DER/CER, PKCS#7 (.p7b) and PKCS#12 (.pfx/.p12)",
        description="Read IN in any format and write OUT as pem, der, p7b or p12. PKCS#12 "
        "uses AES-256/PBKDF2 unless --legacy (SHA1-3DES, for Windows Server 2012/2016 and "
        "appliances); --csp, --keyspec and --machine-keyset write the attributes Windows "
        "reads on import, as openssl pkcs12 -export -CSP NAME -keyex|-keysig -LMK does.",
    )
    sp.add_argument("input", metavar="IN")
    sp.add_argument("output", type=Path, metavar="OUT")
    sp.add_argument("--to", choices=conv.FORMATS, help="output format (default: from OUT's suffix)")
    sp.add_argument(
        "--chain",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="add the certificates of FILE after those of IN; repeatable",
    )
    sp.add_argument("--key", type=Path, metavar="FILE", help="private key (for p12)")
    sp.add_argument("--friendly-name", metavar="NAME", help="PKCS#12 friendly name")
    sp.add_argument("--legacy", action="store_true", help="PKCS#12 with SHA1-3DES (old Windows)")
    _add_windows_key(sp)
    sp.add_argument("--pem", action="store_true", help="write a .p7b in PEM instead of DER")
    sp.add_argument("--key-out", type=Path, metavar="FILE", help="also write the key (0600)")
    p.add_passin(sp, "IN (PKCS#12) or --key")
    p.add_passout(sp, "the PKCS#12 file or --key-out")
    p.add_force(sp)


def _add_windows_key(sp: argparse.ArgumentParser) -> None:
    """``--csp``, ``--keyspec``, ``--machine-keyset`` and ``--for``: what Windows reads in a
    PKCS#12 (``cert convert`` and ``cert bundle``)."""
    sp.add_argument(
        "--csp",
        type=_csp_arg,
        metavar="NAME",
        help='PKCS#12: the Windows provider to import the key into, e.g. "Microsoft RSA '
        'SChannel Cryptographic Provider" (as openssl pkcs12 -export -CSP NAME)',
    )
    sp.add_argument(
        "--keyspec",
        type=_keyspec_arg,
        metavar="exchange|signature",
        help="PKCS#12: the key's KeySpec, AT_KEYEXCHANGE or AT_SIGNATURE (as openssl's "
        "-keyex/-keysig); Skype for Business and Lync servers need exchange",
    )
    sp.add_argument(
        "--machine-keyset",
        action="store_true",
        help="PKCS#12: import the key into the machine's key set (as openssl's -LMK)",
    )
    _add_preset(sp)


def _csp_arg(text: str) -> str:
    try:
        return check_csp_name(text)
    except PkiError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _keyspec_arg(text: str) -> KeySpec:
    try:
        return parse_keyspec(text)
    except PkiError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _windows_key(args: argparse.Namespace, to: str, key: Any) -> conv.WindowsKey | None:
    """``--csp``, ``--keyspec``, ``--machine-keyset``: only for a PKCS#12 with a key."""
    chosen = args.preset
    windows = conv.WindowsKey(
        csp_name=args.csp or (chosen.provider if chosen is not None else None),
        keyspec=args.keyspec or (chosen.keyspec if chosen is not None else None),
        machine_keyset=args.machine_keyset or (chosen is not None and chosen.machine_keyset),
    )
    if windows.empty:
        return None
    if to != "p12":
        raise UsageError(
            "--csp, --keyspec, --machine-keyset and --for are for a PKCS#12 output (--to p12)"
        )
    if key is None:
        raise UsageError("--csp, --keyspec and --machine-keyset need the private key (--key FILE)")
    return windows


#: Output suffixes of formats vedette does not write (yet), with what they are.
_UNSUPPORTED_OUTPUT = {
    ".sst": "a Microsoft serialized certificate store",
    ".jks": "a Java KeyStore",
    ".keystore": "a Java KeyStore",
}


def _output_format(args: argparse.Namespace) -> str:
    """The format to write: ``--to``, else OUT's suffix; a one-line error says why not."""
    if args.to is not None:
        return str(args.to)
    suffix = args.output.suffix.lower()
    to = _EXT_FORMAT.get(suffix)
    if to is not None:
        return to
    writes = "vedette writes pem, der, p7b (.p7b/.p7c) and p12 (.pfx/.p12)"
    if suffix in _UNSUPPORTED_OUTPUT:
        raise UsageError(
            f"{args.output}: {suffix} ({_UNSUPPORTED_OUTPUT[suffix]}) output is not supported "
            f"yet; {writes} (a .p7b imports into a Windows store)"
        )
    if suffix in (".cer", ".crt"):
        raise UsageError(
            f"say the output format with --to pem|der|p7b|p12 ({suffix} is ambiguous: Windows "
            "uses .cer and .crt for both DER and PEM)"
        )
    raise UsageError(
        f"say the output format with --to pem|der|p7b|p12 ({writes}; "
        f"{'the suffix ' + suffix if suffix else 'a name without a suffix'} does not tell which)"
    )


def _convert(args: argparse.Namespace) -> int:
    to = _output_format(args)
    p.check_outputs(args.output, args.key_out, force=args.force)
    material = p.read_file(Path(args.input), args.passin)
    certs = list(material.certificates)
    for extra in args.chain:
        certs.extend(p.read_file(extra, args.passin).certificates)
    key = material.keys[0] if material.keys else None
    if args.key is not None:
        key = p.read_key(args.key, args.passin)
    if key is not None and certs and not any(key_matches(key, cert) for cert in certs):
        raise PkiError("the private key does not match any of the certificates")
    windows = _windows_key(args, to, key)
    legacy = args.legacy or (args.preset is not None and args.preset.legacy_pkcs12)
    console = c.console()
    password: bytes | None = None
    if to == "p12":
        if args.passout is None:
            raise UsageError("a PKCS#12 file needs a password: --passout file:PATH|env:NAME|prompt")
        leaf = next((cert for cert in certs if key is not None and key_matches(key, cert)), None)
        if leaf is None and certs:
            leaf = certs[0] if key is None else None
        chain = [cert for cert in certs if cert is not leaf]
        password = p.new_secret(args.passout, str(args.output))
        assert password is not None
        data = conv.to_p12(
            key=key,
            cert=leaf,
            chain=chain,
            password=password,
            friendly_name=args.friendly_name,
            legacy=legacy,
            windows=windows,
        )
        p.write(args.output, data, force=args.force, secret=key is not None)
        how = "SHA1-3DES (legacy)" if legacy else "AES-256-CBC, PBKDF2-SHA256"
        p.line(
            console,
            f"wrote {args.output}: PKCS#12, {len(certs)} certificate(s), "
            f"{'a key' if key else 'no key'}, {how}",
        )
        if windows is not None:
            p.field(console, "Windows", _windows_text(windows))
        if args.preset is not None:
            _render_preset(console, args.preset)
    elif not certs:
        _convert_other(args, material, to)
        return 0
    elif to == "pem":
        p.write(args.output, conv.to_pem(certs), force=args.force)
        p.line(console, f"wrote {args.output}: {len(certs)} certificate(s), PEM")
    elif to == "der":
        p.write(args.output, conv.to_der(certs[0]), force=args.force)
        p.line(console, f"wrote {args.output}: {certs[0].subject.rfc4514_string()}, DER")
        if len(certs) > 1:
            p.note(f"DER holds one certificate: wrote the first of {len(certs)}")
    else:
        p.write(args.output, conv.to_p7b(certs, pem=args.pem), force=args.force)
        p.line(console, f"wrote {args.output}: PKCS#7 with {len(certs)} certificate(s)")
    if args.key_out is not None:
        if key is None:
            raise PkiError(f"{args.input}: no private key to write to --key-out")
        # With a PKCS#12 output the key file gets the same passphrase (asked once).
        secret = password if to == "p12" else p.new_secret(args.passout, str(args.key_out))
        p.write(args.key_out, key_to_pem(key, secret), force=args.force, secret=True)
        p.line(console, f"wrote {args.key_out}: {describe_key(key)} key, mode 0600")
    elif key is not None and to != "p12":
        p.note("the private key was not written (use --key-out FILE)")
    return 0


def _preset_arg(text: str) -> Preset:
    try:
        return preset(text)
    except PkiError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_preset(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--for",
        dest="preset",
        type=_preset_arg,
        metavar="|".join(sorted(presets())),
        help="a Windows product's key and certificate requirements (key type, provider, "
        "KeySpec, EKUs, CRL distribution point, legacy PKCS#12), each with its sources",
    )


def _render_preset(console: Any, chosen: Preset, *, requested: bool = False) -> None:
    """What the preset fixes, and what the CA must put in the certificate (``requested``:
    the request asks for the EKUs)."""
    facts = chosen.facts
    p.field(console, "for", f"{chosen.title} (preset {chosen.id})")
    p.field(
        console,
        "key",
        f"{chosen.key_type}, "
        + (f"provider {chosen.provider!r}" if chosen.provider else "any provider (CNG too)")
        + (f", KeySpec {chosen.keyspec}" if chosen.keyspec else ""),
    )
    where = (
        "requested; the CA puts them in the certificate"
        if requested
        else ("the CA puts them in the certificate")
    )
    if "clientAuth" in chosen.ekus and "serverAuth" in chosen.ekus:
        where += ": vedette ca sign --profile server-client"
    p.field(console, "EKUs", ", ".join(chosen.ekus) + f" ({where})")
    if chosen.crl_distribution_point:
        p.field(console, "CRL DP", "required: the CA must put a CRL distribution point in it")
    for name in chosen.unverified():
        note = facts[name].note or ""
        p.line(console, ("unverified: ", "yellow"), f"{name}: {note}", indent=2)
    for source in chosen.sources.values():
        p.line(console, ("source: ", "dim"), f"{source.title} <{source.url}>", indent=2)


def _windows_text(windows: conv.WindowsKey) -> str:
    parts = []
    if windows.csp_name is not None:
        parts.append(f"provider {windows.csp_name!r}")
    if windows.keyspec is not None:
        byte = KEY_USAGE_BYTE[windows.keyspec]
        parts.append(f"KeySpec {windows.keyspec} (key usage {byte:02x})")
    if windows.machine_keyset:
        parts.append("machine key set")
    return ", ".join(parts)


def _convert_other(args: argparse.Namespace, material: Material, to: str) -> None:
    """Requests and CRLs convert between PEM and DER too."""
    enc = serialization.Encoding.PEM if to == "pem" else serialization.Encoding.DER
    if to not in ("pem", "der"):
        raise PkiError(f"{args.input}: no certificate to write as {to}")
    if material.csrs:
        data = material.csrs[0].public_bytes(enc)
    elif material.crls:
        data = material.crls[0].public_bytes(enc)
    elif material.keys:
        raise PkiError(f"{args.input}: holds only a key; use --key-out or vedette key")
    else:
        raise PkiError(f"{args.input}: nothing to convert")
    p.write(args.output, data, force=args.force)
    p.line(c.console(), f"wrote {args.output} ({to.upper()})")


# --- bundle --------------------------------------------------------------------------------------


def _add_bundle(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser(
        "bundle",
        help="build the full chain in order (leaf, intermediates) for a server",
        description="Order the leaf and its intermediates from the files given (any order, "
        "any format), say what is missing, and write what the server wants: PEM for "
        "Postfix/Dovecot (leaf first), PKCS#12 for IIS/Exchange.",
    )
    sp.add_argument("leaf", metavar="LEAF|TARGET")
    sp.add_argument(
        "--intermediates",
        action="append",
        type=Path,
        default=[],
        metavar="DIR|FILE",
        help="candidate issuers; repeatable",
    )
    sp.add_argument(
        "--ca",
        action="append",
        type=Path,
        default=[],
        metavar="FILE|DIR",
        help="extra trusted root(s), as in vedette scan",
    )
    sp.add_argument("--fetch", action="store_true", help="download missing issuers (AIA)")
    sp.add_argument(
        "--ca-dir",
        type=Path,
        metavar="DIR",
        help="a vedette CA whose root and intermediates to use (default $VEDETTE_CA_DIR)",
    )
    sp.add_argument(
        "--db",
        metavar="URL",
        help="result store whose recent scans' intermediates to use (default: $VEDETTE_DB or "
        "the usual SQLite file, when it exists)",
    )
    sp.add_argument(
        "--no-known",
        action="store_true",
        help="use only the files given, not the CA directory nor the stored scans",
    )
    sp.add_argument("--include-root", action="store_true", help="append the root too")
    sp.add_argument("--to", choices=("pem", "p12"), default="pem")
    sp.add_argument("--key", type=Path, metavar="FILE", help="the leaf's key (p12, or checked)")
    sp.add_argument("--legacy", action="store_true", help="PKCS#12 with SHA1-3DES")
    _add_windows_key(sp)
    sp.add_argument("--friendly-name", metavar="NAME")
    sp.add_argument("--out", type=Path, required=True, metavar="FILE")
    p.add_passin(sp, "--key or a PKCS#12 input")
    p.add_passout(sp, "the PKCS#12 output")
    p.add_target_options(sp)
    p.add_force(sp)


def _pool(paths: list[Path], passin: Any) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    for path in paths:
        if path.is_dir():
            try:
                entries = sorted(e for e in path.iterdir() if e.is_file())
            except OSError as exc:
                raise PkiError(f"cannot read {path}: {exc.strerror or exc}") from None
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                # A folder of CA files also holds READMEs, CRLs, keys, JSON: skip what holds
                # no certificate, silently, as `scan --ca DIR` does.
                try:
                    out.extend(p.read_file(entry, passin).certificates)
                except PkiError:
                    continue
        else:
            out.extend(p.read_file(path, passin).certificates)
    return out


#: Stored scans searched for intermediates, newest first, and the largest one read.
_KNOWN_SCANS = 20
_KNOWN_MAX_ENDPOINTS = 2000


def _known(args: argparse.Namespace) -> tuple[list[x509.Certificate], tuple[bytes, ...]]:
    """The intermediates vedette knows: its CA directory's, and those servers sent in the
    recent stored scans (a chain seen complete on one node completes another's)."""
    import os

    from vedette.x509.chain import is_ca

    pool: list[x509.Certificate] = []
    anchors: list[bytes] = []
    ca_dir = args.ca_dir or (
        Path(os.environ["VEDETTE_CA_DIR"]) if os.environ.get("VEDETTE_CA_DIR") else None
    )
    if ca_dir is not None:
        root = p.read_file(ca_dir / "root.pem", None).certificates
        anchors.extend(cert.public_bytes(serialization.Encoding.DER) for cert in root)
        if (ca_dir / "chain.pem").is_file() and (ca_dir / "chain.pem").stat().st_size:
            pool.extend(p.read_file(ca_dir / "chain.pem", None).certificates)
    from vedette.errors import StoreError
    from vedette.store.db import Store, default_db_url

    url = args.db or default_db_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return pool, tuple(anchors)  # no store yet: nothing known, and none created
    try:
        with Store.open(url) as store:
            for summary in store.list_scans(limit=_KNOWN_SCANS):
                if summary.endpoints > _KNOWN_MAX_ENDPOINTS:
                    continue
                for obs in store.load_scan(summary.scan_id).observations:
                    for der in obs.tls.chain_der[1:] if obs.tls is not None else ():
                        try:
                            cert = x509.load_der_x509_certificate(der)
                        except ValueError:
                            continue
                        if is_ca(cert):
                            pool.append(cert)
    except StoreError as exc:
        p.note(f"stored scans not searched: {exc}")
    return pool, tuple(anchors)


#: ``cert bundle --fetch`` downloads from at most this many caIssuers URLs.
_MAX_FETCHES = 8


def _fetch_issuers(url: str, args: argparse.Namespace) -> tuple[x509.Certificate, ...]:
    """``--fetch``: the caIssuers download (through ``--resolver``; 10 s and 256 KiB in all).
    Only http:// is fetched: an ldap:// URL (AD CS lists one first) is skipped with a note."""
    from vedette.pki.aia import fetch_issuers
    from vedette.resolve import parse_resolver

    if not url.lower().startswith("http://"):
        p.note(f"not fetched (only http:// caIssuers URLs are): {safe_text(url)}")
        return ()
    p.note(f"fetching the issuer from {safe_text(url)}")
    resolver = parse_resolver(args.resolver) if args.resolver else None
    try:
        return fetch_issuers(url, resolver=resolver)
    except PkiError as exc:  # the URL and the server's words are not the terminal's commands
        raise PkiError(safe_text(str(exc))) from None


def _bundle(args: argparse.Namespace) -> int:
    p.check_outputs(args.out, force=args.force)
    material, _endpoint = _load(args, args.leaf)
    if not material.certificates:
        raise PkiError(f"{args.leaf}: no certificate")
    leaf = material.certificates[0]
    pool = [*material.certificates[1:], *_pool(args.intermediates, args.passin)]
    anchors = trust.mozilla_roots_der() + trust.load_extra_roots(args.ca)
    if not args.no_known:
        known_pool, known_anchors = _known(args)
        pool.extend(known_pool)
        anchors += known_anchors
    result = bundle_mod.build_bundle(leaf, pool, anchors)
    tried: set[str] = set()  # each URL once, 8 URLs at most (10 s each at most)
    while not result.complete and args.fetch and len(tried) < _MAX_FETCHES:
        urls = [url for url in result.fetch_urls if url not in tried][: _MAX_FETCHES - len(tried)]
        tried.update(urls)
        issuers = [cert for url in urls for cert in _fetch_issuers(url, args)]
        if not issuers:
            break
        pool.extend(issuers)
        result = bundle_mod.build_bundle(leaf, pool, anchors)
    console = c.console()
    if not result.complete and len(result.chain) > 1 and (args.fetch or not result.fetch_urls):
        # The path reached a CA certificate whose issuer nobody has: most often the private
        # root the server never sends anyway. The bundle a server needs is complete up to
        # there, so write it, and say what could not be checked.
        assert result.missing_issuer is not None
        p.note(
            f"the chain stops at {result.chain[-1].subject.rfc4514_string()}: its issuer "
            f"{result.missing_issuer.rfc4514_string()} is in no file given nor the trust store "
            "(a private root? check with --ca ROOT)"
        )
    elif not result.complete:
        assert result.missing_issuer is not None
        last = result.chain[-1] if result.chain else leaf
        hint = (
            f"it can be downloaded from {', '.join(result.fetch_urls)} (add --fetch)"
            if result.fetch_urls and not args.fetch
            else "give the file with --intermediates"
        )
        raise PkiError(
            f"incomplete chain: the issuer of {last.subject.rfc4514_string()} "
            f"({result.missing_issuer.rfc4514_string()}) is in none of the files; {hint}"
        )
    chain = list(result.chain)
    if args.include_root and result.root is not None:
        chain.append(result.root)
    key = p.read_key(args.key, args.passin) if args.key is not None else None
    if key is not None and not key_matches(key, leaf):
        raise PkiError(
            f"{args.key}: does not match the certificate {leaf.subject.rfc4514_string()}"
        )
    windows = _windows_key(args, args.to, key)
    legacy = args.legacy or (args.preset is not None and args.preset.legacy_pkcs12)
    if args.to == "p12":
        if key is None or args.passout is None:
            raise UsageError("a PKCS#12 bundle needs --key and --passout")
        password = p.new_secret(args.passout, str(args.out))
        assert password is not None
        data = conv.to_p12(
            key=key,
            cert=leaf,
            chain=chain[1:],
            password=password,
            friendly_name=args.friendly_name,
            legacy=legacy,
            windows=windows,
        )
        p.write(args.out, data, force=args.force, secret=True)
    else:
        p.write(args.out, conv.to_pem(chain), force=args.force)
    p.line(console, f"wrote {args.out}: {len(chain)} certificate(s), leaf first")
    if args.to == "p12":
        how = "SHA1-3DES (legacy)" if legacy else "AES-256-CBC, PBKDF2-SHA256"
        p.field(console, "PKCS#12", how)
    if windows is not None:
        p.field(console, "Windows", _windows_text(windows))
    for i, cert in enumerate(chain):
        p.field(console, f"  {i + 1}", cert.subject.rfc4514_string())
    root = result.root
    if root is not None:
        trusted = "trusted" if result.trusted else "NOT in the trust store or --ca"
        p.field(
            console,
            "  root",
            f"{root.subject.rfc4514_string()} ({trusted}, not sent)"
            if not args.include_root
            else root.subject.rfc4514_string(),
        )
    for cert in result.unused:
        p.note(f"not on the path, left out: {cert.subject.rfc4514_string()}")
    if args.preset is not None:
        _render_preset(console, args.preset)
    return 0


# --- lint ----------------------------------------------------------------------------------------


def _add_lint(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser(
        "lint",
        help="check a certificate against CA/B Forum, S/MIME and internal-CA rules",
        description="Lint the first certificate of FILE|TARGET. Exit 1 when an error is found.",
    )
    sp.add_argument("source", metavar="FILE|TARGET")
    sp.add_argument(
        "--profile",
        choices=LINT_PROFILES,
        help="default: from the chain (ca for a CA certificate; internal under a private "
        "root; server or smime under a public one)",
    )
    sp.add_argument(
        "--ca",
        action="append",
        default=[],
        type=Path,
        metavar="FILE|DIR",
        help="a private root the certificate is issued under (as vedette scan --ca)",
    )
    sp.add_argument("--json", action="store_true", help=f"print a {LINT_SCHEMA} document")
    sp.add_argument(
        "--no-pkilint", action="store_true", help="skip pkilint even when it is installed"
    )
    p.add_passin(sp, "a PKCS#12 file")
    p.add_target_options(sp)


def _lint_profile(certs: Sequence[x509.Certificate], ca: list[Path]) -> ProfileChoice:
    from vedette.trust import trust_data

    roots = trust_data().roots

    def parse(ders: tuple[bytes, ...]) -> list[x509.Certificate]:
        out = []
        for der in ders:
            try:
                out.append(x509.load_der_x509_certificate(der))
            except ValueError:
                continue
        return out

    return choose_profile(
        certs,
        private_roots=parse(trust.load_extra_roots(ca)) if ca else [],
        public_subjects=frozenset(r.subject for r in roots.values()),
        public_fingerprints=frozenset(roots),
    )


def _lint(args: argparse.Namespace) -> int:
    material, _endpoint = _load(args, args.source)
    if not material.certificates:
        raise PkiError(f"{args.source}: no certificate to lint")
    cert = material.certificates[0]
    from vedette.pki import pkilint_adapter

    if args.profile is not None:
        profile, reason = args.profile, "--profile"
    else:
        choice = _lint_profile(material.certificates, args.ca)
        profile, reason = choice.profile, choice.reason
    use_pkilint = (
        not args.no_pkilint and profile in ("server", "smime") and pkilint_adapter.available()
    )
    results = lint_certificate(cert, profile, pkilint=use_pkilint)
    errors = sum(1 for r in results if r.level == "error")
    if args.json:
        doc = {
            "schema": LINT_SCHEMA,
            "source": args.source,
            "profile": profile,
            "profile_reason": reason,
            "subject": cert.subject.rfc4514_string(),
            "checked_at": datetime.now(UTC).isoformat(),
            "pkilint": use_pkilint,
            "results": [{"level": r.level, "rule": r.rule, "message": r.message} for r in results],
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        console = c.console()
        linters = "vedette + pkilint" if use_pkilint else "vedette"
        p.line(
            console,
            (cert.subject.rfc4514_string(), "bold"),
            f"  (profile {profile}; {linters})",
        )
        p.field(console, "profile", f"{profile}: {reason}")
        styles = {"error": "bold red", "warning": "yellow", "notice": "cyan"}
        for r in results:
            p.line(
                console,
                (f"{r.level.upper():8}", styles[r.level]),
                (r.rule, "bold"),
                f"  {r.message}",
                indent=2,
            )
        if not results:
            p.line(console, ("no problem found", "green"), indent=2)
    return 1 if errors else 0
