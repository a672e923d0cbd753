"""The LDAP client dialogue (RFC 4511; StartTLS per RFC 4511 4.14 and RFC 4513 3), sans-I/O.

What vedette says on ``ldap://`` (port 389), and nothing more::

    C: searchRequest  base "" scope base (objectClass=*)      the rootDSE, anonymously
       attributes namingContexts supportedLDAPVersion supportedSASLMechanisms
                  supportedExtension vendorName vendorVersion
    S: searchResEntry "" {...}  searchResDone 0 success
    C: bindRequest v3 "cn=vedette-probe-<random>,<first naming context>" simple <random>
    S: bindResponse 49 invalidCredentials                    (or 13, 8, 53, 0...)
    C: extendedReq 1.3.6.1.4.1.1466.20037                     StartTLS
    S: extendedResp 0 success
       [the driver runs the TLS handshake]
    C: searchRequest (the rootDSE again, inside TLS)
    S: searchResEntry / searchResDone
    C: unbindRequest                                          (no answer: the server closes)

On ``ldaps://`` (636) TLS comes first: the rootDSE is read once, inside TLS, then unbind.

LDAP has no greeting (the client speaks first), so ``DialogueObservation.greeting`` stays
empty. What is recorded are normalised text lines, one per value, which
``parse_ldap_capabilities`` reads back from a stored scan::

    namingContexts: dc=example,dc=com
    supportedLDAPVersion: 3
    supportedSASLMechanisms: DIGEST-MD5
    supportedExtension: 1.3.6.1.4.1.1466.20037
    rootDSE search: 0 success
    simple bind as a non-existent DN: 49 invalidCredentials      (before TLS only)

and ``starttls_reply`` is ``("StartTLS: 0 success",)`` or the refusal, e.g.
``("StartTLS: 2 protocolError (unsupported extended operation)",)``.

The simple-bind probe: does the server evaluate a password sent in clear? It binds as a DN
that cannot exist (``cn=vedette-probe-<64 random bits>`` under the first naming context) with
a random password, never a real account: a wrong password on a real Active Directory account
counts towards its lockout. Result codes: 13 confidentialityRequired (OpenLDAP
``olcSecurity: simple_bind=...``/``tls=...``: TLS is enforced), 8 strongerAuthRequired
(Active Directory with LDAP signing required) and 53 unwillingToPerform refuse the bind before
looking at the password: no exposure. 49 invalidCredentials means the server took the
password in clear and checked it: a real user's password would have crossed the wire. 0
success for a random DN *with a password* means the same (the server accepted a password in
clear; some proxies and appliances accept any bind).

Without a naming context (the rootDSE refused in clear, as with OpenLDAP
``olcSecurity: tls=1``, or naming none) the probe is not tried, and the line says so: slapd
answers 49 to a DN outside all its naming contexts whatever its TLS policy (it finds no
database to ask), so such a probe would raise a false alarm.

The password is never empty on purpose. A name with an empty password is an
"unauthenticated bind" (RFC 4513 5.1.2): servers SHOULD refuse it by default (OpenLDAP
answers 53 unless ``olcAllows: bind_anon_cred``), and where it succeeds it is anonymous
access, a different weakness (applications that take "bind succeeded" for "password right").
It says nothing about whether passwords are accepted in clear, which is what
``tls.plaintext-auth`` asks; a random non-empty password does.

Wire format and bounds. LDAP is BER (RFC 4511 5.1: definite lengths only). The framing is
vedette's own: the first byte of a message must be a SEQUENCE (0x30), its length is read from
the header, indefinite or oversized lengths (above ``MAX_MESSAGE``) are refused before the
rest is read, and every element inside is walked (definite lengths that nest exactly, at most
``MAX_DEPTH`` deep) before the ASN.1 decoder sees the bytes. Only then is the message decoded
with the protocol definitions of ldap3 (``ldap3.protocol.rfc4511``) by pyasn1's BER decoder,
and only response operations are accepted. Any failure is one ``ProtocolError`` (or
``NotProtocolError`` for a first reply that is not LDAP at all). Lifecycle rules are those of
the line dialogues (``vedette.protocols._machine``): errors come out of ``next_action()``
only, a dead dialogue says ``Close()``, only complete replies are recorded, bytes received
after the StartTLS go-ahead and before the handshake are dropped.
"""

from __future__ import annotations

import enum
import functools
import importlib.util
import re
import secrets
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vedette.errors import NotProtocolError, ProtocolError, ServiceUnavailableError
from vedette.model import Stage
from vedette.protocols._base import (
    MAX_LINE,
    MAX_REPLY_LINES,
    Action,
    Close,
    DialogueBase,
    NeedData,
)
from vedette.protocols.capabilities import Capabilities

#: The StartTLS extended operation (RFC 4511 4.14.1).
STARTTLS_OID = "1.3.6.1.4.1.1466.20037"
#: The unsolicited Notice of Disconnection (RFC 4511 4.4.1), sent with messageID 0.
NOTICE_OF_DISCONNECTION_OID = "1.3.6.1.4.1.1466.20036"
#: Largest LDAPMessage accepted. A rootDSE with the attributes asked for is a few KiB even on
#: Active Directory; 256 KiB leaves room for odd servers and bounds the buffer.
MAX_MESSAGE = 256 * 1024
#: Deepest nesting of BER elements in a response (a searchResEntry is 5 deep).
MAX_DEPTH = 12
#: Most BER elements in one message. pyasn1 decodes about 50,000 elements a second: without
#: this bound a hostile server could hold the event loop (every other scan) for a second per
#: 256 KiB message. A rootDSE with the attributes asked for has a few hundred at most.
MAX_ELEMENTS = 4096
#: Most searchResEntry/searchResRef messages before searchResDone (a rootDSE is one entry).
MAX_SEARCH_MESSAGES = 16
#: The rootDSE attributes read, in the case they are recorded in.
ROOT_DSE_ATTRIBUTES = (
    "namingContexts",
    "supportedLDAPVersion",
    "supportedSASLMechanisms",
    "supportedExtension",
    "vendorName",
    "vendorVersion",
)
#: The label of the recorded simple-bind probe line.
BIND_PROBE = "simple bind as a non-existent DN"
#: The bind probe's line when no naming context was read (the rootDSE refused or empty).
BIND_NOT_TRIED = "not tried (no naming context in the rootDSE)"
#: The label of the recorded rootDSE search result line.
ROOT_DSE_SEARCH = "rootDSE search"
#: resultCode operationsError (RFC 4511 4.1.9): for StartTLS, operations still outstanding.
OPERATIONS_ERROR = 1

#: The label of the recorded StartTLS reply.
STARTTLS_LABEL = "StartTLS"
#: The RDN prefix of the probe's DN: recognisable in a server's logs.
PROBE_RDN_PREFIX = "cn=vedette-probe-"
#: Bind results that show the server evaluated a password sent in clear.
PASSWORD_TAKEN = frozenset({0, 49})
#: How to refuse simple binds before TLS on the common servers (``tls.plaintext-auth``'s fix).
CLEAR_BIND_FIX = (
    "refuse simple binds without TLS: OpenLDAP `olcSecurity: simple_bind=128` (or `tls=1`, "
    "TLS for every operation) in cn=config; Active Directory: the domain controller policy "
    '"Domain controller: LDAP server signing requirements" = Require signing (registry '
    "LDAPServerIntegrity = 2), which refuses simple binds in clear with strongerAuthRequired, "
    'and, for LDAPS, "Domain controller: LDAP server channel binding token requirements" = '
    "Always (LdapEnforceChannelBinding = 2)"
)
#: The message id of the resumption ping (a rootDSE search sent right after a TLS handshake).
PING_MESSAGE_ID = 7

_ATTRIBUTE_CASE = {a.lower(): a for a in ROOT_DSE_ATTRIBUTES}
_RESPONSES = {
    0x61: "bindResponse",
    0x64: "searchResEntry",
    0x65: "searchResDone",
    0x73: "searchResRef",
    0x78: "extendedResp",
    0x79: "intermediateResponse",
}
_RESULT_LINE = re.compile(r"(-?[0-9]{1,10})(?: .*)?", re.ASCII | re.DOTALL)


@functools.cache
def asn1() -> types.SimpleNamespace:
    """ldap3's RFC 4511 definitions and pyasn1's BER codec, loaded on the first LDAP dialogue.

    ``ldap3/protocol/rfc4511.py`` is self-contained (it imports only ``pyasn1.type``), but
    importing it as ``ldap3.protocol.rfc4511`` first runs ``ldap3/__init__``, which loads the
    whole client (about 0.13 s) and pyasn1 encoder internals deprecated since pyasn1 0.6. So
    that one file is loaded on its own, under a private name; nothing else of ldap3 runs.
    ldap3 and pyasn1 ship no type information: their values are ``Any`` in this module.
    """
    from pyasn1.codec.ber import decoder, encoder  # type: ignore[import-untyped]
    from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]

    package = importlib.util.find_spec("ldap3")  # finds the package without importing it
    if package is None or not package.submodule_search_locations:
        raise ImportError("the ldap3 package is not installed (pip install 'ldap3>=2.9,<3')")
    path = Path(next(iter(package.submodule_search_locations))) / "protocol" / "rfc4511.py"
    spec = importlib.util.spec_from_file_location("vedette.protocols.ldap_rfc4511", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    rfc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rfc)
    names = {int(v): str(k) for k, v in rfc.ResultCode.namedValues.items()}
    return types.SimpleNamespace(
        rfc=rfc, encoder=encoder, decoder=decoder, error=PyAsn1Error, result_names=names
    )


def _decoding_errors() -> tuple[type[Exception], ...]:
    """What pyasn1 raises on bytes that do not fit the definitions (and Python's own errors
    on values of unexpected shape): all become ``ProtocolError``."""
    error: type[Exception] = asn1().error
    return (error, ValueError, TypeError, IndexError, KeyError, AttributeError)


def result_text(code: int, diagnostic: str = "") -> str:
    """``49 invalidCredentials`` (with the server's diagnostic message in parentheses)."""
    text = f"{code} {asn1().result_names.get(code, 'unknown')}"
    return f"{text} ({diagnostic})" if diagnostic else text


def message(message_id: int, name: str, op: Any) -> bytes:
    """One LDAPMessage, BER-encoded: ``op`` is the ``name`` choice of its protocolOp."""
    rfc = asn1().rfc
    msg = rfc.LDAPMessage()
    msg["messageID"] = rfc.MessageID(message_id)
    choice = rfc.ProtocolOp()
    choice[name] = op
    msg["protocolOp"] = choice
    data = asn1().encoder.encode(msg)
    assert isinstance(data, bytes)
    return data


def root_dse_search(message_id: int) -> bytes:
    """The rootDSE search request: base "", scope base, (objectClass=*), the attributes read."""
    rfc = asn1().rfc
    req = rfc.SearchRequest()
    req["baseObject"] = rfc.LDAPDN("")
    req["scope"] = rfc.Scope("baseObject")
    req["derefAliases"] = rfc.DerefAliases("neverDerefAliases")
    req["sizeLimit"] = rfc.Integer0ToMax(0)
    req["timeLimit"] = rfc.Integer0ToMax(0)
    req["typesOnly"] = rfc.TypesOnly(False)
    present = rfc.Filter()
    present["present"] = rfc.Present("objectClass")
    req["filter"] = present
    attributes = rfc.AttributeSelection()
    for i, name in enumerate(ROOT_DSE_ATTRIBUTES):
        attributes[i] = rfc.Selector(name)
    req["attributes"] = attributes
    return message(message_id, "searchRequest", req)


def simple_bind(message_id: int, dn: str, password: str) -> bytes:
    """A version 3 simple bindRequest."""
    rfc = asn1().rfc
    req = rfc.BindRequest()
    req["version"] = rfc.Version(3)
    req["name"] = rfc.LDAPDN(dn)
    auth = rfc.AuthenticationChoice()
    auth["simple"] = rfc.Simple(password)
    req["authentication"] = auth
    return message(message_id, "bindRequest", req)


def starttls_request(message_id: int) -> bytes:
    """The StartTLS extendedReq."""
    req = asn1().rfc.ExtendedRequest()
    req["requestName"] = asn1().rfc.RequestName(STARTTLS_OID)
    return message(message_id, "extendedReq", req)


def unbind_request(message_id: int) -> bytes:
    return message(message_id, "unbindRequest", asn1().rfc.UnbindRequest(""))


def _length(buf: bytes | bytearray, pos: int, end: int) -> tuple[int, int] | None:
    """The definite length at ``buf[pos]`` and the position after it; None if cut short."""
    if pos >= end:
        return None
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    if first == 0x80:
        raise ProtocolError("LDAP message with a BER indefinite length (RFC 4511 5.1 forbids it)")
    count = first & 0x7F
    if count > 4:
        raise ProtocolError(f"LDAP message with a {count}-byte BER length", too_large=True)
    if pos + 1 + count > end:
        return None
    return int.from_bytes(buf[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def frame_length(buf: bytes | bytearray) -> int | None:
    """The size of the LDAPMessage at the start of ``buf`` (header included), or None while
    its header is incomplete. Raises ``ProtocolError`` for a first byte that is not a
    SEQUENCE, an indefinite length or a message above ``MAX_MESSAGE``."""
    if not buf:
        return None
    if buf[0] != 0x30:
        raise ProtocolError(f"an LDAP message starts with 0x30, not 0x{buf[0]:02x}")
    header = _length(buf, 1, len(buf))
    if header is None:
        return None
    length, pos = header
    if length > MAX_MESSAGE:
        raise ProtocolError(
            f"LDAP message of {length} bytes, above the {MAX_MESSAGE}-byte bound", too_large=True
        )
    return pos + length


def check_ber(data: bytes) -> None:
    """Walk every element of one framed message: single-byte tags, definite lengths that nest
    exactly, at most ``MAX_DEPTH`` deep, at most ``MAX_ELEMENTS`` of them. pyasn1 then never
    sees malformed framing, nor more work than a rootDSE needs."""
    stack = [len(data)]  # end offsets of the open constructed elements
    pos = 0
    elements = 0
    while stack:
        end = stack[-1]
        if pos == end:
            stack.pop()
            continue
        elements += 1
        if elements > MAX_ELEMENTS:
            raise ProtocolError(
                f"LDAP message with more than {MAX_ELEMENTS} BER elements", too_large=True
            )
        tag = data[pos]
        if tag & 0x1F == 0x1F:
            raise ProtocolError("LDAP message with a multi-byte BER tag")
        header = _length(data, pos + 1, end)
        if header is None:
            raise ProtocolError("LDAP message with a truncated BER element")
        length, body = header
        if body + length > end:
            raise ProtocolError("LDAP message with a BER element longer than its container")
        if tag & 0x20:
            if len(stack) > MAX_DEPTH:
                raise ProtocolError(f"LDAP message nested more than {MAX_DEPTH} deep")
            stack.append(body + length)
            pos = body
        else:
            pos = body + length


def _text(value: Any) -> str:
    """An octet string as a recorded line fragment: latin-1, CR/LF removed."""
    raw = bytes(value)
    if len(raw) > MAX_LINE:
        raise ProtocolError(f"LDAP value longer than {MAX_LINE} bytes", too_large=True)
    return raw.decode("latin-1").replace("\r", " ").replace("\n", " ")


class _Result:
    """An LDAPResult's code and diagnostic message, typed."""

    __slots__ = ("code", "diagnostic")

    def __init__(self, op: Any) -> None:
        try:
            self.code = int(op["resultCode"])
            self.diagnostic = _text(op["diagnosticMessage"])[:200].strip()
        except _decoding_errors() as exc:
            raise ProtocolError(f"malformed LDAP result: {str(exc)[:120]}") from exc

    def text(self) -> str:
        return result_text(self.code, self.diagnostic)


def decode_message(frame: bytes) -> tuple[int, str, Any]:
    """One framed message: (messageID, operation name, operation). Only responses are accepted.

    Raises ProtocolError for anything malformed."""
    if frame_length(frame) != len(frame):
        raise ProtocolError("not one whole LDAP message")
    check_ber(frame)
    # The SEQUENCE header, then the messageID INTEGER: skip both to read the operation's tag.
    # check_ber() proved every element's header complete and inside the frame.
    header = _length(frame, 1, len(frame))
    pos = header[1] if header is not None else len(frame)
    if pos >= len(frame) or frame[pos] != 0x02:
        raise ProtocolError("LDAP message without a messageID")
    id_header = _length(frame, pos + 1, len(frame))
    op_pos = id_header[1] + id_header[0] if id_header is not None else len(frame)
    if op_pos >= len(frame) or frame[op_pos] not in _RESPONSES:
        seen = f"0x{frame[op_pos]:02x}" if op_pos < len(frame) else "nothing"
        raise ProtocolError(f"LDAP message with operation tag {seen}, not a response")
    try:
        msg, rest = asn1().decoder.decode(frame, asn1Spec=asn1().rfc.LDAPMessage())
        if rest:
            raise ProtocolError("bytes after the LDAP message")
        message_id = int(msg["messageID"])
        op = msg["protocolOp"]
        name = str(op.getName())
        component = op.getComponent()
    except _decoding_errors() as exc:
        raise ProtocolError(f"malformed LDAP message: {str(exc)[:120]}") from exc
    if name != _RESPONSES[frame[op_pos]]:
        raise ProtocolError(f"LDAP operation {name} does not match its tag")
    return message_id, name, component


def _entry_lines(entry: Any) -> list[str]:
    """The requested rootDSE attributes of a searchResEntry, one line per value."""
    lines: list[str] = []
    try:
        attributes = list(entry["attributes"])
        for attribute in attributes:
            name = _text(attribute["type"])
            canonical = _ATTRIBUTE_CASE.get(name.lower())
            if canonical is None:
                continue  # not asked for: servers may add operational attributes
            for value in attribute["vals"]:
                lines.append(f"{canonical}: {_text(value)}")
                if len(lines) > MAX_REPLY_LINES:
                    raise ProtocolError(
                        f"rootDSE with more than {MAX_REPLY_LINES} values", too_large=True
                    )
    except _decoding_errors() as exc:
        raise ProtocolError(f"malformed LDAP search entry: {str(exc)[:120]}") from exc
    return lines


class _Wait(enum.Enum):
    SEARCH = enum.auto()
    BIND = enum.auto()
    STARTTLS = enum.auto()
    NOTHING = enum.auto()


class LdapDialogue(DialogueBase):
    """Client side of an LDAP session that only looks: rootDSE, the bind probe, StartTLS,
    rootDSE again, unbind.

    Args:
        implicit_tls: the driver already ran TLS (port 636): the rootDSE is read once and
            recorded as ``capabilities_after_tls``; no bind probe, no StartTLS.
        try_starttls: send StartTLS after the bind probe (ignored with ``implicit_tls``).
        bind_probe: try the simple bind as a non-existent DN before TLS.
        redial: a connection that only leads to TLS (enumeration, resumption): StartTLS at
            once, without the rootDSE and the bind probe (a full scan re-dials ~50 times;
            each probe would be one more failed logon in the server's audit log).
        random_hex: source of the probe's random DN and password (``secrets.token_hex``).
    """

    def __init__(
        self,
        *,
        implicit_tls: bool = False,
        try_starttls: bool = True,
        bind_probe: bool = True,
        redial: bool = False,
        random_hex: Callable[[int], str] = secrets.token_hex,
    ) -> None:
        super().__init__(
            implicit_tls=implicit_tls, try_starttls=try_starttls, stage=Stage.CAPABILITIES
        )
        self._bind_probe = bind_probe and not implicit_tls
        self._random_hex = random_hex
        self._buf = bytearray()
        self._next_id = 1
        self._wait = _Wait.SEARCH
        self._search_messages = 0
        self._entry: list[str] = []
        self._naming_context: str | None = None
        self._seen_reply = False
        self._starttls_retried = False
        if redial and self._try_starttls:
            self._after_bind()  # straight to StartTLS
        else:
            self._search()

    # ---- the DialogueBase hooks --------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        if not data or self._pending_error is not None:
            return
        if not self._seen_reply and not self._buf and data[0] != 0x30:
            self._pending_error = NotProtocolError(
                f"not LDAP: the server's first bytes are {data[:8]!r}"
            )
            return
        self._buf += data
        try:
            frame_length(self._buf)
        except ProtocolError as exc:
            self._pending_error = exc

    def _restart_in_tls(self) -> None:
        self._buf = bytearray()
        self._search()

    # ---- the walk -----------------------------------------------------------------------------

    def _process(self) -> Action:
        try:
            return self._read_messages()
        except (NotProtocolError, ServiceUnavailableError):
            raise
        except ProtocolError as exc:
            if self._seen_reply:
                raise
            # The first reply is not LDAP at all: most likely another service on the port.
            raise NotProtocolError(f"not LDAP: {exc}", too_large=exc.too_large) from exc

    def _read_messages(self) -> Action:
        if self._pending_error is not None:
            raise self._pending_error
        while True:
            size = frame_length(self._buf)
            if size is None or size > len(self._buf):
                break
            frame = bytes(self._buf[:size])
            del self._buf[:size]
            self._on_message(frame)
            if self._outgoing is not None or self._awaiting_tls or self._done:
                return self.next_action()
        if self._eof:
            self._done = True
            self._closed_early = True
            return Close()
        return NeedData()

    def _on_message(self, frame: bytes) -> None:
        first = not self._seen_reply
        message_id, name, op = decode_message(frame)
        self._seen_reply = True
        if message_id == 0 and name == "extendedResp":
            # An unsolicited notification: the Notice of Disconnection, the server hangs up.
            raise ServiceUnavailableError(
                f"the LDAP server ended the session: {_Result(op).text()}"
            )
        if message_id != self._next_id - 1:
            error = f"LDAP reply to message {message_id}, expected {self._next_id - 1}"
            raise NotProtocolError(error) if first else ProtocolError(error)
        match self._wait:
            case _Wait.SEARCH:
                self._on_search(name, op)
            case _Wait.BIND:
                if name != "bindResponse":
                    raise ProtocolError(f"LDAP {name} where a bindResponse was due")
                line = f"{BIND_PROBE}: {_Result(op).text()}"
                self._caps_before = (*(self._caps_before or ()), line)
                self._after_bind()
            case _Wait.STARTTLS:
                if name != "extendedResp":
                    raise ProtocolError(f"LDAP {name} where the StartTLS response was due")
                result = _Result(op)
                if result.code == OPERATIONS_ERROR and not self._starttls_retried:
                    # RFC 4511 4.14.2: operationsError while operations are outstanding. slapd
                    # sends the previous operation's result before it stops counting it as
                    # outstanding, so a StartTLS right behind it can meet this; ask once more.
                    self._starttls_retried = True
                    self._send(starttls_request(self._take_id()), Stage.STARTTLS)
                    return
                self._starttls_reply = (f"{STARTTLS_LABEL}: {result.text()}",)
                if result.code == 0:
                    self._buf.clear()
                    self._awaiting_tls = True
                    self._stage = Stage.TLS_HANDSHAKE
                else:
                    self._unbind()
            case _Wait.NOTHING:
                pass

    def _on_search(self, name: str, op: Any) -> None:
        if name in ("searchResEntry", "searchResRef", "intermediateResponse"):
            self._search_messages += 1
            if self._search_messages > MAX_SEARCH_MESSAGES:
                raise ProtocolError(
                    f"more than {MAX_SEARCH_MESSAGES} LDAP search results", too_large=True
                )
            if name == "searchResEntry":
                self._entry.extend(_entry_lines(op))
                if len(self._entry) > MAX_REPLY_LINES:
                    raise ProtocolError(
                        f"rootDSE with more than {MAX_REPLY_LINES} values", too_large=True
                    )
            return
        if name != "searchResDone":
            raise ProtocolError(f"LDAP {name} where search results were due")
        lines = (*self._entry, f"{ROOT_DSE_SEARCH}: {_Result(op).text()}")
        self._entry = []
        self._search_messages = 0
        if self._in_tls:
            self._caps_after = lines
            self._unbind()
            return
        self._caps_before = lines
        self._naming_context = next(
            (
                context
                for line in lines
                if line.startswith("namingContexts: ")
                and (context := line.split(": ", 1)[1].strip())
            ),
            None,
        )
        if self._bind_probe and self._naming_context:
            self._send(simple_bind(self._take_id(), self._probe_dn(), self._random_hex(16)))
            self._wait = _Wait.BIND
            return
        if self._bind_probe:
            # A DN outside every naming context tells nothing: slapd answers 49 for it before
            # looking at its TLS policy (simple_bind=128, tls=1), which would be a false alarm.
            self._caps_before = (*lines, f"{BIND_PROBE}: {BIND_NOT_TRIED}")
        self._after_bind()

    def _probe_dn(self) -> str:
        return f"{PROBE_RDN_PREFIX}{self._random_hex(8)},{self._naming_context}"

    def _after_bind(self) -> None:
        if self._try_starttls:
            self._send(starttls_request(self._take_id()), Stage.STARTTLS)
            self._wait = _Wait.STARTTLS
        else:
            self._unbind()

    def _search(self) -> None:
        self._wait = _Wait.SEARCH
        stage = Stage.CAPABILITIES_AFTER_TLS if self._in_tls else Stage.CAPABILITIES
        self._send(root_dse_search(self._take_id()), stage)

    def _unbind(self) -> None:
        self._wait = _Wait.NOTHING
        self._send(unbind_request(self._take_id()), Stage.CLOSE)
        self._finish_after_send = True

    def _send(self, data: bytes, stage: Stage | None = None) -> None:
        self._outgoing = data
        if stage is not None:
            self._stage = stage

    def _take_id(self) -> int:
        message_id, self._next_id = self._next_id, self._next_id + 1
        return message_id


def _result_code(line: str, label: str) -> int | None:
    prefix = f"{label}: "
    if not line.startswith(prefix):
        return None
    m = _RESULT_LINE.fullmatch(line[len(prefix) :])
    return int(m.group(1)) if m is not None else None


def parse_ldap_capabilities(lines: Sequence[str]) -> Capabilities:
    """The recorded rootDSE lines (and the bind probe's line) as ``Capabilities``.

    ``names``: the ``supportedExtension`` OIDs, ``LDAPV<n>`` for each supported version, and
    ``BIND-RESULT=<code>`` for the bind probe's result; ``starttls``: the StartTLS OID is
    advertised; ``sasl``: ``supportedSASLMechanisms``, upper-case.
    """
    names: set[str] = set()
    sasl: set[str] = set()
    for line in lines:
        attribute, sep, value = line.partition(": ")
        if not sep:
            continue
        value = value.strip()
        if attribute == "supportedExtension" and value:
            names.add(value)
        elif attribute == "supportedSASLMechanisms" and value:
            sasl.add(value.upper())
        elif attribute == "supportedLDAPVersion" and value.isdigit():
            names.add(f"LDAPV{value}")
        elif (code := _result_code(line, BIND_PROBE)) is not None:
            names.add(f"BIND-RESULT={code}")
    return Capabilities(
        names=frozenset(names), starttls=STARTTLS_OID in names, sasl=frozenset(sasl)
    )


def simple_bind_in_clear(caps: Capabilities) -> frozenset[str]:
    """``SIMPLE BIND`` when the bind probe showed that a password sent in clear is evaluated
    (49 invalidCredentials, or 0 success for a random DN with a random password)."""
    taken = any(f"BIND-RESULT={code}" in caps.names for code in PASSWORD_TAKEN)
    return frozenset({"SIMPLE BIND"}) if taken else frozenset()
