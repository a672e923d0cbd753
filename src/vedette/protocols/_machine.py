"""Plumbing shared by the SMTP, IMAP and POP3 client dialogues.

Each mail dialogue is the same walk with different words::

    greeting -> capabilities -> STARTTLS -> [driver does TLS] -> capabilities -> quit

``LineDialogue`` owns everything that is not about the words: the bounded line buffer, the one
pending command, the wait for the TLS handshake, end of file, and turning a broken reply into
exactly one ``ProtocolError``. A subclass only looks at complete lines (``_on_line``) and says
what to do next through ``_send``, ``_begin_tls``, ``_quit`` and ``_finish``.

How it is driven (see ``_base``): ``next_action()`` is the only method that interprets bytes;
``receive_data()`` only stores them. A malformed byte noticed while storing (a line past
``MAX_LINE``, a first byte that cannot start the protocol) is remembered and raised from the
next ``next_action()``, as h11 raises from ``next_event()``. That keeps one place where errors
come out and makes the outcome independent of how the bytes were chunked.

Lifecycle rules the driver can rely on:

* After ``next_action()`` has raised a ``ProtocolError`` the dialogue is dead: every later call
  returns ``Close()``; ``observation()`` keeps the complete replies read before the error and
  ``stage`` still says where it happened.
* End of file (``receive_data(b"")``) before the dialogue reached its polite quit makes
  ``next_action()`` return ``Close()`` with ``closed_early`` set; ``stage`` tells where. After
  the quit command, end of file is the normal end and ``closed_early`` stays False.
* Only *complete* replies are recorded. A reply cut by end of file is dropped rather than
  stored half, so a check never mistakes a truncated EHLO list for the server's real one.
* Commands are never pipelined: the next command is produced only once the previous reply is
  complete, and bytes the server sends ahead are simply read as its next reply, in order.

Calling ``tls_started()`` when no handshake was asked for, or feeding data after end of file,
is a bug in the driver and raises ``RuntimeError`` (not a ``ProtocolError``: the peer did
nothing wrong).
"""

from __future__ import annotations

from vedette.errors import NotProtocolError, ProtocolError
from vedette.model import Stage
from vedette.protocols._base import (
    MAX_REPLY_LINES,
    Action,
    Close,
    DialogueBase,
    LineBuffer,
    NeedData,
)

#: How many leading bytes of the greeting are checked before a whole line has arrived.
#: Enough to tell ``220-``, ``* OK`` and ``-ERR`` from an HTTP answer or a TLS record, so a
#: wrong service that never sends a newline is named at once instead of after a timeout.
_SNIFF_BYTES = 4


class LineDialogue(DialogueBase):
    """Base of the line-oriented mail dialogues; see the module docstring for its contract."""

    #: Printable protocol name used in error messages.
    _protocol_name = "?"

    def __init__(self, *, implicit_tls: bool, try_starttls: bool) -> None:
        super().__init__(implicit_tls=implicit_tls, try_starttls=try_starttls, stage=Stage.GREETING)
        self._lines = LineBuffer()
        #: The first bytes of the stream, up to the first newline, for ``_sniff``.
        self._head = bytearray()
        self._head_complete = False
        #: Lines of the reply being assembled.
        self._reply: list[str] = []

    # ---- the DialogueBase hooks --------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        if data and not self._head_complete and self._stage is Stage.GREETING:
            self._collect_head(data)
        if self._pending_error is not None:
            return
        try:
            self._lines.feed(data)
        except ProtocolError as exc:
            self._pending_error = exc

    def _restart_in_tls(self) -> None:
        # A fresh buffer: nothing from the clear-text stream survives into the TLS stream.
        self._lines = LineBuffer()
        self._after_tls()

    # ---- for subclasses -----------------------------------------------------------------------

    def _process(self) -> Action:
        if self._pending_error is not None:
            raise self._pending_error
        while True:
            line = self._lines.next_line()
            if line is None:
                break
            self._on_line(line)
            if self._outgoing is not None or self._awaiting_tls or self._done:
                return self.next_action()
        if self._lines.eof:
            self._done = True
            # EOF after our quit is the normal end; before it, the server hung up on us.
            self._closed_early = not self._quitting
            return Close()
        return NeedData()

    def _collect_head(self, data: bytes) -> None:
        room = _SNIFF_BYTES - len(self._head)
        chunk = data[:room]
        nl = chunk.find(b"\n")
        if nl >= 0:
            chunk = chunk[: nl + 1]
            self._head_complete = True
        self._head += chunk
        if len(self._head) >= _SNIFF_BYTES:
            self._head_complete = True
        if self._pending_error is None and not self._sniff(bytes(self._head)):
            self._pending_error = NotProtocolError(
                f"not {self._protocol_name}: the server's first bytes are {bytes(self._head)!r}"
            )

    def _sniff(self, head: bytes) -> bool:
        """Whether ``head`` (the first bytes, at most up to the first newline) may start a
        greeting of this protocol. Must accept every prefix of a valid greeting."""
        raise NotImplementedError

    def _on_line(self, line: str) -> None:
        """Consume one complete line; raise ProtocolError if it breaks the protocol."""
        raise NotImplementedError

    def _after_tls(self) -> None:
        """Called once the driver finished the TLS handshake: queue the next command."""
        raise NotImplementedError

    def _add_reply_line(self, line: str) -> None:
        if len(self._reply) >= MAX_REPLY_LINES:
            raise ProtocolError(
                f"{self._protocol_name} reply longer than {MAX_REPLY_LINES} lines", too_large=True
            )
        self._reply.append(line)

    def _take_reply(self) -> tuple[str, ...]:
        reply, self._reply = tuple(self._reply), []
        return reply

    def _send(self, command: str, stage: Stage) -> None:
        # Commands are built by vedette from fixed words and a validated EHLO name, so ASCII
        # encoding cannot fail and no CR/LF can be smuggled in.
        self._outgoing = command.encode("ascii") + b"\r\n"
        self._stage = stage

    def _begin_tls(self) -> None:
        # Discard bytes already buffered after the go-ahead line (same injection reason as in
        # receive_data). The go-ahead reply itself was already recorded by the caller.
        self._lines.clear()
        self._awaiting_tls = True
        self._stage = Stage.TLS_HANDSHAKE

    def _quit(self, command: str) -> None:
        self._send(command, Stage.CLOSE)
        self._quitting = True

    def _finish(self) -> None:
        self._done = True
        self._stage = Stage.CLOSE

    def _record_capabilities(self, lines: tuple[str, ...]) -> None:
        if self._in_tls:
            self._caps_after = lines
        else:
            self._caps_before = lines

    @property
    def _capabilities_stage(self) -> Stage:
        return Stage.CAPABILITIES_AFTER_TLS if self._in_tls else Stage.CAPABILITIES
