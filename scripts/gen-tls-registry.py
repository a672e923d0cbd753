#!/usr/bin/env python3
"""Regenerate ``src/vedette/data/tls_registry.json`` from CryptoDataHub.

vedette's TLS registries (cipher suites, SSLv2 cipher kinds, named groups, signature schemes,
extension types, protocol versions) are data, not code. No offline copy of IANA's TLS
parameters registry exists on the build machines, so the tables come from CryptoDataHub
(https://gitlab.com/coroner/cryptodatahub, PyPI ``cryptodatahub``, MPL-2.0), which carries the
IANA codes plus the properties vedette needs (key exchange, authentication, bulk cipher, export
grade, forward secrecy, first and last protocol version). The source files inside that package
are named per table in the generated file's ``sources`` key.

Usage (in any venv where ``pip install cryptodatahub`` worked)::

    python scripts/gen-tls-registry.py > src/vedette/data/tls_registry.json

The output is deterministic (sorted by code) so a regeneration shows as a readable diff.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from typing import Any

from cryptodatahub.tls.algorithm import (
    SslCipherKind,
    TlsCipherSuite,
    TlsExtensionType,
    TlsNamedCurve,
    TlsSignatureAndHashAlgorithm,
)
from cryptodatahub.tls.version import TlsVersion

_SSL3 = TlsVersion.SSL3.value.code
_TLS13 = TlsVersion.TLS1_3.value.code


def _vcode(v: Any) -> int | None:
    if v is None:
        return None
    code = int(v.value.code)
    # Drafts of TLS 1.3 (0x7fxx, 0x7e0x) count as TLS 1.3 for planning hellos.
    return _TLS13 if code >= 0x7E00 else code


def _name(x: Any) -> str | None:
    return None if x is None else str(x.value.name)


def suites() -> list[dict[str, Any]]:
    out = []
    for cs in TlsCipherSuite:
        v = cs.value
        kx = v.key_exchange.value if v.key_exchange is not None else None
        auth = v.authentication.value if v.authentication is not None else None
        bulk = v.bulk_cipher.value if v.bulk_cipher is not None else None
        out.append(
            {
                "code": int(v.code),
                "name": v.iana_name or cs.name,
                "openssl": v.openssl_name,
                # TLS 1.3 suites name no key exchange: it is negotiated by key_share.
                "kx": None if kx is None else kx.name,
                "fs": None if kx is None else bool(kx.forward_secret),
                "auth": None if auth is None else auth.name,
                "anon": bool(auth is not None and auth.anonymous),
                "cipher": None if bulk is None else bulk.name,
                "bits": None if bulk is None else bulk.key_size,
                "mode": _name(v.block_cipher_mode),
                "mac": _name(v.mac),
                "aead": bool(v.authenticated_encryption),
                "export": bool(v.export_grade),
                "min_version": _vcode(v.initial_version),
                "max_version": _vcode(v.last_version),
            }
        )
    return sorted(out, key=lambda d: d["code"])


def ssl2_kinds() -> list[dict[str, Any]]:
    out = []
    for ck in SslCipherKind:
        v = ck.value
        out.append({"code": int(v.code), "name": v.iana_name or ck.name, "export": bool(v.export_grade)})
    return sorted(out, key=lambda d: d["code"])


def groups() -> list[dict[str, Any]]:
    out = []
    for g in TlsNamedCurve:
        v = g.value
        param = type(v.key_parameter).__name__ if v.key_parameter is not None else ""
        kind = {
            "ECParamWellKnown": "ec",
            "DHParamWellKnown": "ffdh",
            "KeyEncapsulationMechanism": "pq",
            "HybridNamedGroup": "hybrid-pq",
        }.get(param, "other")
        out.append(
            {
                "code": int(v.code),
                "name": g.name,
                "kind": kind,
                "min_version": _vcode(v.initial_version),
            }
        )
    return sorted(out, key=lambda d: d["code"])


def sigalgs() -> list[dict[str, Any]]:
    out = [{"code": int(s.value.code), "name": s.name} for s in TlsSignatureAndHashAlgorithm]
    return sorted(out, key=lambda d: d["code"])


def extensions() -> list[dict[str, Any]]:
    out = [{"code": int(e.value.code), "name": e.name} for e in TlsExtensionType]
    return sorted(out, key=lambda d: d["code"])


def versions() -> list[dict[str, Any]]:
    out = [{"code": int(v.value.code), "name": v.name} for v in TlsVersion]
    return sorted(out, key=lambda d: d["code"])


def main() -> None:
    doc = {
        "generator": "scripts/gen-tls-registry.py",
        "source": f"cryptodatahub {version('cryptodatahub')} (PyPI, MPL-2.0)",
        "sources": {
            "cipher_suites": "cryptodatahub/tls/cipher-suite.json (TlsCipherSuite)",
            "ssl2_cipher_kinds": "cryptodatahub/tls/cipher-kind.json (SslCipherKind)",
            "groups": "cryptodatahub/tls/named-curve.json (TlsNamedCurve)",
            "signature_schemes": "cryptodatahub/tls/hash-and-signature-algorithm.json",
            "extensions": "cryptodatahub/tls/extension-type.json (TlsExtensionType)",
            "versions": "cryptodatahub/tls/version.json (TlsVersion)",
        },
        "cipher_suites": suites(),
        "ssl2_cipher_kinds": ssl2_kinds(),
        "groups": groups(),
        "signature_schemes": sigalgs(),
        "extensions": extensions(),
        "versions": versions(),
    }
    json.dump(doc, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
