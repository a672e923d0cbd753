"""The MIME framing of S/MIME (RFC 8551 section 3): what is signed, and how it travels.

Signing. A message file is a header block and a body. The headers that describe the content
(``Content-*``) go with the body into the *entity* that is signed; the others (From, To,
Subject, Date, Message-ID...) stay outside, on the outer message, as mail clients do. An
input without ``Content-Type`` is ``text/plain``. Before signing, the entity is put in
canonical form: every line ends in CRLF (RFC 8551 3.1.1; a file saved on Unix has LF). A
text body with 8-bit bytes is re-encoded as quoted-printable (a binary one as base64), since
an 8-bit body can be changed in transit (RFC 8551 3.1.2) and then the signature breaks.

Two forms (RFC 8551 3.5):

* ``multipart/signed`` (detached, the default): the entity as the first part, readable by any
  mail client, and the CMS SignedData without its content as ``application/pkcs7-signature``;
  ``micalg`` names the digest (``sha-256``...);
* ``application/pkcs7-mime; smime-type=signed-data`` (opaque, ``--opaque``): the entity inside
  the SignedData, readable only by S/MIME clients but immune to gateways that rewrite bodies.

Reading. The signed part of a ``multipart/signed`` is the bytes between the first boundary
line and the CRLF before the next one, as RFC 1847 section 2.1 defines it, canonicalised to
CRLF. The signature part and an opaque body are base64. A raw CMS file (DER, or PEM
``-----BEGIN PKCS7-----`` / ``CMS``) is read as an opaque signature too.

Sizes are bounded (:data:`MAX_MESSAGE`, :data:`MAX_HEADER`); anything else malformed is one
:class:`~vedette.smime.asn1.SmimeError` line.
"""

from __future__ import annotations

import base64
import binascii
import email.message
import email.utils
import quopri
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from vedette.smime.asn1 import SmimeError

__all__ = [
    "MAX_HEADER",
    "MAX_MESSAGE",
    "Header",
    "SignedMessage",
    "build_enveloped",
    "build_opaque",
    "build_signed",
    "canonical",
    "join_message",
    "parse_enveloped",
    "parse_signed",
    "prepare_entity",
]

#: Largest message read or signed (in memory).
MAX_MESSAGE = 64 * 1024 * 1024
#: Largest header block (RFC 5322 lines are at most 998 octets; 1,000 of them is plenty).
MAX_HEADER = 1024 * 1024

_HEADER_LINE = re.compile(rb"^[!-9;-~]+:")
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,40})-----(.*?)-----END \1-----", re.DOTALL)
_BASE64_ONLY = re.compile(rb"[A-Za-z0-9+/=\s]+")
_INNER = ("content-", "mime-version")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")

SIGNATURE_TYPES = ("application/pkcs7-signature", "application/x-pkcs7-signature")
MIME_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")


@dataclass(frozen=True, slots=True)
class Header:
    """One header field: its name as written and its raw lines (folding kept, CRLF ends)."""

    name: str
    raw: bytes

    @property
    def value(self) -> str:
        """The unfolded value, bytes above 127 read as UTF-8 (replaced when invalid)."""
        text = self.raw.split(b":", 1)[1].decode("utf-8", "replace")
        return " ".join(text.split())


def canonical(data: bytes) -> bytes:
    """``data`` with every line ending CRLF (bare LF becomes CRLF; CRLF stays)."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def split_message(data: bytes) -> tuple[list[Header], bytes]:
    """(header fields, body) of canonical ``data``. No header block (the first line is not a
    header field) gives ``([], data)``; the empty line between them is not in either."""
    headers: list[Header] = []
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            line, nxt = data[pos:], len(data)
        else:
            line, nxt = data[pos : end + 2], end + 2
        if line in (b"\r\n", b""):
            return headers, data[nxt:]
        if line[:1] in (b" ", b"\t") and headers:
            last = headers[-1]
            headers[-1] = Header(last.name, last.raw + line)
        elif _HEADER_LINE.match(line):
            name = line.split(b":", 1)[0].decode("ascii")
            headers.append(Header(name, line if line.endswith(b"\r\n") else line + b"\r\n"))
        else:
            if not headers:
                return [], data
            raise SmimeError(f"malformed header line {line[:60]!r} in the message")
        if nxt > MAX_HEADER:
            raise SmimeError(f"header block larger than {MAX_HEADER // 1024} KiB")
        if nxt >= len(data):
            return headers, b""
        pos = nxt


def _get(headers: list[Header], name: str) -> Header | None:
    return next((h for h in headers if h.name.lower() == name), None)


def content_type(headers: list[Header]) -> tuple[str, dict[str, str]]:
    """(``type/subtype`` in lower case, parameters) of the Content-Type field; ``text/plain``
    when there is none (RFC 2045 5.2)."""
    field = _get(headers, "content-type")
    if field is None:
        return "text/plain", {}
    msg = email.message.Message()
    msg["Content-Type"] = field.value
    params: dict[str, str] = {}
    for key, value in msg.get_params(failobj=[])[1:]:
        params[key.lower()] = str(email.utils.collapse_rfc2231_value(value))
    return msg.get_content_type(), params


def from_addresses(headers: list[Header]) -> tuple[str, ...]:
    """The addresses of the From field, lower case; ``()`` when there is none."""
    field = _get(headers, "from")
    if field is None:
        return ()
    return tuple(a.lower() for _, a in email.utils.getaddresses([field.value]) if "@" in a)


def _is_8bit(data: bytes) -> bool:
    return not data.isascii() or b"\x00" in data


def prepare_entity(message: bytes) -> tuple[list[Header], bytes, tuple[str, ...]]:
    """(outer header fields, the canonical MIME entity to sign, notes) for a message file."""
    if len(message) > MAX_MESSAGE:
        raise SmimeError(f"message larger than {MAX_MESSAGE // (1024 * 1024)} MiB")
    headers, body = split_message(canonical(message))
    outer = [h for h in headers if not h.name.lower().startswith(("content-", "mime-version"))]
    inner = [h for h in headers if h.name.lower().startswith("content-")]
    notes: list[str] = []
    ctype, _ = content_type(inner)
    cte_field = _get(inner, "content-transfer-encoding")
    cte = cte_field.value.lower() if cte_field else "7bit"
    if _get(inner, "content-type") is None:
        charset = "utf-8" if _is_8bit(body) else "us-ascii"
        inner.insert(
            0, Header("Content-Type", f"Content-Type: text/plain; charset={charset}\r\n".encode())
        )
    if cte not in ("base64", "quoted-printable") and _is_8bit(body):
        if ctype.startswith("multipart/"):
            notes.append(
                "the multipart body has 8-bit data: a relay that re-encodes it breaks the "
                "signature (RFC 8551 3.1.2); encode its parts as quoted-printable or base64"
            )
        else:
            inner = [h for h in inner if h.name.lower() != "content-transfer-encoding"]
            if ctype.startswith("text/"):
                encoded = canonical(quopri.encodestring(body.replace(b"\r\n", b"\n")))
                how = "quoted-printable"
            else:
                encoded = _base64_lines(body)
                how = "base64"
            inner.append(
                Header(
                    "Content-Transfer-Encoding", f"Content-Transfer-Encoding: {how}\r\n".encode()
                )
            )
            notes.append(f"the 8-bit body was re-encoded as {how} before signing (RFC 8551 3.1.2)")
            body = encoded
    entity = b"".join(h.raw for h in inner) + b"\r\n" + body
    return outer, entity, tuple(notes)


def _base64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")  # lines of 76 characters


def _outer(outer: list[Header]) -> bytes:
    return b"".join(h.raw for h in outer) + b"MIME-Version: 1.0\r\n"


def build_signed(outer: list[Header], entity: bytes, micalg: str, signature: bytes) -> bytes:
    """The ``multipart/signed`` message: ``entity`` and the detached ``signature`` (DER)."""
    boundary = "----=_vedette_" + secrets.token_hex(12)
    b = boundary.encode()
    while b in entity:  # a boundary must not occur in the parts (RFC 2046 5.1.1)
        boundary = "----=_vedette_" + secrets.token_hex(12)
        b = boundary.encode()
    head = (
        f'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; '
        f'micalg={micalg};\r\n\tboundary="{boundary}"\r\n'
    ).encode()
    return (
        _outer(outer)
        + head
        + b"\r\nThis is an S/MIME signed message\r\n\r\n--"
        + b
        + b"\r\n"
        + entity
        + b"\r\n--"
        + b
        + b'\r\nContent-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
        + b"Content-Transfer-Encoding: base64\r\n"
        + b'Content-Disposition: attachment; filename="smime.p7s"\r\n\r\n'
        + _base64_lines(signature)
        + b"\r\n--"
        + b
        + b"--\r\n"
    )


def _pkcs7_mime(outer: list[Header], cms: bytes, smime_type: bytes) -> bytes:
    return (
        _outer(outer)
        + b"Content-Type: application/pkcs7-mime; smime-type="
        + smime_type
        + b'; name="smime.p7m"\r\n'
        + b"Content-Transfer-Encoding: base64\r\n"
        + b'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
        + _base64_lines(cms)
    )


def build_opaque(outer: list[Header], cms: bytes) -> bytes:
    """The ``application/pkcs7-mime; smime-type=signed-data`` message carrying ``cms``."""
    return _pkcs7_mime(outer, cms, b"signed-data")


def build_enveloped(outer: list[Header], cms: bytes, *, auth: bool) -> bytes:
    """The ``application/pkcs7-mime`` message carrying an (Auth)EnvelopedData ``cms``;
    ``smime-type=authEnveloped-data`` for AES-GCM (RFC 8551 3.2.2)."""
    return _pkcs7_mime(outer, cms, b"authEnveloped-data" if auth else b"enveloped-data")


def _raw_cms(data: bytes) -> bytes | None:
    """The CMS of a file without MIME: DER, PEM (``PKCS7``, ``CMS``, gpgsm's ``SIGNED
    MESSAGE``...) or bare base64 (``gpgsm --base64``); ``None`` for anything else."""
    if data[:1] == b"\x30":
        return data
    head = data[:4096].lstrip()
    if head.startswith(b"-----BEGIN "):
        pem = _PEM.match(data.strip())
        if pem is None:
            raise SmimeError("a PEM block without its END line (truncated file?)")
        label = pem.group(1).decode("ascii")
        return _b64(pem.group(2), f"the PEM {label} block")
    if not head or b":" in head.split(b"\n", 1)[0]:
        return None  # a header field (or nothing): a message, not bare base64
    if _BASE64_ONLY.fullmatch(data):
        return _b64(data, "the base64 CMS file")
    return None


def parse_enveloped(data: bytes) -> tuple[list[Header], bytes]:
    """(the outer header fields but Content-* and MIME-Version, the CMS) of an encrypted
    message, or of a raw CMS file (DER, PEM): no headers then."""
    if len(data) > MAX_MESSAGE:
        raise SmimeError(f"message larger than {MAX_MESSAGE // (1024 * 1024)} MiB")
    raw = _raw_cms(data)
    if raw is not None:
        return [], raw
    # only the header block is put in canonical form: the base64 body ignores line ends, and
    # not copying it keeps a large message's memory down
    blank = _BLANK_LINE.search(data)
    head, body = (data, b"") if blank is None else (data[: blank.end()], data[blank.end() :])
    headers, _ = split_message(canonical(head))
    if not headers:
        raise SmimeError("not a mail message (no header block) nor a CMS file")
    ctype, params = content_type(headers)
    if ctype not in MIME_TYPES:
        raise SmimeError(f"not an encrypted message: its Content-Type is {ctype}")
    smime_type = params.get("smime-type", "enveloped-data").lower()
    if smime_type not in ("enveloped-data", "authenveloped-data"):
        raise SmimeError(f"an S/MIME {smime_type} message, not an encrypted one")
    cte_field = _get(headers, "content-transfer-encoding")
    cte = cte_field.value.lower() if cte_field else "7bit"
    if cte in ("binary", "8bit", "7bit"):
        return [h for h in headers if not h.name.lower().startswith(_INNER)], body
    if cte != "base64":
        raise SmimeError(f"the S/MIME body: content-transfer-encoding {cte!r} (expected base64)")
    cms = _b64(body, "the S/MIME body")
    return [h for h in headers if not h.name.lower().startswith(_INNER)], cms


def join_message(outer: list[Header], entity: bytes) -> bytes:
    """A message from outer header fields and a MIME entity (its Content-* fields first)."""
    return _outer(outer) + entity


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedMessage:
    """A signed message taken apart.

    Attributes:
        form: ``detached`` (multipart/signed), ``opaque`` (pkcs7-mime) or ``cms`` (a raw CMS
            file, no MIME around it).
        cms: the SignedData's ContentInfo, DER or BER as carried.
        content: the signed entity of a detached message, canonical; ``None`` otherwise (the
            content is inside ``cms``).
        micalg: the ``micalg`` parameter of a multipart/signed (lower case), else ``None``.
        from_addresses: the addresses of the From field (lower case).
    """

    form: Literal["detached", "opaque", "cms"]
    cms: bytes
    content: bytes | None
    micalg: str | None
    from_addresses: tuple[str, ...]


def _b64(body: bytes, what: str) -> bytes:
    try:
        return base64.b64decode(body.translate(None, b" \t\r\n\f\v"), validate=True)
    except (binascii.Error, ValueError):
        raise SmimeError(f"{what}: the base64 does not decode") from None


def _part_payload(part: bytes, what: str) -> bytes:
    headers, body = split_message(part)
    cte_field = _get(headers, "content-transfer-encoding")
    cte = cte_field.value.lower() if cte_field else "7bit"
    if cte == "base64":
        return _b64(body, what)
    if cte in ("binary", "8bit", "7bit"):
        return body
    raise SmimeError(f"{what}: content-transfer-encoding {cte!r} (expected base64)")


def _delimiter(body: bytes, boundary: bytes, start: int) -> tuple[int, int, bool] | None:
    """(where the delimiter begins, with the CRLF before it; where the next part starts;
    whether it is the closing one) of the first delimiter line ``--boundary`` at or after
    ``start``, which is the start of a line; ``None`` when there is none."""
    marker = b"--" + boundary
    search = start
    while True:
        if search == start and body.startswith(marker, start):
            at = line_start = start
        else:
            found = body.find(b"\r\n" + marker, search)
            if found < 0:
                return None
            at, line_start = found, found + 2
        after = line_start + len(marker)
        closing = body[after : after + 2] == b"--"
        eol = body.find(b"\r\n", after)
        end_of_line = eol if eol >= 0 else len(body)
        if body[after + (2 if closing else 0) : end_of_line].strip(b" \t") == b"":
            return at, (eol + 2 if eol >= 0 else len(body)), closing
        search = after


def parse_signed(data: bytes) -> SignedMessage:
    """Take a signed message (or a raw CMS file) apart; :class:`SmimeError` when it is none."""
    if len(data) > MAX_MESSAGE:
        raise SmimeError(f"message larger than {MAX_MESSAGE // (1024 * 1024)} MiB")
    raw = _raw_cms(data)
    if raw is not None:
        return SignedMessage(form="cms", cms=raw, content=None, micalg=None, from_addresses=())
    headers, body = split_message(canonical(data))
    if not headers:
        raise SmimeError("not a mail message (no header block) nor a CMS file")
    ctype, params = content_type(headers)
    addresses = from_addresses(headers)
    if ctype in MIME_TYPES:
        smime_type = params.get("smime-type", "signed-data").lower()
        if smime_type != "signed-data":
            raise SmimeError(
                f"an S/MIME {smime_type} message, not a signed one"
                + (" (decrypt it first)" if smime_type == "enveloped-data" else "")
            )
        cms = _part_payload(b"".join(h.raw for h in headers) + b"\r\n" + body, "the S/MIME body")
        return SignedMessage(
            form="opaque", cms=cms, content=None, micalg=None, from_addresses=addresses
        )
    if ctype != "multipart/signed":
        raise SmimeError(f"not a signed message: its Content-Type is {ctype}")
    protocol = params.get("protocol", "").lower()
    if protocol not in SIGNATURE_TYPES:
        raise SmimeError(
            f"multipart/signed with protocol {protocol or 'missing'!r}, not S/MIME "
            "(application/pkcs7-signature)"
            + (": a PGP/MIME message" if protocol == "application/pgp-signature" else "")
        )
    boundary_text = params.get("boundary", "")
    if not boundary_text or len(boundary_text) > 70:
        raise SmimeError("multipart/signed without a valid boundary parameter")
    boundary = boundary_text.encode("utf-8", "replace")
    first = _delimiter(body, boundary, 0)
    if first is None or first[2]:
        raise SmimeError("multipart/signed: no opening boundary line")
    second = _delimiter(body, boundary, first[1])
    if second is None or second[2]:
        raise SmimeError("multipart/signed: the signed part is not followed by a signature part")
    third = _delimiter(body, boundary, second[1])
    if third is None:
        raise SmimeError("multipart/signed: no closing boundary (truncated message?)")
    content = body[first[1] : second[0]]
    sig_headers, _ = split_message(body[second[1] : third[0]])
    sig_type, _ = content_type(sig_headers)
    if sig_type not in SIGNATURE_TYPES:
        raise SmimeError(f"multipart/signed: the second part is {sig_type}, not a signature")
    cms = _part_payload(body[second[1] : third[0]], "the signature part")
    micalg = params.get("micalg")
    return SignedMessage(
        form="detached",
        cms=cms,
        content=content,
        micalg=micalg.lower() if micalg else None,
        from_addresses=addresses,
    )
