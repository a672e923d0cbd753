"""Trust anchors: Mozilla's roots (through certifi) and the user's own ``--ca`` roots.

This is the I/O edge for trust: it reads files and hands the pure analysis DER tuples
(``CheckContext.trust_roots_der`` / ``extra_roots_der``). Mozilla's store, as packaged by
certifi, is what most non-Windows mail clients and MTAs trust; a private CA (an internal
Exchange or Dovecot deployment) is added with ``--ca``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from typing import TYPE_CHECKING

from vedette.errors import UsageError
from vedette.inputfiles import is_regular_file, read_regular_file
from vedette.x509.chain import anchor_certificate, load_der

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["load_extra_roots", "mozilla_roots_der"]

_PEM_CERT = re.compile(
    rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----\s*(.+?)\s*-----END (?:X509 |TRUSTED )?"
    rb"CERTIFICATE-----",
    re.DOTALL,
)
# A directory may hold thousands of entries (/etc/ssl/certs); stay bounded.
_MAX_FILE = 16 * 1024 * 1024


@functools.cache
def mozilla_roots_der() -> tuple[bytes, ...]:
    """The roots of certifi's ``cacert.pem`` (Mozilla's store), DER, in file order, read once."""
    import certifi  # here: certifi's import (importlib.resources) is not needed to read --ca

    with open(certifi.where(), "rb") as f:
        data = f.read()
    return pem_certificates(data, source=certifi.where(), strict=True)


def pem_certificates(data: bytes, *, source: object, strict: bool) -> tuple[bytes, ...]:
    """The DER of every PEM CERTIFICATE block of ``data``; a block that does not parse is a
    one-line UsageError naming ``source`` when ``strict``, skipped otherwise."""
    out: list[bytes] = []
    for m in _PEM_CERT.finditer(data):
        try:
            der = base64.b64decode(b"".join(m.group(1).split()), validate=True)
            anchor_certificate(der)
        except (binascii.Error, ValueError):
            if strict:
                raise UsageError(f"{source}: contains a certificate that does not parse") from None
            continue
        out.append(der)
    return tuple(out)


def _read_file(path: Path, *, in_directory: bool) -> tuple[bytes, ...]:
    data = read_regular_file(path, what="certificate file", limit=_MAX_FILE)
    if b"-----BEGIN" in data:
        certs = pem_certificates(data, source=path, strict=not in_directory)
        if not certs and not in_directory:
            raise UsageError(f"{path}: no PEM certificate in this file")
        return certs
    try:
        load_der(data)
    except ValueError:
        if in_directory:
            return ()  # a README or a CRL next to the certificates: skip it
        raise UsageError(f"{path}: not a PEM or DER certificate") from None
    return (data,)


def load_extra_roots(paths: Sequence[Path]) -> tuple[bytes, ...]:
    """Certificates from PEM bundles, DER files, or directories of such (not recursive).

    Duplicates are removed, order is kept. Raises :class:`UsageError` with a one-line message
    for a path that cannot be read, a file that holds no certificate, or a directory with no
    certificate in it. In a directory, files that are not certificates are skipped.
    """
    out: list[bytes] = []
    seen: set[bytes] = set()
    for path in paths:
        if path.is_dir():
            try:
                entries = sorted(p for p in path.iterdir() if is_regular_file(p))
            except OSError as exc:
                raise UsageError(f"cannot read directory {path}: {exc.strerror or exc}") from None
            found: list[bytes] = []
            for entry in entries:
                found.extend(_read_file(entry, in_directory=True))
            if not found:
                raise UsageError(f"{path}: no certificate found in this directory")
        else:
            found = list(_read_file(path, in_directory=False))
        for der in found:
            if der not in seen:
                seen.add(der)
                out.append(der)
    return tuple(out)
