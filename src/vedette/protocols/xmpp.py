"""The XMPP client dialogue (RFC 6120: stream features, STARTTLS; XEP-0368 Direct TLS), sans-I/O.

What vedette says, and nothing more (client-to-server; server-to-server is the same walk in the
``jabber:server`` namespace)::

    C: <?xml version='1.0'?><stream:stream to='DOMAIN' version='1.0' xmlns='jabber:client'
       xmlns:stream='http://etherx.jabber.org/streams'>
    S: <?xml version='1.0'?><stream:stream from='DOMAIN' id='...' version='1.0' ...>
    S: <stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>
       <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>...
    C: <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>
    S: <proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>        (or <failure/>)
       [the driver runs the TLS handshake]
    C: <?xml version='1.0'?><stream:stream to='DOMAIN' ...>       a new stream (RFC 6120 5.4.3.3)
    S: <stream:stream ...><stream:features>...                    the features inside TLS
    C: </stream:stream>
    S: </stream:stream>                                           (or the server just closes)

On Direct TLS (XEP-0368, port 5223) the driver completes TLS first; the dialogue opens the
stream, records the features as ``capabilities_after_tls`` and closes. The client always speaks
first: the stream header is also the resumption probe's ping (``stream_header``).

``<starttls/>`` is sent even when not advertised, as SMTP's STARTTLS is: the reply (``proceed``,
``failure`` or a stream error) is the only way to know, and it is what ``tls.none`` reports.

What is stored (``DialogueObservation``): XML is not lines, so each element the checks need is
recorded as one normalised text line that ``parse_xmpp_capabilities`` reads back from a stored
scan:

* ``greeting``: ``stream from=DOMAIN version=1.0``;
* the features: ``starttls`` or ``starttls required``, one ``mechanism NAME`` per SASL
  mechanism, one ``compression METHOD`` per method, ``register`` (in-band registration),
  ``iq-auth`` (XEP-0078 legacy authentication), ``bind``, ``session``, ``sm NAMESPACE``...; any
  other feature as ``LOCALNAME NAMESPACE``; ``stream-error CONDITION: TEXT`` when the server
  answered a stream error instead (after TLS, where a server-to-server stream without ``from``
  may get none: Prosody's "No stream features to offer");
* ``starttls_reply``: ``proceed``, ``failure`` or ``stream-error CONDITION: TEXT``.

The XML reader is bounded and expands nothing: no DTD, no entity declaration, no external
entity (each is a ``ProtocolError``, so billion laughs and XXE payloads stop at their first
declaration); at most ``MAX_STREAM_BYTES`` per stream, ``MAX_DEPTH`` levels of nesting and
``MAX_ELEMENTS`` elements. Only the five predefined entities and character references, which
expand to one character each, are accepted. Python's expat is fed incrementally with handlers
that refuse the declarations; it never fetches anything (``XML_PARAM_ENTITY_PARSING_NEVER``).

The ``to`` domain is ``DialogueSettings.server_name``: a DNS name or IP literal, checked before
it reaches the stream header so that a hostile name cannot inject XML. Without one (a bare IP
target) the header has no ``to``. A server that does not serve the domain answers a
``host-unknown`` stream error, reported as such.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from xml.parsers import expat

from vedette.errors import NotProtocolError, ProtocolError, ServiceUnavailableError
from vedette.model import Stage
from vedette.protocols._base import (
    MAX_REPLY_LINES,
    Action,
    Close,
    DialogueBase,
    NeedData,
)
from vedette.protocols.capabilities import Capabilities

if TYPE_CHECKING:
    from collections.abc import Sequence

NS_STREAMS = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_CLIENT = "jabber:client"
NS_SERVER = "jabber:server"
_NS_COMPRESS = "http://jabber.org/features/compress"
_NS_REGISTER = "http://jabber.org/features/iq-register"
_NS_IQ_AUTH = "http://jabber.org/features/iq-auth"
_NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
_NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"

#: Most bytes read on one stream (header, features, STARTTLS reply, goodbye). Real features
#: are under 2 KiB (Prosody, ejabberd); past this bound the server is hostile or broken.
MAX_STREAM_BYTES = 65536
#: Deepest nesting accepted (stream, features, a feature, its children: 4 in practice).
MAX_DEPTH = 16
#: Most elements on one stream.
MAX_ELEMENTS = 1024
#: Longest text kept from one element (a mechanism name, a stream error's text).
_MAX_TEXT = 200

#: A DNS name (letters, digits, hyphens, dots, underscores) or an IP literal: nothing that can
#: close the attribute's quotes or open a tag.
_DOMAIN = re.compile(r"[A-Za-z0-9._-]{1,253}|[0-9A-Fa-f:.]{2,45}", re.ASCII)

_STARTTLS = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
_CLOSE_STREAM = b"</stream:stream>"


def stream_header(domain: str | None, *, server: bool = False) -> bytes:
    """The opening of a stream to ``domain`` (``None``: no ``to`` attribute).

    ``server``: a server-to-server stream (``jabber:server``), without ``from`` (vedette has
    no domain of its own to authenticate, and asks nothing that needs one).

    Raises:
        ValueError: ``domain`` is not a DNS name or IP literal.
    """
    if domain is not None and not _DOMAIN.fullmatch(domain):
        raise ValueError(f"invalid XMPP domain {domain!r}")
    to = f" to='{domain}'" if domain is not None else ""
    namespace = NS_SERVER if server else NS_CLIENT
    return (
        f"<?xml version='1.0'?><stream:stream{to} version='1.0' xmlns='{namespace}'"
        f" xmlns:stream='{NS_STREAMS}'>"
    ).encode("ascii")


# ---- the bounded XML stream reader --------------------------------------------------------------


@dataclass(slots=True)
class Node:
    """One element read from the stream: namespace, local name, attributes, children, text."""

    ns: str
    name: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def child(self, ns: str, name: str) -> Node | None:
        return next((c for c in self.children if c.ns == ns and c.name == name), None)


@dataclass(frozen=True, slots=True)
class StreamOpened:
    attrs: dict[str, str]


@dataclass(frozen=True, slots=True)
class StreamClosed:
    pass


Event = StreamOpened | Node | StreamClosed


def _split(name: str) -> tuple[str, str]:
    ns, sep, local = name.rpartition(" ")
    return (ns, local) if sep else ("", name)


class XmlStreamReader:
    """An XMPP stream read incrementally: feed bytes, take events.

    Events: ``StreamOpened`` (the root ``<stream:stream>``), one ``Node`` per complete
    top-level element (features, proceed, an error...), ``StreamClosed``. A broken or hostile
    byte ends the stream with a ``ProtocolError`` that ``events()`` raises once the events read
    before it are taken, so the outcome does not depend on how the bytes were chunked.
    """

    def __init__(self, max_bytes: int = MAX_STREAM_BYTES) -> None:
        self._budget = max_bytes
        self._events: list[Event] = []
        self._error: ProtocolError | None = None
        self._stack: list[Node] = []
        self._elements = 0
        self._opened = False
        self._seen_byte = False
        # UTF-8 whatever the document declares (RFC 6120 11.6); names as "namespace local".
        parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        if hasattr(parser, "SetReparseDeferralEnabled"):  # expat >= 2.6: report tags at once
            parser.SetReparseDeferralEnabled(False)
        parser.StartDoctypeDeclHandler = self._refuse_doctype
        parser.EntityDeclHandler = self._refuse_entity
        parser.UnparsedEntityDeclHandler = self._refuse_unparsed
        parser.NotationDeclHandler = self._refuse_notation
        parser.ExternalEntityRefHandler = self._refuse_external
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        self._parser = parser

    @property
    def opened(self) -> bool:
        """The root ``<stream:stream>`` was read."""
        return self._opened

    def feed(self, data: bytes) -> None:
        if self._error is not None or not data:
            return
        if not self._seen_byte:
            head = data.lstrip()
            if head:
                self._seen_byte = True
                if not head.startswith(b"<"):
                    self._error = NotProtocolError(
                        f"not XMPP: the server's first bytes are {head[:16]!r}"
                    )
                    return
        over = len(data) > self._budget
        chunk = data[: self._budget]
        self._budget -= len(chunk)
        try:
            self._parser.Parse(chunk, False)
        except ProtocolError as exc:
            self._error = exc
        except expat.ExpatError as exc:
            message = expat.ErrorString(exc.code) if exc.code else str(exc)
            if not self._opened:
                self._error = NotProtocolError(f"not an XMPP stream: {message}")
            else:
                self._error = ProtocolError(f"malformed XML from the XMPP server: {message}")
        if over and self._error is None:
            self._error = ProtocolError(
                f"XMPP stream longer than {MAX_STREAM_BYTES} bytes", too_large=True
            )

    def next_event(self) -> Event | None:
        """The next event, or None when more bytes are needed.

        Raises:
            ProtocolError: the stream broke after the events already taken.
        """
        if self._events:
            return self._events.pop(0)
        if self._error is not None:
            raise self._error
        return None

    # ---- expat handlers (a ProtocolError raised here aborts Parse and is kept) ---------------

    def _refuse_doctype(self, *args: object) -> None:
        raise ProtocolError("the XMPP server sent a DTD (forbidden by RFC 6120 11.1)")

    def _refuse_entity(self, *args: object) -> None:
        raise ProtocolError("the XMPP server declared an XML entity (refused, never expanded)")

    def _refuse_unparsed(self, *args: object) -> None:
        raise ProtocolError("the XMPP server declared an unparsed entity (refused)")

    def _refuse_notation(self, *args: object) -> None:
        raise ProtocolError("the XMPP server declared a notation (refused)")

    def _refuse_external(self, *args: object) -> int:
        raise ProtocolError("the XMPP server referenced an external entity (refused)")

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        self._elements += 1
        if self._elements > MAX_ELEMENTS:
            raise ProtocolError(f"more than {MAX_ELEMENTS} XML elements", too_large=True)
        if len(self._stack) >= MAX_DEPTH:
            raise ProtocolError(f"XML nested deeper than {MAX_DEPTH} levels", too_large=True)
        ns, local = _split(name)
        if not self._opened:
            if (ns, local) != (NS_STREAMS, "stream"):
                raise NotProtocolError(f"not XMPP: the root element is {_clean(local)!r}")
            self._opened = True
            self._stack.append(Node(ns, local, {}))
            self._events.append(StreamOpened({_split(k)[1]: v for k, v in attrs.items()}))
            return
        node = Node(ns, local, {_split(k)[1]: v for k, v in attrs.items()})
        if len(self._stack) > 1:  # top-level elements are events, not the root's children
            self._stack[-1].children.append(node)
        self._stack.append(node)

    def _end(self, name: str) -> None:
        node = self._stack.pop()
        if not self._stack:
            self._events.append(StreamClosed())
        elif len(self._stack) == 1:
            self._events.append(node)

    def _text(self, data: str) -> None:
        if len(self._stack) > 1:
            node = self._stack[-1]
            if len(node.text) < _MAX_TEXT:
                node.text = (node.text + data)[:_MAX_TEXT]


# ---- turning elements into stored lines ---------------------------------------------------------


def _clean(text: str, limit: int = _MAX_TEXT) -> str:
    """One printable line: whitespace collapsed, controls and non-ASCII escaped, bounded."""
    words = " ".join(text.split())[:limit]
    return "".join(c if 0x20 <= ord(c) < 0x7F else _escape(c) for c in words)


def _escape(char: str) -> str:
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def stream_error_line(error: Node) -> str:
    """``stream-error CONDITION: TEXT`` for a ``<stream:error>`` element."""
    condition = next(
        (c.name for c in error.children if c.ns == NS_STREAM_ERRORS and c.name != "text"),
        "undefined-condition",
    )
    text = error.child(NS_STREAM_ERRORS, "text")
    line = f"stream-error {_clean(condition, 64)}"
    return f"{line}: {_clean(text.text)}" if text is not None and text.text.strip() else line


def feature_lines(features: Node) -> tuple[str, ...]:
    """The normalised lines of a ``<stream:features>`` element (see the module docstring)."""
    lines: list[str] = []
    for feature in features.children:
        key = (feature.ns, feature.name)
        if key == (NS_TLS, "starttls"):
            required = feature.child(NS_TLS, "required") is not None
            lines.append("starttls required" if required else "starttls")
        elif key == (NS_SASL, "mechanisms"):
            names = [
                _clean(m.text, 64)
                for m in feature.children
                if (m.ns, m.name) == (NS_SASL, "mechanism") and m.text.strip()
            ]
            lines.extend(f"mechanism {n}" for n in names)
            if not names:
                lines.append("mechanisms")
        elif key == (_NS_COMPRESS, "compression"):
            methods = [_clean(m.text, 64) for m in feature.children if m.name == "method"]
            lines.extend(f"compression {m}" for m in methods if m)
        elif feature.ns == _NS_REGISTER:
            lines.append("register")
        elif feature.ns == _NS_IQ_AUTH:
            lines.append("iq-auth")
        elif key in ((_NS_BIND, "bind"), (_NS_SESSION, "session")):
            lines.append(feature.name)
        else:
            lines.append(f"{_clean(feature.name, 64)} {_clean(feature.ns, 128)}".strip())
        if len(lines) > MAX_REPLY_LINES:
            raise ProtocolError(
                f"XMPP stream features longer than {MAX_REPLY_LINES} items", too_large=True
            )
    return tuple(lines)


def _greeting_line(attrs: dict[str, str]) -> str:
    parts = ["stream"]
    for key in ("from", "version"):
        if key in attrs:
            parts.append(f"{key}={_clean(attrs[key], 128).replace(' ', '_')}")
    return " ".join(parts)


# ---- the capability parser ----------------------------------------------------------------------


def tls_mandatory(caps: Capabilities) -> bool:
    """TLS is mandatory-to-negotiate (RFC 6120 5.3.1): ``<required/>`` under ``<starttls/>``,
    or STARTTLS the only feature."""
    return "STARTTLS-REQUIRED" in caps.names or caps.names == {"STARTTLS"}


def parse_xmpp_capabilities(lines: Sequence[str]) -> Capabilities:
    """Stored feature lines: STARTTLS (and whether required), SASL mechanisms, the rest.

    ``names`` holds each feature's first word upper-cased (``STARTTLS``, ``MECHANISM``,
    ``COMPRESSION``, ``REGISTER``, ``IQ-AUTH``...) plus ``STARTTLS-REQUIRED``. ``sasl`` holds
    the mechanisms a client may use at that point of the stream: none when TLS is
    mandatory-to-negotiate, because RFC 6120 5.3.1 then obliges the client to complete TLS
    before any other feature (and a server that lists mechanisms anyway lists them for after
    TLS: Prosody with ``c2s_require_encryption`` lists none and answers
    ``<encryption-required/>`` to an early ``<auth/>``).
    """
    names: set[str] = set()
    mechanisms: set[str] = set()
    for line in lines:
        words = line.split()
        if not words or words[0] == "stream-error":
            continue
        keyword = words[0].upper()
        names.add(keyword)
        if keyword == "STARTTLS" and words[1:] == ["required"]:
            names.add("STARTTLS-REQUIRED")
        elif keyword == "MECHANISM" and len(words) == 2:
            mechanisms.add(words[1].upper())
    caps = Capabilities(names=frozenset(names), starttls="STARTTLS" in names)
    if tls_mandatory(caps):
        return caps
    return Capabilities(names=caps.names, starttls=caps.starttls, sasl=frozenset(mechanisms))


def xmpp_password_commands(caps: Capabilities) -> frozenset[str]:
    """XEP-0078 legacy authentication (``<auth xmlns='jabber:iq:auth'>`` with a ``<password>``
    in clear) when advertised and TLS is not mandatory; SASL is counted by the registry."""
    if "IQ-AUTH" in caps.names and not tls_mandatory(caps):
        return frozenset({"IQ-AUTH"})
    return frozenset()


# ---- the dialogue -------------------------------------------------------------------------------


class _Wait(enum.Enum):
    HEADER = enum.auto()
    FEATURES = enum.auto()
    STARTTLS = enum.auto()
    CLOSING = enum.auto()


class XmppDialogue(DialogueBase):
    """Client side of an XMPP stream that only looks: features, STARTTLS, features, close.

    Args:
        domain: the stream's ``to`` (``None``: no ``to``).
        server: a server-to-server stream (``jabber:server``).
        implicit_tls: the driver already ran TLS (Direct TLS, 5223).
        try_starttls: send ``<starttls/>`` after the features (ignored with implicit TLS).

    Raises:
        ValueError: ``domain`` is not a DNS name or IP literal.
    """

    def __init__(
        self,
        *,
        domain: str | None,
        server: bool = False,
        implicit_tls: bool = False,
        try_starttls: bool = True,
    ) -> None:
        super().__init__(implicit_tls=implicit_tls, try_starttls=try_starttls, stage=Stage.GREETING)
        self._header = stream_header(domain, server=server)
        self._domain = domain
        self._reader = XmlStreamReader()
        self._wait = _Wait.HEADER
        self._outgoing = self._header

    # ---- the DialogueBase hooks --------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        if data:  # end of file is the base's _eof, read by _process
            self._reader.feed(data)

    def _restart_in_tls(self) -> None:
        # A new stream on a fresh reader: nothing from the clear-text stream survives.
        self._reader = XmlStreamReader()
        self._wait = _Wait.HEADER
        self._send(self._header, Stage.CAPABILITIES_AFTER_TLS)

    # ---- the walk ------------------------------------------------------------------------------

    def _process(self) -> Action:
        while True:
            event = self._reader.next_event()
            if event is None:
                break
            self._on_event(event)
            if self._outgoing is not None or self._awaiting_tls or self._done:
                return self.next_action()
        if self._eof:
            self._done = True
            self._closed_early = not self._quitting
            return Close()
        return NeedData()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, StreamClosed):
            # The server ended the stream: normal after our goodbye, early before it.
            self._done = True
            self._closed_early = not self._quitting
            return
        if self._wait is _Wait.CLOSING:
            return  # whatever comes after our goodbye
        if isinstance(event, StreamOpened):
            if self._wait is not _Wait.HEADER:
                raise ProtocolError("the XMPP server opened a second stream")
            line = _greeting_line(event.attrs)
            if not self._in_tls or self._caps_before is None:
                self._greeting = (line,)
            self._wait = _Wait.FEATURES
            self._stage = Stage.CAPABILITIES_AFTER_TLS if self._in_tls else Stage.CAPABILITIES
            if event.attrs.get("version", "0.9").split(".")[0] in ("", "0"):
                # A pre-1.0 server (RFC 3920 compatibility): it sends no features at all.
                self._record_features(())
            return
        self._on_element(event)

    def _on_element(self, node: Node) -> None:
        if (node.ns, node.name) == (NS_STREAMS, "error"):
            self._on_stream_error(node)
            return
        match self._wait:
            case _Wait.FEATURES:
                if (node.ns, node.name) != (NS_STREAMS, "features"):
                    raise ProtocolError(
                        f"the XMPP server sent <{_clean(node.name, 64)}> before its features"
                    )
                self._record_features(feature_lines(node))
            case _Wait.STARTTLS:
                if node.ns != NS_TLS or node.name not in ("proceed", "failure"):
                    raise ProtocolError(
                        f"the XMPP server answered <starttls/> with <{_clean(node.name, 64)}>"
                    )
                self._starttls_reply = (node.name,)
                if node.name == "proceed":
                    self._awaiting_tls = True
                    self._stage = Stage.TLS_HANDSHAKE
                else:
                    self._close_stream()  # RFC 6120 5.4.2.2: the server closes the stream too
            case _:
                raise ProtocolError(
                    f"unexpected <{_clean(node.name, 64)}> before the XMPP stream header"
                )

    def _on_stream_error(self, node: Node) -> None:
        line = stream_error_line(node)
        if self._wait is _Wait.STARTTLS:
            self._starttls_reply = (line,)
            self._finish_after_error()
            return
        if self._in_tls and self._wait is _Wait.FEATURES:
            # Inside TLS the certificate and the session are what counts; a server-to-server
            # stream without ``from`` may get no features at all (Prosody), which is a fact.
            self._caps_after = (line,)
            self._finish_after_error()
            return
        if "host-unknown" in line or "host-gone" in line:
            target = repr(self._domain) if self._domain else "no domain (a bare address)"
            raise ServiceUnavailableError(
                f"the XMPP server does not serve {target}: {line} (scan it by its XMPP domain)"
            )
        raise ServiceUnavailableError(f"the XMPP server refused the stream: {line}")

    def _finish_after_error(self) -> None:
        # The server closes the stream after an error (RFC 6120 4.9.1.1): nothing to add.
        self._quitting = True
        self._finish()

    def _record_features(self, lines: tuple[str, ...]) -> None:
        if self._in_tls:
            self._caps_after = lines
            self._close_stream()
        else:
            self._caps_before = lines
            if self._try_starttls:
                self._wait = _Wait.STARTTLS
                self._send(_STARTTLS, Stage.STARTTLS)
            else:
                self._close_stream()

    def _close_stream(self) -> None:
        self._wait = _Wait.CLOSING
        self._quitting = True
        self._send(_CLOSE_STREAM, Stage.CLOSE)

    def _send(self, data: bytes, stage: Stage) -> None:
        self._outgoing = data
        self._stage = stage

    def _finish(self) -> None:
        self._done = True
        self._stage = Stage.CLOSE
