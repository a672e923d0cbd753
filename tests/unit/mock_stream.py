"""A scripted server behind the probe's ``Stream`` interface (``vedette.probe.stream``), no socket.

``MockStream`` plays the server's side in two scripts, the one in clear and the one inside TLS.
Each item is what one ``read()`` returns (a longer chunk than the reader asks for is handed
out over several reads, as a socket would), or an event:

* ``STALL``: the server says nothing more; the read waits for its deadline and raises the
  same ``TIMEOUT`` failure ``transport.Connection.read`` does;
* ``RESET``: the server resets the connection (``CLOSED``, as the real one maps ECONNRESET);
* ``EOF``: end of file (``b""``); a script that runs out is end of file too;
* ``Pause(seconds)``: the server is silent that long before its next item; past the read's
  deadline it is a ``STALL``.

What the client wrote is kept in order (``written``, split by ``before_tls``/``after_tls``),
with the stage of every read. ``start_tls`` records its server name and timeout, drops what is
left of the clear script (as ``Connection.start_tls`` drops bytes the server sent in clear after
its go-ahead), and flips to the TLS script and the version, suite and chain given; or raises
``handshake_failure`` when one is given.

``Dialer`` hands out scripted streams as ``Connection.connect`` hands out connections (the
``connect`` parameter of ``probe.runner.probe_endpoint``), recording the addresses dialled.
"""

from __future__ import annotations

import asyncio
import enum
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from vedette.model import FailureKind, Stage
from vedette.probe.stream import Stream
from vedette.probe.transport import ProbeFailed, fail


class Event(enum.Enum):
    STALL = "stall"
    RESET = "reset"
    EOF = "eof"


STALL = Event.STALL
RESET = Event.RESET
EOF = Event.EOF


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float


Script = Sequence[bytes | Event | Pause]


class MockStream:
    """One scripted connection (see the module docstring)."""

    def __init__(
        self,
        clear: Script = (),
        tls: Script = (),
        *,
        where: str = "192.0.2.1:25",  # the Dialer sets the address it was dialled at
        tls_version: str = "TLSv1.3",
        tls_cipher: str = "TLS_AES_256_GCM_SHA384",
        chain_der: tuple[bytes, ...] = (b"leaf-der", b"intermediate-der"),
        handshake_failure: ProbeFailed | None = None,
    ) -> None:
        self.where = where
        self._script: list[bytes | Event | Pause] = list(clear)
        self._tls_script: list[bytes | Event | Pause] = list(tls)
        self._tls_state = (tls_version, tls_cipher, chain_der)
        self._handshake_failure = handshake_failure
        self.tls_version: str | None = None
        self.tls_cipher: str | None = None
        self.chain_der: tuple[bytes, ...] = ()
        self.received_since_write = 0
        #: every write, in order
        self.written: list[bytes] = []
        #: (stage, max_bytes) of every read asked for
        self.reads: list[tuple[Stage, int]] = []
        #: (sni, timeout) of every start_tls call
        self.handshakes: list[tuple[str | None, float]] = []
        #: len(written) when the handshake started; None without one
        self.tls_at: int | None = None
        #: the script items left in clear when the handshake started (dropped, never read)
        self.discarded_before_tls: list[bytes | Event | Pause] = []
        self.closed = False

    @property
    def before_tls(self) -> list[bytes]:
        return self.written if self.tls_at is None else self.written[: self.tls_at]

    @property
    def after_tls(self) -> list[bytes]:
        return [] if self.tls_at is None else self.written[self.tls_at :]

    @property
    def unread(self) -> list[bytes | Event | Pause]:
        """What the server had still to say when the client stopped reading."""
        return list(self._script)

    async def write(self, data: bytes, timeout: float, stage: Stage) -> None:
        assert not self.closed, "write after close"
        self.received_since_write = 0
        self.written.append(data)

    async def read(self, max_bytes: int, deadline: float, stage: Stage) -> bytes:
        assert not self.closed, "read after close"
        assert max_bytes > 0
        self.reads.append((stage, max_bytes))
        await asyncio.sleep(0)  # a real read is a suspension point
        item = self._script.pop(0) if self._script else EOF
        while isinstance(item, Pause) or item is STALL:
            try:
                async with asyncio.timeout_at(deadline):
                    if isinstance(item, Pause):
                        await asyncio.sleep(item.seconds)
                    else:
                        await asyncio.Event().wait()  # a stalled server stays silent
            except TimeoutError:
                self._script.insert(0, STALL)
                raise fail(
                    FailureKind.TIMEOUT, stage, f"{self.where} sent no complete reply in time"
                ) from None
            item = self._script.pop(0) if self._script else EOF
        if item is RESET:
            raise fail(FailureKind.CLOSED, stage, f"{self.where} reset the connection")
        if item is EOF:
            return b""
        assert isinstance(item, bytes)
        if len(item) > max_bytes:
            self._script.insert(0, item[max_bytes:])
            item = item[:max_bytes]
        self.received_since_write += len(item)
        return item

    async def start_tls(self, ctx: ssl.SSLContext, sni: str | None, timeout: float) -> None:
        assert not self.closed, "handshake after close"
        assert self.tls_at is None, "start_tls twice"
        self.handshakes.append((sni, timeout))
        self.tls_at = len(self.written)
        self.discarded_before_tls = self._script
        self._script = self._tls_script
        if self._handshake_failure is not None:
            raise self._handshake_failure
        self.tls_version, self.tls_cipher, self.chain_der = self._tls_state

    async def close(self) -> None:
        self.closed = True


class Dialer:
    """``Connect`` over scripted streams, one per connection in order; a ``ProbeFailed``
    in place of a stream is what that connection attempt raises (refused, timed out...)."""

    def __init__(self, *streams: MockStream | ProbeFailed) -> None:
        self._streams = list(streams)
        #: (ip, port, timeout) of every connection attempt
        self.dialled: list[tuple[str, int, float]] = []

    async def __call__(self, ip: str, port: int, *, timeout: float) -> Stream:
        self.dialled.append((ip, port, timeout))
        assert self._streams, "more connections than scripted"
        nxt = self._streams.pop(0)
        if isinstance(nxt, ProbeFailed):
            raise nxt
        nxt.where = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        return nxt


def refused(where: str = "192.0.2.1:25") -> ProbeFailed:
    """What ``Connection.connect`` raises on a TCP reset to the SYN."""
    return fail(FailureKind.REFUSED, Stage.CONNECT, f"connection refused by {where}")
