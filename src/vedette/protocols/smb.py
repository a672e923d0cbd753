"""SMB dialect negotiation, sans-I/O: what a server accepts before any session exists.

vedette never sets up a session nor authenticates: it sends NEGOTIATE requests only and reads
their responses. Two request families:

* SMB1 ``SMB_COM_NEGOTIATE`` ([MS-CIFS] 2.2.4.52) offering the old dialect strings, up to
  ``NT LM 0.12``; with ``multi_protocol`` it also offers ``SMB 2.002`` and ``SMB 2.???`` (the
  "multi-protocol negotiate" of [MS-SMB2] 3.3.5.3.1), which a modern server answers in SMB2;
* SMB2 ``NEGOTIATE`` ([MS-SMB2] 2.2.3) for a list of dialect revisions (0x0202 ... 0x0311),
  with the SMB 3.1.1 negotiate contexts (pre-authentication integrity, encryption, signing)
  when 0x0311 is offered. The response ([MS-SMB2] 2.2.4) gives one dialect: enumerating the
  accepted ones takes one connection per request.

Transport: every message travels in a NetBIOS session service frame (RFC 1002 4.3: a type
byte and a length), on 445 ("direct TCP", [MS-SMB2] 2.1) as on 139, where a session request
naming ``*SMBSERVER`` comes first. ``SmbNegotiation`` drives one connection.

Every length read from the peer is checked against the bytes received and against
``MAX_MESSAGE``; anything malformed raises ``ProtocolError`` with one line of text.
"""

from __future__ import annotations

import enum
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vedette.errors import NotProtocolError, ProtocolError
from vedette.model import DialogueObservation, Stage
from vedette.protocols._base import Action, Close, NeedData, Send

#: Largest NetBIOS frame accepted. A NEGOTIATE response carries a SPNEGO blob of a few hundred
#: bytes and a few contexts; 64 KiB is far above any real one.
MAX_MESSAGE = 65536

SMB1_MAGIC = b"\xffSMB"
SMB2_MAGIC = b"\xfeSMB"
SMB1_COM_NEGOTIATE = 0x72
SMB2_NEGOTIATE = 0x0000
SMB2_HEADER_SIZE = 64
SMB1_HEADER_SIZE = 32

#: SMB1 dialect strings, oldest first ([MS-CIFS] 1.7); ``NT LM 0.12`` is the one Windows speaks.
SMB1_DIALECTS: tuple[str, ...] = (
    "PC NETWORK PROGRAM 1.0",
    "MICROSOFT NETWORKS 1.03",
    "MICROSOFT NETWORKS 3.0",
    "LANMAN1.0",
    "LM1.2X002",
    "DOS LANMAN2.1",
    "LANMAN2.1",
    "Samba",
    "NT LM 0.12",
)
NT_LM_012 = "NT LM 0.12"
#: The SMB2 dialect strings of the multi-protocol negotiate ([MS-SMB2] 3.3.5.3.1).
SMB2_MULTI_PROTOCOL = ("SMB 2.002", "SMB 2.???")


class Dialect(enum.IntEnum):
    """SMB2 dialect revisions ([MS-SMB2] 2.2.3)."""

    SMB_2_0_2 = 0x0202
    SMB_2_1 = 0x0210
    SMB_3_0 = 0x0300
    SMB_3_0_2 = 0x0302
    SMB_3_1_1 = 0x0311
    #: Only in a response to a multi-protocol negotiate: "SMB 2.1 or later, negotiate again".
    WILDCARD = 0x02FF

    @property
    def label(self) -> str:
        if self is Dialect.WILDCARD:
            return "2.???"
        major, minor = self.value >> 8, self.value & 0xFF
        return f"{major}.{minor >> 4}.{minor & 0xF}" if minor & 0xF else f"{major}.{minor >> 4}"


#: The dialects vedette enumerates, newest first.
SMB2_DIALECTS: tuple[Dialect, ...] = (
    Dialect.SMB_3_1_1,
    Dialect.SMB_3_0_2,
    Dialect.SMB_3_0,
    Dialect.SMB_2_1,
    Dialect.SMB_2_0_2,
)

# SecurityMode bits ([MS-SMB2] 2.2.4; SMB1 [MS-CIFS] 2.2.4.52.2 uses 0x04/0x08 for the same).
SIGNING_ENABLED = 0x0001
SIGNING_REQUIRED = 0x0002
SMB1_SECURITY_SIGNATURES_ENABLED = 0x04
SMB1_SECURITY_SIGNATURES_REQUIRED = 0x08

CAPABILITY_NAMES: dict[int, str] = {
    0x01: "DFS",
    0x02: "LEASING",
    0x04: "LARGE_MTU",
    0x08: "MULTI_CHANNEL",
    0x10: "PERSISTENT_HANDLES",
    0x20: "DIRECTORY_LEASING",
    0x40: "ENCRYPTION",
    0x80: "NOTIFICATIONS",
}

# Negotiate context types ([MS-SMB2] 2.2.3.1).
CTX_PREAUTH_INTEGRITY = 0x0001
CTX_ENCRYPTION = 0x0002
CTX_SIGNING = 0x0008
CONTEXT_NAMES: dict[int, str] = {
    0x0001: "PREAUTH_INTEGRITY_CAPABILITIES",
    0x0002: "ENCRYPTION_CAPABILITIES",
    0x0003: "COMPRESSION_CAPABILITIES",
    0x0005: "NETNAME_NEGOTIATE_CONTEXT_ID",
    0x0006: "TRANSPORT_CAPABILITIES",
    0x0007: "RDMA_TRANSFORM_CAPABILITIES",
    0x0008: "SIGNING_CAPABILITIES",
}
HASH_NAMES: dict[int, str] = {0x0001: "SHA-512"}
CIPHER_NAMES: dict[int, str] = {
    0x0001: "AES-128-CCM",
    0x0002: "AES-128-GCM",
    0x0003: "AES-256-CCM",
    0x0004: "AES-256-GCM",
}
SIGNING_NAMES: dict[int, str] = {0x0000: "HMAC-SHA256", 0x0001: "AES-CMAC", 0x0002: "AES-GMAC"}

#: Most negotiate contexts read from one response (a real server sends 2 to 5).
MAX_CONTEXTS = 32
#: Most entries read in one context list (ciphers, hash or signing algorithms).
MAX_CONTEXT_ITEMS = 64

_NT_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def filetime(value: int) -> datetime | None:
    """A FILETIME (100 ns since 1601) as an aware datetime; None for 0 or out of range."""
    if value == 0:
        return None
    try:
        return _NT_EPOCH + timedelta(microseconds=value // 10)
    except OverflowError:
        return None


def _name(table: dict[int, str], value: int) -> str:
    return table.get(value, f"0x{value:04x}")


# ---- NetBIOS session service (RFC 1002 4.3) ----------------------------------------------------

NBSS_MESSAGE = 0x00
NBSS_SESSION_REQUEST = 0x81
NBSS_POSITIVE_RESPONSE = 0x82
NBSS_NEGATIVE_RESPONSE = 0x83
NBSS_RETARGET = 0x84
NBSS_KEEPALIVE = 0x85

_NBSS_ERRORS = {
    0x80: "not listening on called name",
    0x81: "not listening for calling name",
    0x82: "called name not present",
    0x83: "called name present, but insufficient resources",
    0x8F: "unspecified error",
}


def nbss_frame(payload: bytes, kind: int = NBSS_MESSAGE) -> bytes:
    """``payload`` in a NetBIOS session service frame (a type byte, then a 24-bit length)."""
    if len(payload) > 0xFFFFFF:
        raise ValueError("NetBIOS frame payload over 16 MiB")
    return struct.pack(">I", (kind << 24) | len(payload)) + payload


def netbios_name(name: str, suffix: int) -> bytes:
    """A NetBIOS name in first-level encoding (RFC 1001 14.1), as a length-prefixed label.

    ``name`` is upper-cased and padded with spaces to 15 characters; ``suffix`` is the 16th
    byte (0x20: file server service; 0x00: workstation)."""
    raw = name.upper().encode("ascii")
    if len(raw) > 15:
        raise ValueError(f"NetBIOS name longer than 15 characters: {name!r}")
    raw = raw.ljust(15, b" ") + bytes([suffix])
    encoded = bytearray()
    for byte in raw:
        encoded += bytes([0x41 + (byte >> 4), 0x41 + (byte & 0x0F)])
    return bytes([32]) + bytes(encoded) + b"\x00"


def nbss_session_request(called: str = "*SMBSERVER", calling: str = "VEDETTE") -> bytes:
    """Port 139's first frame: a session request for ``called`` (``*SMBSERVER`` answers
    whatever the server's NetBIOS name) from ``calling``."""
    return nbss_frame(
        netbios_name(called, 0x20) + netbios_name(calling, 0x00), kind=NBSS_SESSION_REQUEST
    )


class NbssReader:
    """Accumulates bytes and yields NetBIOS frames ``(type, payload)``, bounded in size."""

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self._buf = bytearray()
        self._max = max_message
        self.eof = False

    def feed(self, data: bytes) -> None:
        if not data:
            self.eof = True
            return
        self._buf += data

    def next_frame(self) -> tuple[int, bytes] | None:
        """The next complete frame, or None when more bytes are needed. Keepalives are
        skipped."""
        while True:
            if len(self._buf) < 4:
                return None
            kind = self._buf[0]
            if kind not in (
                NBSS_MESSAGE,
                NBSS_POSITIVE_RESPONSE,
                NBSS_NEGATIVE_RESPONSE,
                NBSS_RETARGET,
                NBSS_KEEPALIVE,
            ):
                raise NotProtocolError(f"not a NetBIOS session frame (type 0x{kind:02x})")
            (length,) = struct.unpack(">I", b"\x00" + bytes(self._buf[1:4]))
            if length > self._max:
                raise ProtocolError(
                    f"SMB message of {length} bytes, over the {self._max}-byte bound",
                    too_large=True,
                )
            if len(self._buf) < 4 + length:
                return None
            payload = bytes(self._buf[4 : 4 + length])
            del self._buf[: 4 + length]
            if kind == NBSS_KEEPALIVE:
                continue
            return kind, payload


# ---- SMB1 NEGOTIATE ([MS-CIFS] 2.2.4.52) -------------------------------------------------------


def smb1_negotiate_request(
    dialects: Sequence[str] = SMB1_DIALECTS, *, multi_protocol: bool = False, mid: int = 1
) -> bytes:
    """An SMB1 ``SMB_COM_NEGOTIATE`` request (no NetBIOS frame) offering ``dialects``, plus
    ``SMB 2.002`` and ``SMB 2.???`` with ``multi_protocol``."""
    offered = list(dialects) + (list(SMB2_MULTI_PROTOCOL) if multi_protocol else [])
    body = b"".join(b"\x02" + d.encode("ascii") + b"\x00" for d in offered)
    # Flags: case-insensitive paths, canonicalized; Flags2: long names, NT status, Unicode,
    # extended security. PID 0xFEFF like Windows; no TID, no UID.
    header = struct.pack(
        "<4sBIBHH8sHHHHH",
        SMB1_MAGIC,
        SMB1_COM_NEGOTIATE,
        0,
        0x18,
        0xC801,
        0,
        b"\x00" * 8,
        0,
        0,
        0xFEFF,
        0,
        mid & 0xFFFF,
    )
    return header + b"\x00" + struct.pack("<H", len(body)) + body


@dataclass(frozen=True, slots=True, kw_only=True)
class Smb1Negotiate:
    """An SMB1 NEGOTIATE response.

    Attributes:
        dialect: the dialect string the server chose; ``None`` when it refused every one.
        security_mode: the SecurityMode byte (NT LM 0.12 responses only, else 0).
        capabilities: the server's CAP_* bits (NT LM 0.12 only, else 0).
        system_time: the server's clock (NT LM 0.12 only).
    """

    dialect: str | None
    security_mode: int = 0
    capabilities: int = 0
    system_time: datetime | None = None

    @property
    def signing_enabled(self) -> bool:
        return bool(self.security_mode & SMB1_SECURITY_SIGNATURES_ENABLED)

    @property
    def signing_required(self) -> bool:
        return bool(self.security_mode & SMB1_SECURITY_SIGNATURES_REQUIRED)


def _offered(dialects: Sequence[str], multi_protocol: bool) -> list[str]:
    return list(dialects) + (list(SMB2_MULTI_PROTOCOL) if multi_protocol else [])


def parse_smb1_negotiate_response(
    data: bytes, offered: Sequence[str], *, mid: int | None = None
) -> Smb1Negotiate:
    """Read an SMB1 NEGOTIATE response to a request that offered ``offered`` (in order)."""
    if len(data) < SMB1_HEADER_SIZE + 3:
        raise ProtocolError(f"SMB1 response of {len(data)} bytes, shorter than its header")
    if data[:4] != SMB1_MAGIC:
        raise NotProtocolError("not an SMB1 response (protocol id)")
    command = data[4]
    (status,) = struct.unpack_from("<I", data, 5)
    flags = data[9]
    (resp_mid,) = struct.unpack_from("<H", data, 30)
    if command != SMB1_COM_NEGOTIATE:
        raise ProtocolError(f"SMB1 reply to command 0x{command:02x}, not NEGOTIATE")
    if not flags & 0x80:
        raise ProtocolError("SMB1 message is a request, not a reply")
    if mid is not None and resp_mid != mid:
        raise ProtocolError(f"SMB1 reply to message id {resp_mid}, not {mid}")
    if status != 0:
        raise ProtocolError(f"SMB1 NEGOTIATE refused with status 0x{status:08x}")
    word_count = data[SMB1_HEADER_SIZE]
    words_end = SMB1_HEADER_SIZE + 1 + 2 * word_count
    if len(data) < words_end + 2:
        raise ProtocolError("SMB1 NEGOTIATE response cut short")
    if word_count < 1:
        raise ProtocolError("SMB1 NEGOTIATE response without a dialect index")
    (index,) = struct.unpack_from("<H", data, SMB1_HEADER_SIZE + 1)
    if index == 0xFFFF:
        return Smb1Negotiate(dialect=None)
    if index >= len(offered):
        raise ProtocolError(f"SMB1 server chose dialect {index}, only {len(offered)} offered")
    dialect = offered[index]
    if word_count == 17:
        # DialectIndex(2) SecurityMode(1) MaxMpxCount(2) MaxNumberVcs(2) MaxBufferSize(4)
        # MaxRawSize(4) SessionKey(4) Capabilities(4) SystemTime(8) ServerTimeZone(2)
        # ChallengeLength(1)
        security_mode = data[SMB1_HEADER_SIZE + 3]
        (capabilities,) = struct.unpack_from("<I", data, SMB1_HEADER_SIZE + 1 + 19)
        (system_time,) = struct.unpack_from("<Q", data, SMB1_HEADER_SIZE + 1 + 23)
        return Smb1Negotiate(
            dialect=dialect,
            security_mode=security_mode,
            capabilities=capabilities,
            system_time=filetime(system_time),
        )
    return Smb1Negotiate(dialect=dialect)


# ---- SMB2 NEGOTIATE ([MS-SMB2] 2.2.3, 2.2.4) ---------------------------------------------------


def _pad8(n: int) -> int:
    return (8 - n % 8) % 8


def _context(ctx_type: int, data: bytes) -> bytes:
    return struct.pack("<HHI", ctx_type, len(data), 0) + data


def smb2_negotiate_contexts(salt: bytes) -> list[bytes]:
    """The 3.1.1 contexts vedette offers: SHA-512 with ``salt``, every cipher, every signing
    algorithm (each already packed, unpadded)."""
    preauth = struct.pack("<HHH", 1, len(salt), 0x0001) + salt
    ciphers = struct.pack("<H", len(CIPHER_NAMES)) + b"".join(
        struct.pack("<H", c) for c in (0x0004, 0x0003, 0x0002, 0x0001)
    )
    signing = struct.pack("<H", len(SIGNING_NAMES)) + b"".join(
        struct.pack("<H", s) for s in (0x0002, 0x0001, 0x0000)
    )
    return [
        _context(CTX_PREAUTH_INTEGRITY, preauth),
        _context(CTX_ENCRYPTION, ciphers),
        _context(CTX_SIGNING, signing),
    ]


def smb2_negotiate_request(
    dialects: Sequence[int],
    *,
    message_id: int = 0,
    client_guid: bytes = b"\x00" * 16,
    salt: bytes = b"\x00" * 32,
    signing_required: bool = False,
) -> bytes:
    """An SMB2 NEGOTIATE request (no NetBIOS frame) for ``dialects``; when 0x0311 is among
    them the pre-authentication integrity, encryption and signing contexts follow."""
    if not dialects:
        raise ValueError("an SMB2 NEGOTIATE needs at least one dialect")
    if len(client_guid) != 16:
        raise ValueError("client GUID must be 16 bytes")
    header = struct.pack(
        "<4sHHIHHIIQIIQ16s",
        SMB2_MAGIC,
        SMB2_HEADER_SIZE,
        0,
        0,
        SMB2_NEGOTIATE,
        1,
        0,
        0,
        message_id,
        0xFEFF,
        0,
        0,
        b"\x00" * 16,
    )
    security_mode = SIGNING_REQUIRED if signing_required else SIGNING_ENABLED
    # Capabilities: DFS, LEASING, LARGE_MTU, ENCRYPTION, as common clients send.
    capabilities = 0x01 | 0x02 | 0x04 | 0x40
    dialect_bytes = b"".join(struct.pack("<H", d) for d in dialects)
    fixed_len = 36
    with_contexts = Dialect.SMB_3_1_1 in dialects
    if with_contexts:
        contexts = smb2_negotiate_contexts(salt)
        ctx_offset = SMB2_HEADER_SIZE + fixed_len + len(dialect_bytes)
        pad = _pad8(ctx_offset)
        ctx_offset += pad
        ctx_blob = b""
        for i, ctx in enumerate(contexts):
            ctx_blob += ctx
            if i < len(contexts) - 1:
                ctx_blob += b"\x00" * _pad8(len(ctx_blob))
        tail = struct.pack("<IHH", ctx_offset, len(contexts), 0)
        body = (
            struct.pack(
                "<HHHHI16s", fixed_len, len(dialects), security_mode, 0, capabilities, client_guid
            )
            + tail
            + dialect_bytes
            + b"\x00" * pad
            + ctx_blob
        )
    else:
        body = (
            struct.pack(
                "<HHHHI16s", fixed_len, len(dialects), security_mode, 0, capabilities, client_guid
            )
            + b"\x00" * 8
            + dialect_bytes
        )
    return header + body


@dataclass(frozen=True, slots=True, kw_only=True)
class NegotiateContexts:
    """The 3.1.1 negotiate contexts of a response, by name; unknown context types by id."""

    preauth_hashes: tuple[str, ...] = ()
    ciphers: tuple[str, ...] = ()
    signing_algorithms: tuple[str, ...] = ()
    other: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Smb2Negotiate:
    """An SMB2 NEGOTIATE response ([MS-SMB2] 2.2.4)."""

    dialect: int
    security_mode: int
    capabilities: int
    server_guid: uuid.UUID
    system_time: datetime | None
    contexts: NegotiateContexts | None = None

    @property
    def signing_enabled(self) -> bool:
        return bool(self.security_mode & SIGNING_ENABLED)

    @property
    def signing_required(self) -> bool:
        return bool(self.security_mode & SIGNING_REQUIRED)

    @property
    def dialect_label(self) -> str:
        try:
            return Dialect(self.dialect).label
        except ValueError:
            return f"0x{self.dialect:04x}"

    @property
    def capability_names(self) -> tuple[str, ...]:
        return tuple(n for bit, n in CAPABILITY_NAMES.items() if self.capabilities & bit)


class SmbStatusError(ProtocolError):
    """The server answered NEGOTIATE with an error status (for example STATUS_NOT_SUPPORTED
    when none of the offered dialects is accepted)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"SMB2 NEGOTIATE refused with status 0x{status:08x}")
        self.status = status


def _id_list(data: bytes, offset: int, count: int, table: dict[int, str]) -> tuple[str, ...]:
    if count > MAX_CONTEXT_ITEMS:
        raise ProtocolError(f"negotiate context lists {count} entries")
    if offset + 2 * count > len(data):
        raise ProtocolError("negotiate context list runs past its data")
    return tuple(
        _name(table, v) for (v,) in struct.iter_unpack("<H", data[offset : offset + 2 * count])
    )


def _parse_contexts(msg: bytes, offset: int, count: int) -> NegotiateContexts:
    if count > MAX_CONTEXTS:
        raise ProtocolError(f"{count} negotiate contexts, over the bound of {MAX_CONTEXTS}")
    hashes: tuple[str, ...] = ()
    ciphers: tuple[str, ...] = ()
    signing: tuple[str, ...] = ()
    other: list[str] = []
    pos = offset
    for i in range(count):
        if i:
            pos += _pad8(pos)
        if pos + 8 > len(msg):
            raise ProtocolError("negotiate context runs past the end of the response")
        ctx_type, length = struct.unpack_from("<HH", msg, pos)
        data = msg[pos + 8 : pos + 8 + length]
        if len(data) != length:
            raise ProtocolError("negotiate context data runs past the end of the response")
        if ctx_type == CTX_PREAUTH_INTEGRITY:
            if length < 4:
                raise ProtocolError("pre-authentication integrity context too short")
            n, _salt_len = struct.unpack_from("<HH", data, 0)
            hashes = _id_list(data, 4, n, HASH_NAMES)
        elif ctx_type == CTX_ENCRYPTION:
            if length < 2:
                raise ProtocolError("encryption context too short")
            (n,) = struct.unpack_from("<H", data, 0)
            ciphers = _id_list(data, 2, n, CIPHER_NAMES)
        elif ctx_type == CTX_SIGNING:
            if length < 2:
                raise ProtocolError("signing context too short")
            (n,) = struct.unpack_from("<H", data, 0)
            signing = _id_list(data, 2, n, SIGNING_NAMES)
        else:
            other.append(_name(CONTEXT_NAMES, ctx_type))
        pos += 8 + length
    return NegotiateContexts(
        preauth_hashes=hashes, ciphers=ciphers, signing_algorithms=signing, other=tuple(other)
    )


def parse_smb2_negotiate_response(msg: bytes, *, message_id: int | None = None) -> Smb2Negotiate:
    """Read an SMB2 NEGOTIATE response (no NetBIOS frame)."""
    if len(msg) < SMB2_HEADER_SIZE:
        raise ProtocolError(f"SMB2 response of {len(msg)} bytes, shorter than its header")
    if msg[:4] != SMB2_MAGIC:
        raise NotProtocolError("not an SMB2 response (protocol id)")
    structure_size, _credit, status, command, _credits, flags, _next, resp_id = struct.unpack_from(
        "<HHIHHIIQ", msg, 4
    )
    if structure_size != SMB2_HEADER_SIZE:
        raise ProtocolError(f"SMB2 header size {structure_size}, not 64")
    if command != SMB2_NEGOTIATE:
        raise ProtocolError(f"SMB2 reply to command 0x{command:04x}, not NEGOTIATE")
    if not flags & 0x1:
        raise ProtocolError("SMB2 message is a request, not a response")
    if message_id is not None and resp_id != message_id:
        raise ProtocolError(f"SMB2 reply to message id {resp_id}, not {message_id}")
    if status != 0:
        raise SmbStatusError(status)
    body = SMB2_HEADER_SIZE
    if len(msg) < body + 64:
        raise ProtocolError("SMB2 NEGOTIATE response cut short")
    (
        size,
        security_mode,
        dialect,
        ctx_count,
        guid,
        capabilities,
        _max_transact,
        _max_read,
        _max_write,
        system_time,
        _start_time,
        _sec_offset,
        _sec_length,
        ctx_offset,
    ) = struct.unpack_from("<HHHH16sIIIIQQHHI", msg, body)
    if size != 65:
        raise ProtocolError(f"SMB2 NEGOTIATE response structure size {size}, not 65")
    contexts = None
    if dialect == Dialect.SMB_3_1_1:
        if ctx_offset < body + 64 or ctx_offset > len(msg):
            raise ProtocolError("SMB2 negotiate context offset outside the response")
        contexts = _parse_contexts(msg, ctx_offset, ctx_count)
    return Smb2Negotiate(
        dialect=dialect,
        security_mode=security_mode,
        capabilities=capabilities,
        server_guid=uuid.UUID(bytes_le=guid),
        system_time=filetime(system_time),
        contexts=contexts,
    )


# ---- One connection ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NegotiateOutcome:
    """What one negotiation connection learnt: an SMB1 answer, an SMB2 answer, or a refusal
    (``refused``: the server said no, by status, by dialect index 0xFFFF or by hanging up)."""

    smb1: Smb1Negotiate | None = None
    smb2: Smb2Negotiate | None = None
    refused: str = ""


class SmbNegotiation:
    """One connection's dialogue: (port 139: session request,) one NEGOTIATE, its response.

    Sans-I/O: ``next_action()`` gives ``Send``/``NeedData``/``Close``; feed bytes with
    ``receive_data`` (``b""`` at end of file). ``outcome`` is set once ``Close()`` is returned
    after a complete exchange. Malformed bytes raise ``ProtocolError`` from ``next_action()``.

    Args:
        smb2_dialects: SMB2 dialects to offer; empty for an SMB1 negotiate.
        smb1_dialects: SMB1 dialect strings for the SMB1 negotiate.
        multi_protocol: with SMB1, offer ``SMB 2.002``/``SMB 2.???`` too.
        netbios: port 139: a NetBIOS session request first.
        message_id: of the request; a connection's first SMB2 message must be 0 (servers
            grant credits from there, [MS-SMB2] 3.3.5.2.3), and an SMB2 answer to a
            multi-protocol negotiate carries 0.
    """

    def __init__(
        self,
        *,
        smb2_dialects: Sequence[int] = (),
        smb1_dialects: Sequence[str] = SMB1_DIALECTS,
        multi_protocol: bool = False,
        netbios: bool = False,
        message_id: int = 0,
        client_guid: bytes | None = None,
        salt: bytes | None = None,
    ) -> None:
        self._smb2 = tuple(smb2_dialects)
        self._smb1_offered = _offered(smb1_dialects, multi_protocol)
        self._multi = multi_protocol
        self._smb1_dialects = tuple(smb1_dialects)
        self._mid = message_id
        self._guid = client_guid if client_guid is not None else uuid.uuid4().bytes
        self._salt = salt if salt is not None else uuid.uuid4().bytes + uuid.uuid4().bytes
        self._reader = NbssReader()
        self._state = "session" if netbios else "negotiate"
        self._outgoing: bytes | None = None
        self._done = False
        self._dead = False
        self.outcome: NegotiateOutcome | None = None
        self._queue_first()

    def _negotiate(self) -> bytes:
        if self._smb2:
            payload = smb2_negotiate_request(
                self._smb2, message_id=self._mid, client_guid=self._guid, salt=self._salt
            )
        else:
            payload = smb1_negotiate_request(
                self._smb1_dialects, multi_protocol=self._multi, mid=self._mid
            )
        return nbss_frame(payload)

    def _queue_first(self) -> None:
        self._outgoing = nbss_session_request() if self._state == "session" else self._negotiate()

    @property
    def waiting_for(self) -> str:
        """What the dialogue waits for: ``session`` (port 139's answer) or ``negotiate``."""
        return self._state

    def receive_data(self, data: bytes) -> None:
        if self._done or self._dead:
            return
        self._reader.feed(data)

    def next_action(self) -> Action:
        if self._done or self._dead:
            return Close()
        if self._outgoing is not None:
            data, self._outgoing = self._outgoing, None
            return Send(data)
        try:
            return self._process()
        except ProtocolError:
            self._dead = True
            raise

    def _finish(self, outcome: NegotiateOutcome) -> Close:
        self.outcome = outcome
        self._done = True
        return Close()

    def _process(self) -> Action:
        frame = self._reader.next_frame()
        if frame is None:
            if self._reader.eof:
                if self._state == "session":
                    raise ProtocolError("connection closed before the NetBIOS session answer")
                return self._finish(NegotiateOutcome(refused="connection closed"))
            return NeedData()
        kind, payload = frame
        if self._state == "session":
            if kind == NBSS_POSITIVE_RESPONSE:
                self._state = "negotiate"
                self._outgoing = self._negotiate()
                return self.next_action()
            if kind == NBSS_NEGATIVE_RESPONSE:
                code = payload[0] if payload else 0x8F
                reason = _NBSS_ERRORS.get(code, f"error 0x{code:02x}")
                raise ProtocolError(f"NetBIOS session refused: {reason}")
            if kind == NBSS_RETARGET:
                raise ProtocolError("NetBIOS session retargeted to another address")
            raise NotProtocolError(f"NetBIOS session request answered by frame 0x{kind:02x}")
        if kind != NBSS_MESSAGE:
            raise ProtocolError(f"unexpected NetBIOS frame 0x{kind:02x} after the negotiate")
        if payload[:4] == SMB2_MAGIC:
            try:
                smb2 = parse_smb2_negotiate_response(
                    payload, message_id=self._mid if self._smb2 else 0
                )
            except SmbStatusError as err:
                return self._finish(NegotiateOutcome(refused=f"status 0x{err.status:08x}"))
            if self._smb2 and smb2.dialect not in self._smb2:
                raise ProtocolError(f"server chose SMB2 dialect 0x{smb2.dialect:04x}, not offered")
            if not self._smb2 and smb2.dialect not in (Dialect.SMB_2_0_2, Dialect.WILDCARD):
                raise ProtocolError(
                    f"SMB2 dialect 0x{smb2.dialect:04x} in answer to an SMB1 negotiate"
                )
            if not self._smb2 and not self._multi:
                raise ProtocolError("SMB2 answer to an SMB1 negotiate that offered no SMB2")
            return self._finish(NegotiateOutcome(smb2=smb2))
        if payload[:4] == SMB1_MAGIC:
            if self._smb2:
                # Servers without SMB2 may answer an SMB2 negotiate in SMB1, or hang up.
                return self._finish(NegotiateOutcome(refused="answered in SMB1"))
            smb1 = parse_smb1_negotiate_response(payload, self._smb1_offered, mid=self._mid)
            if smb1.dialect is None:
                return self._finish(NegotiateOutcome(smb1=smb1, refused="no dialect accepted"))
            return self._finish(NegotiateOutcome(smb1=smb1))
        raise NotProtocolError("not an SMB response (protocol id)")


# ---- The probe's rounds: one connection each ---------------------------------------------------

#: The probe's connections, in order: one SMB2 NEGOTIATE per dialect (newest first), then one
#: SMB1 NEGOTIATE offering only the SMB1 dialects (is NT LM 0.12 accepted?).
SMB_ROUNDS = len(SMB2_DIALECTS) + 1


def _signing_words(enabled: bool, required: bool) -> str:
    if required:
        return "required"
    return "enabled" if enabled else "disabled"


def _smb2_line(neg: Smb2Negotiate) -> str:
    parts = [
        f"smb2 {neg.dialect_label}: accepted",
        f"signing={_signing_words(neg.signing_enabled, neg.signing_required)}",
        f"guid={neg.server_guid}",
    ]
    if neg.system_time is not None:
        parts.append(f"time={neg.system_time.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    parts.append(f"capabilities={','.join(neg.capability_names) or '-'}")
    if neg.contexts is not None:
        c = neg.contexts
        parts.append(f"preauth={','.join(c.preauth_hashes) or '-'}")
        parts.append(f"ciphers={','.join(c.ciphers) or '-'}")
        parts.append(f"signing-algorithms={','.join(c.signing_algorithms) or '-'}")
    return "; ".join(parts)


def _smb1_line(neg: Smb1Negotiate) -> str:
    parts = [f"smb1 {neg.dialect}: accepted"]
    if neg.dialect == NT_LM_012:
        parts.append(f"signing={_signing_words(neg.signing_enabled, neg.signing_required)}")
        if neg.system_time is not None:
            parts.append(f"time={neg.system_time.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    return "; ".join(parts)


class SmbDialogue:
    """One round of the SMB probe as a ``vedette.protocols.MailDialogue``.

    Round ``i < len(SMB2_DIALECTS)`` offers the single SMB2 dialect ``SMB2_DIALECTS[i]``; the
    last round is the SMB1 negotiate. Its observation is one line in ``greeting``, read back by
    ``parse_smb_lines``: ``smb2 3.1.1: accepted; signing=required; guid=...; time=...; ...``,
    ``smb1 NT LM 0.12: accepted; signing=enabled``, or ``smb2 2.0.2: refused (status ...)``.
    A refusal (status, dialect index 0xFFFF, a hang-up) is an answer, not a failure.
    """

    def __init__(self, *, round_index: int = 0, netbios: bool = False) -> None:
        if not 0 <= round_index < SMB_ROUNDS:
            raise ValueError(f"SMB round {round_index} out of range")
        self._label: str
        if round_index < len(SMB2_DIALECTS):
            dialect = SMB2_DIALECTS[round_index]
            self._label = f"smb2 {dialect.label}"
            self._neg = SmbNegotiation(smb2_dialects=(dialect,), netbios=netbios)
        else:
            self._label = "smb1"
            self._neg = SmbNegotiation(netbios=netbios)
        self._stage = Stage.GREETING
        self._lines: tuple[str, ...] = ()

    @property
    def stage(self) -> Stage:
        return self._stage

    @property
    def closed_early(self) -> bool:
        return False

    def receive_data(self, data: bytes) -> None:
        self._neg.receive_data(data)

    def tls_started(self) -> None:
        raise RuntimeError("tls_started() called but SMB never asks for TLS")

    def next_action(self) -> Action:
        action = self._neg.next_action()
        if isinstance(action, Close):
            self._stage = Stage.CLOSE
            outcome = self._neg.outcome
            if outcome is not None and not self._lines:
                self._lines = (self._line(outcome),)
        return action

    def _line(self, outcome: NegotiateOutcome) -> str:
        if outcome.smb2 is not None and self._label.startswith("smb2"):
            return _smb2_line(outcome.smb2)
        if outcome.smb1 is not None and outcome.smb1.dialect is not None:
            return _smb1_line(outcome.smb1)
        return f"{self._label}: refused ({outcome.refused or 'no dialect accepted'})"

    def observation(self) -> DialogueObservation:
        return DialogueObservation(greeting=self._lines)


@dataclass(frozen=True, slots=True, kw_only=True)
class SmbFacts:
    """What the probe's lines say about an endpoint (``parse_smb_lines``)."""

    smb1_dialect: str | None = None
    smb1_signing: str = ""
    smb2_dialects: tuple[str, ...] = ()
    smb2_refused: tuple[str, ...] = ()
    signing: str = ""
    server_guid: str = ""
    server_time: str = ""
    capabilities: tuple[str, ...] = ()
    preauth: tuple[str, ...] = ()
    ciphers: tuple[str, ...] = ()
    signing_algorithms: tuple[str, ...] = ()
    answered: bool = False

    @property
    def smb1_enabled(self) -> bool:
        return self.smb1_dialect is not None


def _items(value: str) -> tuple[str, ...]:
    return () if value in ("", "-") else tuple(value.split(","))


def parse_smb_lines(lines: Sequence[str]) -> SmbFacts:
    """Read the probe's stored lines back (tolerant: odd lines are skipped). Signing, GUID,
    time and capabilities come from the newest SMB2 dialect accepted; the 3.1.1 contexts from
    the 3.1.1 answer."""
    smb1: str | None = None
    smb1_signing = ""
    accepted: list[str] = []
    refused: list[str] = []
    fields: dict[str, str] = {}
    answered = False
    for line in lines:
        head, _, rest = line.partition(": ")
        family, _, dialect = head.partition(" ")
        status, *pairs = rest.split("; ")
        kv = dict(p.partition("=")[::2] for p in pairs)
        if family == "smb2" and dialect:
            answered = True
            if status == "accepted":
                accepted.append(dialect)
                for key, value in kv.items():
                    fields.setdefault(key, value)
            else:
                refused.append(dialect)
        elif head.startswith("smb1"):
            answered = True
            if status == "accepted" and dialect:
                smb1 = dialect
                smb1_signing = kv.get("signing", "")
    return SmbFacts(
        smb1_dialect=smb1,
        smb1_signing=smb1_signing,
        smb2_dialects=tuple(accepted),
        smb2_refused=tuple(refused),
        signing=fields.get("signing", ""),
        server_guid=fields.get("guid", ""),
        server_time=fields.get("time", ""),
        capabilities=_items(fields.get("capabilities", "")),
        preauth=_items(fields.get("preauth", "")),
        ciphers=_items(fields.get("ciphers", "")),
        signing_algorithms=_items(fields.get("signing-algorithms", "")),
        answered=answered,
    )
