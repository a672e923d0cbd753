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


def _parse(der: bytes) -> None:
    # Here, not at the top: cryptography is a noticeable part of a scan's start-up.
    from vedette.x509.chain import anchor_certificate

    anchor_certificate(der)


@functools.cache
def mozilla_roots_der() -> tuple[bytes, ...]:
    """The roots of certifi's ``cacert.pem`` (Mozilla's store), DER, in file order, read once."""
    import certifi  # here: certifi's import (importlib.resources) is not needed to read --ca

    with open(certifi.where(), "rb") as f:
        data = f.read()
    return pem_certificates(data, source=certifi.where(), strict=True)


def pem_certificates(
    data: bytes, *, source: object, strict: bool, parse: bool = True
) -> tuple[bytes, ...]:
    """The DER of every PEM CERTIFICATE block of ``data``; a block that does not parse is a
    one-line UsageError naming ``source`` when ``strict``, skipped otherwise. ``parse=False``
    checks the DER's outer structure only (see :func:`load_extra_roots`)."""
    out: list[bytes] = []
    for m in _PEM_CERT.finditer(data):
        try:
            der = base64.b64decode(b"".join(m.group(1).split()), validate=True)
            _check(der, parse)
        except (binascii.Error, ValueError):
            if strict:
                raise UsageError(f"{source}: contains a certificate that does not parse") from None
            continue
        out.append(der)
    return tuple(out)


def _der_length(data: bytes, at: int) -> tuple[int, int]:
    """The length of the DER element whose length octets start at ``at``, and where its
    content starts."""
    first = data[at]
    if first < 0x80:
        return first, at + 1
    count = first & 0x7F
    if not 1 <= count <= 4 or at + 1 + count > len(data):
        raise ValueError("bad DER length")
    return int.from_bytes(data[at + 1 : at + 1 + count], "big"), at + 1 + count


def _check(der: bytes, parse: bool) -> None:
    """Raise ``ValueError`` unless ``der`` is a certificate: parsed in full, or (``parse``
    false) a SEQUENCE that fills the data and opens with another (the to-be-signed part)."""
    if parse:
        _parse(der)
        return
    if len(der) < 4 or der[0] != 0x30:
        raise ValueError("not a DER SEQUENCE")
    length, start = _der_length(der, 1)
    if start + length != len(der) or der[start] != 0x30:
        raise ValueError("not a certificate")


def _read_file(path: Path, *, in_directory: bool, parse: bool) -> tuple[bytes, ...]:
    data = read_regular_file(path, what="certificate file", limit=_MAX_FILE)
    if b"-----BEGIN" in data:
        certs = pem_certificates(data, source=path, strict=not in_directory, parse=parse)
        if not certs and not in_directory:
            raise UsageError(f"{path}: no PEM certificate in this file")
        return certs
    try:
        _check(data, parse)
    except (ValueError, IndexError):
        if in_directory:
            return ()  # a README or a CRL next to the certificates: skip it
        raise UsageError(f"{path}: not a PEM or DER certificate") from None
    return (data,)


def load_extra_roots(paths: Sequence[Path], *, parse: bool = True) -> tuple[bytes, ...]:
    """Certificates from PEM bundles, DER files, or directories of such (not recursive).

    Duplicates are removed, order is kept. Raises :class:`UsageError` with a one-line message
    for a path that cannot be read, a file that holds no certificate, or a directory with no
    certificate in it. In a directory, files that are not certificates are skipped.

    ``parse=False`` reads and checks the files without parsing the certificates in full (no
    cryptography import: a scan reads its ``--ca`` before its first connection); the same
    call with ``parse=True`` then confirms them, or raises the error it would have raised.
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
                found.extend(_read_file(entry, in_directory=True, parse=parse))
            if not found:
                raise UsageError(f"{path}: no certificate found in this directory")
        else:
            found = list(_read_file(path, in_directory=False, parse=parse))
        for der in found:
            if der not in seen:
                seen.add(der)
                out.append(der)
    return tuple(out)
