"""BER put in definite form before pyasn1 decodes it: the one pre-pass of vedette's PKCS#12
and CMS readers.

NSS, Outlook, Java and some Apple tools write PKCS#12 files and CMS messages in BER with
indefinite lengths and constructed OCTET STRINGs. pyasn1 decodes those, but an ANY field (a
ContentInfo's content, a SafeBag's value) then loses its end-of-contents octets (pyasn1 issue
#66) and the next layer does not decode. So each blob is first re-encoded with definite lengths
and its constructed OCTET STRINGs joined (the contents of OCTET STRINGs unchanged, so a PFX's
MAC and a CMS messageDigest still match), bounded in nesting. An element already in definite
form is not copied (a signed message can weigh megabytes). Pure, no I/O.
"""

from __future__ import annotations

__all__ = ["BerError", "contents", "definite", "length_octets"]


class BerError(ValueError):
    """A blob that is not one well-formed BER element (one line, naming ``what``)."""


def length_octets(n: int) -> bytes:
    """The definite-form length octets of ``n``."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def header_length(der: bytes, pos: int = 0) -> tuple[int, int]:
    """(header length, contents length) of the definite-form element at ``der[pos:]`` with a
    one-byte tag (what :func:`definite` produces for universal and context tags)."""
    first = der[pos + 1]
    if first < 0x80:
        return 2, first
    n = first & 0x7F
    return 2 + n, int.from_bytes(der[pos + 2 : pos + 2 + n], "big")


def contents(der: bytes) -> bytes:
    """The contents of a definite-length element with a one-byte tag."""
    header, length = header_length(der)
    return der[header : header + length]


def definite(data: bytes, what: str, max_nesting: int) -> bytes:
    """``data`` (exactly one BER element) in definite form; ``data`` itself when it already is.

    :class:`BerError` when it is truncated, nested deeper than ``max_nesting``, malformed or
    followed by stray bytes.
    """
    der, end = _element(data, 0, len(data), 0, what, max_nesting)
    if end != len(data):
        raise BerError(f"{what}: followed by {len(data) - end} stray byte(s)")
    return data if der is None else der


def _element(
    data: bytes, pos: int, limit: int, depth: int, what: str, max_nesting: int
) -> tuple[bytes | None, int]:
    """The BER element at ``data[pos:limit]`` in definite form, and the position after it;
    ``None`` for "already in definite form: ``data[pos:end]`` as it is"."""
    if depth > max_nesting:
        raise BerError(f"{what}: ASN.1 nested more than {max_nesting} deep")
    start = pos
    if pos + 2 > limit:
        raise BerError(f"{what}: truncated ASN.1 element")
    first = data[pos]
    pos += 1
    if first & 0x1F == 0x1F:  # high tag number: base-128 digits
        while pos < limit and data[pos] & 0x80:
            pos += 1
        pos += 1
        if pos - start > 6 or pos >= limit:
            raise BerError(f"{what}: malformed ASN.1 tag")
    tag = data[start:pos]
    constructed = bool(first & 0x20)
    length_byte = data[pos]
    pos += 1
    children: list[tuple[bytes | None, int, int]] = []  # (rewritten or None, start, end)
    rewrite = length_byte == 0x80
    if rewrite:  # indefinite: children up to the end-of-contents octets
        if not constructed:
            raise BerError(f"{what}: indefinite length on a primitive ASN.1 element")
        while True:
            if pos + 2 > limit:
                raise BerError(f"{what}: missing end-of-contents octets")
            if data[pos] == 0 and data[pos + 1] == 0:
                pos += 2
                break
            child_start = pos
            child, pos = _element(data, pos, limit, depth + 1, what, max_nesting)
            children.append((child, child_start, pos))
    else:
        length = length_byte
        if length_byte & 0x80:
            count = length_byte & 0x7F
            if count > 4 or pos + count > limit:
                raise BerError(f"{what}: malformed ASN.1 length")
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        end = pos + length
        if end > limit:
            raise BerError(f"{what}: truncated ASN.1 element")
        if not constructed:
            return None, end
        while pos < end:
            child_start = pos
            child, pos = _element(data, pos, end, depth + 1, what, max_nesting)
            children.append((child, child_start, pos))
    parts = [data[a:b] if child is None else child for child, a, b in children]
    if first == 0x24:  # constructed OCTET STRING: one primitive OCTET STRING
        if any(part[0] != 0x04 for part in parts):
            raise BerError(f"{what}: a constructed OCTET STRING holds another type")
        value = b"".join(contents(part) for part in parts)
        return b"\x04" + length_octets(len(value)) + value, pos
    if not rewrite and all(child is None for child, _, _ in children):
        return None, pos
    body = b"".join(parts)
    return tag + length_octets(len(body)) + body, pos
