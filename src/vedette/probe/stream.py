"""The one stream interface the probe drives: what it needs of a connection, and of a dialer.

``transport.Connection`` (TCP, then TLS on the same socket) is the real ``Stream`` and
``Connection.connect`` the real ``Connect``; mypy checks that they fit (structural typing, no
inheritance). The dialogue driver (``runner.drive_dialogue``), the quick probe, the TLS
enumeration and the resumption probe use nothing else of a connection, so a scripted stream
(``tests/unit/mock_stream.py``) can stand in for a server in unit tests, without a socket.

Every real connection still comes from ``Connection.connect``, the default everywhere: it is
where the scan's connection limits (``limits.admit_connection``) are enforced.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import ssl

    from vedette.model import Stage


class Stream(Protocol):
    """One connection to a server, optionally upgraded to TLS, with bounded reads.

    Failures are ``transport.ProbeFailed`` carrying a ``model.Failure``: a read past its
    deadline is ``TIMEOUT`` at the stage given, a reset is ``CLOSED``, a failed handshake is
    ``TLS_ERROR`` at ``TLS_HANDSHAKE``.
    """

    @property
    def tls_version(self) -> str | None:
        """The negotiated TLS version (``TLSv1.3``) once ``start_tls`` succeeded."""
        ...

    @property
    def tls_cipher(self) -> str | None:
        """The negotiated suite, OpenSSL's name, once ``start_tls`` succeeded."""
        ...

    @property
    def chain_der(self) -> tuple[bytes, ...]:
        """The certificates exactly as the server sent them, leaf first, DER."""
        ...

    @property
    def received_since_write(self) -> int:
        """Bytes read since the last write: what a tarpit trickled into a late reply."""
        ...

    async def write(self, data: bytes, timeout: float, stage: Stage) -> None:
        """Send ``data``; a ``TIMEOUT`` failure when the peer stops reading."""
        ...

    async def read(self, max_bytes: int, deadline: float, stage: Stage) -> bytes:
        """At most ``max_bytes``; ``b""`` at end of file; a ``TIMEOUT`` failure at
        ``stage`` once the event loop's clock passes ``deadline``."""
        ...

    async def start_tls(self, ctx: ssl.SSLContext, sni: str | None, timeout: float) -> None:
        """Run the handshake on this stream (nothing read in clear survives it) and record
        version, suite and chain."""
        ...

    async def close(self) -> None:
        """Close without waiting long on the peer; gives back what the connection held."""
        ...


class Connect(Protocol):
    """Opens a ``Stream`` to ``ip``:``port`` (``Connection.connect`` by default); a failure is
    ``ProbeFailed`` at ``Stage.CONNECT``."""

    def __call__(self, ip: str, port: int, *, timeout: float) -> Awaitable[Stream]: ...
