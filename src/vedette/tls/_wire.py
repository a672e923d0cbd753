"""A bounded cursor over TLS wire bytes, and the one error the TLS parsers raise.

TLS is built from length-prefixed vectors (RFC 8446 §3.4): a 1-, 2- or 3-byte length, then that
many bytes. Every parser in ``vedette.tls`` reads through ``Reader``, which never reads past the
end of its buffer and, with ``sub()``, confines a nested parser to exactly the vector it belongs
to: a length that points past the end, or bytes left over inside a vector, raise
``TlsParseError``. Nothing else may escape a parser; any other exception is a vedette bug (the
fuzz tests hold the parsers to this).
"""

from __future__ import annotations

from vedette.errors import ProtocolError


class TlsParseError(ProtocolError):
    """The peer's TLS bytes are malformed (truncated, over-long, inconsistent)."""


class Reader:
    """Read big-endian integers and length-prefixed vectors from ``data``, bounded."""

    __slots__ = ("_data", "_pos", "_what")

    def __init__(self, data: bytes, what: str = "message") -> None:
        self._data = data
        self._pos = 0
        self._what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def take(self, n: int) -> bytes:
        if n < 0 or n > self.remaining:
            raise TlsParseError(f"{self._what}: needs {n} byte(s), only {self.remaining} left")
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def u8(self) -> int:
        return self.uint(1)

    def u16(self) -> int:
        return self.uint(2)

    def u24(self) -> int:
        return self.uint(3)

    def vector(self, length_size: int, *, minimum: int = 0, maximum: int | None = None) -> bytes:
        """A vector with a ``length_size``-byte length prefix, checked against its bounds."""
        n = self.uint(length_size)
        if n < minimum or (maximum is not None and n > maximum):
            raise TlsParseError(f"{self._what}: vector length {n} out of bounds")
        return self.take(n)

    def sub(self, length_size: int, what: str, *, minimum: int = 0) -> Reader:
        """A reader confined to the next vector (call ``end()`` on it when done)."""
        return Reader(self.vector(length_size, minimum=minimum), what)

    def u16_list(self, length_size: int, what: str) -> tuple[int, ...]:
        """A vector of 2-byte codes (cipher suites, groups, signature schemes)."""
        body = self.vector(length_size)
        if len(body) % 2:
            raise TlsParseError(f"{what}: odd length {len(body)} for a list of 2-byte codes")
        return tuple(int.from_bytes(body[i : i + 2], "big") for i in range(0, len(body), 2))

    def rest(self) -> bytes:
        return self.take(self.remaining)

    def end(self) -> None:
        """Refuse trailing bytes: a vector must be consumed exactly."""
        if self.remaining:
            raise TlsParseError(f"{self._what}: {self.remaining} unexpected trailing byte(s)")


def u8(value: int) -> bytes:
    return value.to_bytes(1, "big")


def u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def u24(value: int) -> bytes:
    return value.to_bytes(3, "big")


def vec(length_size: int, body: bytes) -> bytes:
    """``body`` with its length prefix; ``ValueError`` if it cannot fit (a caller's bug)."""
    if len(body) >= 1 << (8 * length_size):
        raise ValueError(f"{len(body)} bytes do not fit a {length_size}-byte length")
    return len(body).to_bytes(length_size, "big") + body


def u16_vec(length_size: int, codes: tuple[int, ...] | list[int]) -> bytes:
    return vec(length_size, b"".join(u16(c) for c in codes))
