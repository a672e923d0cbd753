"""``vedette key new``: a private key, written 0600, PKCS#8 (encrypted under a passphrase)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vedette.commands import _common as c
from vedette.commands import _pki as p
from vedette.pki.clients import default_key_type, key_type_reason, parse_clients
from vedette.pki.keys import KEY_TYPES, describe_key, generate_key, key_to_pem

NAME = "key"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    new = sub.add_parser("new", help="generate a key", description="Generate a private key.")
    new.add_argument(
        "--type",
        choices=KEY_TYPES,
        help="key type (default: what every client in --clients accepts)",
    )
    p.add_clients(new)
    new.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write it")
    p.add_passout(new, "the key (PKCS#8, AES-256)")
    p.add_force(new)


def run(args: argparse.Namespace) -> int:
    p.check_outputs(args.out, force=args.force)
    clients = parse_clients(args.clients)
    key_type = args.type or default_key_type(clients)
    reason = None if args.type else key_type_reason(clients)
    secret = p.new_secret(args.passout, str(args.out))
    key = generate_key(key_type)
    p.write(args.out, key_to_pem(key, secret), force=args.force, secret=True)
    how = "encrypted PKCS#8" if secret else "unencrypted PKCS#8"
    p.line(c.console(), f"wrote {args.out}: {describe_key(key)} key, {how}, mode 0600")
    if reason is not None:
        p.field(c.console(), "why", reason)
    return 0
