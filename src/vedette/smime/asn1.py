"""Bounded ASN.1 decoding for CMS: every malformed input is one :class:`SmimeError` line.

A CMS blob comes from a message anyone can send, so nothing is decoded before two bounds are
checked by a pre-pass over the BER: the size (:data:`MAX_CMS`) and the nesting of elements
(:data:`MAX_NESTING`). The same pass re-encodes indefinite lengths as definite ones and joins
constructed OCTET STRINGs (what Outlook, Java and NSS write in BER), because pyasn1 loses the
end-of-contents octets of an ANY field in indefinite form (pyasn1 issue #66). Only then does
pyasn1 decode, against the RFC 5652 specification, and any exception it raises becomes one
line naming what was being read.
"""

from __future__ import annotations

from typing import Any

from pyasn1.codec.ber import decoder  # type: ignore[import-untyped]
from pyasn1.codec.der import encoder  # type: ignore[import-untyped]
from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]

from vedette.errors import VedetteError
from vedette.x509 import ber
from vedette.x509.ber import header_length

__all__ = [
    "MAX_CMS",
    "MAX_NESTING",
    "SmimeError",
    "children",
    "decode",
    "decode_definite",
    "definite",
    "encode",
]

#: Largest CMS structure decoded (a signed message with its attachments; bigger ones are
#: refused before any decoding).
MAX_CMS = 64 * 1024 * 1024
#: Deepest nesting of BER elements followed (a SignedData is about 12 deep).
MAX_NESTING = 40

_DECODE_ERRORS = (PyAsn1Error, ValueError, TypeError, IndexError, KeyError, OverflowError)


class SmimeError(VedetteError):
    """A message, CMS structure or signature that cannot be read or used (one line; the CLI
    exits 2)."""


def children(der: bytes) -> list[bytes]:
    """The encodings of the elements inside the definite-form constructed element ``der``
    (one-byte tags), exactly as they are in ``der``; for reading the bytes a signature covers
    (signed attributes), after :func:`decode` has accepted the whole."""
    header, length = header_length(der)
    pos, end = header, header + length
    out: list[bytes] = []
    while pos < end:
        h, n = header_length(der, pos)
        out.append(der[pos : pos + h + n])
        pos += h + n
    return out


def definite(data: bytes, what: str) -> bytes:
    """``data`` (exactly one BER element) in definite form; :class:`SmimeError` when it is
    larger than :data:`MAX_CMS`, nested deeper than :data:`MAX_NESTING`, truncated, or
    followed by stray bytes."""
    if len(data) > MAX_CMS:
        raise SmimeError(f"{what}: larger than {MAX_CMS // (1024 * 1024)} MiB, vedette's limit")
    try:
        return ber.definite(data, what, MAX_NESTING)
    except ber.BerError as exc:
        raise SmimeError(str(exc)) from None


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:120] or type(exc).__name__


def decode(data: bytes, spec: Any, what: str) -> Any:
    """``data`` decoded against the pyasn1 ``spec`` after :func:`definite`."""
    return decode_definite(definite(data, what), spec, what)


def decode_definite(der: bytes, spec: Any, what: str) -> Any:
    """``der`` (already through :func:`definite`) decoded against the pyasn1 ``spec``."""
    try:
        value, rest = decoder.decode(der, asn1Spec=spec)
    except _DECODE_ERRORS as exc:
        raise SmimeError(f"{what} does not decode ({_short(exc)})") from None
    if rest:
        raise SmimeError(f"{what}: followed by {len(rest)} stray byte(s)")
    return value


def encode(value: Any) -> bytes:
    """DER of a pyasn1 value built by this package."""
    return bytes(encoder.encode(value))
