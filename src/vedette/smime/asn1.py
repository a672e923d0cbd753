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


def _length_octets(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _element(data: bytes, pos: int, limit: int, depth: int, what: str) -> tuple[bytes | None, int]:
    """The BER element at ``data[pos:limit]`` in definite form, and the position after it;
    ``None`` for "already in definite form: ``data[pos:end]`` as it is" (nothing is copied
    then, which matters for a message of several megabytes)."""
    if depth > MAX_NESTING:
        raise SmimeError(f"{what}: ASN.1 nested more than {MAX_NESTING} deep")
    start = pos
    if pos + 2 > limit:
        raise SmimeError(f"{what}: truncated ASN.1 element")
    first = data[pos]
    pos += 1
    if first & 0x1F == 0x1F:  # high tag number: base-128 digits
        while pos < limit and data[pos] & 0x80:
            pos += 1
        pos += 1
        if pos - start > 6 or pos >= limit:
            raise SmimeError(f"{what}: malformed ASN.1 tag")
    tag = data[start:pos]
    constructed = bool(first & 0x20)
    length_byte = data[pos]
    pos += 1
    children: list[tuple[bytes | None, int, int]] = []  # (rewritten or None, start, end)
    rewrite = False
    if length_byte == 0x80:
        rewrite = True
        if not constructed:
            raise SmimeError(f"{what}: indefinite length on a primitive ASN.1 element")
        while True:
            if pos + 2 > limit:
                raise SmimeError(f"{what}: missing end-of-contents octets")
            if data[pos] == 0 and data[pos + 1] == 0:
                pos += 2
                break
            child_start = pos
            child, pos = _element(data, pos, limit, depth + 1, what)
            children.append((child, child_start, pos))
    else:
        length = length_byte
        if length_byte & 0x80:
            count = length_byte & 0x7F
            if count > 4 or pos + count > limit:
                raise SmimeError(f"{what}: malformed ASN.1 length")
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        end = pos + length
        if end > limit:
            raise SmimeError(f"{what}: truncated ASN.1 element")
        if not constructed:
            return None, end
        while pos < end:
            child_start = pos
            child, pos = _element(data, pos, end, depth + 1, what)
            children.append((child, child_start, pos))
    parts = [data[a:b] if child is None else child for child, a, b in children]
    if first == 0x24:  # constructed OCTET STRING: one primitive OCTET STRING
        if any(part[0] != 0x04 for part in parts):
            raise SmimeError(f"{what}: a constructed OCTET STRING holds another type")
        value = b"".join(_contents(part) for part in parts)
        return b"\x04" + _length_octets(len(value)) + value, pos
    if not rewrite and all(child is None for child, _, _ in children):
        return None, pos
    body = b"".join(parts)
    return tag + _length_octets(len(body)) + body, pos


def _header_length(der: bytes, pos: int = 0) -> tuple[int, int]:
    """(header length, contents length) of the definite-form element at ``der[pos:]`` with a
    one-byte tag (what :func:`definite` produces for the universal and context tags of CMS)."""
    first = der[pos + 1]
    if first < 0x80:
        return 2, first
    n = first & 0x7F
    return 2 + n, int.from_bytes(der[pos + 2 : pos + 2 + n], "big")


def _contents(der: bytes) -> bytes:
    """The contents of a definite-length element with a one-byte tag."""
    header, length = _header_length(der)
    return der[header : header + length]


def children(der: bytes) -> list[bytes]:
    """The encodings of the elements inside the definite-form constructed element ``der``
    (one-byte tags), exactly as they are in ``der``; for reading the bytes a signature covers
    (signed attributes), after :func:`decode` has accepted the whole."""
    header, length = _header_length(der)
    pos, end = header, header + length
    out: list[bytes] = []
    while pos < end:
        h, n = _header_length(der, pos)
        out.append(der[pos : pos + h + n])
        pos += h + n
    return out


def definite(data: bytes, what: str) -> bytes:
    """``data`` (exactly one BER element) in definite form; :class:`SmimeError` when it is
    larger than :data:`MAX_CMS`, nested deeper than :data:`MAX_NESTING`, truncated, or
    followed by stray bytes."""
    if len(data) > MAX_CMS:
        raise SmimeError(f"{what}: larger than {MAX_CMS // (1024 * 1024)} MiB, vedette's limit")
    der, end = _element(data, 0, len(data), 0, what)
    if end != len(data):
        raise SmimeError(f"{what}: followed by {len(data) - end} stray byte(s)")
    return data if der is None else der


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
