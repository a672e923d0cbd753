"""The contract between a sans-I/O dialogue and the transport that drives it.

The driver loop (``vedette.probe.runner.drive_dialogue``) is the same
for every protocol::

    while True:
        action = dialogue.next_action()
        Send(data)   -> write data
        NeedData()   -> read once (bounded size, deadline per reply); feed it with
                        receive_data(chunk), or receive_data(b"") at EOF
        StartTls()   -> run the TLS handshake on the same connection, then tls_started()
        Close()      -> stop; dialogue.observation() holds what was learnt

A dialogue raises ``ProtocolError`` (or ``NotProtocolError`` on the very first reply) when the
peer's bytes break the protocol, including a line or reply larger than its bound; the driver
records that as a ``Failure`` and the partial ``observation()`` is still kept. ``stage`` tells
the driver what it is waiting for, so a timeout can say where it happened.

Notes for the driver (``vedette.probe``), beyond the loop in ``_base``:

* Only ``next_action()`` raises ``ProtocolError``; ``receive_data()`` just stores bytes (a
  line over ``MAX_LINE`` is reported by the following ``next_action()``). After a raise the
  dialogue only answers ``Close()``.
* ``Close()`` with ``closed_early`` True means the server hung up before the polite quit:
  record ``FailureKind.CLOSED`` at ``stage``. ``observation()`` holds every *complete* reply.
* Once ``stage`` is ``Stage.CLOSE`` the quit command is sent and everything worth keeping is
  recorded; a timeout, a reset or garbage there is not worth a failure.
* While a ``StartTls()`` is pending, bytes fed to ``receive_data()`` are discarded (they came in
  clear after the go-ahead); the driver need not read then, and must not reuse read-ahead
  buffers across the handshake.
* ``receive_data()`` after end of file, or ``tls_started()`` without a ``StartTls()``, raise
  ``RuntimeError``: driver bugs, not server faults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol as TypingProtocol

from vedette.errors import ProtocolError
from vedette.model import DialogueObservation, Stage


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes


@dataclass(frozen=True, slots=True)
class NeedData:
    pass


@dataclass(frozen=True, slots=True)
class StartTls:
    pass


@dataclass(frozen=True, slots=True)
class Close:
    pass


Action = Send | NeedData | StartTls | Close


class Dialogue(TypingProtocol):
    """A client dialogue: greeting, capabilities, STARTTLS, capabilities again, polite quit."""

    @property
    def stage(self) -> Stage: ...

    def next_action(self) -> Action: ...

    def receive_data(self, data: bytes) -> None: ...

    def tls_started(self) -> None: ...

    def observation(self) -> DialogueObservation: ...


#: Longest line accepted from a server (RFC 5321 allows 512 octets for a reply line; IMAP
#: capability lines of real servers reach ~1 KiB). Past it the server is hostile or broken.
MAX_LINE = 8192
#: Most lines in one reply (EHLO replies have ~15, IMAP CAPABILITY one, POP3 CAPA ~12).
MAX_REPLY_LINES = 256


class LineBuffer:
    """Accumulates bytes and yields CRLF- (or bare LF-) terminated lines, bounded in length.

    Lines are decoded as latin-1 (every byte maps to one character, nothing can fail) with the
    line ending removed; callers escape them before display.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buf = bytearray()
        self._max_line = max_line
        self.eof = False

    def feed(self, data: bytes) -> None:
        if not data:
            self.eof = True
            return
        self._buf += data
        # Refuse early: an endless line must not grow the buffer past the bound.
        if b"\n" not in self._buf and len(self._buf) > self._max_line:
            raise ProtocolError(
                f"line longer than {self._max_line} bytes without an end", too_large=True
            )

    def next_line(self) -> str | None:
        """The next complete line, or None when more data is needed."""
        idx = self._buf.find(b"\n")
        if idx < 0:
            return None
        if idx > self._max_line:
            raise ProtocolError(f"line longer than {self._max_line} bytes", too_large=True)
        raw = bytes(self._buf[:idx])
        del self._buf[: idx + 1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        return raw.decode("latin-1")

    @property
    def pending(self) -> int:
        """Bytes received but not yet returned as a line."""
        return len(self._buf)

    def clear(self) -> None:
        self._buf.clear()


class MailDialogue(Dialogue, TypingProtocol):
    """A ``Dialogue`` that also tells whether the server hung up before the polite quit."""

    @property
    def closed_early(self) -> bool:
        """True when end of file came before the polite quit was sent: the driver records
        ``FailureKind.CLOSED`` at ``stage``. ``observation()`` keeps the complete replies."""
        ...


class DialogueBase:
    """The lifecycle every client dialogue shares, whatever its wire format (lines, BER, XML).

    It owns what is not about the protocol: the stage, the four recorded replies, the one
    pending send, the wait for the TLS handshake, end of file, and death after a
    ``ProtocolError``. A subclass implements three hooks:

    * ``_feed(data)``: store bytes (``b""`` at end of file); a malformed byte noticed here is
      kept in ``_pending_error`` and raised by the next ``next_action()``;
    * ``_process()``: interpret what was stored and say what to do next;
    * ``_restart_in_tls()``: the handshake is done; start reading afresh (nothing read in
      clear survives) and queue the next command.

    and sets ``_outgoing`` (with ``_finish_after_send`` for a last command nothing answers),
    ``_awaiting_tls``, ``_quitting``, ``_done``, ``_closed_early`` and the recorded replies.
    """

    def __init__(self, *, implicit_tls: bool, try_starttls: bool, stage: Stage) -> None:
        self._implicit_tls = implicit_tls
        self._try_starttls = try_starttls and not implicit_tls
        #: True once the stream is inside TLS (implicit TLS: from the start).
        self._in_tls = implicit_tls
        self._stage = stage
        self._outgoing: bytes | None = None
        #: The command in ``_outgoing`` is the last: the dialogue is done once it is sent.
        self._finish_after_send = False
        self._awaiting_tls = False
        self._quitting = False
        self._done = False
        self._dead = False
        self._eof = False
        self._closed_early = False
        self._pending_error: ProtocolError | None = None
        # What goes into the observation, each set once its reply is complete.
        self._greeting: tuple[str, ...] = ()
        self._caps_before: tuple[str, ...] | None = None
        self._starttls_reply: tuple[str, ...] | None = None
        self._caps_after: tuple[str, ...] | None = None

    @property
    def stage(self) -> Stage:
        """What the dialogue is waiting for (or was, when it stopped)."""
        return self._stage

    @property
    def closed_early(self) -> bool:
        """True when the server closed the connection before the dialogue's polite quit: the
        driver reports ``FailureKind.CLOSED`` at ``stage``; ``observation()`` holds the
        complete replies read before the close."""
        return self._closed_early

    def observation(self) -> DialogueObservation:
        return DialogueObservation(
            greeting=self._greeting,
            capabilities_before_tls=self._caps_before,
            starttls_reply=self._starttls_reply,
            capabilities_after_tls=self._caps_after,
        )

    def receive_data(self, data: bytes) -> None:
        if self._done or self._dead:
            # The driver may still read the tail of a connection it is closing.
            return
        if self._awaiting_tls:
            # STARTTLS injection (the CVE-2011-0411 class, and its client-side mirror, the
            # "response injection" of Poddebniak et al., NO STARTTLS, USENIX Security 2021):
            # anything the server - or a man in the middle - sent after the go-ahead and before
            # the handshake travelled in clear and must never be read as if it came from inside
            # TLS. It is dropped here; what was already buffered is cleared by the subclass.
            return
        if self._eof:
            raise RuntimeError("receive_data() called after end of file was fed")
        if not data:
            self._eof = True
        self._feed(data)

    def tls_started(self) -> None:
        if not self._awaiting_tls:
            raise RuntimeError("tls_started() called but no TLS handshake was requested")
        self._awaiting_tls = False
        self._in_tls = True
        self._restart_in_tls()

    def next_action(self) -> Action:
        if self._done or self._dead:
            return Close()
        if self._outgoing is not None:
            data, self._outgoing = self._outgoing, None
            if self._finish_after_send:
                self._done = True
            return Send(data)
        if self._awaiting_tls:
            return StartTls()
        try:
            return self._process()
        except ProtocolError:
            if self._quitting:
                # Whatever the server says after our quit no longer matters: everything worth
                # keeping is recorded. A garbled goodbye is not a failed probe.
                self._done = True
                self._stage = Stage.CLOSE
                return Close()
            self._dead = True
            raise

    # ---- hooks -------------------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        raise NotImplementedError

    def _process(self) -> Action:
        raise NotImplementedError

    def _restart_in_tls(self) -> None:
        raise NotImplementedError
